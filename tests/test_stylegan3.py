"""StyleGAN3 generator and the filtered leaky ReLU.

Equality with the official code is the golden fixtures ``sg3t_64.npz`` / ``sg3r_64.npz``
(tests/test_golden.py); these tests cover the fast filtered_lrelu against the reference op
sequence, names, magnitude EMA, batched transforms and the reference/fast generator paths.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facereel.nets import stylegan3 as sg3
from facereel.nets.filtered_lrelu import filtered_lrelu, filtered_lrelu_ref
from facereel.nets.plan import FAST, REFERENCE


def _lowpass(taps, cutoff, fs, radial=False):
    return sg3.design_lowpass_filter(numtaps=taps, cutoff=cutoff, width=cutoff, fs=fs, radial=radial)


# (channels, in_size, up, down, padding, radial down filter): the paddings are the ones SG3 layers use
# (critically / non-critically sampled, up 2 and up 4) plus asymmetric and odd ones.
CASES = [
    (8, 19, 2, 2, [9, 8, 9, 8], False),
    (5, 23, 4, 2, [-6, -9, -6, -9], False),
    (6, 30, 2, 2, [-11, -12, -11, -12], False),
    (4, 17, 2, 2, [9, 8, 9, 8], True),
    (3, 15, 4, 2, [-6, -9, -6, -9], True),
    (4, 16, 2, 2, [3, 12, 7, 1], False),
    (4, 16, 2, 1, [5, 4, 6, 5], False),
    (3, 14, 4, 4, [13, 14, 13, 14], False),
    (3, 14, 2, 2, [12, 12, 12, 12], False),   # padding larger than the taps: zero-extended edges
    (3, 14, 2, 2, [13, 15, 15, 12], False),
    (2, 9, 4, 2, [30, 27, 25, 29], True),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("flip_filter", [False, True])
def test_fast_filtered_lrelu_matches_reference(case, flip_filter, device):
    c, size, up, down, padding, radial = case
    g = torch.Generator().manual_seed(size * 7 + up)
    x = (torch.randn(2, c, size, size + 1, generator=g) * 40.0).to(device)   # large enough for the clamp to act
    b = torch.randn(c, generator=g).to(device)
    fu = _lowpass(6 * up, 0.4 * up, 2 * up).to(device)
    fd = _lowpass(6 * max(down, 2), 0.45, 2 * max(down, 2), radial=radial).to(device)
    for clamp, gain, slope in [(256.0, np.sqrt(2), 0.2), (None, 1.7, 0.1), (50.0, 1.0, 0.0)]:
        kw = dict(fu=fu, fd=fd, b=b, up=up, down=down, padding=padding, gain=gain, slope=slope, clamp=clamp,
                  flip_filter=flip_filter)
        ref = filtered_lrelu_ref(x, **kw)
        out = filtered_lrelu(x, **kw)
        assert out.shape == ref.shape
        scale = ref.abs().max().item()
        assert scale > 0
        if clamp is not None and clamp < 100:
            assert (ref.abs() > 0).any()
        assert (out - ref).abs().max().item() <= 1e-5 * scale


def test_filtered_lrelu_fallbacks_match_reference():
    x = torch.randn(1, 3, 10, 10)
    b = torch.randn(3)
    # ToRGB-like layer (no filters, slope 1) and an op without upsampling take the reference path.
    for kw in [dict(fu=None, fd=None, up=1, down=1, padding=0, gain=1.0, slope=1.0, clamp=256.0),
               dict(fu=None, fd=_lowpass(12, 0.4, 4), up=1, down=2, padding=[3, 3, 3, 3], gain=np.sqrt(2),
                    slope=0.2, clamp=None)]:
        torch.testing.assert_close(filtered_lrelu(x, b=b, **kw), filtered_lrelu_ref(x, b=b, **kw), rtol=0, atol=0)


def _tiny(radial=False, **kw):
    torch.manual_seed(0)
    cfg = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
               channel_base=256, channel_max=16, num_layers=6, conv_kernel=1 if radial else 3,
               use_radial_filters=radial, magnitude_ema_beta=0.9)
    cfg.update(kw)
    return sg3.Generator(**cfg).eval()


def test_official_names_and_shapes():
    G = sg3.Generator(**sg3.config_t(64, z_dim=64) | dict(channel_base=2048, channel_max=128))
    sd = G.state_dict()
    assert G.num_ws == 16
    for k in ["synthesis.input.weight", "synthesis.input.transform", "synthesis.input.freqs",
              "synthesis.input.phases", "synthesis.input.affine.weight", "synthesis.input.affine.bias",
              "synthesis.L0_36_128.magnitude_ema", "synthesis.L4_52_128.up_filter", "synthesis.L8_84_81.down_filter",
              "synthesis.L14_64_3.weight", "mapping.w_avg", "mapping.fc1.bias"]:
        assert k in sd, k
    assert sd["synthesis.L4_52_128.up_filter"].shape == (24,)          # up x4 layer: 6 * 4 taps
    assert "synthesis.L14_64_3.up_filter" not in sd                    # ToRGB has no filters
    R = sg3.Generator(**sg3.config_r(64, z_dim=64) | dict(channel_base=4096, channel_max=256))
    sdr = R.state_dict()
    assert sdr["synthesis.L3_36_256.down_filter"].ndim == 2            # radial jinc down filter
    assert sdr["synthesis.L12_84_64.down_filter"].ndim == 1            # critically sampled: separable
    assert sdr["synthesis.L3_36_256.weight"].shape[-1] == 1            # conv_kernel 1


def test_fast_and_reference_generator_agree(device):
    for radial in (False, True):
        G = _tiny(radial).to(device)
        z = torch.randn(3, 16).to(device)
        with torch.no_grad():
            ws = G.mapping(z, None, truncation_psi=0.8)
            a = G.synthesis(ws, plan=REFERENCE)
            b = G.synthesis(ws, plan=FAST)
        assert a.shape == (3, 3, 16, 16)
        assert (a - b).abs().max().item() <= 1e-5 * a.abs().max().item()
        # Per-sample results do not depend on the batch (the style RMS normalisation cancels out).
        with torch.no_grad():
            one = G.synthesis(ws[1:2])
        assert (one - b[1:2]).abs().max().item() <= 1e-5 * b.abs().max().item()


@pytest.mark.parametrize("batch", [1, 3])
def test_winograd_layers_match_reference(monkeypatch, batch):
    # Every 3x3 modulated conv as Winograd F(2x2, 3x3) with the modulated cached transform.
    from facereel.nets import winograd

    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 1)
    calls = []
    conv = winograd.conv3x3_winograd
    monkeypatch.setattr(winograd, "conv3x3_winograd", lambda *a, **k: calls.append(1) or conv(*a, **k))
    G = _tiny()
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name in G.synthesis.layer_names:      # input gains and biases away from their defaults
            layer = getattr(G.synthesis, name)
            layer.magnitude_ema.fill_(float(torch.rand([], generator=g)) * 3 + 0.2)
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=g))
        ws = G.mapping(torch.randn(batch, 16, generator=g), None)
        ref = G.synthesis(ws, plan=REFERENCE)
        with torch.inference_mode():
            out = G.synthesis(ws, plan=FAST)
    convs = sum(1 for n in G.synthesis.layer_names if not getattr(G.synthesis, n).is_torgb)
    assert len(calls) == convs * batch
    assert (out - ref).abs().max().item() <= 1e-5 * ref.abs().max().item()


def test_magnitude_ema_only_updates_when_asked():
    G = _tiny()
    names = [n for n in G.state_dict() if n.endswith("magnitude_ema")]
    before = {n: G.state_dict()[n].clone() for n in names}
    w_avg = G.mapping.w_avg.clone()
    z = torch.randn(2, 16)
    with torch.no_grad():
        G(z, None)
        assert all(torch.equal(G.state_dict()[n], before[n]) for n in names)
        assert torch.equal(G.mapping.w_avg, w_avg)
        G(z, None, update_emas=True)
    changed = [n for n in names if not torch.equal(G.state_dict()[n], before[n])]
    assert changed == names
    assert not torch.equal(G.mapping.w_avg, w_avg)
    # The EMA moves towards the mean squared input of that layer.
    layer = G.synthesis.L0_36_16 if hasattr(G.synthesis, "L0_36_16") else getattr(G.synthesis, G.synthesis.layer_names[0])
    assert layer.magnitude_ema.item() != 1.0


def test_batched_transform_equals_per_sample_transforms():
    G = _tiny()
    ws = G.mapping(torch.randn(2, 16), None)
    eye = torch.eye(3)
    a = 0.3
    rot = torch.tensor([[np.cos(a), np.sin(a), 0.1], [-np.sin(a), np.cos(a), -0.05], [0, 0, 1]], dtype=torch.float32)
    with torch.no_grad():
        G.synthesis.input.transform.copy_(rot)
        img_rot = G.synthesis(ws)
        G.synthesis.input.transform.copy_(eye)
        img_eye = G.synthesis(ws)
        G.synthesis.input.transform = torch.stack([rot, eye])           # ReStyle-SG3 style [N, 3, 3]
        img_batched = G.synthesis(ws)
    assert (img_rot - img_eye).abs().max() > 1e-3                       # the transform matters
    torch.testing.assert_close(img_batched[0], img_rot[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(img_batched[1], img_eye[1], rtol=1e-5, atol=1e-6)


def test_truncation_and_cutoff():
    G = _tiny()
    z = torch.randn(2, 16)
    with torch.no_grad():
        G.mapping.w_avg.normal_()
        w1 = G.mapping(z, None)
        wt = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=3)
    torch.testing.assert_close(wt[:, :3], G.mapping.w_avg + 0.5 * (w1[:, :3] - G.mapping.w_avg))
    torch.testing.assert_close(wt[:, 3:], w1[:, 3:])


def test_fast_filtered_lrelu_gradients_match_reference():
    g = torch.Generator().manual_seed(3)
    fu, fd = _lowpass(12, 0.8, 4), _lowpass(12, 0.45, 4)
    kw = dict(fu=fu, fd=fd, up=2, down=2, padding=[9, 8, 9, 8], gain=np.sqrt(2), slope=0.2, clamp=3.0)
    x0 = torch.randn(1, 3, 12, 12, generator=g) * 2
    b0 = torch.randn(3, generator=g)
    grads = []
    for fn in (filtered_lrelu_ref, filtered_lrelu):
        x, b = x0.clone().requires_grad_(), b0.clone().requires_grad_()
        y = fn(x, b=b, **kw)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        grads.append((x.grad, b.grad))
    for ga, gb in zip(*grads):
        torch.testing.assert_close(gb, ga, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("radial", [False, True])
@pytest.mark.parametrize("batch,train_weights", [(1, False), (2, False), (1, True)])
def test_generator_gradients_fast_match_reference(radial, batch, train_weights, device):
    # Inversion (frozen generator, gradient for w) and training (weights too): under autograd the
    # fast modulated convs scale the input instead of building per-sample weights, NCHW.
    G = _tiny(radial).to(device).requires_grad_(train_weights)
    with torch.no_grad():
        ws0 = G.mapping(torch.randn(batch, 16, generator=torch.Generator().manual_seed(7)).to(device), None)
    grads, wgrads = [], []
    for plan in (FAST, REFERENCE):
        ws = ws0.clone().requires_grad_()
        G.zero_grad(set_to_none=True)
        img = G.synthesis(ws, plan=plan)
        (img * torch.linspace(-1, 1, img.numel(), device=device).reshape(img.shape)).sum().backward()
        grads.append(ws.grad)
        if train_weights:
            wgrads.append([p.grad for n, p in G.synthesis.named_parameters()
                           if n.endswith(("L1.weight", "L2.affine.weight", "L3.bias"))])
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5 * grads[1].abs().max().item())
    for fast, ref in zip(*wgrads):
        assert ref is not None and ref.abs().sum() > 0
        torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-5 * ref.abs().max().item())


def test_striped_filtered_lrelu_matches_reference():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 4, 21, 18, generator=g) * 30
    b = torch.randn(4, generator=g)
    # The last case pads by more than the taps reach: its first and last one-row stripes see only zeros.
    for up, padding, radial in [(2, [9, 8, 9, 8], False), (4, [-6, -9, -6, -9], True), (2, [13, 15, 15, 12], False),
                                (4, [30, 27, 41, 39], False)]:
        kw = dict(fu=_lowpass(6 * up, 0.4 * up, 2 * up), fd=_lowpass(12, 0.45, 4, radial=radial), b=b, up=up, down=2,
                  padding=padding, gain=np.sqrt(2), slope=0.2, clamp=40.0)
        ref = filtered_lrelu_ref(x, **kw)
        # one output row per stripe; stripes of 3 rows, a shorter last one; one stripe
        striped = filtered_lrelu(x, plan=FAST.replace(sg3_stripe_bytes=1, sg3_stripe_min_rows=1), **kw)
        striped3 = filtered_lrelu(x, plan=FAST.replace(sg3_stripe_bytes=1, sg3_stripe_min_rows=3), **kw)
        whole = filtered_lrelu(x, plan=FAST.replace(sg3_stripe_bytes=1 << 62), **kw)
        torch.testing.assert_close(striped, whole, rtol=0, atol=0)
        torch.testing.assert_close(striped3, whole, rtol=0, atol=0)
        assert (striped - ref).abs().max().item() <= 1e-5 * ref.abs().max().item()


def test_nv_face_generator_adapter_drives_stylegan3():
    from facereel.nets.adapters import NVFaceGenerator
    from facereel.nets.base import FaceGenerator

    G = _tiny()
    fg = NVFaceGenerator(G, name="sg3-tiny", device="cpu")
    assert isinstance(fg, FaceGenerator)
    assert fg.num_ws == G.num_ws == 8 and fg.resolution == 16
    ws = fg.sample([1, 2])
    img = fg.synthesize(ws)
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    with torch.no_grad():
        torch.testing.assert_close(img, G.synthesis(ws), rtol=0, atol=0)


@pytest.mark.parametrize("row_gemm", [True, False])
@pytest.mark.parametrize("flip_filter", [False, True])
def test_fast_filtered_lrelu_with_asymmetric_filters(row_gemm, flip_filter):
    # SG3's low-passes are symmetric, so they cannot tell a flipped tap order from the right one.
    plan = FAST.replace(sg3_row_gemm=row_gemm)
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 3, 17, 19, generator=g) * 20
    b = torch.randn(3, generator=g)
    for up, down, padding, fd in [(2, 2, [9, 8, 7, 10], torch.rand(12, generator=g)),
                                  (4, 2, [-6, -9, -5, -8], torch.rand(12, generator=g)),
                                  (2, 1, [5, 4, 6, 5], torch.rand(7, generator=g)),
                                  (2, 2, [9, 8, 9, 8], torch.rand(6, 5, generator=g))]:
        fu = torch.rand(6 * up, generator=g)
        kw = dict(fu=fu, fd=fd, b=b, up=up, down=down, padding=padding, gain=1.3, slope=0.2, clamp=30.0,
                  flip_filter=flip_filter)
        ref = filtered_lrelu_ref(x, **kw)
        out = filtered_lrelu(x, plan=plan, **kw)
        assert out.shape == ref.shape
        assert (out - ref).abs().max().item() <= 1e-5 * ref.abs().max().item()
