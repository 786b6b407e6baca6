"""SAM: the age channel as the official AgeTransformer builds it, the wrapper's arithmetic, the
safe reader (official layout, strict parts, clear refusals) on tiny seeded networks of the real classes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facereel.checkpoints.errors import CheckpointError
from facereel.checkpoints.sam import load_sam, read_sam_checkpoint, resolve_sam
from facereel.nets.plan import FAST, REFERENCE
from facereel.nets.sam import age_channel, age_value
from tests.helpers.golden import GOLDEN_DIR
from tests.helpers.sam import make_sam, write_sam_checkpoint

SAM_FIXTURE = GOLDEN_DIR / "sam" / "sam_composition_out64.npz"


def test_age_channel_rebuilds_the_fixture_input_bit_for_bit():
    with np.load(SAM_FIXTURE) as z:
        meta = json.loads(z["meta"].item())
        x, x_rgb = np.array(z["in/x"]), np.array(z["in/x_rgb"])
    got = age_channel(torch.from_numpy(x_rgb), meta["target_ages"]).numpy()
    assert got.dtype == np.float32 and got.shape == x.shape
    assert np.array_equal(got, x)
    assert [float(np.float32(age_value(a))) for a in meta["target_ages"]] == \
        [float(np.float32(v)) for v in meta["age_channel_values"]]
    assert age_value("20") == 0.2 and age_value(70) == 0.7 and age_value(100) == 1.0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    net = make_sam(16, seed=3)
    path = write_sam_checkpoint(tmp_path_factory.mktemp("sam") / "sam.pt", net=net)
    return net, path


def test_wrapper_adds_the_residual_to_the_pretrained_code(tiny, torch_threads):
    net, _ = tiny
    g = torch.Generator().manual_seed(0)
    x_rgb = torch.rand(2, 3, 256, 256, generator=g) * 2 - 1
    x = age_channel(x_rgb, [10, 80])
    with torch.no_grad():
        # the official arithmetic, exactly, under the reference plan
        img, lat = net(x, resize=False, randomize_noise=False, return_latents=True, plan=REFERENCE)
        want = net.encoder(x, REFERENCE) + (net.pretrained_encoder(x_rgb, REFERENCE) + net.latent_avg)
        assert torch.equal(lat, want)
        # the default fast plan (encoders as concurrent branches) to float rounding
        _, fast = net(x, resize=False, randomize_noise=False, return_latents=True)
        torch.testing.assert_close(fast, want, rtol=1e-5, atol=1e-5)
        assert img.shape == (2, 3, 16, 16)
        assert net(x, randomize_noise=False).shape == (2, 3, 256, 256)          # face_pool
        # one photo at many ages: the age-free part once, same codes as the official forward per age
        codes = net.age_codes(x_rgb[:1], [10, 80])
        ref = torch.cat([net.encode(age_channel(x_rgb[:1], [a])) for a in (10, 80)])
    torch.testing.assert_close(codes, ref, rtol=1e-5, atol=1e-5)
    assert (codes[0] - codes[1]).abs().max() > 1e-5        # the age channel changes the code


def test_checkpoint_loads_strictly_and_reproduces_the_network(tiny, torch_threads):
    net, path = tiny
    ck = read_sam_checkpoint(path)
    assert set(ck) >= {"encoder", "decoder", "pretrained_encoder", "latent_avg", "opts"}
    assert not any(k.startswith("pretrained") for k in ck["encoder"])      # get_keys' prefix rule
    loaded = load_sam(path, "cpu")
    assert loaded.start_from_encoded_w_plus and loaded.resolution == 16 and loaded.n_styles == 6
    x = age_channel(torch.zeros(1, 3, 256, 256), [42])
    with torch.no_grad():
        a = net(x, resize=False, randomize_noise=False)
        b = loaded(x, resize=False, randomize_noise=False)   # fused encoders, decoder fast path
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)


def test_refusals_are_one_clear_line(tiny, tmp_path, monkeypatch):
    _, path = tiny
    ck = torch.load(path, weights_only=True)
    sd = ck["state_dict"]

    def refused(obj, *words):
        p = tmp_path / "bad.pt"
        torch.save(obj, p)
        with pytest.raises(CheckpointError) as e:
            load_sam(p)
        msg = str(e.value)
        assert "\n" not in msg and all(w in msg for w in words), msg

    psp = {k: v for k, v in sd.items() if not k.startswith("pretrained_encoder.")}
    psp["encoder.input_layer.0.weight"] = psp["encoder.input_layer.0.weight"][:, :3].clone()
    refused({**ck, "state_dict": psp}, "reads 3 channels")
    refused({**ck, "state_dict": {k: v for k, v in sd.items() if not k.startswith("pretrained_encoder.")}},
            "pretrained_encoder")
    refused({**ck, "state_dict": {**sd, "encoder.extra.weight": torch.zeros(1)}}, "encoder does not match")
    refused({k: v for k, v in ck.items() if k != "latent_avg"}, "latent_avg")
    refused({"g_ema": {}}, "not a SAM checkpoint")
    monkeypatch.setenv("FACEREEL_HOME", str(tmp_path / "home"))
    with pytest.raises(CheckpointError) as e:
        resolve_sam(None)
    assert "facereel weights download sam_ffhq_aging" in str(e.value) and "--weights FILE" in str(e.value)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_age_codes_as_concurrent_branches_equal_the_sequential_and_official_codes(tiny, k, torch_threads,
                                                                                 monkeypatch):
    """The fast plan splits E_psp(x) + K age passes into two branches (E_psp plus the first
    (K-1)//2 ages, the rest); the codes equal the sequential fast path and the official forward."""
    from facereel.nets import concurrent

    net, _ = tiny
    x_rgb = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(k)) * 2 - 1
    ages = [5, 40, 90][:k]
    calls = []
    real = concurrent.run_branches
    monkeypatch.setattr(concurrent, "run_branches", lambda fns: (calls.append(len(fns)), real(fns))[1])
    with torch.inference_mode():
        branched = net.age_codes(x_rgb, ages)
        sequential = net.age_codes(x_rgb, ages, plan=FAST.replace(concurrent_branches=False))
        official = torch.cat([net.encode(age_channel(x_rgb, [a]), plan=REFERENCE) for a in ages])
    assert calls == [2]
    assert branched.shape == (k, net.n_styles, 512)
    torch.testing.assert_close(branched, sequential, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(branched, official, rtol=1e-5, atol=1e-5)


def test_branches_only_without_autograd_and_with_spare_threads(tiny, torch_threads, monkeypatch):
    from facereel.nets import concurrent

    net, _ = tiny
    calls = []
    real = concurrent.run_branches
    monkeypatch.setattr(concurrent, "run_branches", lambda fns: (calls.append(1), real(fns))[1])
    x = age_channel(torch.zeros(1, 3, 256, 256), [30])
    net.encode(x)                                   # grad mode on: one after the other
    with torch.no_grad():
        net.encode(x, plan=REFERENCE)
        torch.set_num_threads(1)
        try:
            net.encode(x)
        finally:
            torch.set_num_threads(2)            # torch_threads is session-wide
        assert not calls
        net.encode(x)
    assert calls == [1]
