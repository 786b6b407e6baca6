"""Pure-PyTorch reference ops of the NVIDIA StyleGAN2/3 code (``torch_utils.ops``), no compilation.

Semantics follow NVlabs' reference paths exactly:

* ``upfirdn2d``: upsample by zero insertion, pad (negative = crop), FIR filter, keep every
  ``down``-th sample.  The filter is a true convolution (flipped) unless ``flip_filter``.
* ``bias_act``: ``clamp(act(x + b) * gain)`` with each activation's default ``alpha``/``gain``.
* ``conv2d_resample``: conv2d fused with up/down FIR resampling, the same padding arithmetic
  (so a kernel sits on the same pixels), including the weight flip of transposed convolutions.
* ``modulated_conv2d``: StyleGAN2 weight (de)modulation (Karras et al. 2020, eq. 1-3), fused
  (grouped conv, one weight per sample) or unfused (scale activations, shared weight).

Everything works on CPU and CUDA; tensors are [N, C, H, W].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "setup_filter", "upfirdn2d", "filter2d", "upsample2d", "downsample2d",
    "bias_act", "activation_funcs", "conv2d_resample", "modulated_conv2d",
    "normalize_2nd_moment", "get_filter_size", "parse_padding", "parse_scaling",
]


# ----------------------------------------------------------------------------- helpers

def parse_scaling(scaling) -> tuple[int, int]:
    """int or (sx, sy) -> (sx, sy)."""
    if isinstance(scaling, int):
        scaling = [scaling, scaling]
    sx, sy = scaling
    assert sx >= 1 and sy >= 1
    return int(sx), int(sy)


def parse_padding(padding) -> tuple[int, int, int, int]:
    """int, (px, py) or (x0, x1, y0, y1) -> (x0, x1, y0, y1)."""
    if isinstance(padding, int):
        padding = [padding, padding]
    padding = list(padding)
    if len(padding) == 2:
        px, py = padding
        padding = [px, px, py, py]
    x0, x1, y0, y1 = padding
    return int(x0), int(x1), int(y0), int(y1)


def get_filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(fw, fh) of a 1-D (separable, square) or 2-D [fh, fw] filter; (1, 1) for None."""
    if f is None:
        return 1, 1
    assert isinstance(f, torch.Tensor) and f.ndim in (1, 2)
    fw = f.shape[-1]
    fh = f.shape[0]
    return int(fw), int(fh)


