"""compsweep.csa against docs/artifact-format.md: small .csa files built here
byte by byte from the spec (struct.pack, LSB-first fields packed by hand), one
per record kind and quantization scheme, their decoded values checked against
values worked out from the spec's formulas; truncated and corrupt files raise
CsaError. The NumPy forward pass is checked against torch.nn.functional on
random weights for every layer type of the zoo. The reader against the real
writer: test_csa_writer.py.
"""

from __future__ import annotations

import json
import struct
from typing import Dict, List, Optional, Sequence

import numpy as np
import pytest

from compsweep import csa

# --- bytes, as the spec describes them ---------------------------------------


def u8(v: int) -> bytes:
    return struct.pack("<B", v)


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def f32s(values: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def fields(values: Sequence[int], bits: int) -> bytes:
    """Field k at bits k*b .. k*b+b-1 of the stream; bit j is bit j % 8 of
    byte j / 8."""
    out = bytearray((len(values) * bits + 7) // 8)
    for k, v in enumerate(values):
        assert 0 <= v < (1 << bits)
        for i in range(bits):
            if (v >> i) & 1:
                j = k * bits + i
                out[j // 8] |= 1 << (j % 8)
    return bytes(out)


def csa_bytes(spec: Dict, records: List[bytes], count: Optional[int] = None,
              magic: bytes = b"CSA1") -> bytes:
    text = json.dumps(spec).encode()
    return (magic + u32(len(text)) + text + u32(len(records) if count is None else count)
            + b"".join(records))


def dense(values: Sequence[float]) -> bytes:
    return u8(0) + f32s(values)


def gaps(g: int, entries: Sequence[int], nnz: int) -> bytes:
    return u32(nnz) + u8(g) + u32(len(entries)) + fields(entries, g)


def quant(kind: int, scheme: int, bits: int, per_channel: int, params: bytes) -> bytes:
    return u8(kind) + u8(scheme) + u8(bits) + u8(per_channel) + params


def linear_spec(cin: int, cout: int, bias: bool = True, deploy: Optional[Dict] = None) -> Dict:
    """Tensors l1.weight [cout, cin] and (bias) l1.bias [cout]."""
    spec = {"input": [cin, 1, 1], "layers": [
        {"type": "flatten"}, {"type": "linear", "in": cin, "out": cout, "bias": bias}]}
    if deploy is not None:
        spec["deploy"] = deploy
    return spec


def test_the_field_packer_follows_the_spec_example() -> None:
    # 3-bit fields 5, 1, 7: bits 101 100 111 from bit 0 up -> 0b11_001_101, 0b1.
    assert fields([5, 1, 7], 3) == bytes([0b11001101, 0b1])


# --- record kinds -------------------------------------------------------------


def test_float32_dense_records_and_the_linear_forward() -> None:
    w = [1.5, -2.0, 0.25, 4.0, 0.0, -1.0]
    b = [0.5, -0.5, 3.0]
    art = csa.loads(csa_bytes(linear_spec(2, 3), [dense(w), dense(b)]))
    assert list(art.weights) == ["l1.weight", "l1.bias"]
    np.testing.assert_array_equal(art.weights["l1.weight"], np.array(w, np.float32).reshape(3, 2))
    np.testing.assert_array_equal(art.weights["l1.bias"], np.array(b, np.float32))
    assert art.weights["l1.weight"].dtype == np.float32
    assert art.encodings["l1.weight"] == "float32 dense" and not art.quantized
    assert art.spec["layers"][1]["out"] == 3 and art.deploy == {} and art.input is None
    x = np.array([[[[1.0]], [[2.0]]]], np.float32)  # [1, 2, 1, 1]
    np.testing.assert_allclose(art.forward(x), [[1.5 - 4.0 + 0.5, 0.25 + 8.0 - 0.5,
                                                 0.0 - 2.0 + 3.0]])
    with pytest.raises(csa.NotRunnableError, match="no input preprocessing"):
        art.predict(np.zeros((1, 2, 1, 1), np.uint8))


def test_float32_sparse_with_a_bitmask() -> None:
    # 3 x 4 weight, nonzeros at flat 1, 6, 11: bitmask bytes 0b01000010, 0b00001000.
    rec = u8(1) + u32(3) + u8(0) + bytes([0b01000010, 0b00001000]) + f32s([1.0, -2.0, 3.5])
    art = csa.loads(csa_bytes(linear_spec(4, 3, bias=False), [rec]))
    want = np.zeros(12, np.float32)
    want[[1, 6, 11]] = [1.0, -2.0, 3.5]
    np.testing.assert_array_equal(art.weights["l1.weight"], want.reshape(3, 4))
    assert art.encodings["l1.weight"] == "float32 sparse (3/12 nonzero)"


def test_float32_sparse_with_gap_entries_and_escapes() -> None:
    # g = 2, escape 3: nonzeros at 0 (entry 0), 5 (gap 4: escape, 1), 11 (gap 5: escape, 2).
    entries = [0, 3, 1, 3, 2]
    assert fields(entries, 2) == bytes([0b11011100, 0b10])
    rec = u8(1) + gaps(2, entries, 3) + f32s([7.0, 8.0, 9.0])
    art = csa.loads(csa_bytes(linear_spec(4, 3, bias=False), [rec]))
    want = np.zeros(12, np.float32)
    want[[0, 5, 11]] = [7.0, 8.0, 9.0]
    np.testing.assert_array_equal(art.weights["l1.weight"].reshape(-1), want)


def test_linear_symmetric_per_channel_3_bit() -> None:
    # q = f - (2^2 - 1) = f - 3, value q * scale[row].
    f = [0, 3, 6, 1, 5, 2]
    rec = quant(2, 0, 3, 1, f32s([0.5, 2.0])) + fields(f, 3)
    art = csa.loads(csa_bytes(linear_spec(3, 2, bias=False), [rec]))
    np.testing.assert_array_equal(art.weights["l1.weight"],
                                  np.array([[-1.5, 0.0, 1.5], [-4.0, 4.0, -2.0]], np.float32))
    q = art.quantized["l1.weight"]
    assert (q.scheme, q.symmetric, q.bits, q.per_channel, q.sparse) == ("linear", True, 3, True,
                                                                        False)
    np.testing.assert_array_equal(q.codes, [[-3, 0, 3], [-2, 2, -1]])
    assert art.encodings["l1.weight"] == "3-bit linear symmetric per-channel, dense"


def test_linear_symmetric_8_and_2_bit_per_tensor() -> None:
    f8 = [0, 127, 254, 200]
    rec8 = quant(2, 0, 8, 0, f32s([0.25])) + bytes(f8)  # 8-bit fields are whole bytes
    f2 = [0, 1, 2, 2]
    rec2 = quant(2, 0, 2, 0, f32s([3.0])) + fields(f2, 2)
    spec = {"input": [2, 1, 1], "layers": [
        {"type": "flatten"}, {"type": "linear", "in": 2, "out": 2, "bias": False},
        {"type": "linear", "in": 2, "out": 2, "bias": False}]}
    art = csa.loads(csa_bytes(spec, [rec8, rec2]))
    np.testing.assert_array_equal(art.weights["l1.weight"].reshape(-1),
                                  [-127 * 0.25, 0.0, 127 * 0.25, 73 * 0.25])
    np.testing.assert_array_equal(art.weights["l2.weight"].reshape(-1), [-3.0, 0.0, 3.0, 3.0])


def test_linear_affine_per_channel_scales_before_zero_points() -> None:
    # Per channel: all the f32 scales, then all the u8 zero points.
    f = [0, 3, 31, 16, 17, 0]
    rec = quant(2, 1, 5, 1, f32s([0.5, 0.25]) + bytes([3, 16])) + fields(f, 5)
    art = csa.loads(csa_bytes(linear_spec(3, 2, bias=False), [rec]))
    np.testing.assert_array_equal(art.weights["l1.weight"],
                                  np.array([[-1.5, 0.0, 14.0], [0.0, 0.25, -4.0]], np.float32))
    q = art.quantized["l1.weight"]
    assert not q.symmetric
    np.testing.assert_array_equal(q.zero_point, [3, 16])


def test_log2_per_tensor_with_a_negative_exponent() -> None:
    # 4 bits: sign bit 8, levels 1..7; level k -> 2^(e - k + 1), e = -1.
    f = [0, 1, 2, 9, 15, 7]
    rec = quant(2, 2, 4, 0, struct.pack("<b", -1)) + fields(f, 4)
    art = csa.loads(csa_bytes(linear_spec(3, 2, bias=False), [rec]))
    np.testing.assert_array_equal(art.weights["l1.weight"].reshape(-1),
                                  [0.0, 0.5, 0.25, -0.5, -2.0 ** -7, 2.0 ** -7])
    np.testing.assert_array_equal(art.quantized["l1.weight"].codes.reshape(-1),
                                  [0, 1, 2, -1, -7, 7])


def test_pow2_per_channel() -> None:
    # 3 bits: sign bit 4, levels 1..2 (2^(b-2)); exponents 2 and -3.
    f = [1, 2, 5, 6, 0, 1]
    rec = quant(2, 3, 3, 1, struct.pack("<bb", 2, -3)) + fields(f, 3)
    art = csa.loads(csa_bytes(linear_spec(3, 2, bias=False), [rec]))
    np.testing.assert_array_equal(art.weights["l1.weight"],
                                  np.array([[4.0, 2.0, -4.0], [-2.0 ** -4, 0.0, 2.0 ** -3]],
                                           np.float32))


def test_quantized_sparse_affine_zeros_are_the_zero_point() -> None:
    # 2 x 4, per channel, zero points 7 and 2; nonzeros at flat 1 and 6 (bitmask
    # 0b01000010); missing positions are exactly 0.0 and hold the zero point.
    rec = (quant(3, 1, 4, 1, f32s([0.5, 2.0]) + bytes([7, 2])) + u32(2) + u8(0) +
           bytes([0b01000010]) + fields([9, 0], 4))
    art = csa.loads(csa_bytes(linear_spec(4, 2, bias=False), [rec]))
    np.testing.assert_array_equal(art.weights["l1.weight"],
                                  np.array([[0, 1.0, 0, 0], [0, 0, -4.0, 0]], np.float32))
    q = art.quantized["l1.weight"]
    assert q.sparse
    np.testing.assert_array_equal(q.codes, [[7, 9, 7, 7], [2, 2, 0, 2]])
    assert art.encodings["l1.weight"] == "4-bit linear affine per-channel, sparse"


def test_quantized_sparse_log2_with_gap_entries() -> None:
    # numel 6, nonzeros at 2 and 5: g = 1 (escape 1): [1, 1, 0, 1, 1, 0]; fields 3-bit
    # (sign bit 4): 1 -> +2^e, 6 -> -2^(e-1); e = 0.
    entries = [1, 1, 0, 1, 1, 0]
    rec = quant(3, 2, 3, 0, struct.pack("<b", 0)) + gaps(1, entries, 2) + fields([1, 6], 3)
    art = csa.loads(csa_bytes(linear_spec(3, 2, bias=False), [rec]))
    np.testing.assert_array_equal(art.weights["l1.weight"].reshape(-1),
                                  [0, 0, 1.0, 0, 0, -0.5])


def test_batch_norm_order_and_the_omitted_record() -> None:
    spec = {"input": [1, 2, 2], "layers": [
        {"type": "conv", "in": 1, "out": 2, "k": 1, "bias": False}, {"type": "bn", "c": 2}]}
    recs = [dense([2.0, -1.0]), dense([1.0, 2.0]), dense([0.5, 0.0]), dense([0.1, 0.2]),
            dense([4.0, 1.0]), u8(4)]
    art = csa.loads(csa_bytes(spec, recs))
    assert list(art.weights) == ["l0.weight", "l1.weight", "l1.bias", "l1.running_mean",
                                 "l1.running_var", "l1.num_batches_tracked"]
    assert art.weights["l0.weight"].shape == (2, 1, 1, 1)
    nbt = art.weights["l1.num_batches_tracked"]
    assert nbt.dtype == np.int64 and nbt.shape == () and nbt == 0
    assert art.encodings["l1.num_batches_tracked"] == "omitted (integer, zero)"
    x = np.full((1, 1, 2, 2), 3.0, np.float32)
    y = art.forward(x)
    # conv: 6, -3; bn: (y - mean) / sqrt(var + 1e-5) * w + b
    np.testing.assert_allclose(y[0, :, 0, 0], [(6 - 0.1) / np.sqrt(4 + 1e-5) * 1.0 + 0.5,
                                              (-3 - 0.2) / np.sqrt(1 + 1e-5) * 2.0 + 0.0],
                               rtol=1e-6)


def test_a_zoo_name_stands_for_its_layers() -> None:
    shapes = [("l0.weight", (16, 1, 3, 3)), ("l0.bias", (16,)), ("l3.weight", (32, 16, 3, 3)),
              ("l3.bias", (32,)), ("l7.weight", (128, 32 * 7 * 7)), ("l7.bias", (128,)),
              ("l9.weight", (10, 128)), ("l9.bias", (10,))]
    empty = u8(1) + gaps(1, [], 0)  # sparse, no nonzeros
    art = csa.loads(csa_bytes({"arch": "cnn-small"}, [empty] * len(shapes)))
    assert [(n, v.shape) for n, v in art.weights.items()] == shapes
    assert art.arch == "cnn-small" and art.spec["input"] == [1, 28, 28]
    assert art.forward(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)


def test_zoo_layouts_put_parameters_before_buffers_and_bodies_before_shortcuts() -> None:
    layout = csa.tensor_layout(csa.arch_spec("resnet-small"))
    names = [n for n, _, _ in layout]
    first_buffer = names.index("l1.running_mean")
    assert all(n.endswith(("weight", "bias")) for n in names[:first_buffer])
    assert all(n.endswith(("running_mean", "running_var", "num_batches_tracked"))
               for n in names[first_buffer:])
    assert names[:12] == ["l0.weight", "l1.weight", "l1.bias", "l3_body.l0.weight",
                          "l3_body.l1.weight", "l3_body.l1.bias", "l3_body.l3.weight",
                          "l3_body.l4.weight", "l3_body.l4.bias", "l5_body.l0.weight",
                          "l5_body.l1.weight", "l5_body.l1.bias"]
    assert names.index("l5_short.l0.weight") == names.index("l5_body.l4.bias") + 1
    assert ("l10.weight", (10, 64), True) in layout
    mobilenet = dict((n, s) for n, s, _ in csa.tensor_layout(csa.arch_spec("mobilenetv2")))
    assert mobilenet["l3_body.l0.weight"] == (16, 1, 3, 3)  # depthwise: in / groups = 1
    assert len(csa.tensor_layout(csa.arch_spec("mlp"))) == 6
    with pytest.raises(csa.CsaError, match="unknown zoo arch"):
        csa.loads(csa_bytes({"arch": "vgg"}, []))


def test_the_row_transformers_layout_follows_the_encoder_blocks() -> None:
    layout = csa.tensor_layout(csa.arch_spec("transformer-rows-small"))
    shapes = {n: s for n, s, _ in layout}
    # Embedding, positions, 2 blocks of (2 norms + 6 linears) x (weight, bias), norm, head.
    assert len(layout) == 2 + 1 + 2 * 16 + 2 + 2
    assert [n for n, _, _ in layout][:7] == ["l1.weight", "l1.bias", "l2.pos", "l3.ln1.weight",
                                              "l3.ln1.bias", "l3.q.weight", "l3.q.bias"]
    assert shapes["l1.weight"] == (32, 28) and shapes["l2.pos"] == (28, 32)
    assert shapes["l3.q.weight"] == (32, 32) and shapes["l3.o.weight"] == (32, 32)
    assert shapes["l4.fc1.weight"] == (64, 32) and shapes["l4.fc2.weight"] == (32, 64)
    assert shapes["l7.weight"] == (10, 32)
    # Structured pruning leaves fewer heads and neurons: the layout follows the spec.
    spec = csa.arch_spec("transformer-rows")
    spec["layers"][3].update(heads=2, mlp=64)
    pruned = {n: s for n, s, _ in csa.tensor_layout(spec)}
    assert pruned["l3.k.weight"] == (32, 64) and pruned["l3.o.weight"] == (64, 32)
    assert pruned["l3.fc1.weight"] == (64, 64) and pruned["l4.fc1.weight"] == (128, 64)
    # Read, not run: NumPy has no attention forward, and says what to use.
    empty = u8(1) + gaps(1, [], 0)
    art = csa.loads(csa_bytes({"arch": "transformer-rows-small"}, [empty] * len(layout)))
    assert not art.runnable and "export --format torchscript" in art.not_runnable_reason()
    with pytest.raises(csa.NotRunnableError):
        art.forward(np.zeros((1, 1, 28, 28), np.float32))


# --- the deploy block and int8 ---------------------------------------------------


def test_preprocessing_and_predict_from_raw_inputs() -> None:
    deploy = {"input": {"dtype": "uint8", "shape": [2, 1, 1], "scale": 1 / 255, "mean": 0.5,
                        "std": 0.25}}
    art = csa.loads(csa_bytes(linear_spec(2, 1, deploy=deploy), [dense([1.0, -1.0]),
                                                                  dense([0.0])]))
    raw = np.array([[[[255]], [[0]]], [[[51]], [[102]]]], np.uint8)
    x = art.preprocess(raw)
    want = (raw.astype(np.float32) * np.float32(1 / 255) - np.float32(0.5)) / np.float32(0.25)
    np.testing.assert_array_equal(x, want)
    np.testing.assert_allclose(x[0, :, 0, 0], [2.0, -2.0], rtol=1e-6)
    np.testing.assert_array_equal(art.predict(raw), art.forward(want))
    np.testing.assert_array_equal(art.predict(raw[0]), art.forward(want[:1]))  # one example
    assert not art.int8 and art.stored_spec["deploy"] == deploy and "deploy" not in art.spec
    with pytest.raises(ValueError, match=r"shape \[N\] \+ \[2, 1, 1\]"):
        art.predict(np.zeros((1, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        art.predict(raw.astype(np.int32))


def test_the_int8_network_of_one_layer() -> None:
    # 8-bit symmetric per-channel weights; input quantized with (0.1, 10), output
    # requantized with (0.05, 128), as the spec's deploy.int8 says.
    codes = [[30, -20], [127, 3]]
    scales = [0.01, 0.002]
    bias = [0.3, -0.1]
    act = [0.1, 10, 0.05, 128]
    deploy = {"input": {"dtype": "float32", "shape": [2, 1, 1], "scale": 1.0, "mean": 0.0,
                        "std": 1.0}, "int8": {"l1": act}}
    rec = quant(2, 0, 8, 1, f32s(scales)) + bytes(c + 127 for row in codes for c in row)
    art = csa.loads(csa_bytes(linear_spec(2, 2, deploy=deploy), [rec, dense(bias)]))
    assert art.int8
    x = np.array([[0.44, -0.26], [30.0, 0.0]], np.float32).reshape(2, 2, 1, 1)
    got = art.predict(x)
    # By hand: xq = clamp(round(x / 0.1) + 10, 0, 255); acc = sum((xq - 10) * code);
    # y = acc * 0.1 * scale + bias; yq = clamp(round(y / 0.05) + 128, 0, 255).
    want = np.zeros((2, 2))
    for n in range(2):
        xq = [min(255, max(0, round(float(v) / 0.1) + 10)) for v in x[n, :, 0, 0]]
        for o in range(2):
            acc = sum((xq[i] - 10) * codes[o][i] for i in range(2))
            y = acc * 0.1 * scales[o] + bias[o]
            want[n, o] = (min(255, max(0, round(y / 0.05) + 128)) - 128) * 0.05
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert want[1, 0] == (255 - 128) * 0.05  # the second example saturates the output
    # The float network is the same weights without activation quantization.
    np.testing.assert_allclose(art.predict(x, int8=False)[0],
                               [0.44 * 0.3 - 0.26 * -0.2 + 0.3, 0.44 * 0.254 - 0.26 * 0.006 - 0.1],
                               rtol=1e-5)


def test_int8_needs_every_layer_in_the_deploy_block() -> None:
    deploy = {"int8": {"l9": [0.1, 0, 0.1, 0]}}
    rec = quant(2, 0, 8, 0, f32s([0.1])) + bytes([127, 128])
    art = csa.loads(csa_bytes(linear_spec(2, 1, bias=False, deploy=deploy), [rec]))
    assert not art.int8
    with pytest.raises(csa.NotRunnableError, match="not an int8 trial"):
        art.forward_int8(np.zeros((1, 2, 1, 1), np.float32))


# --- user models ----------------------------------------------------------------


def test_a_torchscript_user_model_needs_its_layout_and_cannot_run() -> None:
    spec = {"torchscript": "/models/user.pt"}
    data = csa_bytes(spec, [dense([1.0, 2.0, 3.0, 4.0]), u8(4)])
    with pytest.raises(csa.CsaError, match="does not store its tensor shapes"):
        csa.loads(data)
    art = csa.loads(data, layout=[("fc.weight", (2, 2)), ("steps", ())])
    np.testing.assert_array_equal(art.weights["fc.weight"], [[1.0, 2.0], [3.0, 4.0]])
    assert not art.runnable and not art.int8
    with pytest.raises(csa.NotRunnableError, match="TorchScript user model"):
        art.forward(np.zeros((1, 2), np.float32))


# --- corrupt and truncated files ---------------------------------------------


def valid_file() -> bytes:
    deploy = {"input": {"dtype": "uint8", "shape": [4, 1, 1], "scale": 1.0, "mean": 0.0,
                        "std": 1.0}}
    return csa_bytes(linear_spec(4, 3, deploy=deploy), [
        quant(3, 1, 5, 1, f32s([0.5, 0.25, 1.0]) + bytes([3, 16, 0])) + gaps(2, [0, 3, 1], 2) +
        fields([4, 31], 5),
        u8(1) + u32(1) + u8(0) + bytes([0b100]) + f32s([2.0])])


def test_the_valid_file_used_below_reads() -> None:
    art = csa.loads(valid_file())
    assert art.weights["l1.weight"].reshape(-1)[[0, 5]].tolist() == [0.5, 3.75]
    assert art.size_bytes == len(valid_file())


def test_every_truncation_is_an_error() -> None:
    data = valid_file()
    for n in range(len(data)):
        with pytest.raises(csa.CsaError):
            csa.loads(data[:n])
    with pytest.raises(csa.CsaError, match="truncated"):
        csa.loads(data[:-1])


def test_trailing_bytes_are_an_error() -> None:
    with pytest.raises(csa.CsaError, match="1 trailing bytes"):
        csa.loads(valid_file() + b"\0")


def test_magic_and_version() -> None:
    data = valid_file()
    with pytest.raises(csa.CsaVersionError, match="version '2'.*knows version 1"):
        csa.loads(b"CSA2" + data[4:])
    with pytest.raises(csa.CsaError, match="not a compsweep artifact"):
        csa.loads(b"PK\x03\x04" + data[4:])


@pytest.mark.parametrize("spec_bytes, message", [
    (b"{not json", "not UTF-8 JSON"),
    (b"\xff\xfe", "not UTF-8 JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"layers": [{"type": "lstm"}], "input": [1, 1, 1]}', "unknown layer type 'lstm'"),
    (b'{"layers": [{"type": "linear", "out": 2}], "input": [1, 1, 1]}', "without 'in'"),
    (b'{"input": [1, 1, 1]}', "neither"),
    (b'{"arch": "cnn-small", "deploy": 3}', "deploy block: not a JSON object"),
    (b'{"arch": "mlp", "deploy": {"input": {"dtype": "uint16"}}}', "input.dtype"),
    (b'{"arch": "mlp", "deploy": {"input": {"dtype": "uint8", "shape": [1, 28, 28], '
     b'"scale": 1, "mean": 0, "std": 0}}}', "std nonzero"),
    (b'{"arch": "mlp", "deploy": {"int8": {"l1": [0.1, 300, 0.1, 0]}}}', "int8.l1 is not"),
    (b'{"arch": "mlp", "deploy": {"int8": {"l1": [0.1, 0, 0.1]}}}', "int8.l1 is not"),
])
def test_bad_specs(spec_bytes: bytes, message: str) -> None:
    with pytest.raises(csa.CsaError, match=message):
        csa.loads(b"CSA1" + u32(len(spec_bytes)) + spec_bytes + u32(0))


def test_a_spec_length_past_the_end() -> None:
    with pytest.raises(csa.CsaError, match="truncated: the spec needs 1000 bytes"):
        csa.loads(b"CSA1" + u32(1000) + b"{}")


@pytest.mark.parametrize("record, message", [
    (u8(5), "unknown record kind 5"),
    (quant(2, 4, 8, 0, b""), "unknown quantization scheme 4"),
    (quant(2, 0, 1, 0, b""), "bit width 1"),
    (quant(2, 0, 9, 0, b""), "bit width 9"),
    (quant(2, 0, 8, 2, b""), "per-channel flag 2"),
    (quant(2, 0, 3, 0, f32s([1.0])) + fields([7, 0, 0, 0, 0, 0], 3), "field 7"),
    (quant(2, 3, 3, 0, b"\0") + fields([3, 0, 0, 0, 0, 0], 3), "pow2 3-bit level 3"),
    (u8(1) + u32(2) + u8(0) + bytes([0b1]) + f32s([1.0, 2.0]),
     "hold 1 nonzeros, the record says 2"),
    (u8(1) + u32(1) + u8(9) + u32(1) + b"\0", "position width 9"),
    (u8(1) + gaps(3, [7, 1], 1) + f32s([1.0]), "position 8 out of range"),
])
def test_bad_records(record: bytes, message: str) -> None:
    with pytest.raises(csa.CsaError, match=message) as e:
        csa.loads(csa_bytes(linear_spec(3, 2, bias=False), [record]), source="m.csa")
    assert str(e.value).startswith("m.csa: ") and "record 'l1.weight'" in str(e.value)


def test_a_tensor_count_that_does_not_match_the_spec() -> None:
    with pytest.raises(csa.CsaError, match="3 tensor records, but the spec has 2"):
        csa.loads(csa_bytes(linear_spec(2, 1), [dense([1.0, 2.0]), dense([0.0])], count=3))


# --- the NumPy forward pass against torch ----------------------------------------


def test_every_layer_type_against_torch() -> None:
    """A spec with every layer type (strided, padded, grouped and depthwise
    convs, batch norm, ReLU/ReLU6, max pooling, residuals with and without a
    shortcut, global pooling, linear), random weights stored as dense records:
    the NumPy forward equals torch.nn.functional's to float tolerance."""
    import torch
    import torch.nn.functional as F

    conv = lambda i, o, k, s=1, p=0, g=1, b=True: {  # noqa: E731
        "type": "conv", "in": i, "out": o, "k": k, "stride": s, "pad": p, "groups": g, "bias": b}
    layers = [
        conv(3, 8, 3, 1, 1), {"type": "bn", "c": 8}, {"type": "relu"},
        {"type": "residual", "body": [conv(8, 8, 3, 1, 1, 8, False), {"type": "bn", "c": 8},
                                      {"type": "relu6"}, conv(8, 8, 1, b=False)],
         "shortcut": []},
        {"type": "maxpool", "k": 2},
        {"type": "residual", "body": [conv(8, 12, 3, 2, 1, 2), {"type": "relu"}],
         "shortcut": [conv(8, 12, 1, 2, 0, 1, False), {"type": "bn", "c": 12}]},
        {"type": "relu"}, {"type": "gap"}, {"type": "linear", "in": 12, "out": 5, "bias": True},
    ]
    spec = {"input": [3, 11, 11], "layers": layers}
    rng = np.random.default_rng(0)
    values = {}
    records = []
    for name, shape, is_float in csa.tensor_layout(spec):
        if not is_float:
            records.append(u8(4))
            continue
        v = rng.normal(size=shape).astype(np.float32)
        if name.endswith("running_var"):
            v = np.abs(v) + 0.5
        values[name] = v
        records.append(dense(v.reshape(-1).tolist()))
    art = csa.loads(csa_bytes(spec, records))
    x = rng.normal(size=(4, 3, 11, 11)).astype(np.float32)

    t = {k: torch.from_numpy(v) for k, v in values.items()}

    def run(ls: List[Dict], prefix: str, h: "torch.Tensor") -> "torch.Tensor":
        for i, l in enumerate(ls):
            n = f"{prefix}l{i}"
            if l["type"] == "conv":
                h = F.conv2d(h, t[n + ".weight"], t.get(n + ".bias"), l["stride"], l["pad"], 1,
                             l["groups"])
            elif l["type"] == "bn":
                h = F.batch_norm(h, t[n + ".running_mean"], t[n + ".running_var"],
                                 t[n + ".weight"], t[n + ".bias"], False, 0.1, 1e-5)
            elif l["type"] == "relu":
                h = F.relu(h)
            elif l["type"] == "relu6":
                h = F.hardtanh(h, 0.0, 6.0)
            elif l["type"] == "maxpool":
                h = F.max_pool2d(h, l["k"])
            elif l["type"] == "gap":
                h = h.mean((2, 3))
            elif l["type"] == "linear":
                h = F.linear(h, t[n + ".weight"], t[n + ".bias"])
            elif l["type"] == "residual":
                short = run(l["shortcut"], f"{n}_short.", h) if l["shortcut"] else h
                h = run(l["body"], f"{n}_body.", h) + short
        return h

    with torch.no_grad():
        want = run(layers, "", torch.from_numpy(x)).numpy()
    got = art.forward(x, batch_size=3)  # two batches
    assert got.shape == (4, 5) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_reading_and_running_needs_no_torch(tmp_path) -> None:
    """In a fresh interpreter where importing torch fails, a .csa loads and
    predicts (only torchscript_layout imports torch)."""
    import subprocess
    import sys

    deploy = {"input": {"dtype": "uint8", "shape": [2, 1, 1], "scale": 1.0, "mean": 0.0,
                        "std": 1.0}}
    path = tmp_path / "m.csa"
    path.write_bytes(csa_bytes(linear_spec(2, 1, deploy=deploy), [dense([1.0, 2.0]),
                                                                   dense([0.5])]))
    code = ("import sys; sys.modules['torch'] = None\n"
            "import numpy as np\n"
            "from compsweep import csa\n"
            f"y = csa.load({str(path)!r}).predict(np.array([[[[3]], [[4]]]], np.uint8))\n"
            "print(y.tolist())\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[[11.5]]"
