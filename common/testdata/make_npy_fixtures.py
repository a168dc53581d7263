#!/usr/bin/python3
"""Writes the small NumPy files that common/npy_test.cc reads (committed; rerun
to regenerate with Debian's python3-numpy: /usr/bin/python3 common/testdata/make_npy_fixtures.py)."""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def out(name):
    return os.path.join(here, name)


x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) / 10
np.save(out("f32_2x3x4.npy"), x)
np.save(out("u8_5.npy"), np.array([0, 1, 2, 3, 255], dtype=np.uint8))
np.save(out("i64_4.npy"), np.array([3, -1, 7, 0], dtype=np.int64))
np.save(out("f64_3.npy"), np.array([1.0, 2.0, 3.0]))
np.save(out("f32_fortran.npy"), np.asfortranarray(np.ones((3, 2), dtype=np.float32)))
np.save(out("f32_bigendian.npy"), np.ones(3, dtype=">f4"))
np.lib.format.write_array(open(out("f32_v2.npy"), "wb"), x, version=(2, 0))
train_x = np.arange(6 * 4, dtype=np.float32).reshape(6, 4)
train_y = np.array([0, 1, 2, 0, 1, 2], dtype=np.int64)
np.savez(out("stored.npz"), train_x=train_x, train_y=train_y, test_x=train_x[:2],
         test_y=train_y[:2])
np.savez_compressed(out("compressed.npz"), train_x=train_x, train_y=train_y,
                    test_x=train_x[:2], test_y=train_y[:2])
