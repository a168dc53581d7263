#!/usr/bin/python3
"""Makes a NumPy dataset for examples/numpy/sweep.yaml: a Fashion-MNIST subset
converted with numpy (uint8 images N x 28 x 28, int64 labels), written with
numpy.save as a user's own data would be.

Usage (from the repository root; needs python3-numpy, which scripts/setup.sh
installs): /usr/bin/python3 examples/numpy/make_data.py [--source DIR] [--out DIR]
"""
import argparse
import gzip
import os

import numpy as np


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--out", default="examples/numpy/data")
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=1000)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, stem, n in (("train", "train", args.train), ("test", "t10k", args.test)):
        x = read_idx(os.path.join(args.source, f"{stem}-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(args.source, f"{stem}-labels-idx1-ubyte.gz")).astype(np.int64)
        pick = np.sort(rng.choice(len(y), size=n, replace=False))
        np.save(os.path.join(args.out, f"{split}_x.npy"), x[pick])
        np.save(os.path.join(args.out, f"{split}_y.npy"), y[pick])
        print(f"{split}: x {x[pick].shape} {x.dtype}, y {y[pick].shape} {y.dtype}, "
              f"classes {np.bincount(y[pick]).tolist()}")


if __name__ == "__main__":
    main()
