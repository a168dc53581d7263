"""NumPy forward passes of a compsweep layer spec (docs/artifact-format.md,
"Layers" and deploy.int8): the float network and the int8 network that
compsweep's int8 kernels run. Used by :mod:`compsweep.csa`. Thread-safety:
pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple, Union

import numpy as np

#: LibTorch's BatchNorm2d default, which the zoo's batch norm layers use.
BN_EPS = 1e-5

def batched(x: np.ndarray, batch_size: int, fn: Any) -> np.ndarray:
    if x.shape[0] == 0:
        raise ValueError("no inputs")
    return np.concatenate([fn(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def _windows(x: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """[N, C, Ho, Wo, k, k] views of the (zero padded) input."""
    if x.ndim != 4:
        raise ValueError(f"a conv layer needs N x C x H x W inputs, not {list(x.shape)}")
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    w = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    return w[:, :, ::stride, ::stride]


def _conv2d(x: np.ndarray, w: np.ndarray, stride: int, pad: int, groups: int) -> np.ndarray:
    """Cross-correlation as torch.conv2d (no bias), in x's dtype."""
    n, c = x.shape[:2]
    cout, cg, k, _ = w.shape
    if c != cg * groups:
        raise ValueError(f"conv expects {cg * groups} input channels, got {c}")
    win = _windows(x, k, stride, pad)
    ho, wo = win.shape[2:4]
    og = cout // groups
    if cg == 1 and og == 1:  # depthwise: k*k multiply-adds over whole planes
        y = np.zeros((n, c, ho, wo), np.result_type(x, w))
        for i in range(k):
            for j in range(k):
                y += win[..., i, j] * w[:, 0, i, j].reshape(1, c, 1, 1)
        return y
    outs = []
    for g in range(groups):
        cols = win[:, g * cg:(g + 1) * cg].transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, -1)
        outs.append(cols @ w[g * og:(g + 1) * og].reshape(og, -1).T)
    y = np.concatenate(outs, axis=1) if groups > 1 else outs[0]
    return np.ascontiguousarray(y.reshape(n, ho, wo, cout).transpose(0, 3, 1, 2))


def _maxpool2d(x: np.ndarray, k: int) -> np.ndarray:
    n, c, h, w = x.shape
    ho, wo = h // k, w // k
    return x[:, :, :ho * k, :wo * k].reshape(n, c, ho, k, wo, k).max(axis=(3, 5))


def _bn_affine(weights: Dict[str, np.ndarray], name: str) -> Tuple[np.ndarray, np.ndarray]:
    """Eval-mode batch norm as x * a + b (float32, [1, C, 1, 1])."""
    a = weights[f"{name}.weight"] / np.sqrt(weights[f"{name}.running_var"] + np.float32(BN_EPS))
    b = weights[f"{name}.bias"] - weights[f"{name}.running_mean"] * a
    return (a.astype(np.float32).reshape(1, -1, 1, 1), b.astype(np.float32).reshape(1, -1, 1, 1))


def run_float(layers: List[Dict], prefix: str, weights: Dict[str, np.ndarray], x: np.ndarray
               ) -> np.ndarray:
    for i, layer in enumerate(layers):
        name = f"{prefix}l{i}"
        t = layer["type"]
        if t == "conv":
            x = _conv2d(x, weights[f"{name}.weight"], layer.get("stride", 1), layer.get("pad", 0),
                        layer.get("groups", 1))
            if f"{name}.bias" in weights:
                x = x + weights[f"{name}.bias"].reshape(1, -1, 1, 1)
        elif t == "linear":
            x = x @ weights[f"{name}.weight"].T
            if f"{name}.bias" in weights:
                x = x + weights[f"{name}.bias"]
        elif t == "bn":
            a, b = _bn_affine(weights, name)
            x = x * a + b
        elif t == "relu":
            x = np.maximum(x, np.float32(0))
        elif t == "relu6":
            x = np.clip(x, np.float32(0), np.float32(6))
        elif t == "maxpool":
            x = _maxpool2d(x, layer["k"])
        elif t == "gap":
            x = x.mean(axis=(2, 3), dtype=np.float32)
        elif t == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif t == "residual":
            body = run_float(layer["body"], f"{name}_body.", weights, x)
            short = layer.get("shortcut") or []
            x = body + (run_float(short, f"{name}_short.", weights, x) if short else x)
        x = x.astype(np.float32, copy=False)
    return x