def setup_filter(f, device=torch.device("cpu"), normalize: bool = True, flip_filter: bool = False,
                 gain: float = 1, separable: bool | None = None) -> torch.Tensor:
    """Filter taps -> float32 tensor ready for ``upfirdn2d``.

    A 1-D filter stays 1-D (separable) when it has >= 8 taps (NVlabs' default), otherwise it
    becomes the outer product ``f ⊗ f`` [ft, ft].  ``normalize`` divides by the sum;
    the gain is spread over the filter's dimensions (``gain ** (ndim / 2)``).
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    assert f.ndim in (0, 1, 2)
    assert f.numel() > 0
    if f.ndim == 0:
        f = f[None]
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    assert f.ndim == (1 if separable else 2)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


# ----------------------------------------------------------------------------- upfirdn2d

def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up=1, down=1, padding=0,
              flip_filter: bool = False, gain: float = 1) -> torch.Tensor:
    """Upsample (zero insertion), pad, FIR-filter, downsample.  x [N, C, H, W] -> [N, C, H', W'].

    H' = (H * up_y + pad_y0 + pad_y1 - fh) // down_y + 1 (same for W).  ``f`` is a 2-D
    [fh, fw] filter or a 1-D separable one (applied along x then y); ``gain`` multiplies the
    output (spread over the filter as ``gain ** (ndim / 2)`` per pass).
    """
    assert isinstance(x, torch.Tensor) and x.ndim == 4
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    assert isinstance(f, torch.Tensor) and f.ndim in (1, 2)
    assert f.dtype == torch.float32 and not f.requires_grad
    n, c, h, w = x.shape
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    px0, px1, py0, py1 = parse_padding(padding)

    # Zero insertion: [N, C, H, 1, W, 1] padded to [N, C, H, up_y, W, up_x].
    if upx > 1 or upy > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape(n, c, h * upy, w * upx)

    # Positive padding pads with zeros, negative padding crops.
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]

    # conv2d is a correlation: flip the taps to get a true convolution.
    f = f * (gain ** (f.ndim / 2))
    f = f.to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))

    # Depthwise convolution with the filter repeated per channel.
    f = f[None, None].repeat([c, 1] + [1] * f.ndim)
    if f.ndim == 4:
        x = F.conv2d(x, f, groups=c)
    else:
        x = F.conv2d(x, f.unsqueeze(2), groups=c)   # along x: [C, 1, 1, ft]
        x = F.conv2d(x, f.unsqueeze(3), groups=c)   # along y: [C, 1, ft, 1]

    if downx > 1 or downy > 1:
        x = x[:, :, ::downy, ::downx]
    return x


def filter2d(x, f, padding=0, flip_filter=False, gain=1):
    """FIR filter keeping the size (centred taps, even filters lean to the top-left)."""
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = get_filter_size(f)
    p = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1):
    """Upsample by ``up`` with FIR interpolation (gain up_x·up_y keeps the mean)."""
    upx, upy = parse_scaling(up)
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = get_filter_size(f)
    p = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2,
         py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1):
    """FIR anti-alias then keep every ``down``-th sample."""
    downx, downy = parse_scaling(down)
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = get_filter_size(f)
    p = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2,
         py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain)


# ----------------------------------------------------------------------------- bias_act

@dataclass(frozen=True)
class _Act:
    func: Callable[[torch.Tensor, float], torch.Tensor]
    def_alpha: float
    def_gain: float


activation_funcs: dict[str, _Act] = {
    "linear": _Act(lambda x, a: x, 0.0, 1.0),
    "relu": _Act(lambda x, a: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": _Act(lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2)),
    "tanh": _Act(lambda x, a: torch.tanh(x), 0.0, 1.0),
    "sigmoid": _Act(lambda x, a: torch.sigmoid(x), 0.0, 1.0),
    "elu": _Act(lambda x, a: F.elu(x), 0.0, 1.0),
    "selu": _Act(lambda x, a: F.selu(x), 0.0, 1.0),
    "softplus": _Act(lambda x, a: F.softplus(x), 0.0, 1.0),
    "swish": _Act(lambda x, a: torch.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, dim: int = 1, act: str = "linear",
             alpha: float | None = None, gain: float | None = None,
             clamp: float | None = None) -> torch.Tensor:
    """``clamp(act(x + b, alpha) * gain, -clamp, clamp)``; ``b`` [x.shape[dim]] broadcast on ``dim``."""
    spec = activation_funcs[act]
    alpha = float(alpha if alpha is not None else spec.def_alpha)
    gain = float(gain if gain is not None else spec.def_gain)
    clamp = float(clamp if clamp is not None else -1)
    if b is not None:
        assert b.ndim == 1 and 0 <= dim < x.ndim and b.shape[0] == x.shape[dim]
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


# ----------------------------------------------------------------------------- conv2d_resample

def _conv2d(x, w, stride=1, padding=0, groups=1, transpose=False, flip_weight=True):
    """conv2d / conv_transpose2d; ``flip_weight=False`` makes it a true convolution."""
    if not flip_weight and (w.shape[2] > 1 or w.shape[3] > 1):
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1,
                    down: int = 1, padding=0, groups: int = 1, flip_weight: bool = True,
                    flip_filter: bool = False) -> torch.Tensor:
    """2-D convolution with optional FIR up/downsampling (NVlabs ``conv2d_resample``).

    x [N, C_in, H, W], w [C_out, C_in/groups, kh, kw].  Upsampling = zero insertion, conv,
    FIR (gain up²); downsampling = FIR, conv, stride.  Paddings are those of
    ``upsample2d``/``downsample2d`` plus ``padding`` so results align with the official code.
    """
    assert x.ndim == 4 and w.ndim == 4
    assert isinstance(up, int) and up >= 1 and isinstance(down, int) and down >= 1
    out_channels, in_per_group, kh, kw = w.shape
    fw, fh = get_filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    # 1x1 kernels commute with the FIR: filter at the lower resolution.
    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up ** 2,
                         flip_filter=flip_filter)
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return _conv2d(x, w, stride=down, groups=groups, flip_weight=flip_weight)

    if up > 1:
        # Zero insertion + conv as one transposed conv (weight [C_in, C_out/groups, kh, kw]).
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw)
            w = w.transpose(1, 2).reshape(groups * in_per_group, out_channels // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv2d(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True,
                    flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2,
                      flip_filter=flip_filter)
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
        return x

    if up == 1 and down == 1 and px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv2d(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)

    x = upfirdn2d(x, f if up > 1 else None, up=up, padding=[px0, px1, py0, py1], gain=up ** 2,
                  flip_filter=flip_filter)
    x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    if down > 1:
        x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
    return x


# ----------------------------------------------------------------------------- modulated conv

def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Pixel norm: x / sqrt(mean(x²) + eps) along ``dim``."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                     noise: torch.Tensor | None = None, up: int = 1, down: int = 1, padding=0,
                     resample_filter: torch.Tensor | None = None, demodulate: bool = True,
                     flip_weight: bool = True, fused_modconv: bool = True) -> torch.Tensor:
    """StyleGAN2 modulated convolution (Karras et al. 2020, eq. 1-3).

    x [N, I, H, W], weight [O, I, kh, kw], styles [N, I].  w'_ijk = s_i·w_ijk (eq. 1),
    demodulated by 1/sqrt(Σ_ik w'_ijk² + 1e-8) (eq. 3).  ``fused_modconv`` runs one grouped
    conv with per-sample weights; otherwise the activations are scaled instead (same maths).
    ``noise`` (broadcastable to the output) is added after demodulation.
    """
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    assert styles.shape == (batch_size, in_channels)

    # fp16 guard of the official code: keep the weight and styles in a safe range.
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / math.sqrt(in_channels * kh * kw)
                           / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = None
    dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, -1, 1, 1)   # [N, O, I, kh, kw]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()               # [N, O]
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(batch_size, -1, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch_size, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, down=down,
                            padding=padding, flip_weight=flip_weight)
        if demodulate and noise is not None:
            x = torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1))
        elif demodulate:
            x = x * dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1)
        elif noise is not None:
            x = x + noise.to(x.dtype)
        return x

    # Fused: the batch becomes the group dimension of a single convolution.
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
                        groups=batch_size, flip_weight=flip_weight)
    x = x.reshape(batch_size, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


# ----------------------------------------------------------------------------- fast equivalents
# Same maths as the reference ops above, expressed as single (grouped) convolutions so that
# oneDNN runs them (channels_last friendly, no zero-insertion or padding copies).
# tests/test_nets_ops.py checks them against the references to 1e-5 relative.

def _filter_2d(f: torch.Tensor) -> torch.Tensor:
    """A 1-D separable filter as its 2-D outer product (gain already inside ``f``)."""
    return torch.outer(f, f) if f.ndim == 1 else f


def fir_filter_fast(x: torch.Tensor, f: torch.Tensor, padding=0, gain: float = 1,
                    flip_filter: bool = False, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``upfirdn2d(x, f, padding=padding, gain=gain)`` (+ ``bias`` per channel) as one depthwise conv.

    Falls back to the reference when the padding is asymmetric or negative.
    """
    px0, px1, py0, py1 = parse_padding(padding)
    if px0 != px1 or py0 != py1 or px0 < 0 or py0 < 0:
        y = upfirdn2d(x, f, padding=padding, gain=gain, flip_filter=flip_filter)
        return y if bias is None else y + bias.to(y.dtype).reshape(1, -1, 1, 1)
    c = x.shape[1]
    k = _filter_2d(f * (gain ** (f.ndim / 2)))
    if not flip_filter:
        k = k.flip([0, 1])                      # true convolution, as upfirdn2d
    k = k.to(x.dtype)[None, None].expand(c, 1, *k.shape)
    if x.is_contiguous(memory_format=torch.channels_last):
        k = k.contiguous(memory_format=torch.channels_last)
    else:
        k = k.contiguous()
    return F.conv2d(x, k, bias=None if bias is None else bias.to(x.dtype), padding=[py0, px0], groups=c)


def upsample2d_fast(x: torch.Tensor, f: torch.Tensor, up: int = 2, gain: float = 1) -> torch.Tensor:
    """``upsample2d(x, f, up)`` as one depthwise transposed conv (no zero insertion, no padding).

    Zero insertion followed by a true convolution with ``f`` is exactly a stride-``up``
    transposed convolution with ``f``; cropping ``fw - 1 - p0`` on each side (p0 the left pad
    of ``upsample2d``) aligns it.  Even filter sizes only (else the reference runs).
    """
    fw, fh = get_filter_size(f)
    if not isinstance(up, int) or fw % 2 or fh % 2 or up != 2:
        return upsample2d(x, f, up=up, gain=gain)
    c = x.shape[1]
    k = _filter_2d(f * ((gain * up * up) ** (f.ndim / 2))).to(x.dtype)   # [fh, fw], gain up² keeps the mean
    pad_x = fw - 1 - (fw + up - 1) // 2
    pad_y = fh - 1 - (fh + up - 1) // 2
    # A depthwise transposed conv in channels-last, whatever the input's layout: oneDNN runs the
    # NCHW alternative (channels as batch, one single-channel filter) several times slower,
    # conversions included (bench/generators.py).
    cl = x.is_contiguous(memory_format=torch.channels_last)
    k = k[None, None].expand(c, 1, *k.shape).contiguous(memory_format=torch.channels_last)
    y = F.conv_transpose2d(x.contiguous(memory_format=torch.channels_last), k, stride=up,
                           padding=[pad_y, pad_x], groups=c)
    return y if cl else y.contiguous()


def polyphase_kernels(w: torch.Tensor, stride: int = 2) -> list[tuple[int, int, torch.Tensor, int, int]]:
    """Split a transposed-conv weight w [I, O, kh, kw] into the ``stride²`` ordinary correlation
    kernels of its output phases: [(ry, rx, g [O, I, Ty, Tx], Ty - 1, Tx - 1), …].

    Per axis, conv_transpose gives out[s·i + r] = Σ_m x[i - m] w[r + s·m] (taps k ≡ r mod s), i.e. a
    correlation of x (left pad T_r - 1) with g_r[j] = w[r + s(T_r - 1 - j)], T_r = ⌈(k - r)/s⌉.
    """
    kh, kw = w.shape[2:]
    wc = w.transpose(0, 1)                                          # [O, I, kh, kw]
    out = []
    for ry in range(min(stride, kh)):
        ty = -(-(kh - ry) // stride)
        rows = [ry + stride * (ty - 1 - j) for j in range(ty)]
        for rx in range(min(stride, kw)):
            tx = -(-(kw - rx) // stride)
            cols = [rx + stride * (tx - 1 - j) for j in range(tx)]
            g = wc[:, :, rows][:, :, :, cols]
            out.append((ry, rx, g, ty - 1, tx - 1))
    return out


def conv_transpose2d_phases(x: torch.Tensor, kernels, kh: int, kw: int, stride: int = 2):
    """Yields the output phases of ``F.conv_transpose2d(x, w, stride=stride)`` (no padding), from
    :func:`polyphase_kernels` of ``w``, in its order: phase (ry, rx) [N, O, ⌈(Ho - ry)/s⌉,
    ⌈(Wo - rx)/s⌉] holds output pixels (s·i + ry, s·j + rx), Ho = (H - 1)·s + kh.  Each is one
    ordinary convolution at the input resolution (made when asked for: one at a time in memory
    unless the caller keeps them)."""
    _, _, h, w = x.shape
    ho, wo = (h - 1) * stride + kh, (w - 1) * stride + kw
    for ry, rx, g, py, px in kernels:
        # Phase ry has (ho - ry + s - 1) // s rows; the correlation (left pad py = T - 1) needs a
        # right pad of that count minus h (same for columns).  Equal pads go to conv2d itself.
        pad_y1 = (ho - ry + stride - 1) // stride - h
        pad_x1 = (wo - rx + stride - 1) // stride - w
        if (py, px) == (pad_y1, pad_x1):
            yield F.conv2d(x, g, padding=[py, px])
        else:
            yield F.conv2d(F.pad(x, [px, pad_x1, py, pad_y1]), g)


def conv_transpose2d_polyphase(x: torch.Tensor, kernels, kh: int, kw: int, stride: int = 2) -> torch.Tensor:
    """``F.conv_transpose2d(x, w, stride=stride)`` (no padding) from :func:`polyphase_kernels` of ``w``.

    Each output phase (:func:`conv_transpose2d_phases`) is written into its strided slice: the
    same multiply-adds as the transposed conv, but oneDNN runs ordinary convolutions faster on
    CPU than transposed ones (the StyleGAN2 upsampling layers, channels-last).
    """
    n, _, h, w = x.shape
    o = kernels[0][2].shape[0]
    ho, wo = (h - 1) * stride + kh, (w - 1) * stride + kw
    cl = x.is_contiguous(memory_format=torch.channels_last)
    out = torch.empty(n, o, ho, wo, dtype=x.dtype, device=x.device,
                      memory_format=torch.channels_last if cl else torch.contiguous_format)
    if kh < stride or kw < stride:
        out.zero_()   # kernels smaller than the stride leave phases without taps: zeros there
    for (ry, rx, *_), y in zip(kernels, conv_transpose2d_phases(x, kernels, kh, kw, stride)):
        out[:, :, ry::stride, rx::stride] = y
    return out


def has_native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` runs bfloat16 convolutions natively (CUDA with bf16 support; a CPU with
    AVX-512 BF16 or AMX, as oneDNN reports).  Elsewhere oneDNN emulates bf16, measured ~30x slower
    than float32 on an AVX2-only CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
