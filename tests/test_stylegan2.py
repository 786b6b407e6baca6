"""StyleGAN2 (NVIDIA) generator: fast path == reference path, semantics of the official API,
the bfloat16 path, and the ``NVFaceGenerator`` adapter.  Exactness against the official code is
covered by the golden fixtures (tests/test_golden.py, ``sg2_*``)."""

from __future__ import annotations

import math

import pytest
import torch

from facereel.nets.adapters import NVFaceGenerator
from facereel.nets.base import FaceGenerator
from facereel.nets.plan import FAST, REFERENCE
from facereel.nets.stylegan2 import conv_flops
from tests.helpers.nets import rel_err, tiny


def test_state_dict_names_follow_official_layout():
    G = tiny("resnet", c_dim=3)
    keys = list(G.state_dict())
    for k in ("mapping.w_avg", "mapping.embed.weight", "mapping.fc0.weight", "mapping.fc1.bias",
              "synthesis.b4.const", "synthesis.b4.resample_filter", "synthesis.b4.conv1.noise_const",
              "synthesis.b8.conv0.affine.bias", "synthesis.b8.skip.weight", "synthesis.b32.torgb.weight"):
        assert k in keys, k
    assert "synthesis.b8.torgb.weight" not in keys            # resnet: toRGB only in the last block
    assert keys.index("synthesis.b4.const") == 0 and keys[-1] == "mapping.fc1.bias"
    assert G.num_ws == 2 * int(math.log2(32)) - 2
    G2 = tiny("resnet", c_dim=3, seed=5)
    G2.load_state_dict(G.state_dict(), strict=True)


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
@pytest.mark.parametrize("batch", [1, 3])
def test_fast_path_matches_reference(architecture, batch, device):
    G = tiny(architecture, c_dim=2 if architecture == "resnet" else 0).to(device)
    ws = torch.randn(batch, G.num_ws, 24, generator=torch.Generator().manual_seed(2)).to(device)
    with torch.no_grad():
        for kw in (dict(noise_mode="const"), dict(noise_mode="none"), dict(noise_mode="const", fused_modconv=False)):
            ref = G.synthesis(ws, plan=REFERENCE, **kw)
            fast = G.synthesis(ws, plan=FAST, **kw)
            assert fast.shape == (batch, 3, 32, 32)
            # The fast path keeps its skip image channels-last inside; callers still get NCHW.
            assert fast.is_contiguous() and ref.is_contiguous()
            assert rel_err(fast, ref) < 1e-5, kw


