"""Reference ops against independent, loop-level definitions (numpy) and algebraic identities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facereel.nets import ops


def naive_upfirdn2d(x, f, up, down, pad, gain=1.0, flip_filter=False):
    """Textbook definition on numpy: zero-insert, pad/crop, true 2-D convolution, decimate."""
    upx, upy = up
    downx, downy = down
    x0, x1, y0, y1 = pad
    n, c, h, w = x.shape
    if f.ndim == 1:
        f = np.outer(f, f)
    f = f.astype(np.float64) * gain
    fh, fw = f.shape
    xu = np.zeros((n, c, h * upy, w * upx))
    xu[:, :, ::upy, ::upx] = x
    big = np.zeros((n, c, h * upy + max(y0, 0) + max(y1, 0), w * upx + max(x0, 0) + max(x1, 0)))
    big[:, :, max(y0, 0):max(y0, 0) + h * upy, max(x0, 0):max(x0, 0) + w * upx] = xu
    big = big[:, :, max(-y0, 0):big.shape[2] - max(-y1, 0), max(-x0, 0):big.shape[3] - max(-x1, 0)]
    H = big.shape[2] - fh + 1
    W = big.shape[3] - fw + 1
    out = np.zeros((n, c, H, W))
    for i in range(H):
        for j in range(W):
            for a in range(fh):
                for b in range(fw):
                    tap = f[a, b] if flip_filter else f[fh - 1 - a, fw - 1 - b]
                    out[:, :, i, j] += big[:, :, i + a, j + b] * tap
    return out[:, :, ::downy, ::downx]


@pytest.mark.parametrize("up,down,pad,flip,filt", [
    ((1, 1), (1, 1), (0, 0, 0, 0), False, [1, 3, 3, 1]),
    ((2, 2), (1, 1), (2, 1, 2, 1), False, [1, 3, 3, 1]),
    ((1, 1), (2, 2), (1, 1, 1, 1), False, [1, 3, 3, 1]),
    ((2, 1), (1, 2), (3, -1, 0, 2), True, [1, 2, 5, 1]),
    ((2, 2), (2, 2), (-1, 2, 1, 0), False, [1, 3, 3, 1]),
])
def test_upfirdn2d_matches_definition(up, down, pad, flip, filt):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 7, 6, generator=g)
    f2 = np.outer(np.array(filt, np.float64), np.array([2.0, 1.0, 0.5, 1.5]))   # non-symmetric 2-D
    got = ops.upfirdn2d(x, torch.tensor(f2, dtype=torch.float32), up=list(up), down=list(down),
                        padding=list(pad), flip_filter=flip, gain=1.7)
    want = naive_upfirdn2d(x.double().numpy(), f2, up, down, pad, gain=1.7, flip_filter=flip)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_separable_filter_equals_outer_product():
    x = torch.randn(1, 2, 9, 9, generator=torch.Generator().manual_seed(1))
    taps = [1, 2, 3, 4, 4, 3, 2, 1]
    f1 = ops.setup_filter(taps)                     # 8 taps -> stays 1-D (separable)
    f2 = ops.setup_filter(taps, separable=False)    # outer product
    assert f1.ndim == 1 and f2.ndim == 2 and f2.shape == (8, 8)
    assert torch.allclose(f2.sum(), torch.tensor(1.0))
    a = ops.upfirdn2d(x, f1, up=2, padding=[4, 3, 4, 3], gain=4)
    b = ops.upfirdn2d(x, f2, up=2, padding=[4, 3, 4, 3], gain=4)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_setup_filter_defaults():
    f = ops.setup_filter([1, 3, 3, 1])
    want = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0
    np.testing.assert_allclose(f.numpy(), want, rtol=1e-7)
    g = ops.setup_filter([1, 3, 3, 1], gain=4)
    np.testing.assert_allclose(g.numpy(), want * 4, rtol=1e-6)
    assert ops.setup_filter(None).shape == (1, 1)   # scalar 1 -> 1-D -> outer product


def test_resample_preserves_constants_and_sizes():
    f = ops.setup_filter([1, 3, 3, 1])
    x = torch.full((1, 2, 8, 8), 3.0)
    up = ops.upsample2d(x, f)
    assert up.shape == (1, 2, 16, 16)
    torch.testing.assert_close(up[:, :, 2:-2, 2:-2], torch.full_like(up[:, :, 2:-2, 2:-2], 3.0))
    down = ops.downsample2d(x, f)
    assert down.shape == (1, 2, 4, 4)
    torch.testing.assert_close(down[:, :, 1:-1, 1:-1], torch.full((1, 2, 2, 2), 3.0))
    flt = ops.filter2d(x, f)
    assert flt.shape == x.shape
    torch.testing.assert_close(flt[:, :, 2:-2, 2:-2], torch.full((1, 2, 4, 4), 3.0))


def test_upsample2d_matches_definition():
    x = torch.randn(1, 1, 5, 5, generator=torch.Generator().manual_seed(2))
    f = ops.setup_filter([1, 3, 3, 1])
    got = ops.upsample2d(x, f)
    want = naive_upfirdn2d(x.double().numpy(), f.double().numpy(), (2, 2), (1, 1), (2, 1, 2, 1), gain=4)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("act", sorted(ops.activation_funcs))
def test_bias_act_formula(act):
    x = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(3)) * 3
    b = torch.randn(4, generator=torch.Generator().manual_seed(4))
    y = x + b[None, :, None]
    ref = {
        "linear": y, "relu": y.clamp_min(0) * math.sqrt(2),
        "lrelu": torch.where(y >= 0, y, 0.2 * y) * math.sqrt(2), "tanh": torch.tanh(y),
        "sigmoid": 1 / (1 + torch.exp(-y)), "elu": torch.where(y > 0, y, torch.exp(y) - 1),
        "selu": 1.0507009873554805 * torch.where(y > 0, y, 1.6732632423543772 * (torch.exp(y) - 1)),
        "softplus": torch.log1p(torch.exp(y)), "swish": y / (1 + torch.exp(-y)) * math.sqrt(2),
    }[act]
    torch.testing.assert_close(ops.bias_act(x, b, act=act), ref, rtol=1e-5, atol=1e-6)


def test_bias_act_dim_gain_clamp_alpha():
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(5)) * 10
    b = torch.arange(4, dtype=torch.float32)
    got = ops.bias_act(x, b, dim=0, act="lrelu", alpha=0.1, gain=0.5, clamp=2.0)
    y = x + b[:, None]
    want = (torch.where(y >= 0, y, 0.1 * y) * 0.5).clamp(-2, 2)
    torch.testing.assert_close(got, want)
    assert got.abs().max() <= 2.0
    torch.testing.assert_close(ops.bias_act(x), x)


def test_conv2d_resample_up_equals_filter_then_conv():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(2, 4, 6, 6, generator=g)
    w = torch.randn(5, 4, 3, 3, generator=g)
    f = ops.setup_filter([1, 3, 3, 1])
    for flip_weight in (False, True):
        got = ops.conv2d_resample(x, w, f=f, up=2, padding=1, flip_weight=flip_weight)
        # Linear shift-invariant pieces commute: FIR-upsample first, then the 3x3 conv.
        xu = ops.upfirdn2d(x, f, up=2, padding=[3, 2, 3, 2], gain=4)
        want = F.conv2d(xu, w if flip_weight else w.flip([2, 3]))
        assert got.shape == (2, 5, 12, 12)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_conv2d_resample_down_and_1x1_up():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(1, 3, 8, 8, generator=g)
    f = ops.setup_filter([1, 3, 3, 1])
    w = torch.randn(2, 3, 3, 3, generator=g)
    got = ops.conv2d_resample(x, w, f=f, down=2, padding=1)
    want = F.conv2d(ops.upfirdn2d(x, f, padding=[2, 2, 2, 2]), w)[:, :, ::2, ::2]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    w1 = torch.randn(2, 3, 1, 1, generator=g)
    got = ops.conv2d_resample(x, w1, f=f, up=2)
    want = ops.upsample2d(F.conv2d(x, w1), f)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # Grouped transposed path == per-group ungrouped.
    wg = torch.randn(4, 3, 3, 3, generator=g)
    xg = torch.randn(1, 6, 5, 5, generator=g)
    got = ops.conv2d_resample(xg, wg, f=f, up=2, padding=1, groups=2, flip_weight=False)
    parts = [ops.conv2d_resample(xg[:, 3 * i:3 * i + 3], wg[2 * i:2 * i + 2], f=f, up=2, padding=1,
                                 flip_weight=False) for i in range(2)]
    torch.testing.assert_close(got, torch.cat(parts, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv2d_fused_unfused_and_definition(up, device):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(3, 4, 6, 6, generator=g).to(device)
    weight = torch.randn(5, 4, 3, 3, generator=g).to(device)
    styles = torch.randn(3, 4, generator=g).to(device) + 1
    noise = torch.randn(1, 1, 6 * up, 6 * up, generator=g).to(device)
    f = ops.setup_filter([1, 3, 3, 1], device=device)
    kw = dict(up=up, padding=1, resample_filter=f, flip_weight=up == 1)
    fused = ops.modulated_conv2d(x, weight, styles, noise=noise, fused_modconv=True, **kw)
    unfused = ops.modulated_conv2d(x, weight, styles, noise=noise, fused_modconv=False, **kw)
    torch.testing.assert_close(fused, unfused, rtol=1e-5, atol=1e-5)
    # Eq. 1-3 per sample, written out.
    for i in range(3):
        wi = weight * styles[i][None, :, None, None]
        wi = wi / torch.sqrt(wi.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
        yi = ops.conv2d_resample(x[i:i + 1], wi, f=f, up=up, padding=1, flip_weight=up == 1) + noise
        torch.testing.assert_close(fused[i:i + 1], yi, rtol=1e-5, atol=1e-5)
    nodemod = ops.modulated_conv2d(x, weight, styles, demodulate=False, fused_modconv=True, **kw)
    nodemod_u = ops.modulated_conv2d(x, weight, styles, demodulate=False, fused_modconv=False, **kw)
    torch.testing.assert_close(nodemod, nodemod_u, rtol=1e-5, atol=1e-5)


def test_normalize_2nd_moment():
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(9)) * 5
    n = ops.normalize_2nd_moment(z)
    torch.testing.assert_close(n.square().mean(1), torch.ones(4), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("taps", [[1, 3, 3, 1], [1, 2, 5, 7, 7, 5, 2, 1], [2, 1]])
def test_fast_fir_and_upsample_match_reference(taps, channels_last, device):
    g = torch.Generator().manual_seed(10)
    x = torch.randn(2, 5, 9, 9, generator=g).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    f = ops.setup_filter(taps, device=device)
    ref = ops.upsample2d(x, f)
    got = ops.upsample2d_fast(x, f)
    assert got.shape == ref.shape
    # Computed channels-last either way, returned in the input's layout.
    assert got.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    b = torch.randn(5, generator=g).to(device)
    ref = ops.upfirdn2d(x, f, padding=[1, 1, 1, 1], gain=4) + b.reshape(1, -1, 1, 1)
    got = ops.fir_filter_fast(x, f, padding=1, gain=4, bias=b)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    # Asymmetric padding falls back to the reference.
    ref = ops.upfirdn2d(x, f, padding=[2, 1, 0, 3])
    torch.testing.assert_close(ops.fir_filter_fast(x, f, padding=[2, 1, 0, 3]), ref)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("k,stride", [(3, 2), (1, 2), (2, 2), (4, 2), (5, 3), (2, 3)])
def test_polyphase_transposed_conv_equals_conv_transpose2d(k, stride, channels_last, device):
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 6, 7, 5, generator=g).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(6, 4, k, k, generator=g).to(device)            # [I, O, kh, kw], as conv_transpose2d
    ref = F.conv_transpose2d(x, w, stride=stride)
    got = ops.conv_transpose2d_polyphase(x, ops.polyphase_kernels(w, stride), k, k, stride=stride)
    assert got.shape == ref.shape
    assert got.is_contiguous(memory_format=torch.channels_last) == channels_last
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    # Phases without taps (k < stride) are exact zeros, not leftover memory.
    if k < stride:
        assert ref[:, :, k::stride].abs().max() == 0 and got[:, :, k::stride].abs().max() == 0
