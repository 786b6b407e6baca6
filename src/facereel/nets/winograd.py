"""Winograd F(2x2, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
Networks", CVPR 2016, Sec. 4): a 3x3 / stride 1 convolution (any zero padding) with 16 multiplies
per 2x2 output tile and input channel instead of 36 (2.25x fewer).

Per 4x4 input tile d (stride 2) and 3x3 kernel g:  Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A, with

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

The 16 element-wise products summed over input channels are 16 independent GEMMs
[tiles, C] x [C, O]; here they run as one grouped 1x1 convolution in channels-last layout (oneDNN
ran it at ~1.3x the speed of ``torch.bmm`` on 2 AVX2 cores).  The transforms of B and A have only
±1 entries, so each is 8 strided adds/subtracts.  G g G^T is one float32 GEMM; StyleGAN2,
StyleGAN3 and the IR-SE encoders compute it once per weight and cache it (the generators then
scale it per call by their modulation, which is a per-kernel factor).

F(2x2, 3x3) is at least as accurate as the direct convolution in float32 (its interpolation
points 0, ±1 are exact; measured max error 3-7e-7 relative against float64, direct 1-3e-6).
Larger tiles (F(4x4, 3x3), 4x fewer multiplies) measured ~1e-5 relative error per layer, too
much for the 1e-5 end-to-end tolerance of the fast paths, so they are not offered.

Inference only: the transforms write into preallocated tensors (``out=``), which autograd cannot
differentiate; callers fall back to ``F.conv2d`` when gradients are needed (:func:`usable`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["winograd_weight", "winograd_bias", "conv3x3_winograd", "usable", "worthwhile"]

# Index of the (row 1, column 1) product in the 16 = 4x4 transformed coefficients: A^T has ones
# in column 1 of both rows, so a constant added there reaches all four outputs of a tile (bias).
_BIAS_SLOT = 5
# Where F(2x2, 3x3) beats oneDNN's direct conv (float32, 2 threads, channels-last, measured per
# conv, best of 6 interleaved): 512 ch @64x64 1.46x, @32x32 1.4-1.6x, @16x16 1.2x, @8x8 1.0x;
# 256 ch @128x128 1.28x, @32x32 1.2-1.6x, @14x14 0.8x; 128 ch 0.84-0.96x (@28-256); 64 ch 0.6x.
# Below these the 16 small GEMMs and the transforms cost more than the saved multiplies.
MIN_CHANNELS = 256
MIN_ELEMENTS = 1 << 17      # C * H * W of the input
# Bytes of transformed input (or output) per chunk of tile rows.
CHUNK_BYTES = 1 << 23


def _g_matrix(dtype=torch.float32, device=None) -> torch.Tensor:
    return torch.tensor([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=dtype, device=device)


def winograd_weight(w: torch.Tensor) -> torch.Tensor:
    """[O, I, 3, 3] kernel -> G w G^T as the grouped 1x1 weight [16*O, I, 1, 1] (group k = 4*i + j,
    channels-last), in ``w``'s dtype.  Linear in ``w``: per-(o, i) scalings (StyleGAN2's
    modulation) can be applied to its [16, O, I] view afterwards."""
    if w.ndim != 4 or tuple(w.shape[2:]) != (3, 3):
        raise ValueError(f"winograd_weight needs a [O, I, 3, 3] kernel, got {tuple(w.shape)}")
    o, i = w.shape[:2]
    # One GEMM [16, 9] x [9, O*I] with kron(G, G) (u_ab = sum_kl G_ak G_bl w_kl), in float32: G's
    # entries 0, ±1/2, 1 scale exactly, so each coefficient is a sum of at most 9 rounded terms
    # (512x512 kernel: 10 ms, against 110 ms for a float64 einsum).
    g = _g_matrix(device=w.device)
    u = torch.kron(g, g) @ w.detach().float().reshape(o * i, 9).t()        # [16, O*I]
    return u.reshape(16 * o, i, 1, 1).to(w.dtype).contiguous(memory_format=torch.channels_last)


def winograd_bias(b: torch.Tensor) -> torch.Tensor:
    """[O] bias -> the grouped conv's [16*O] bias that adds ``b`` to every output pixel."""
    out = torch.zeros(16, b.numel(), dtype=b.dtype, device=b.device)
    out[_BIAS_SLOT] = b.detach()
    return out.reshape(-1)


def worthwhile(x: torch.Tensor) -> bool:
    """Whether a 3x3 conv of ``x`` [N, C, H, W] is expected to run faster as Winograd here: float32
    on the CPU (where the thresholds were measured against oneDNN; cuDNN has its own Winograd and
    the weight transform is float32 only), with enough channels and pixels."""
    if x.device.type != "cpu" or x.dtype != torch.float32:
        return False
    c, h, w = x.shape[1:]
    return c >= MIN_CHANNELS and c * h * w >= MIN_ELEMENTS


