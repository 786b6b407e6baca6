"""Filtered leaky ReLU of StyleGAN3 (Karras et al. 2021, §3.2 and App. D): the non-linearity is
applied at a temporarily higher sampling rate to keep it alias-free.

    y = down_fd( clamp( lrelu( up_fu( x + b ) ) * gain ) )

* :func:`filtered_lrelu_ref` is NVlabs' reference op sequence (bias, ``upfirdn2d`` upsampling
  with padding and gain up², ``bias_act`` lrelu/gain/clamp, ``upfirdn2d`` downsampling), the
  path the official code takes on CPU.  It zero-stuffs and filters at the full upsampled size.
* :func:`filtered_lrelu` (``impl="fast"``) computes the same numbers (to float rounding, tested
  against the reference) with polyphase filtering: the upsampler is one small convolution whose
  output channels are the ``up`` phases (no zero-stuffed intermediate, only the non-zero taps
  are multiplied), the downsampler a strided convolution (only the kept samples are computed),
  and bias/lrelu/gain/clamp run in place.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from . import ops

__all__ = ["filtered_lrelu", "filtered_lrelu_ref"]


def _check(x, fu, fd, b, up, down, gain, slope, clamp):
    assert isinstance(x, torch.Tensor) and x.ndim == 4
    if b is not None:
        assert isinstance(b, torch.Tensor) and b.ndim == 1 and b.shape[0] == x.shape[1]
    assert isinstance(up, int) and up >= 1
    assert isinstance(down, int) and down >= 1
    assert gain == float(gain) and gain > 0
    assert slope == float(slope) and slope >= 0
    assert clamp is None or (clamp == float(clamp) and clamp >= 0)


def _out_size(x, fu, fd, up, down, padding):
    fu_w, fu_h = ops.get_filter_size(fu)
    fd_w, fd_h = ops.get_filter_size(fd)
    px0, px1, py0, py1 = ops.parse_padding(padding)
    _, _, in_h, in_w = x.shape
    out_w = (in_w * up + (px0 + px1) - (fu_w - 1) - (fd_w - 1) + (down - 1)) // down
    out_h = (in_h * up + (py0 + py1) - (fu_h - 1) - (fd_h - 1) + (down - 1)) // down
    return out_h, out_w


def filtered_lrelu_ref(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=np.sqrt(2), slope=0.2,
                       clamp=None, flip_filter=False):
    """Reference: x [N, C, H, W] -> [N, C, H', W'] through the official op sequence."""
    _check(x, fu, fd, b, up, down, gain, slope, clamp)
    out_h, out_w = _out_size(x, fu, fd, up, down, padding)
    px0, px1, py0, py1 = ops.parse_padding(padding)
    x = ops.bias_act(x, b)
    x = ops.upfirdn2d(x, fu, up=up, padding=[px0, px1, py0, py1], gain=up ** 2, flip_filter=flip_filter)
    x = ops.bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    x = ops.upfirdn2d(x, fd, down=down, flip_filter=flip_filter)
    assert x.shape[2:] == (out_h, out_w), (x.shape, out_h, out_w)
    return x


def filtered_lrelu(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=np.sqrt(2), slope=0.2,
                   clamp=None, flip_filter=False, impl="fast"):
    """Filtered leaky ReLU; ``impl="reference"`` runs :func:`filtered_lrelu_ref`."""
    if impl == "reference":
        return filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)
    return _filtered_lrelu_fast(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)


def _up_weight(f: torch.Tensor, channels: int, scale: float, axis: int) -> torch.Tensor:
    """Depthwise transposed-conv weight [C, 1, K, 1] (axis 2) or [C, 1, 1, K] (axis 3)."""
    w = (f.to(torch.float32) * scale).reshape([1, 1, -1, 1] if axis == 2 else [1, 1, 1, -1])
    return w.expand(channels, 1, *w.shape[2:])


def _filtered_lrelu_fast(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter):
    """Polyphase path.  Per axis, with input length L, up-filter f (Ku taps), pads (p0, p1):

        v[j] = up * sum_n x[n] f[j - p0 + Ku - 1 - up*n]  =  up * T[j + Ku - 1 - p0],

    where T = conv_transpose(x, f, stride=up) (out[g] = sum_n x[n] f[g - up*n]) is exactly the
    zero-stuffed, padded true convolution of the reference, computed without the zeros.  The
    downsampler y[m] = sum_k flip(fd)[k] z[down*m + k] is a strided correlation.  Both run as
    depthwise convolutions on channels-last tensors (oneDNN's fast depthwise kernels).
    """
    _check(x, fu, fd, b, up, down, gain, slope, clamp)
    if x.device.type != "cpu" or x.dtype != torch.float32 or fu is None or fd is None or up < 2 or fu.ndim != 1:
        return filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)
    out_h, out_w = _out_size(x, fu, fd, up, down, padding)
    n, c, h, w = x.shape
    px0, px1, py0, py1 = ops.parse_padding(padding)
    ku = fu.shape[0]
    if flip_filter:  # flip_filter=True makes upfirdn2d a correlation: same as convolving with the flipped taps
        fu = fu.flip(0)
        fd = fd.flip(list(range(fd.ndim)))

    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    x = x.contiguous(memory_format=torch.channels_last)

    # Upsample along x: T = conv_transpose(x, up*f).  Its crop to v (start sx) is deferred to
    # the downsampler, so no strided copy of the half-upsampled tensor is made.
    t = F.conv_transpose2d(x, _up_weight(fu, c, float(up), 3), stride=(1, up), groups=c)
    sx, ex = ku - 1 - px0, w * up + px1          # v covers T[sx:ex] along x
    if sx < 0 or ex > t.shape[3]:
        lo, hi = max(-sx, 0), max(ex - t.shape[3], 0)
        t = F.pad(t, [lo, hi, 0, 0]).contiguous(memory_format=torch.channels_last)
        sx, ex = sx + lo, ex + lo
    # Upsample along y, with the lrelu gain (> 0 commutes with lrelu; clamp comes after) folded
    # into the taps; cropping rows of a channels-last tensor keeps it dense for N = 1.
    t = F.conv_transpose2d(t, _up_weight(fu, c, float(up) * float(gain), 2), stride=(up, 1), groups=c)
    sy, ey = ku - 1 - py0, h * up + py1
    lo, hi = max(-sy, 0), max(ey - t.shape[2], 0)
    if lo or hi:
        t = F.pad(t, [0, 0, lo, hi])
    t = t.narrow(2, sy + lo, ey - sy).contiguous(memory_format=torch.channels_last)

    # Leaky ReLU and clamp, in place on the (only) full-rate tensor.
    if slope != 1:
        F.leaky_relu_(t, float(slope))
    if clamp is not None:
        t.clamp_(-float(clamp), float(clamp))

    # Downsample: strided correlation with the flipped taps.  Along x the v-crop start sx is
    # absorbed as (sx // down) dropped outputs plus (sx % down) leading zero taps.
    r = sx % down
    if fd.ndim == 2:
        wd = F.pad(fd.to(torch.float32).flip([0, 1]), [r, 0, 0, 0])
        y = F.conv2d(t, wd[None, None].expand(c, 1, *wd.shape), stride=down, groups=c)
    else:
        fdf = fd.to(torch.float32).flip(0)
        y = F.conv2d(t, fdf.reshape(1, 1, -1, 1).expand(c, 1, -1, 1), stride=(down, 1), groups=c)
        wdx = F.pad(fdf, [r, 0])
        y = F.conv2d(y, wdx.reshape(1, 1, 1, -1).expand(c, 1, 1, -1), stride=(1, down), groups=c)
    y = y.narrow(3, sx // down, out_w)
    assert y.shape[2:] == (out_h, out_w), (y.shape, out_h, out_w)
    return y.contiguous(memory_format=torch.channels_last)
