"""Winograd F(2x2, 3x3) convolution against F.conv2d in float64 (the exact answer for its inputs)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from facereel.nets import winograd


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


@pytest.mark.parametrize("n,c,o,h,w", [(1, 8, 5, 8, 8), (2, 3, 7, 5, 6), (3, 16, 16, 7, 9), (1, 4, 4, 1, 1),
                                       (1, 32, 24, 2, 13)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_winograd_equals_conv2d(n, c, o, h, w, channels_last, with_bias, padding):
    if padding == 0:     # a valid conv needs 3x3 inputs at least
        h, w = max(h, 3), max(w, 3)
    g = torch.Generator().manual_seed(n * 100 + c + h * w)
    x = torch.randn(n, c, h, w, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    k = torch.randn(o, c, 3, 3, generator=g)
    b = torch.randn(o, generator=g) if with_bias else None
    want = F.conv2d(x.double(), k.double(), None if b is None else b.double(), padding=padding)
    got = winograd.conv3x3_winograd(x, winograd.winograd_weight(k), None if b is None else winograd.winograd_bias(b),
                                    padding=padding)
    assert got.shape == want.shape and got.dtype == torch.float32
    # at least as accurate as the direct float32 convolution (F(2x2,3x3) measured 3-7e-7 here)
    direct = F.conv2d(x, k, b, padding=padding)
    assert _rel(got, want) <= max(2 * _rel(direct, want), 1e-6)


def test_winograd_weight_equals_g_w_gt_in_float64():
    g = torch.Generator().manual_seed(5)
    k = torch.randn(7, 3, 3, 3, generator=g)
    G = torch.tensor([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=torch.float64)
    want = torch.einsum("ak,oikl,bl->aboi", G, k.double(), G).reshape(16 * 7, 3)
    got = winograd.winograd_weight(k).reshape(16 * 7, 3)
    assert _rel(got, want) < 1e-6


def test_winograd_weight_is_linear_so_modulation_commutes():
    g = torch.Generator().manual_seed(3)
    k = torch.randn(6, 4, 3, 3, generator=g)
    s = torch.rand(6, 4, generator=g) + 0.5
    a = winograd.winograd_weight(k * s[:, :, None, None]).view(16, 6, 4)
    b = winograd.winograd_weight(k).view(16, 6, 4) * s
    assert torch.allclose(a, b, rtol=1e-6, atol=1e-6)


def test_winograd_rejects_wrong_shapes_and_reports_autograd():
    with pytest.raises(ValueError, match="3, 3"):
        winograd.winograd_weight(torch.zeros(2, 2, 5, 5))
    wt = winograd.winograd_weight(torch.zeros(2, 3, 3, 3))
    with pytest.raises(ValueError, match="channels"):
        winograd.conv3x3_winograd(torch.zeros(1, 4, 4, 4), wt)
    with pytest.raises(ValueError, match="no output"):
        winograd.conv3x3_winograd(torch.zeros(1, 3, 2, 2), wt, padding=0)
    x = torch.zeros(1, 3, 4, 4, requires_grad=True)
    assert not winograd.usable(x)
    with torch.no_grad():
        assert winograd.usable(x)
    assert winograd.usable(torch.zeros(1, 3, 4, 4))
    assert not winograd.usable(torch.zeros(1), torch.zeros(1, requires_grad=True))


def test_worthwhile_only_for_many_channel_float32_maps_on_the_cpu():
    big = torch.zeros(1, winograd.MIN_CHANNELS, 32, 32)
    assert winograd.worthwhile(big)
    assert not winograd.worthwhile(big[:, :winograd.MIN_CHANNELS - 1])         # too few channels
    assert not winograd.worthwhile(big[:, :, :2, :2])                           # too few pixels
    assert not winograd.worthwhile(big.double())                                # the transform is float32
    assert not winograd.worthwhile(big.bfloat16())
    assert not winograd.worthwhile(torch.zeros(1, winograd.MIN_CHANNELS, 32, 32, device="meta"))