def usable(*tensors: torch.Tensor) -> bool:
    """Whether :func:`conv3x3_winograd` may run on these inputs / weights (no autograd graph is
    being recorded through them)."""
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def conv3x3_winograd(x: torch.Tensor, wt: torch.Tensor, bias16: torch.Tensor | None = None,
                     padding: int = 1) -> torch.Tensor:
    """``F.conv2d(x, w, b, stride=1, padding=padding)`` for ``wt = winograd_weight(w)`` and
    ``bias16 = winograd_bias(b)``.  x: [N, C, H, W] (any size, any memory format) ->
    [N, O, H + 2*padding - 2, W + 2*padding - 2] channels-last."""
    n, c, h, w = x.shape
    o = wt.shape[0] // 16
    if wt.shape[1] != c:
        raise ValueError(f"input has {c} channels, the weight expects {wt.shape[1]}")
    p = int(padding)
    ho, wo = h + 2 * p - 2, w + 2 * p - 2
    if p < 0 or ho < 1 or wo < 1:
        raise ValueError(f"padding {padding} leaves no output for a {h}x{w} input")
    ty, tx = (ho + 1) // 2, (wo + 1) // 2
    hp, wp = 2 * ty + 2, 2 * tx + 2
    # [N, Hp, Wp, C]: the conv's zero padding, plus one more row/column where the output is odd.
    xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, p, wp - w - p, p, hp - h - p))
    y = torch.empty(n, 2 * ty, 2 * tx, o, dtype=x.dtype, device=x.device)
    # Tile rows in chunks whose transformed input (16 values per tile and channel) stays in cache:
    # on maps of 128x128 and more the whole-map tensors made the transforms memory-bound.
    rows = max(1, min(ty, CHUNK_BYTES // max(16 * n * tx * max(c, o) * x.element_size(), 1)))
    for t0 in range(0, ty, rows):
        t1 = min(t0 + rows, ty)
        _tiles(xp[:, 2 * t0:2 * t1 + 2], wt, bias16, y[:, 2 * t0:2 * t1])
    if 2 * ty != ho or 2 * tx != wo:
        y = y[:, :ho, :wo]
    return y.permute(0, 3, 1, 2)


def _tiles(xp: torch.Tensor, wt: torch.Tensor, bias16: torch.Tensor | None, y: torch.Tensor) -> None:
    """One chunk: padded input rows xp [N, 2*Ty + 2, 2*Tx + 2, C] -> output rows y [N, 2*Ty, 2*Tx, O]."""
    n, hp, wp, c = xp.shape
    ty, tx = (hp - 2) // 2, (wp - 2) // 2
    o = y.shape[-1]
    kw = dict(dtype=xp.dtype, device=xp.device)
    # B^T d along the width: column k of every tile is the strided slice xp[:, :, k::2].
    s = [xp[:, :, k:k + 2 * tx:2] for k in range(4)]                      # 4 x [N, Hp, Tx, C]
    u = torch.empty(n, hp, tx, 4, c, **kw)
    torch.sub(s[0], s[2], out=u[:, :, :, 0])
    torch.add(s[1], s[2], out=u[:, :, :, 1])
    torch.sub(s[2], s[1], out=u[:, :, :, 2])
    torch.sub(s[1], s[3], out=u[:, :, :, 3])
    # ... then along the height: V = B^T d B, laid out [N, Ty, Tx, 4 (row), 4 (col), C].
    r = [u[:, k:k + 2 * ty:2] for k in range(4)]                          # 4 x [N, Ty, Tx, 4, C]
    v = torch.empty(n, ty, tx, 4, 4, c, **kw)
    torch.sub(r[0], r[2], out=v[:, :, :, 0])
    torch.add(r[1], r[2], out=v[:, :, :, 1])
    torch.sub(r[2], r[1], out=v[:, :, :, 2])
    torch.sub(r[1], r[3], out=v[:, :, :, 3])
    t = n * ty * tx
    # 16 GEMMs [T, C] x [C, O] as one grouped 1x1 conv: a channels-last [1, 16*C, T, 1] view of v.
    m = F.conv2d(v.view(1, t, 1, 16 * c).permute(0, 3, 1, 2), wt, bias16, groups=16)
    m = m.permute(0, 2, 3, 1).reshape(n, ty, tx, 4, 4, o)                # memory [T, 16, O]
    # A^T M along the rows ...
    z = torch.empty(n, ty, tx, 2, 4, o, **kw)
    torch.add(m[:, :, :, 0], m[:, :, :, 1], out=z[:, :, :, 0]).add_(m[:, :, :, 2])
    torch.sub(m[:, :, :, 1], m[:, :, :, 2], out=z[:, :, :, 1]).sub_(m[:, :, :, 3])
    # ... and (A^T M) A along the columns, written straight into the 2x2 output pixels of each tile.
    yv = y.view(n, ty, 2, tx, 2, o).permute(0, 1, 3, 2, 4, 5)           # [N, Ty, Tx, p, q, O]
    torch.add(z[..., 0, :], z[..., 1, :], out=yv[..., 0, :]).add_(z[..., 2, :])
    torch.sub(z[..., 1, :], z[..., 2, :], out=yv[..., 1, :]).sub_(z[..., 3, :])