@dataclass
class QTensor:
    """A per-tensor affine uint8 activation: value = (codes - zp) * scale."""

    codes: np.ndarray  # int32
    scale: float
    zp: int

    def dequantize(self) -> np.ndarray:
        return ((self.codes - self.zp).astype(np.float32) * np.float32(self.scale))


def quantize(x: np.ndarray, scale: float, zp: int) -> QTensor:
    inv = np.float32(1.0) / np.float32(scale)
    q = np.rint(x.astype(np.float32) * inv).astype(np.int64) + zp
    return QTensor(np.clip(q, 0, 255).astype(np.int32), scale, zp)


def run_int8(layers: List[Dict], prefix: str, weights: Dict[str, np.ndarray],
             quantized: Dict[str, Any], act: Dict[str, Any], x: Union[np.ndarray, "QTensor"]
             ) -> Union[np.ndarray, "QTensor"]:
    """The int8 network (docs/artifact-format.md, deploy.int8) on a batch;
    returns a QTensor when the last layer is quantized."""
    def deq(v: Union[np.ndarray, QTensor]) -> np.ndarray:
        return v.dequantize() if isinstance(v, QTensor) else v

    i = 0
    while i < len(layers):
        layer = layers[i]
        name = f"{prefix}l{i}"
        t = layer["type"]
        if t in ("conv", "linear"):
            in_scale, in_zp, out_scale, out_zp = act[name]
            if not isinstance(x, QTensor):
                x = quantize(x, float(in_scale), int(in_zp))
            q = quantized[f"{name}.weight"]
            # Integer sums, exact in float32 while every partial sum stays
            # below 2^24 (|x - zp| <= 255, |code| <= 127), else in float64.
            terms = int(np.prod(q.codes.shape[1:]))
            exact = np.float32 if terms * 255 * 127 < 2 ** 24 else np.float64
            src = (x.codes - x.zp).astype(exact)
            codes = q.codes.astype(exact)
            if t == "conv":
                acc = _conv2d(src, codes, layer.get("stride", 1), layer.get("pad", 0),
                              layer.get("groups", 1))
                view = (1, -1, 1, 1)
            else:
                acc = src @ codes.T
                view = (1, -1)
            acc = acc.astype(np.float64)
            w_scale = q.scale.astype(np.float64).reshape(-1)
            y = acc * (x.scale * (w_scale if q.per_channel else w_scale[0])).reshape(
                view if q.per_channel else ())
            bias = weights.get(f"{name}.bias")
            if bias is not None:
                y = y + bias.astype(np.float64).reshape(view)
            out = np.rint(y / float(out_scale)) + int(out_zp)
            fused = i + 1 < len(layers) and layers[i + 1]["type"] == "relu"
            lo = int(out_zp) if fused else 0
            x = QTensor(np.clip(out, lo, 255).astype(np.int32), float(out_scale), int(out_zp))
            if fused:
                i += 1
        elif t == "bn":
            a, b = _bn_affine(weights, name)
            x = deq(x) * a + b
        elif t == "relu":
            x = (QTensor(np.maximum(x.codes, x.zp), x.scale, x.zp) if isinstance(x, QTensor)
                 else np.maximum(x, np.float32(0)))
        elif t == "relu6":
            x = np.clip(deq(x), np.float32(0), np.float32(6))
        elif t == "maxpool":
            x = (QTensor(_maxpool2d(x.codes, layer["k"]), x.scale, x.zp)
                 if isinstance(x, QTensor) else _maxpool2d(x, layer["k"]))
        elif t == "gap":
            x = deq(x).mean(axis=(2, 3), dtype=np.float32)
        elif t == "flatten":
            x = (QTensor(x.codes.reshape(x.codes.shape[0], -1), x.scale, x.zp)
                 if isinstance(x, QTensor) else x.reshape(x.shape[0], -1))
        elif t == "residual":
            inp = deq(x)
            body = deq(run_int8(layer["body"], f"{name}_body.", weights, quantized, act, inp))
            short = layer.get("shortcut") or []
            x = body + (deq(run_int8(short, f"{name}_short.", weights, quantized, act, inp))
                        if short else inp)
        i += 1
    return x
