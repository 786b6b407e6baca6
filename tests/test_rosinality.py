"""rosinality StyleGAN2 generator: names, call semantics, and the FaceGenerator adapter.

Numerical equality with the official code is the golden fixture
``psp_rosinality_generator_128.npz`` (tests/test_golden.py); these tests cover what it does not.
"""

from __future__ import annotations

import pytest
import torch

from facereel.nets.base import FaceGenerator
from facereel.nets.plan import FAST, REFERENCE
from facereel.nets.rosinality import Generator, RosinalityFaceGenerator


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    g = Generator(16, 32, 2, channel_multiplier=1).eval()
    with torch.no_grad():  # non-zero noise strengths so noise inputs matter
        for m in g.modules():
            if m.__class__.__name__ == "NoiseInjection":
                m.weight.fill_(0.3)
    return g


def test_official_state_dict_names(G):
    keys = set(G.state_dict())
    for k in ["style.1.weight", "style.2.bias", "input.input", "conv1.conv.weight", "conv1.conv.modulation.weight",
              "conv1.noise.weight", "conv1.activate.bias", "to_rgb1.bias", "to_rgb1.conv.weight",
              "convs.0.conv.blur.kernel", "convs.3.conv.modulation.bias", "to_rgbs.1.upsample.kernel",
              "noises.noise_0", "noises.noise_4"]:
        assert k in keys, k
    assert "convs.1.conv.blur.kernel" not in keys  # only the upsampling convs blur
    assert G.n_latent == 6 and G.num_layers == 5
    assert G.state_dict()["conv1.conv.weight"].shape == (1, 512, 512, 3, 3)


def test_noise_modes(G):
    w = torch.randn(2, G.n_latent, 32)
    with torch.no_grad():
        a, _ = G([w], input_is_latent=True, randomize_noise=False)
        b, _ = G([w], input_is_latent=True, noise=[getattr(G.noises, f"noise_{i}") for i in range(G.num_layers)])
        torch.manual_seed(1)
        c, _ = G([w], input_is_latent=True, randomize_noise=True)
    assert a.shape == (2, 3, 16, 16)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().max() > 1e-3


def test_mixing_truncation_and_latents(G):
    z1, z2 = torch.randn(2, 32), torch.randn(2, 32)
    with torch.no_grad():
        _, lat = G([z1, z2], inject_index=2, return_latents=True, randomize_noise=False)
        w1, w2 = G.get_latent(z1), G.get_latent(z2)
        torch.testing.assert_close(lat[:, :2], w1[:, None].expand(2, 2, 32))
        torch.testing.assert_close(lat[:, 2:], w2[:, None].expand(2, 4, 32))
        c = torch.randn(1, 32)
        _, lt = G([z1], truncation=0.5, truncation_latent=c, return_latents=True, randomize_noise=False)
        torch.testing.assert_close(lt[:, 0], c + 0.5 * (w1 - c))
        # A different w for a late layer changes the image (per-layer w assignment is used).
        wp = w1[:, None].repeat(1, G.n_latent, 1)
        img0, _ = G([wp], input_is_latent=True, randomize_noise=False)
        wp[:, -1] += 1.0
        img1, _ = G([wp], input_is_latent=True, randomize_noise=False)
    assert (img0 - img1).abs().max() > 1e-4


def test_face_generator_adapter(G):
    avg = torch.randn(32)
    fg = RosinalityFaceGenerator(G, latent_avg=avg, name="tiny")
    assert isinstance(fg, FaceGenerator)
    assert fg.latent_kind == "w+" and fg.num_ws == G.n_latent and fg.resolution == 16
    torch.testing.assert_close(fg.w_avg, avg.expand(G.n_latent, 32))
    ws = fg.sample([3, 7])
    assert ws.shape == (2, G.n_latent, 32)
    torch.testing.assert_close(fg.sample([7])[0], ws[1])          # a seed gives the same latent in any batch
    torch.testing.assert_close(fg.sample([3], truncation_psi=0.0)[0], fg.w_avg)
    img = fg.synthesize(ws)
    assert img.shape == (2, 3, 16, 16)
    torch.testing.assert_close(fg.synthesize(ws[1:]), img[1:], rtol=1e-5, atol=1e-5)
    # Without latent_avg the mean latent is estimated (deterministically) from the mapping.
    fg2 = RosinalityFaceGenerator(G)
    torch.testing.assert_close(fg2.w_avg, RosinalityFaceGenerator(G).w_avg)
    assert fg2.w_avg.shape == (G.n_latent, 32)


