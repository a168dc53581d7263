"""Reads compsweep's compact artifact (``.csa``) with NumPy alone.

The format is specified byte by byte in ``docs/artifact-format.md``; this
module follows that page (and is tested against it and against files the
compsweep binary writes). It needs NumPy, not torch and not compsweep::

    from compsweep import csa
    art = csa.load("model.csa")
    art.weights["l0.weight"]          # dense float32, the values the trial measured
    art.spec, art.deploy              # the layer list, the input preprocessing
    logits = art.predict(raw_uint8)   # zoo architectures: NumPy forward pass

``predict`` takes raw inputs (as the dataset files hold them, e.g. uint8
pixels) and applies the recorded preprocessing first. For trials that ran on
int8 kernels it emulates that int8 network by default (uint8 activations with
the calibrated scales, ``deploy.int8``); ``predict(x, int8=False)`` runs the
float network on the dequantized weights instead. A TorchScript user model
(spec ``{"torchscript": PATH}``) cannot run here: its graph lives in that file.

Thread-safety: an :class:`Artifact` is immutable after :func:`load`; its
methods may be called from several threads.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from compsweep.csa_forward import QTensor, batched, run_float, run_int8
from compsweep.errors import CompsweepError

#: The only version this reader knows: the magic is ``CSA`` + this digit.
VERSION = 1
MAGIC = b"CSA1"

#: Record kinds (u8 at the start of each tensor record); never renumbered.
KIND_DENSE, KIND_SPARSE, KIND_QDENSE, KIND_QSPARSE, KIND_OMITTED = 0, 1, 2, 3, 4
#: Quantization schemes (u8 in the quant header); never renumbered.
SCHEMES = {0: ("linear", True), 1: ("linear", False), 2: ("log2", True), 3: ("pow2", True)}

ZOO_ARCHS = ("mlp", "lenet5", "cnn-small", "cnn-wide", "resnet-small", "mobilenetv2",
             "transformer-rows", "transformer-rows-small")

Layout = List[Tuple[str, Tuple[int, ...], bool]]


class CsaError(CompsweepError, ValueError):
    """A ``.csa`` file that cannot be read: truncated, corrupt, or not one at
    all. The message names the file and the byte offset."""


class CsaVersionError(CsaError):
    """A compsweep artifact of a version this reader does not know."""


class NotRunnableError(CompsweepError, RuntimeError):
    """The artifact's model cannot be run with NumPy (a TorchScript user model,
    token-id inputs) or lacks what running it needs (the input preprocessing)."""


# ---------------------------------------------------------------------------
# Decoded tensors


@dataclass(frozen=True)
class QuantizedWeight:
    """The integer codes of one quantized tensor, as the record holds them.

    ``codes`` (int32, the tensor's shape) are the signed codes ``q`` of the
    spec: linear symmetric ``value = q * scale[c]``, linear affine ``value =
    (q - zero_point[c]) * scale[c]``, log2/pow2 ``value = sign(q) *
    2^(exponent[c] - |q| + 1)`` (0 for ``q == 0``), ``c`` the channel (dim 0)
    when ``per_channel``, else the single entry."""

    scheme: str  # linear | log2 | pow2
    symmetric: bool  # linear only: False = affine
    bits: int
    per_channel: bool
    sparse: bool  # record kind 3 (positions + nonzero codes)
    codes: np.ndarray
    scale: Optional[np.ndarray] = None  # float32 [C], linear
    zero_point: Optional[np.ndarray] = None  # int32 [C], linear (zeros when symmetric)
    exponent: Optional[np.ndarray] = None  # int32 [C], log2 / pow2

    def dequantize(self) -> np.ndarray:
        return _dequantize(self)


@dataclass(frozen=True)
class Artifact:
    """A decoded ``.csa``.

    ``weights``: every tensor record by name, in file order: float32 arrays of
    the layer's shape (quantized ones dequantized), and int64 zeros for the
    omitted integer bookkeeping (``num_batches_tracked``). ``quantized``: the
    codes of quantized tensors. ``spec``: the layer spec (a zoo name expanded
    to its layers) without ``deploy``; ``stored_spec``: the JSON as stored.
    ``deploy``: the ``deploy`` block (``{}`` when absent). ``encodings``: how
    each record was stored, for reports (``"8-bit linear symmetric
    per-channel, sparse"``)."""

    source: str
    size_bytes: int
    spec: Dict[str, Any]
    stored_spec: Dict[str, Any]
    deploy: Dict[str, Any]
    weights: Dict[str, np.ndarray]
    quantized: Dict[str, QuantizedWeight]
    encodings: Dict[str, str]
    version: int = VERSION

    @property
    def arch(self) -> Optional[str]:
        """The zoo architecture's name, when the spec carries one."""
        return self.spec.get("arch")

    @property
    def input(self) -> Optional[Dict[str, Any]]:
        """``deploy.input``: dtype, shape (one example), scale, mean, std."""
        return self.deploy.get("input")

    @property
    def runnable(self) -> bool:
        return self.not_runnable_reason() is None

    def not_runnable_reason(self) -> Optional[str]:
        """Why :meth:`forward` cannot run this model with NumPy, or None."""
        if "torchscript" in self.spec:
            return (f"{self.source}: a TorchScript user model ({self.spec['torchscript']}): its "
                    "graph is in that file, not in the .csa, so NumPy cannot run it; use "
                    "`compsweep export --format torchscript` (the dense weights are in .weights)")
        if "layers" not in self.spec:
            return f"{self.source}: the spec has no layer list"
        if any(isinstance(layer, dict) and layer.get("type") == "encoder"
               for layer in self.spec["layers"]):
            return (f"{self.source}: an attention encoder ({self.spec.get('arch', 'encoder')}): "
                    "the NumPy forward pass covers conv/linear networks only; use `compsweep "
                    "export --format torchscript` (the weights are in .weights)")
        return None

    @property
    def int8(self) -> bool:
        """True when the trial ran on int8 kernels and this artifact holds all
        that network needs: every conv/linear weight as 8-bit linear symmetric
        codes and each layer's activation quantization in ``deploy.int8``
        (as compsweep's exports decide)."""
        if not self.runnable:
            return False
        act = self.deploy.get("int8") or {}
        layers = _weight_layers(self.spec["layers"], "")
        if not layers:
            return False
        for layer in layers:
            q = self.quantized.get(layer + ".weight")
            if q is None or not (q.scheme == "linear" and q.symmetric and q.bits == 8):
                return False
            if layer not in act:
                return False
        return True

    def preprocess(self, raw: Any) -> np.ndarray:
        """The model's input from raw examples ``[N] + input.shape`` (or one
        example): ``(float32(raw) * scale - mean) / std`` in float32."""
        spec = self.input
        if spec is None:
            raise NotRunnableError(
                f"{self.source}: the artifact records no input preprocessing (deploy.input): "
                "it was written by a compsweep before artifacts carried it; call forward() "
                "with inputs prepared as the trial's data was")
        dtype = spec["dtype"]
        if dtype == "int64":
            raise NotRunnableError(f"{self.source}: token-id (int64) inputs need a TorchScript "
                                   "model; the NumPy forward pass takes images and rows only")
        raw = np.asarray(raw)
        if raw.dtype not in (np.dtype(dtype), np.dtype(np.float32)):
            raise TypeError(f"raw inputs must be {dtype} (as the dataset files hold them) or "
                            f"float32, not {raw.dtype}")
        shape = tuple(int(d) for d in spec["shape"])
        if raw.shape == shape:
            raw = raw[None]
        if raw.shape[1:] != shape:
            raise ValueError(f"raw inputs must have shape [N] + {list(shape)} (or one example "
                             f"{list(shape)}), not {list(raw.shape)}")
        x = raw.astype(np.float32)
        scale, mean, std = float(spec["scale"]), float(spec["mean"]), float(spec["std"])
        if (scale, mean, std) != (1.0, 0.0, 1.0):
            x = x * np.float32(scale)
            x = x - np.float32(mean)
            x = x / np.float32(std)
        return x

    def forward(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Float logits of the model on prepared inputs (as the trial's data
        gave them to the model: already preprocessed), with the dequantized
        weights: the network whose accuracy is the trial's test_accuracy."""
        self._require_runnable()
        x = np.asarray(x, dtype=np.float32)
        return batched(x, batch_size,
                       lambda b: run_float(self.spec["layers"], "", self.weights, b))

    def forward_int8(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Logits of the int8 network (uint8 activations, int8 weight codes,
        float islands for batch norm, ReLU6, global pooling and residual sums,
        as compsweep's int8 kernels and exports run it) on prepared inputs."""
        self._require_runnable()
        if not self.int8:
            raise NotRunnableError(f"{self.source}: not an int8 trial (needs 8-bit linear "
                                   "symmetric codes for every conv/linear weight and "
                                   "deploy.int8 activation parameters for each layer)")
        x = np.asarray(x, dtype=np.float32)
        act = self.deploy["int8"]

        def run(b: np.ndarray) -> np.ndarray:
            y = run_int8(self.spec["layers"], "", self.weights, self.quantized, act, b)
            return y.dequantize() if isinstance(y, QTensor) else y

        return batched(x, batch_size, run)

    def predict(self, raw: Any, int8: Optional[bool] = None, batch_size: int = 256
                ) -> np.ndarray:
        """Logits for raw inputs: :meth:`preprocess`, then the int8 network
        when ``int8`` (default: when the trial ran int8, see :attr:`int8`),
        else the float network."""
        self._require_runnable()
        x = self.preprocess(raw)
        use_int8 = self.int8 if int8 is None else int8
        return self.forward_int8(x, batch_size) if use_int8 else self.forward(x, batch_size)

    def _require_runnable(self) -> None:
        reason = self.not_runnable_reason()
        if reason is not None:
            raise NotRunnableError(reason)


# ---------------------------------------------------------------------------
# Reading


def load(path: Union[str, Path], layout: Optional[Sequence[Tuple[str, Sequence[int]]]] = None
         ) -> Artifact:
    """Reads a ``.csa`` file. ``layout`` is needed only for a TorchScript user
    model (see :func:`loads`)."""
    path = Path(path)
    return loads(path.read_bytes(), layout=layout, source=str(path))


def loads(data: bytes, layout: Optional[Sequence[Tuple[str, Sequence[int]]]] = None,
          source: str = "<bytes>") -> Artifact:
    """Decodes the bytes of a ``.csa``. Raises :class:`CsaError` (with the
    byte offset) for anything that is not exactly a valid file: truncated,
    trailing bytes, bad kinds, widths or positions, a spec that does not
    match the records. A TorchScript user model's tensor shapes are not in the
    file: pass ``layout``, its ``(name, shape)`` pairs in the module's
    named_parameters() then named_buffers() order (what
    :func:`torchscript_layout` reads from the .pt, with torch)."""
    r = _Reader(bytes(data), source)
    stored = _read_header(r)
    spec = {k: v for k, v in stored.items() if k != "deploy"}
    deploy = stored.get("deploy", {})
    _check_deploy(deploy, source)
    if set(spec) == {"arch"}:
        spec = arch_spec(spec["arch"])
    if "torchscript" in spec:
        if layout is None:
            raise CsaError(
                f"{source}: a TorchScript user model ({spec['torchscript']}): the .csa does not "
                "store its tensor shapes; pass layout=compsweep.csa.torchscript_layout(PATH) "
                "(needs torch) or its (name, shape) pairs")
        tensors: Layout = [(str(n), tuple(int(d) for d in s), True) for n, s, *_ in layout]
    elif "layers" in spec:
        if layout is not None:
            raise ValueError("layout is only for TorchScript user models; a layer spec fixes it")
        tensors = tensor_layout(spec, source)
    else:
        raise CsaError(f"{source}: the spec has neither 'layers', 'arch' nor 'torchscript'")
    count_at = r.pos
    count = r.u32("the tensor count")
    if count != len(tensors):
        raise CsaError(f"{source}: byte {count_at}: {count} tensor records, but the spec has "
                       f"{len(tensors)} tensors")
    weights: Dict[str, np.ndarray] = {}
    quantized: Dict[str, QuantizedWeight] = {}
    encodings: Dict[str, str] = {}
    for name, shape, _ in tensors:
        at = r.pos
        try:
            value, q, how = _read_record(r, shape)
        except CsaError as e:
            raise CsaError(f"{e} (record '{name}' from byte {at})") from None
        weights[name] = value
        encodings[name] = how
        if q is not None:
            quantized[name] = q
    if r.pos != len(r.data):
        raise CsaError(f"{source}: byte {r.pos}: {len(r.data) - r.pos} trailing bytes after the "
                       "last record")
    return Artifact(source=source, size_bytes=len(r.data), spec=spec, stored_spec=stored,
                    deploy=deploy, weights=weights, quantized=quantized, encodings=encodings)


def _check_deploy(deploy: Any, source: str) -> None:
    """deploy.input and deploy.int8 as the spec describes them, or CsaError."""
    def bad(what: str) -> CsaError:
        return CsaError(f"{source}: the spec's deploy block: {what}")

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if not isinstance(deploy, dict):
        raise bad("not a JSON object")
    inp = deploy.get("input")
    if inp is not None:
        if not isinstance(inp, dict) or inp.get("dtype") not in ("uint8", "float32", "int64"):
            raise bad(f"input.dtype is not uint8, float32 or int64: {inp!r}")
        shape = inp.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d > 0 for d in shape):
            raise bad(f"input.shape is not a list of sizes: {shape!r}")
        if not all(number(inp.get(k)) for k in ("scale", "mean", "std")) or inp["std"] == 0:
            raise bad("input.scale, .mean, .std must be finite numbers, std nonzero")
    act = deploy.get("int8")
    if act is not None:
        if not isinstance(act, dict):
            raise bad("int8 is not a JSON object")
        for layer, p in act.items():
            ok = (isinstance(p, list) and len(p) == 4 and number(p[0]) and number(p[2]) and
                  p[0] > 0 and p[2] > 0 and all(isinstance(z, int) and not isinstance(z, bool)
                                                and 0 <= z <= 255 for z in (p[1], p[3])))
            if not ok:
                raise bad(f"int8.{layer} is not [in_scale, in_zero_point, out_scale, "
                          f"out_zero_point] (scales > 0, zero points 0..255): {p!r}")


def read_spec(source: Union[str, Path, bytes]) -> Dict[str, Any]:
    """The spec JSON as stored (``deploy`` included), without decoding the
    records: e.g. to find a TorchScript user model's path before :func:`load`."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    r = _Reader(data, "<bytes>" if isinstance(source, bytes) else str(source))
    return _read_header(r)


def torchscript_layout(path: Union[str, Path]) -> Layout:
    """(name, shape, is_float) of a TorchScript module's parameters then
    buffers, the order the .csa stores them in. Imports torch."""
    import torch  # only here: reading a zoo artifact never needs it

    module = torch.jit.load(str(path), map_location="cpu")
    out: Layout = []
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        out.append((name, tuple(t.shape), bool(t.is_floating_point())))
    return out


def _read_header(r: _Reader) -> Dict[str, Any]:
    """The magic and the spec JSON; leaves ``r`` at the tensor count."""
    source = r.source
    magic = r.take(4, "the magic")
    if magic != MAGIC:
        if magic[:3] == b"CSA":
            raise CsaVersionError(f"{source}: a compsweep artifact of version "
                                  f"{magic[3:].decode('latin-1')!r}; this reader knows version "
                                  f"{VERSION} only (magic {MAGIC!r})")
        raise CsaError(f"{source}: not a compsweep artifact (magic {magic!r}, expected {MAGIC!r})")
    spec_len = r.u32("the spec length")
    raw_spec = r.take(spec_len, "the spec")
    try:
        stored = json.loads(raw_spec.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CsaError(f"{source}: byte 8: the spec is not UTF-8 JSON: {e}") from None
    if not isinstance(stored, dict):
        raise CsaError(f"{source}: byte 8: the spec is not a JSON object")
    return stored


class _Reader:
    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source
        self.pos = 0

    def fail(self, message: str) -> CsaError:
        return CsaError(f"{self.source}: byte {self.pos}: {message}")

    def take(self, n: int, what: str) -> bytes:
        left = len(self.data) - self.pos
        if n > left:
            raise self.fail(f"truncated: {what} needs {n} bytes, {left} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u32(self, what: str) -> int:
        return struct.unpack("<I", self.take(4, what))[0]

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        item = np.dtype(dtype).itemsize
        return np.frombuffer(self.take(count * item, what), dtype=dtype).copy()

    def fields(self, count: int, bits: int, what: str) -> np.ndarray:
        """``count`` unsigned ``bits``-bit fields, LSB first."""
        raw = np.frombuffer(self.take((count * bits + 7) // 8, what), dtype=np.uint8)
        stream = np.unpackbits(raw, bitorder="little")[:count * bits]
        weights = (np.uint32(1) << np.arange(bits, dtype=np.uint32))
        return (stream.reshape(count, bits).astype(np.uint32) * weights).sum(
            axis=1, dtype=np.uint32)


def _positions(r: _Reader, numel: int) -> np.ndarray:
    at = r.pos
    nnz = r.u32("the nonzero count")
    g = r.u8("the position width")
    if g == 0:
        nz = np.flatnonzero(r.fields(numel, 1, "the position bitmask"))
    elif g <= 8:
        count = r.u32("the gap entry count")
        entries = r.fields(count, g, "the gap entries").astype(np.int64)
        escape = (1 << g) - 1
        pos = np.cumsum(np.where(entries == escape, escape, entries + 1)) - 1
        nz = pos[entries != escape]
        if nz.size and nz[-1] >= numel:
            raise CsaError(f"{r.source}: byte {at}: position {int(nz[-1])} out of range (the "
                           f"tensor has {numel} values)")
    else:
        raise CsaError(f"{r.source}: byte {at + 4}: position width {g} (must be 0..8)")
    if nz.size != nnz:
        raise CsaError(f"{r.source}: byte {at}: the positions hold {nz.size} nonzeros, the "
                       f"record says {nnz}")
    return nz


def _read_record(r: _Reader, shape: Tuple[int, ...]) -> Tuple[np.ndarray, Optional[QuantizedWeight],
                                                              str]:
    numel = int(np.prod(shape, dtype=np.int64))
    kind_at = r.pos
    kind = r.u8("the record kind")
    if kind == KIND_OMITTED:
        return np.zeros(shape, np.int64), None, "omitted (integer, zero)"
    if kind == KIND_DENSE:
        return r.array("<f4", numel, "float32 values").astype(np.float32).reshape(shape), None, \
            "float32 dense"
    if kind == KIND_SPARSE:
        nz = _positions(r, numel)
        values = np.zeros(numel, np.float32)
        values[nz] = r.array("<f4", nz.size, "float32 nonzeros")
        return values.reshape(shape), None, f"float32 sparse ({nz.size}/{numel} nonzero)"
    if kind not in (KIND_QDENSE, KIND_QSPARSE):
        raise CsaError(f"{r.source}: byte {kind_at}: unknown record kind {kind} (0..4)")
    scheme_at = r.pos
    code = r.u8("the quantization scheme")
    if code not in SCHEMES:
        raise CsaError(f"{r.source}: byte {scheme_at}: unknown quantization scheme {code} (0..3)")
    scheme, symmetric = SCHEMES[code]
    bits = r.u8("the bit width")
    if not 2 <= bits <= 8:
        raise CsaError(f"{r.source}: byte {scheme_at + 1}: bit width {bits} (must be 2..8)")
    flag = r.u8("the per-channel flag")
    if flag > 1:
        raise CsaError(f"{r.source}: byte {scheme_at + 2}: per-channel flag {flag} (0 or 1)")
    per_channel = flag == 1
    if per_channel and not shape:
        raise CsaError(f"{r.source}: byte {scheme_at + 2}: a per-channel scalar")
    channels = shape[0] if per_channel else 1
    scale = zero_point = exponent = None
    if scheme == "linear":
        scale = r.array("<f4", channels, "the scales").astype(np.float32)
        zero_point = (r.array("u1", channels, "the zero points").astype(np.int32) if not symmetric
                      else np.zeros(channels, np.int32))
    else:
        exponent = r.array("i1", channels, "the exponents").astype(np.int32)
    sparse = kind == KIND_QSPARSE
    if sparse:
        nz = _positions(r, numel)
        fields = r.fields(nz.size, bits, "the codes")
    else:
        nz = None
        fields = r.fields(numel, bits, "the codes")
    codes_at_nz = _codes_from_fields(r, fields.astype(np.int32), scheme, symmetric, bits)
    if sparse:
        # Missing positions hold the code of zero: 0, or the zero point.
        if scheme == "linear" and not symmetric:
            codes = np.broadcast_to(_channel_view(zero_point, shape, per_channel), shape).copy()
            codes = codes.reshape(-1)
        else:
            codes = np.zeros(numel, np.int32)
        codes[nz] = codes_at_nz
    else:
        codes = codes_at_nz
    q = QuantizedWeight(scheme=scheme, symmetric=symmetric, bits=bits, per_channel=per_channel,
                        sparse=sparse, codes=codes.reshape(shape).astype(np.int32), scale=scale,
                        zero_point=zero_point, exponent=exponent)
    how = (f"{bits}-bit {scheme}{' symmetric' if scheme == 'linear' and symmetric else ''}"
           f"{' affine' if not symmetric else ''} {'per-channel' if per_channel else 'per-tensor'}"
           f", {'sparse' if sparse else 'dense'}")
    return _dequantize(q), q, how


def _codes_from_fields(r: _Reader, f: np.ndarray, scheme: str, symmetric: bool, bits: int
                       ) -> np.ndarray:
    """Signed codes from unsigned fields; fields the writer never produces
    (a sign of corruption) are errors."""
    if scheme == "linear":
        if not symmetric:
            return f
        top = (1 << bits) - 2
        if f.size and int(f.max()) > top:
            raise r.fail(f"linear symmetric {bits}-bit field {int(f.max())} (fields are 0..{top})")
        return f - ((1 << (bits - 1)) - 1)
    sign_bit = 1 << (bits - 1)
    level = f % sign_bit
    levels = sign_bit - 1 if scheme == "log2" else 1 << (bits - 2)
    if level.size and int(level.max()) > levels:
        raise r.fail(f"{scheme} {bits}-bit level {int(level.max())} (levels are 0..{levels})")
    return np.where(f >= sign_bit, -level, level).astype(np.int32)


def _channel_view(v: np.ndarray, shape: Tuple[int, ...], per_channel: bool) -> np.ndarray:
    if not per_channel:
        return v.reshape(())
    return v.reshape((shape[0],) + (1,) * (len(shape) - 1))


def _dequantize(q: QuantizedWeight) -> np.ndarray:
    shape = q.codes.shape
    codes = q.codes.astype(np.float32)
    if q.scheme == "linear":
        s = _channel_view(q.scale, shape, q.per_channel)
        z = _channel_view(q.zero_point.astype(np.float32), shape, q.per_channel)
        return ((codes - z) * s).astype(np.float32)
    level = np.abs(q.codes)
    top = _channel_view(q.exponent, shape, q.per_channel).astype(np.float64)
    mag = np.ldexp(np.ones(shape), (top - level + 1).astype(np.int64)).astype(np.float32)
    return np.where(level > 0, mag * np.sign(codes), np.float32(0)).astype(np.float32)


# ---------------------------------------------------------------------------
# Specs


def _conv(i: int, o: int, k: int, stride: int = 1, pad: int = 0, groups: int = 1,
          bias: bool = True) -> Dict[str, Any]:
    return {"type": "conv", "in": i, "out": o, "k": k, "stride": stride, "pad": pad,
            "groups": groups, "bias": bias}


def _linear(i: int, o: int) -> Dict[str, Any]:
    return {"type": "linear", "in": i, "out": o, "bias": True}


def _simple(t: str) -> Dict[str, Any]:
    return {"type": t}


def _bn(c: int) -> Dict[str, Any]:
    return {"type": "bn", "c": c}


def _maxpool(k: int) -> Dict[str, Any]:
    return {"type": "maxpool", "k": k}


def _small_cnn(c: int, c1: int, c2: int, fc: int, h: int, w: int, classes: int) -> List[Dict]:
    return [_conv(c, c1, 3, 1, 1), _simple("relu"), _maxpool(2), _conv(c1, c2, 3, 1, 1),
            _simple("relu"), _maxpool(2), _simple("flatten"),
            _linear(c2 * (h // 2 // 2) * (w // 2 // 2), fc), _simple("relu"), _linear(fc, classes)]


def _basic_block(i: int, o: int, stride: int) -> Dict[str, Any]:
    body = [_conv(i, o, 3, stride, 1, 1, False), _bn(o), _simple("relu"),
            _conv(o, o, 3, 1, 1, 1, False), _bn(o)]
    short = [_conv(i, o, 1, stride, 0, 1, False), _bn(o)] if stride != 1 or i != o else []
    return {"type": "residual", "body": body, "shortcut": short}


def _inverted_residual(layers: List[Dict], i: int, o: int, stride: int, t: int) -> None:
    hidden = i * t
    body: List[Dict] = []
    if t != 1:
        body += [_conv(i, hidden, 1, 1, 0, 1, False), _bn(hidden), _simple("relu6")]
    body += [_conv(hidden, hidden, 3, stride, 1, hidden, False), _bn(hidden), _simple("relu6"),
             _conv(hidden, o, 1, 1, 0, 1, False), _bn(o)]
    if stride == 1 and i == o:
        layers.append({"type": "residual", "body": body, "shortcut": []})
    else:
        layers.extend(body)


def _row_transformer(c: int, h: int, w: int, d: int, blocks: int, heads: int, head_dim: int,
                     mlp: int, classes: int) -> List[Dict]:
    layers = [_simple("rows"), _linear(c * w, d), {"type": "pos", "tokens": h, "d": d}]
    layers += [{"type": "encoder", "d": d, "heads": heads, "head_dim": head_dim, "mlp": mlp}
               for _ in range(blocks)]
    return layers + [{"type": "ln", "d": d}, _simple("token_mean"), _linear(d, classes)]


def arch_spec(arch: str, example_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10
              ) -> Dict[str, Any]:
    """The spec of a zoo architecture, as compsweep's ``ArchSpec``
    (experiments/model.cc). A ``.csa`` stores just ``{"arch": NAME}`` only
    for the default 1x28x28 input and 10 classes; any other shape is stored in
    full."""
    if not isinstance(arch, str):
        raise CsaError(f"the spec's arch is not a name: {arch!r}")
    shape = [int(d) for d in example_shape]
    if not 1 <= len(shape) <= 3:
        raise CsaError(f"arch {arch} cannot take examples of {len(shape)} dimensions")
    rows = len(shape) == 1
    c = shape[0] if len(shape) == 3 or rows else 1
    h = 1 if rows else shape[-2]
    w = 1 if rows else shape[-1]
    k = num_classes
    conv = arch not in ("mlp", "lenet-300-100")
    if conv and rows:
        raise CsaError(f"arch {arch} takes images, not rows")
    if not conv:
        layers = [_simple("flatten"), _linear(c * h * w, 300), _simple("relu"),
                  _linear(300, 100), _simple("relu"), _linear(100, k)]
    elif arch == "lenet5":
        layers = [_conv(c, 6, 5, 1, 2), _simple("relu"), _maxpool(2), _conv(6, 16, 5),
                  _simple("relu"), _maxpool(2), _simple("flatten"),
                  _linear(16 * ((h // 2 - 4) // 2) * ((w // 2 - 4) // 2), 120), _simple("relu"),
                  _linear(120, 84), _simple("relu"), _linear(84, k)]
    elif arch == "cnn-small":
        layers = _small_cnn(c, 16, 32, 128, h, w, k)
    elif arch == "cnn-wide":
        layers = _small_cnn(c, 32, 64, 256, h, w, k)
    elif arch == "resnet-small":
        layers = [_conv(c, 16, 3, 1, 1, 1, False), _bn(16), _simple("relu"),
                  _basic_block(16, 16, 1), _simple("relu"), _basic_block(16, 32, 2),
                  _simple("relu"), _basic_block(32, 64, 2), _simple("relu"), _simple("gap"),
                  _linear(64, k)]
    elif arch == "transformer-rows":
        layers = _row_transformer(c, h, w, 64, 4, 4, 16, 128, k)
    elif arch == "transformer-rows-small":
        layers = _row_transformer(c, h, w, 32, 2, 2, 16, 64, k)
    elif arch == "mobilenetv2":
        layers = [_conv(c, 16, 3, 1, 1, 1, False), _bn(16), _simple("relu6")]
        for i, o, s, t in ((16, 16, 1, 1), (16, 24, 2, 6), (24, 24, 1, 6), (24, 32, 2, 6),
                           (32, 32, 1, 6), (32, 64, 1, 6)):
            _inverted_residual(layers, i, o, s, t)
        layers += [_conv(64, 128, 1, 1, 0, 1, False), _bn(128), _simple("relu6"),
                   _simple("gap"), _linear(128, k)]
    else:
        raise CsaError(f"unknown zoo arch {arch!r} (this reader knows {', '.join(ZOO_ARCHS)})")
    return {"input": [c, h, w], "layers": layers, "arch": arch}


def tensor_layout(spec: Dict[str, Any], source: str = "spec") -> Layout:
    """(name, shape, is_float) of a layer spec's tensors in file order: every
    parameter (layers in order, residual bodies before shortcuts), then every
    buffer in the same order."""
    params: Layout = []
    buffers: Layout = []
    _walk(spec["layers"], "", params, buffers, source)
    return params + buffers


def _int(layer: Dict[str, Any], key: str, default: Optional[int], source: str) -> int:
    if key not in layer:
        if default is None:
            raise CsaError(f"{source}: a {layer.get('type')} layer without '{key}'")
        return default
    v = layer[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise CsaError(f"{source}: {layer.get('type')} layer '{key}' is {v!r}, not a count")
    return v


def _walk(layers: Any, prefix: str, params: Layout, buffers: Layout, source: str) -> None:
    if not isinstance(layers, list):
        raise CsaError(f"{source}: a layer list is not a JSON array")
    for i, layer in enumerate(layers):
        name = f"{prefix}l{i}"
        t = layer.get("type") if isinstance(layer, dict) else None
        if t == "conv":
            cin, cout = _int(layer, "in", None, source), _int(layer, "out", None, source)
            k, groups = _int(layer, "k", None, source), _int(layer, "groups", 1, source)
            if groups < 1 or cin % groups or cout % groups:
                raise CsaError(f"{source}: conv {name}: {cin} -> {cout} channels in {groups} "
                               "groups")
            params.append((f"{name}.weight", (cout, cin // groups, k, k), True))
            if layer.get("bias", True):
                params.append((f"{name}.bias", (cout,), True))
        elif t == "linear":
            cin, cout = _int(layer, "in", None, source), _int(layer, "out", None, source)
            params.append((f"{name}.weight", (cout, cin), True))
            if layer.get("bias", True):
                params.append((f"{name}.bias", (cout,), True))
        elif t == "bn":
            c = _int(layer, "c", None, source)
            params += [(f"{name}.weight", (c,), True), (f"{name}.bias", (c,), True)]
            buffers += [(f"{name}.running_mean", (c,), True), (f"{name}.running_var", (c,), True),
                        (f"{name}.num_batches_tracked", (), False)]
        elif t == "maxpool":
            if _int(layer, "k", None, source) < 1:
                raise CsaError(f"{source}: maxpool {name} with k < 1")
        elif t in ("relu", "relu6", "gap", "flatten", "rows", "token_mean"):
            pass
        elif t == "pos":
            params.append((f"{name}.pos", (_int(layer, "tokens", None, source),
                                           _int(layer, "d", None, source)), True))
        elif t == "ln":
            d = _int(layer, "d", None, source)
            params += [(f"{name}.weight", (d,), True), (f"{name}.bias", (d,), True)]
        elif t == "encoder":
            # EncoderBlockImpl's registration order: ln1, q, k, v, o, ln2, fc1, fc2.
            d, mlp = _int(layer, "d", None, source), _int(layer, "mlp", None, source)
            inner = _int(layer, "heads", None, source) * _int(layer, "head_dim", None, source)
            for sub, (out_f, in_f) in (("ln1", (d, 0)), ("q", (inner, d)), ("k", (inner, d)),
                                       ("v", (inner, d)), ("o", (d, inner)), ("ln2", (d, 0)),
                                       ("fc1", (mlp, d)), ("fc2", (d, mlp))):
                shape = (out_f,) if in_f == 0 else (out_f, in_f)
                params += [(f"{name}.{sub}.weight", shape, True),
                           (f"{name}.{sub}.bias", (out_f,), True)]
        elif t == "residual":
            _walk(layer.get("body"), f"{name}_body.", params, buffers, source)
            short = layer.get("shortcut", [])
            if short:
                _walk(short, f"{name}_short.", params, buffers, source)
        else:
            raise CsaError(f"{source}: layer {name}: unknown layer type {t!r}")


def _weight_layers(layers: List[Dict], prefix: str) -> List[str]:
    out: List[str] = []
    for i, layer in enumerate(layers):
        name = f"{prefix}l{i}"
        if layer["type"] in ("conv", "linear"):
            out.append(name)
        elif layer["type"] == "residual":
            out += _weight_layers(layer["body"], f"{name}_body.")
            out += _weight_layers(layer.get("shortcut") or [], f"{name}_short.")
    return out


__all__ = [
    "Artifact", "CsaError", "CsaVersionError", "NotRunnableError", "QuantizedWeight", "VERSION",
    "arch_spec", "load", "loads", "read_spec", "tensor_layout", "torchscript_layout",
]
