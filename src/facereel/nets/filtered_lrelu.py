"""Filtered leaky ReLU of StyleGAN3 (Karras et al. 2021, §3.2 and App. D): the non-linearity is
applied at a temporarily higher sampling rate to keep it alias-free.

    y = down_fd( clamp( lrelu( up_fu( x + b ) ) * gain ) )

* :func:`filtered_lrelu_ref` is NVlabs' reference op sequence (bias, ``upfirdn2d`` upsampling
  with padding and gain up², ``bias_act`` lrelu/gain/clamp, ``upfirdn2d`` downsampling), the
  path the official code takes on CPU.  It zero-stuffs and filters at the full upsampled size.
* :func:`filtered_lrelu` (a fast :class:`~facereel.nets.plan.ExecutionPlan`, the default) computes the same numbers (to float rounding, tested
  against the reference to 1e-5 relative) without the zero-stuffed intermediate: the upsampler
  is a depthwise transposed convolution per axis (only the non-zero taps are multiplied), the
  downsampler a strided depthwise convolution (only the kept samples are computed), the lrelu
  gain is folded into the taps and bias/lrelu/clamp run in place, all on channels-last tensors,
  one cache-sized stripe of output rows at a time (``ExecutionPlan.sg3_stripe_bytes``).  Without autograd the
  two passes along y run as batched matrix products over row windows (``ExecutionPlan.sg3_row_gemm``).
  Measured on SG3-T 1024 (2 threads, same process): 0.14x the reference time before striping;
  the row products took the whole generator from 10.0 to 7.4 s and 8.6 to 7.2 s (interleaved).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import ops
from .plan import FAST, ExecutionPlan

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
                   clamp=None, flip_filter=False, plan: ExecutionPlan = FAST):
    """Filtered leaky ReLU; a reference ``plan`` runs :func:`filtered_lrelu_ref`, a fast one the
    polyphase path with the plan's stripe size (``sg3_stripe_bytes``, ``sg3_stripe_min_rows``)
    and ``sg3_row_gemm``."""
    if not plan.fast:
        return filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)
    return _filtered_lrelu_fast(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, plan)


def _up_weight(f: torch.Tensor, channels: int, scale: float, axis: int) -> torch.Tensor:
    """Depthwise transposed-conv weight [C, 1, K, 1] (axis 2) or [C, 1, 1, K] (axis 3)."""
    w = (f.to(torch.float32) * scale).reshape([1, 1, -1, 1] if axis == 2 else [1, 1, 1, -1])
    return w.expand(channels, 1, *w.shape[2:])


# Full-rate (upsampled) activations are processed in stripes of output rows of about
# plan.sg3_stripe_bytes, at least plan.sg3_stripe_min_rows rows (each stripe recomputes a halo of kd - down full-rate rows).  The
# SG3-T 1024 full-rate tensors reach 1.5 GB: one stripe per layer streams them through memory
# several times, while a stripe of tens of MB stays in the last-level cache from the upsampler
# through lrelu to the downsampler.  Measured on a 2-core CPU (32 MB L3), same process, interleaved:
# SG3-T 1024 14.9 s -> 9-12 s per image, the 1044x1044 layers ~2x faster each.


def _filtered_lrelu_fast(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, plan=FAST):
    """Polyphase path, bit-for-bit independent of the stripe size.

    Per axis, with input length L, up-filter f (Ku taps) and pads (p0, p1), the reference computes

        v[j] = up * sum_n x[n] f[j - p0 + Ku - 1 - up*n]  =  up * T[j + Ku - 1 - p0],

    where T = conv_transpose(x, f, stride=up) (T[g] = sum_n x[n] f[g - up*n]) is exactly the
    zero-stuffed, padded true convolution, computed here without the zeros.  The downsampler
    y[m] = sum_k flip(fd)[k] z[down*m + k] is a strided correlation.  Both run as depthwise
    (transposed) convolutions, channels-last (NCHW under autograd), one stripe of output rows at a time.
    """
    _check(x, fu, fd, b, up, down, gain, slope, clamp)
    if x.device.type != "cpu" or x.dtype != torch.float32 or fu is None or fd is None or up < 2 or fu.ndim != 1:
        return filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)
    out_h, out_w = _out_size(x, fu, fd, up, down, padding)
    n, c, h, w = x.shape
    px0, px1, py0, py1 = ops.parse_padding(padding)
    ku = fu.shape[0]
    fu = fu.to(torch.float32)
    fd = fd.to(torch.float32)
    if flip_filter:  # flip_filter=True makes upfirdn2d a correlation: same as convolving with the flipped taps
        fu = fu.flip(0)
        fd = fd.flip(list(range(fd.ndim)))
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)

    # v covers T[s:e] on each axis.  Where the padding reaches beyond T (s < 0 or e > len(T)),
    # zero rows/columns of x extend T by `up` samples each.
    sx, ex, sy, ey = ku - 1 - px0, w * up + px1, ku - 1 - py0, h * up + py1
    qx0, qy0 = max(-(sx // up), 0), max(-(sy // up), 0)
    qx1 = max(-(((w - 1 + qx0) * up + ku - (ex + qx0 * up)) // up), 0)   # ceil(shortfall / up)
    qy1 = max(-(((h - 1 + qy0) * up + ku - (ey + qy0 * up)) // up), 0)
    if qx0 or qx1 or qy0 or qy1:
        x = F.pad(x, [qx0, qx1, qy0, qy1])
        sx, ex, sy, ey = sx + qx0 * up, ex + qx0 * up, sy + qy0 * up, ey + qy0 * up
        h, w = x.shape[2:]
    inplace = not (torch.is_grad_enabled() and (x.requires_grad or fu.requires_grad or fd.requires_grad))
    # Channels-last without autograd; NCHW with it, where oneDNN's backward depthwise convs ran
    # faster (SG3-T 256 forward + backward 8.1-8.5 s -> 6.7-7.5 s, interleaved runs).
    layout = torch.channels_last if inplace else torch.contiguous_format
    x = x.contiguous(memory_format=layout)

    # Weights: up taps with the per-axis gain `up` (and the lrelu gain, > 0, which commutes with
    # lrelu and precedes the clamp, folded into the y pass); flipped down taps, with sx % down
    # leading zeros so that the x-crop of v becomes whole dropped outputs.
    wux = (fu * float(up)).reshape(1, 1, 1, -1).expand(c, 1, 1, ku)
    wuy = (fu * (float(up) * float(gain))).reshape(1, 1, -1, 1).expand(c, 1, ku, 1)
    r = sx % down
    if fd.ndim == 2:
        wd2 = F.pad(fd.flip([0, 1]), [r, 0, 0, 0])[None, None].expand(c, 1, fd.shape[0], fd.shape[1] + r)
    else:
        fdf = fd.flip(0)
        wdy = fdf.reshape(1, 1, -1, 1).expand(c, 1, -1, 1)
        wdx = F.pad(fdf, [r, 0]).reshape(1, 1, 1, -1).expand(c, 1, 1, -1)
    kdh = fd.shape[0]
    row_bytes = c * ((w - 1) * up + ku) * 4 * down           # full-rate bytes per output row
    rows = max(1, min(out_h, max(plan.sg3_stripe_bytes // max(row_bytes, 1), plan.sg3_stripe_min_rows)))
    if inplace and ku % up == 0 and plan.sg3_row_gemm:
        return _rows_as_gemm(x, fu * (float(up) * float(gain)), fd, wux,
                             wd2 if fd.ndim == 2 else wdx, up, down, slope, clamp, sx, sy, out_h, out_w, rows)

    def stripe(xi, m0, m1):
        g0 = down * m0 + sy                                  # first and last T row needed
        g1 = down * (m1 - 1) + kdh - 1 + sy
        n0 = max(0, -((ku - 1 - g0) // up))                  # ceil((g0 - ku + 1) / up)
        n1 = min(h - 1, g1 // up)
        t = F.conv_transpose2d(xi[:, :, n0:n1 + 1], wux, stride=(1, up), groups=c)
        t = F.conv_transpose2d(t, wuy, stride=(up, 1), groups=c)
        t = t.narrow(2, g0 - up * n0, g1 - g0 + 1)
        if inplace:
            t = t.contiguous(memory_format=torch.channels_last)
            if slope != 1:
                F.leaky_relu_(t, float(slope))
            if clamp is not None:
                t.clamp_(-float(clamp), float(clamp))
        else:
            if slope != 1:
                t = F.leaky_relu(t, float(slope))
            if clamp is not None:
                t = t.clamp(-float(clamp), float(clamp))
        if fd.ndim == 2:
            y = F.conv2d(t, wd2, stride=down, groups=c)
        else:
            y = F.conv2d(t, wdy, stride=(down, 1), groups=c)
            y = F.conv2d(y, wdx, stride=(1, down), groups=c)
        return y.narrow(3, sx // down, out_w)

    outs = []
    for i in range(n):
        xi = x[i:i + 1]
        parts = [stripe(xi, m0, min(m0 + rows, out_h)) for m0 in range(0, out_h, rows)]
        outs.append(parts[0] if len(parts) == 1 else torch.cat(parts, dim=2))
    y = outs[0] if n == 1 else torch.cat(outs, dim=0)
    assert y.shape[2:] == (out_h, out_w), (y.shape, out_h, out_w)
    return y.contiguous(memory_format=layout)


# Without autograd, the two passes along y (rows) run as batched matrix products over overlapping
# row windows instead of depthwise convolutions: oneDNN's depthwise conv along the outer axis of a
# channels-last tensor ran at ~1 ms per 2156x81 full-rate row (SG3-T 1024, L10) against 0.12-0.27 ms
# for the products, which stream whole rows of W*C contiguous floats.  The x passes stay convolutions.


def _rows_as_gemm(x, fuy, fd, wux, wdown, up, down, slope, clamp, sx, sy, out_h, out_w, rows):
    """Inference path of :func:`_filtered_lrelu_fast`; x is padded, biased, channels-last [N, C, H, W].

    Upsampling along y, polyphase: with J = Ku / up taps per phase and xp = x with J - 1 zero rows
    on top (xp[n + J - 1] = x[n]; zero below x too),

        T[up*q + p] = sum_{j<J} xp[q + j] * fuy[p + up*(J - 1 - j)],

    i.e. one [up, J] @ [J, W*C] product per window q, whose `up` output rows are consecutive rows
    of T: the zero-stuffed interleave comes for free.  Downsampling along y (1-D filter, after the
    x pass): y[m] = sum_k fd_flip[k] * z[down*m + k], a [1, Kd] @ [Kd, W*C] product per output row,
    written straight into the output.  A 2-D (radial) down filter stays one strided convolution.
    """
    n, c, h, w = x.shape
    ku = fuy.shape[0]
    kj = ku // up
    kdh = fd.shape[0]
    phase = torch.arange(up).reshape(-1, 1) + up * (kj - 1 - torch.arange(kj)).reshape(1, -1)
    u = fuy[phase]                                                         # [up, J]
    wup = (w - 1) * up + wux.shape[3]                                      # T columns
    wc = wup * c
    out = torch.empty([n, out_h, out_w, c], dtype=x.dtype, device=x.device)   # channels-last storage
    if fd.ndim == 1:
        dv = fd.flip(0).reshape(1, 1, kdh)
    buf = None
    for i in range(n):
        for m0 in range(0, out_h, rows):
            m1 = min(m0 + rows, out_h)
            g0 = down * m0 + sy                                            # T rows g0..g1 are needed
            g1 = down * (m1 - 1) + kdh - 1 + sy
            q0, q1 = g0 // up, g1 // up
            nq = q1 - q0 + 1
            # Window rows xp[q0 .. q1 + J - 1] are x rows a0..a1; those outside x are zeros (only
            # the first and last stripes reach them, so x itself is never padded).  lo <= hi always:
            # g1 < len(T) = (h - 1) * up + Ku gives q1 <= h + J - 2, i.e. a0 <= h - 1.
            a0, a1 = q0 - (kj - 1), q1
            lo, hi = max(a0, 0), min(a1, h - 1)
            tx = F.conv_transpose2d(x[i:i + 1, :, lo:hi + 1], wux, stride=(1, up), groups=c)
            if lo == a0 and hi == a1:
                flat = tx.permute(0, 2, 3, 1).contiguous()                 # [1, nq + J - 1, wup, C]
            else:
                flat = x.new_zeros([1, a1 - a0 + 1, wup, c])
                flat[:, lo - a0:hi - a0 + 1] = tx.permute(0, 2, 3, 1)
            assert flat.shape[2] == wup
            win = flat.as_strided((nq, kj, wc), (wc, wc, 1))
            if buf is None or buf.shape[0] < nq:
                buf = torch.empty([nq, up, wc], dtype=x.dtype, device=x.device)
            t = buf[:nq]
            torch.bmm(u.expand(nq, up, kj), win, out=t)
            z = t.view(nq * up, wc)[g0 - up * q0:g1 - up * q0 + 1]         # [Z, wup*C], rows g0..g1
            if slope != 1:
                F.leaky_relu_(z, float(slope))
            if clamp is not None:
                z.clamp_(-float(clamp), float(clamp))
            zc = z.view(1, -1, wup, c).permute(0, 3, 1, 2)                 # channels-last [1, C, Z, wup]
            dst = out[i, m0:m1]                                            # [M, out_w, C]
            if fd.ndim == 2:
                y = F.conv2d(zc, wdown, stride=down, groups=c).narrow(3, sx // down, out_w)
                dst.copy_(y[0].permute(1, 2, 0))
                continue
            yx = F.conv2d(zc, wdown, stride=(1, down), groups=c).permute(0, 2, 3, 1)  # [1, Z, Wd, C]
            if not yx.is_contiguous():
                yx = yx.contiguous()
            wd_c = yx.shape[2] * c
            win2 = yx.as_strided((m1 - m0, kdh, out_w * c), (down * wd_c, wd_c, 1),
                                 yx.storage_offset() + (sx // down) * c)
            torch.bmm(dv.expand(m1 - m0, 1, kdh), win2, out=dst.view(m1 - m0, 1, out_w * c))
    return out.permute(0, 3, 1, 2)