def _filled(size=32, seed=3):
    torch.manual_seed(seed)
    g = Generator(size, 32, 2, channel_multiplier=1).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # every tensor non-trivial (biases, noise strengths, noise maps)
        for name, t in g.state_dict().items():
            if not name.endswith("kernel"):
                t.copy_(torch.randn(t.shape, generator=gen) * (0.2 if "bias" in name or "noise." in name else 1.0))
    return g


def _both(g, *args, **kwargs):
    out = {}
    for name, plan in (("reference", REFERENCE), ("fast", FAST)):
        out[name] = g(*args, plan=plan, **kwargs)
    return out["fast"], out["reference"]


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("batch", [1, 2])
def test_fast_path_matches_reference(batch, device):
    # The fast path runs rosinality's weights in facereel's NVlabs synthesis (copied and rebuilt
    # whenever a weight changes); the golden fixture checks it against the official code too.
    g = _filled().to(device)
    z, z2 = torch.randn(batch, 32).to(device), torch.randn(batch, 32).to(device)
    avg = torch.randn(1, 32).to(device)
    with torch.no_grad():
        for args, kw in [(([z],), dict(randomize_noise=False, return_latents=True)),
                         (([z, z2],), dict(inject_index=3, randomize_noise=False)),
                         (([z],), dict(truncation=0.6, truncation_latent=avg, randomize_noise=False)),
                         (([torch.randn(batch, g.n_latent, 32).to(device)],),
                          dict(input_is_latent=True, randomize_noise=False))]:
            (fast, fl), (ref, rl) = _both(g, *args, **kw)
            assert fast.shape == (batch, 3, 32, 32)
            assert _rel(fast, ref) < 1e-5, kw
            if rl is not None:
                torch.testing.assert_close(fl, rl)
        assert "nv_synthesis" in g.__dict__["_facereel_cache"]   # the copy, cached on the generator
        # A changed weight (in place, as an optimiser step would) rebuilds the copy.
        w = torch.randn(batch, g.n_latent, 32).to(device)
        before, _ = g([w], input_is_latent=True, randomize_noise=False)
        g.convs[1].conv.weight.mul_(1.5).add_(0.3)
        g.noises.noise_3.neg_()
        (fast, _), (ref, _) = _both(g, [w], input_is_latent=True, randomize_noise=False)
    assert _rel(fast, ref) < 1e-5 and (fast - before).abs().max() > 1e-3


def test_fast_path_gradients_and_fallbacks():
    g = _filled().requires_grad_(False)
    w0 = torch.randn(1, g.n_latent, 32)
    grads = []
    for plan in (FAST, REFERENCE):
        g.plan = plan
        w = w0.clone().requires_grad_()
        img, _ = g([w], input_is_latent=True, randomize_noise=False)
        (img * torch.linspace(-1, 1, img.numel()).reshape(img.shape)).sum().backward()
        grads.append(w.grad)
    g.plan = None
    assert grads[0].abs().sum() > 0 and _rel(grads[0], grads[1]) < 1e-4
    # Training the generator's own weights needs the reference path (the fast one holds a copy).
    g.requires_grad_(True)
    img, _ = g([w0], input_is_latent=True, randomize_noise=False)
    img.square().mean().backward()
    assert g.convs[0].conv.weight.grad is not None and g.convs[0].conv.weight.grad.abs().sum() > 0
    # Random noise and explicit noise maps other than the buffers stay on the reference path.
    with torch.no_grad():
        torch.manual_seed(5)
        a, _ = g([w0], input_is_latent=True, randomize_noise=True)
        torch.manual_seed(5)
        b, _ = g([w0], input_is_latent=True, randomize_noise=True, plan=REFERENCE)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