@pytest.mark.parametrize("modulate_input", [False, True])
def test_batch1_small_maps_modulate_input_or_weight(modulate_input):
    # With the switch on, the tiny model's low-resolution layers (weight > maps) scale the maps and
    # the 32-px layers the weight; off, every batch-1 layer modulates the weight.
    plan = FAST.replace(small_maps_modulate_input=modulate_input)
    G = tiny("skip")
    ws = torch.randn(1, G.num_ws, 24, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        ref = G.synthesis(ws, plan=REFERENCE, noise_mode="const")
        fast = G.synthesis(ws, plan=plan, noise_mode="const")
    assert rel_err(fast, ref) < 1e-5


@pytest.mark.parametrize("per_sample_res", [8, 16, 10 ** 9])
@pytest.mark.parametrize("polyphase_pixels", [1, 10 ** 9])
def test_fast_batch_splits_and_polyphase_match_reference(per_sample_res, polyphase_pixels):
    # The fast path runs high-resolution blocks per sample and upsampling convs as polyphase
    # ordinary convs; every split point and both upsampling forms give the reference numbers.
    fast_plan = FAST.replace(per_sample_min_res=per_sample_res, polyphase_min_pixels=polyphase_pixels)
    G = tiny("resnet", c_dim=2)
    ws = torch.randn(3, G.num_ws, 24, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ref = G.synthesis(ws, plan=REFERENCE, noise_mode="const")
        fast = G.synthesis(ws, plan=fast_plan, noise_mode="const")
        single = torch.cat([G.synthesis(ws[i:i + 1], plan=fast_plan, noise_mode="const") for i in range(3)])
    assert rel_err(fast, ref) < 1e-5
    assert rel_err(single, ref) < 1e-5
    torch.manual_seed(0)
    rnd = G.synthesis(ws, plan=fast_plan, noise_mode="random")
    assert rnd.shape == ref.shape and rel_err(rnd, ref) > 1e-4       # random noise is drawn per sample


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
@pytest.mark.parametrize("min_rows", [3, 8])
def test_row_striped_layers_match_reference(architecture, min_rows):
    # Batch-1 layers run stripe by stripe of output rows when large; tiny stripes (3 rows: edges on
    # odd rows of the upsampling layers) must give the unstriped numbers.
    G = tiny(architecture)
    ws = torch.randn(1, G.num_ws, 24, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        ref = G.synthesis(ws, plan=REFERENCE, noise_mode="const")
    with torch.inference_mode():
        whole = G.synthesis(ws, plan=FAST, noise_mode="const")
        striped_plan = FAST.replace(stripe_bytes=1, stripe_min_rows=min_rows)
        striped = G.synthesis(ws, plan=striped_plan, noise_mode="const")
        torch.manual_seed(1)
        rnd_striped = G.synthesis(ws, plan=striped_plan, noise_mode="random")
        torch.manual_seed(1)
        rnd_whole = G.synthesis(ws, plan=FAST.replace(stripe_bytes=1 << 62), noise_mode="random")
    assert rel_err(striped, ref) < 1e-5
    assert rel_err(striped, whole) < 1e-6
    assert rel_err(rnd_striped, rnd_whole) < 1e-6


@pytest.mark.parametrize("architecture", ["orig", "resnet"])
@pytest.mark.parametrize("stripe_bytes", [1, 1 << 23])
def test_stripes_as_concurrent_branches_match_sequential_stripes(architecture, stripe_bytes, monkeypatch):
    # On two or more intra-op threads the stripes of a batch-1 layer run as two concurrent
    # branches (halves of the rows); with the default stripe size a layer of >= 2 * stripe_min_rows
    # rows is split in two for them.
    from facereel.nets import concurrent

    calls = []
    real = concurrent.run_branches
    monkeypatch.setattr(concurrent, "run_branches", lambda fns: calls.append(len(fns)) or real(fns))
    G = tiny(architecture)
    ws = torch.randn(1, G.num_ws, 24, generator=torch.Generator().manual_seed(9))
    plan = FAST.replace(stripe_bytes=stripe_bytes, stripe_min_rows=3)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad():
            ref = G.synthesis(ws, plan=REFERENCE, noise_mode="const")
        with torch.inference_mode():
            sequential = G.synthesis(ws, plan=plan.replace(concurrent_branches=False), noise_mode="const")
            assert not calls
            branched = G.synthesis(ws, plan=plan, noise_mode="const")
    finally:
        torch.set_num_threads(old)
    assert calls and set(calls) == {2}
    assert rel_err(branched, sequential) < 1e-6
    assert rel_err(branched, ref) < 1e-5


@pytest.mark.parametrize("architecture", ["orig", "resnet"])
@pytest.mark.parametrize("batch,striped", [(1, False), (1, True), (3, False)])
def test_winograd_layers_match_reference(monkeypatch, architecture, batch, striped):
    # Every same-size 3x3 conv as Winograd F(2x2,3x3) (modulated transformed weight at batch 1,
    # shared one at batch > 1, in row stripes and one-tile-row chunks): the reference numbers.
    from facereel.nets import winograd

    calls = []
    real = winograd.conv3x3_winograd
    monkeypatch.setattr(winograd, "conv3x3_winograd", lambda x, *a: calls.append(x.shape) or real(x, *a))
    G = tiny(architecture, c_dim=2 if architecture == "resnet" else 0)
    ws = torch.randn(batch, G.num_ws, 24, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        ref = G.synthesis(ws, plan=REFERENCE, noise_mode="const")
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 1)
    plan = FAST.replace(stripe_bytes=1, stripe_min_rows=3) if striped else FAST
    with torch.inference_mode():
        fast = G.synthesis(ws, plan=plan, noise_mode="const")
    assert len(calls) >= 4   # b4 ... b32 conv1 at least
    assert rel_err(fast, ref) < 1e-5
    # with autograd recording, the direct conv runs instead (the transforms are not differentiable)
    calls.clear()
    ws.requires_grad_(True)
    G.synthesis(ws, plan=FAST, noise_mode="const").sum().backward()
    assert not calls and ws.grad is not None


def test_fused_and_unfused_reference_agree_and_noise_modes():
    G = tiny()
    ws = torch.randn(2, G.num_ws, 24, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a = G.synthesis(ws, noise_mode="const", plan=REFERENCE, fused_modconv=True)
        b = G.synthesis(ws, noise_mode="const", plan=REFERENCE, fused_modconv=False)
        assert rel_err(a, b) < 1e-5
        none = G.synthesis(ws, noise_mode="none")
        assert rel_err(none, a) > 1e-3                      # the const noise does something
        torch.manual_seed(7)
        r1 = G.synthesis(ws, noise_mode="random")
        torch.manual_seed(7)
        r2 = G.synthesis(ws, noise_mode="random")
        r3 = G.synthesis(ws, noise_mode="random")
        assert torch.equal(r1, r2) and not torch.equal(r1, r3)
    with pytest.raises(ValueError):
        G.synthesis(ws, noise_mode="bogus")


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("train_weights", [False, True])
def test_gradients_fast_equal_reference(batch, train_weights, device):
    # Batch 1 with a frozen generator is inversion: under autograd the fast path modulates the
    # input rather than the weight (no weight gradient to compute) and runs NCHW.
    G = tiny("skip").to(device).requires_grad_(train_weights)
    ws = torch.randn(batch, G.num_ws, 24, generator=torch.Generator().manual_seed(4)).to(device).requires_grad_()
    names = ["synthesis.b32.conv0.weight", "synthesis.b16.conv1.affine.weight", "synthesis.b32.torgb.weight"]
    params = dict(G.named_parameters())
    grads, wgrads = [], []
    for plan in (FAST, REFERENCE):
        ws.grad = None
        G.zero_grad(set_to_none=True)
        img = G.synthesis(ws, noise_mode="const", plan=plan)
        assert img.is_contiguous()
        img.square().mean().backward()
        grads.append(ws.grad.clone())
        if train_weights:
            wgrads.append([params[n].grad.clone() for n in names])
    assert grads[0].abs().sum() > 0
    assert rel_err(grads[0], grads[1]) < 1e-4
    for fast, ref in zip(*wgrads):
        assert ref.abs().sum() > 0
        assert rel_err(fast, ref) < 1e-4


def test_mapping_truncation_cutoff_and_labels():
    G = tiny(c_dim=3)
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(5))
    c = torch.eye(3)[[0, 1, 2, 0]]
    with torch.no_grad():
        w1 = G.mapping(z, c)
        assert w1.shape == (4, G.num_ws, 24)
        assert torch.equal(w1[:, 0], w1[:, -1])                 # one w broadcast to every entry
        w0 = G.mapping(z, c, truncation_psi=0)
        torch.testing.assert_close(w0, G.mapping.w_avg.expand_as(w0))
        wc = G.mapping(z, c, truncation_psi=0.5, truncation_cutoff=3)
        torch.testing.assert_close(wc[:, :3], G.mapping.w_avg + 0.5 * (w1[:, :3] - G.mapping.w_avg))
        torch.testing.assert_close(wc[:, 3:], w1[:, 3:])
        assert not torch.allclose(G.mapping(z, torch.eye(3)[[1, 2, 0, 1]]), w1)   # labels matter
        img = G(z, c, truncation_psi=0.5, truncation_cutoff=3, noise_mode="const")
        torch.testing.assert_close(img, G.synthesis(wc, noise_mode="const"))
    before = G.mapping.w_avg.clone()
    G.mapping(z, c, update_emas=True)
    assert not torch.equal(before, G.mapping.w_avg)


def test_bfloat16_path_psnr():
    G = tiny(res=64)
    ws = G.mapping(torch.randn(2, 16, generator=torch.Generator().manual_seed(6)), None).detach()
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode="const")
        bf = G.synthesis(ws, noise_mode="const", plan=FAST.replace(dtype=torch.bfloat16))
    assert bf.dtype == torch.float32 and bf.shape == ref.shape
    mse = (bf - ref).square().mean().item()
    psnr = 10 * math.log10((ref.max() - ref.min()).item() ** 2 / mse)
    assert 40 <= psnr < 200, psnr                               # reduced precision, but close


def test_conv_flops_counts_layers():
    G = tiny(res=16)
    # b4: 32·32·9·16; b8: 32·32·9·(16+64); b16: 16·32·9·64 + 16·16·9·256; toRGB: 3·C·res² per block.
    macs = (32 * 32 * 9 * 16 + 32 * 32 * 9 * 80 + (32 * 16 * 9 * 64 + 16 * 16 * 9 * 256)
            + 3 * (32 * 16 + 32 * 64 + 16 * 256))
    assert conv_flops(G) == 2 * macs


def test_nv_face_generator_protocol():
    G = tiny()
    fg = NVFaceGenerator(G, name="tiny", device="cpu")
    assert isinstance(fg, FaceGenerator)
    assert (fg.latent_kind, fg.num_ws, fg.w_dim, fg.z_dim, fg.resolution) == ("w+", G.num_ws, 24, 16, 32)
    lat = fg.sample([3, 11])
    assert lat.shape == (2, G.num_ws, 24)
    torch.testing.assert_close(fg.sample([11])[0], lat[1])      # a seed gives the same latent in any batch
    assert not torch.allclose(lat[0], lat[1])
    trunc = fg.sample([3], truncation_psi=0.0)
    torch.testing.assert_close(trunc[0], fg.w_avg)
    assert fg.w_avg.shape == (G.num_ws, 24)
    z = torch.randn(16, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(fg.mapping(z[None]), lat[:1])
    with torch.no_grad():
        img = fg.synthesize(lat)
        torch.testing.assert_close(img, G.synthesis(lat, noise_mode="const"))
        torch.testing.assert_close(fg.synthesize(lat[:, 0]), G.synthesis(lat, noise_mode="const"))
    assert img.shape == (2, 3, 32, 32)
    with pytest.raises(ValueError):
        fg.synthesize(torch.zeros(1, 3, 24))
    # Differentiable w.r.t. the latents (inversion back-propagates through it).
    lat = lat.clone().requires_grad_()
    fg.synthesize(lat).mean().backward()
    assert lat.grad is not None and lat.grad.abs().sum() > 0


def test_nv_face_generator_numpy_seeds_and_bf16():
    import numpy as np

    G = tiny()
    fg = NVFaceGenerator(G, device="cpu", rng="numpy", dtype=torch.bfloat16)
    z = torch.from_numpy(np.random.RandomState(5).randn(1, 16)).float()
    torch.testing.assert_close(fg.sample([5]), G.mapping(z, None))
    with torch.no_grad():
        img = fg.synthesize(fg.sample([5]))
        ref = G.synthesis(fg.sample([5]), noise_mode="const")
    assert img.dtype == torch.float32 and rel_err(img, ref) < 0.05


def test_weight_caches_follow_weight_updates():
    G, G2 = tiny(seed=0), tiny(seed=9)
    ws = torch.randn(1, G.num_ws, 24, generator=torch.Generator().manual_seed(8))
    with torch.inference_mode():
        G.synthesis(ws, noise_mode="const")                      # fills the per-layer caches
    G.load_state_dict(G2.state_dict())
    with torch.inference_mode():
        torch.testing.assert_close(G.synthesis(ws, noise_mode="const"), G2.synthesis(ws, noise_mode="const"))
    with torch.no_grad():
        G.synthesis.b8.conv1.weight.mul_(2)                      # in-place edits too
        G2.synthesis.b8.conv1.weight.mul_(2)
        torch.testing.assert_close(G.synthesis(ws, noise_mode="const"), G2.synthesis(ws, noise_mode="const"))


def test_nv_face_generator_wraps_stylegan3():
    stylegan3 = pytest.importorskip("facereel.nets.stylegan3")
    torch.manual_seed(0)
    G = stylegan3.Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                            mapping_kwargs=dict(num_layers=2), channel_base=256, channel_max=16)
    fg = NVFaceGenerator(G, name="sg3-tiny", device="cpu", dtype=torch.bfloat16)
    assert fg.dtype is None                                  # no bf16 path there: float32, with a warning
    lat = fg.sample([4, 9])
    assert lat.shape == (2, G.num_ws, 16) and fg.w_avg.shape == (G.num_ws, 16)
    with torch.no_grad():
        img = fg.synthesize(lat)
        torch.testing.assert_close(img, G.synthesis(lat))   # SG3 has no noise: const == default
    assert img.shape == (2, 3, 16, 16)
