"""Walks: the C¹ spline, reproducibility, speed normalisation, loops, coarse/fine mixing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facereel.latent import walk as Wk


def test_catmull_rom_passes_keys_and_is_c1():
    rng = np.random.default_rng(0)
    keys = rng.standard_normal((5, 3))
    np.testing.assert_allclose(Wk.catmull_rom(keys, np.arange(5.0)), keys, atol=1e-12)
    h = 1e-6
    for k in (1.0, 2.0, 3.0):   # one-sided derivatives agree at interior keys
        left = (Wk.catmull_rom(keys, [k])[0] - Wk.catmull_rom(keys, [k - h])[0]) / h
        right = (Wk.catmull_rom(keys, [k + h])[0] - Wk.catmull_rom(keys, [k])[0]) / h
        np.testing.assert_allclose(left, right, atol=1e-4)
    closed = Wk.catmull_rom(keys, np.array([0.0, 5.0, 2.5, 7.5]), closed=True)
    np.testing.assert_allclose(closed[0], closed[1], atol=1e-12)   # wraps
    np.testing.assert_allclose(closed[2], closed[3], atol=1e-12)
    left = (keys[0] - Wk.catmull_rom(keys, [5 - h], closed=True)[0]) / h
    right = (Wk.catmull_rom(keys, [h], closed=True)[0] - keys[0]) / h
    np.testing.assert_allclose(left, right, atol=1e-4)


@pytest.fixture(scope="module")
def dcgan():
    from facereel.checkpoints.loaders import load_dcgan_digiface

    return load_dcgan_digiface()


def _frames(G, plan):
    return torch.cat(list(Wk.render_frames(G, plan, batch=16))).numpy()


def _cv(frames):
    d = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    return float(d.std() / d.mean()), d


def test_walk_reproducible_and_even(dcgan):
    a = Wk.plan_walk(dcgan, "random", seed=4, frames=40, keypoints=4, pilot=24)
    b = Wk.plan_walk(dcgan, "random", seed=4, frames=40, keypoints=4, pilot=24)
    np.testing.assert_array_equal(a.times, b.times)
    fa = _frames(dcgan, a)
    np.testing.assert_array_equal(fa, _frames(dcgan, b))
    plain = Wk.plan_walk(dcgan, "random", seed=4, frames=40, keypoints=4, even=False)
    cv_even, _ = _cv(fa)
    cv_plain, _ = _cv(_frames(dcgan, plain))
    assert cv_even < cv_plain, (cv_even, cv_plain)
    # endpoints are the first and last keypoints
    assert a.times[0] == 0 and a.times[-1] == pytest.approx(3)
    c = Wk.plan_walk(dcgan, "random", seed=5, frames=40, keypoints=4, even=False)
    assert np.abs(_frames(dcgan, c) - _frames(dcgan, plain)).max() > 0.1


def test_loop_closes(dcgan):
    plan = Wk.plan_walk(dcgan, "loop", seed=2, frames=48, pilot=24)
    f = _frames(dcgan, plan)
    _, d = _cv(f)
    wrap = np.abs(f[0] - f[-1]).mean()
    assert wrap < 3 * d.mean()
    # the z great circle keeps the norm of z
    z = plan.latents(plan.times).numpy()
    norms = np.linalg.norm(z, axis=1)
    assert np.ptp(norms) < 1e-3 * norms.mean()
    w = Wk.plan_walk(dcgan, "loop", seed=2, frames=24, loop_space="w", even=False)
    assert w.info["loop_space"] == "w"


def test_coarse_fine_need_layers(dcgan):
    with pytest.raises(Wk.WalkError, match="z space"):
        Wk.plan_walk(dcgan, "coarse", frames=8)
    with pytest.raises(Wk.WalkError, match="unknown walk"):
        Wk.plan_walk(dcgan, "spiral", frames=8)


def test_coarse_walk_keeps_the_source_fine_layers():
    from tests.helpers.latent import tiny_nv

    G = tiny_nv()
    plan = Wk.plan_walk(G, "coarse", seed=1, frames=6, keypoints=3, even=False)
    lat = plan.latents(plan.times)
    src = G.sample([plan.info["source_seed"]])
    torch.testing.assert_close(lat[:, 4:], src[:, 4:].expand(6, -1, -1), rtol=0, atol=0)
    assert (lat[:, :4] - src[:, :4]).abs().max() > 1e-3
    with pytest.raises(Exception, match="selects no layer"):   # 32 px: no 64² styles to walk
        Wk.plan_walk(G, "fine", seed=1, frames=6, keypoints=3, even=False)


@pytest.mark.parametrize("loop_space,seed", [("z", 0), ("z", 7), ("w", 2)])
def test_loop_seam_is_an_ordinary_step(dcgan, loop_space, seed):
    """The wrap (last frame -> first) changes the image like any other step: not a jump, not a
    repeated frame."""
    plan = Wk.plan_walk(dcgan, "loop", seed=seed, frames=48, loop_space=loop_space)
    f = _frames(dcgan, plan)
    _, d = _cv(f)
    seam = float(np.abs(f[0] - f[-1]).mean())
    assert abs(seam - d.mean()) <= 3 * d.std(), (seam, d.mean(), d.std())
    assert 0.5 * d.min() <= seam <= 1.1 * d.max(), (seam, d.min(), d.max())


def test_loop_video_seam(tmp_path):
    """Same on the written MP4 (decoded uint8 frames), as a player wraps it."""
    from facereel.metrics.video_io import read_frames
    from facereel.options.walk import WalkOptions
    from facereel.pipelines.latent import render_walk

    out = tmp_path / "loop.mp4"
    r = render_walk(WalkOptions(mode="loop", seed=3, frames=40, output=str(out), device="cpu").validate())
    f = np.stack(list(read_frames(out))).astype(np.float32)
    assert r["frames"] == len(f) == 40
    d = np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3))
    seam = float(np.abs(f[0] - f[-1]).mean())
    assert abs(seam - d.mean()) <= 3 * d.std() and seam <= 1.1 * d.max(), (seam, d.mean(), d.std(), d.max())
    assert seam >= 0.5 * d.min()


def test_stylegan2_preview_is_the_skip_image_of_the_blocks_up_to_it():
    """SynthesisNetwork.preview(ws, r) = the output of the same network cut after block r (its
    blocks' weights in a generator of resolution r); at the full resolution, the image itself."""
    from facereel.nets.adapters import NVFaceGenerator
    from tests.helpers.nets import tiny

    G = NVFaceGenerator(tiny(res=128), name="t128", device="cpu")
    cut = tiny(res=32)
    cut.synthesis.load_state_dict({k: v for k, v in G.G.synthesis.state_dict().items()
                                   if k.split(".")[0] in ("b4", "b8", "b16", "b32")}, strict=True)
    ws = G.sample([1, 2, 3])
    with torch.inference_mode():
        small = G.preview(ws, 32)
        torch.testing.assert_close(small, cut.synthesis(ws[:, :cut.num_ws], noise_mode="const"), rtol=0, atol=1e-5)
        torch.testing.assert_close(G.preview(ws, 128), G.synthesize(ws), rtol=0, atol=1e-4)
    assert NVFaceGenerator(tiny(architecture="resnet", res=64), device="cpu").preview(ws[:, :10], 32) is None


def test_rosinality_preview_fast_equals_reference():
    from facereel.nets.plan import REFERENCE
    from facereel.nets.rosinality import Generator, RosinalityFaceGenerator

    torch.manual_seed(0)
    G = RosinalityFaceGenerator(Generator(128, 24, 2, channel_multiplier=1).eval(), name="r128", device="cpu")
    ws = G.sample([1, 2])
    with torch.inference_mode():
        fast = G.preview(ws, 32)
        assert fast.shape == (2, 3, 32, 32)
        torch.testing.assert_close(fast, G.G.preview(ws, 32, plan=REFERENCE), rtol=0, atol=1e-4)
        torch.testing.assert_close(G.preview(ws, 128), G.synthesize(ws), rtol=0, atol=1e-4)


def test_stylegan2_pilot_renders_small_and_evens_the_walk():
    """The walk's pilot uses the generator's 64 px preview, never a full synthesis, and still
    evens out the per-frame change of the video."""
    from facereel.nets.adapters import NVFaceGenerator
    from tests.helpers.nets import tiny

    G = NVFaceGenerator(tiny(res=128), name="t128", device="cpu")
    calls = []
    full = G.synthesize
    G.synthesize = lambda lat: calls.append(lat.shape[0]) or full(lat)
    even = Wk.plan_walk(G, "random", seed=1, frames=48, keypoints=4)
    assert not calls
    G.synthesize = full
    plain = Wk.plan_walk(G, "random", seed=1, frames=48, keypoints=4, even=False)
    cv_even, _ = _cv(_frames(G, even))
    cv_plain, _ = _cv(_frames(G, plain))
    assert cv_even < cv_plain, (cv_even, cv_plain)


def test_frames_in_streams_are_the_serial_frames(dcgan):
    from facereel.latent import edit as E
    from facereel.latent.space import to_uint8

    plan = Wk.plan_walk(dcgan, "random", seed=2, frames=21, keypoints=3, pilot=6, batch=4)
    serial = [to_uint8(x) for x in Wk.render_frames(dcgan, plan, batch=4, streams=1)]
    streamed = list(Wk.render_frames(dcgan, plan, batch=4, convert=to_uint8, streams=2))
    assert [len(x) for x in streamed] == [4, 4, 4, 4, 4, 1]
    np.testing.assert_array_equal(np.concatenate(streamed), np.concatenate(serial))
    lat = dcgan.sample(list(range(9)))
    np.testing.assert_array_equal(torch.cat(list(E.synthesize_batches(dcgan, lat, 4, streams=3))),
                                  torch.cat(list(E.synthesize_batches(dcgan, lat, 4, streams=1))))
    # the default: two streams on a CPU with 2+ intra-op threads, one where they would not pay
    if torch.get_num_threads() >= 2:
        from facereel.nets import concurrent

        assert E.synthesis_streams(dcgan) == (2 if concurrent.single_thread_available() else 1)
    assert E.synthesis_streams(dcgan, 3) == 3

    class Big:
        device, resolution = torch.device("cpu"), 1024
    assert E.synthesis_streams(Big()) == 1
