"""Training on CPU with small seeded networks of the real classes: data pipeline, pair sampling,
every loss wired to the trained parameters only, Ranger, the loss going down, exact resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facereel.options.reenact import ReenactTrainOptions

TERMS = ("l2", "lpips", "id", "cosface", "l2_crop", "lpips_crop")


def _write_clip(path, image, seconds=2.0, fps=5, drift=6):
    import av
    from PIL import Image

    img = Image.fromarray(image)
    side = min(img.size)
    img = img.crop(((img.width - side) // 2, 0, (img.width - side) // 2 + side, side)).resize((320, 320))
    base = np.asarray(img)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 320, 320, "yuv420p"
        for i in range(int(seconds * fps)):
            dx = int(round(drift * np.sin(i / 3)))
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(base, dx, axis=1)), format="rgb24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def tiny_identity_encoder():
    """A small seeded E_i of the real ReStyle-pSp class (one refinement step from a zero latent)."""
    from facereel.nets.encoders import BackboneEncoder

    torch.manual_seed(1)
    enc = BackboneEncoder(50, "ir_se", n_styles=4, input_nc=6).eval()

    def encode(crops):
        x = torch.stack([torch.from_numpy(np.array(c)).permute(2, 0, 1).float() / 127.5 - 1 for c in crops])
        with torch.no_grad():
            return enc(torch.cat([x, x], 1)).numpy()

    return encode


def tiny_net(seed=0):
    from facereel.nets.pet import MotionEncoder, PoseExpressionTransfer
    from facereel.nets.rosinality import Generator

    torch.manual_seed(seed)
    G = Generator(8, 512, 1, channel_multiplier=1)                       # 4 styles
    enc = MotionEncoder(50, "ir_se", 3, n_styles=4, stage_units=(1, 1, 1, 1))
    return PoseExpressionTransfer(8, decoder=G, encoder=enc, mapping_init="none", pool_size=64)


def tiny_frozen():
    from facereel.nets.encoders import Backbone
    from facereel.nets.lpips import LPIPS

    torch.manual_seed(2)
    facenet = Backbone(112, 50, "ir_se", drop_ratio=0.6)
    lp = LPIPS("alex")
    with torch.no_grad():
        for p in lp.lin.parameters():
            p.abs_()                                     # LPIPS' linear weights are non-negative
    return facenet, lp


OPTS = dict(image_size=64, frames_per_clip=4, batch_size=2, board_interval=1, save_interval=1000, lr=1e-4)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory, samples):
    from facereel.faces.io import load_image
    from facereel.reenact.train.data import build_dataset

    root = tmp_path_factory.mktemp("clips")
    for i, name in enumerate(("obama.jpg", "biden.jpg", "obama2.jpg")):
        (root / f"id{i}").mkdir()
        _write_clip(root / f"id{i}" / "clip.mp4", load_image(samples / name).rgb)
    (root / "notes.txt").write_text("not a clip")
    cache = tmp_path_factory.mktemp("cache")
    ts = build_dataset(root, cache, ReenactTrainOptions(**OPTS).validate(), identity_encoder=tiny_identity_encoder())
    return root, cache, ts


def test_dataset_pipeline(tiny_set):
    from facereel.reenact.train.data import build_dataset, sample_times

    root, cache, ts = tiny_set
    assert sample_times(2.0, 0.5, 10) == [0.0, 0.5, 1.0, 1.5]
    assert len(ts.clips) == 3 and all(len(c.frames) == 4 for c in ts.clips)
    lat = np.load(cache / ts.clips[0].latents)
    assert lat.shape == (4, 4, 512)
    from PIL import Image

    assert Image.open(cache / ts.clips[0].frames[0]).size == (64, 64)
    index = json.loads((cache / "index.json").read_text())
    assert index["settings"]["frame_interval"] == 0.5
    # a second build reuses the cache (no encoder call needed)
    calls = []
    again = build_dataset(root, cache, ReenactTrainOptions(**OPTS).validate(),
                          identity_encoder=lambda crops: calls.append(1))
    assert not calls and [c.frames for c in again.clips] == [c.frames for c in ts.clips]


def test_pairs_same_and_cross_identity(tiny_set):
    from facereel.reenact.train.data import PairSampler

    _, _, ts = tiny_set
    s = PairSampler(ts, seed=3)
    state = s.state_dict()
    b = s.batch(5)
    assert b["x"].shape == (5, 3, 64, 64) and b["restyle_latent"].shape == (5, 4, 512)
    assert float(b["x"].min()) >= -1 and float(b["x"].max()) <= 1
    s.load_state_dict(state)
    b2 = s.batch(5)
    assert all(torch.equal(b[k], b2[k]) for k in b)
    # the cross code comes from another clip than the source frame's
    codes = [np.load(ts.root / c.latents) for c in ts.clips]
    for i in range(5):
        src = [ci for ci, c in enumerate(codes) if any(np.array_equal(b["restyle_latent"][i].numpy(), r) for r in c)]
        crs = [ci for ci, c in enumerate(codes) if any(np.array_equal(b["restyle_latent1"][i].numpy(), r) for r in c)]
        assert src and crs and set(src).isdisjoint(crs)


@pytest.mark.parametrize("term", TERMS)
def test_each_loss_reaches_the_trained_parameters_only(tiny_set, tmp_path, term):
    from facereel.reenact.train.data import PairSampler
    from facereel.reenact.train.trainer import Trainer

    _, _, ts = tiny_set
    weights = {t: (1.0 if t == term else 0.0) for t in TERMS}
    facenet, lp = tiny_frozen()
    tr = Trainer(tiny_net(), PairSampler(ts, 0), ReenactTrainOptions(**OPTS, **weights), tmp_path,
                 facenet=facenet, lpips=lp)
    tr.net.train()
    total, terms = tr.losses(tr.sampler.batch(2))
    assert set(terms) == {term} and torch.isfinite(total)
    total.backward()
    for part in ("encoder", "mapping_net"):
        grads = [p.grad for p in getattr(tr.net, part).parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), (term, part)
    for frozen in (tr.net.decoder, facenet, lp):
        assert all(p.grad is None for p in frozen.parameters()), term
        assert not any(p.requires_grad for p in frozen.parameters())


def test_ranger_matches_its_equations():
    from facereel.reenact.train.ranger import Ranger

    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(3, 4))
    opt = Ranger([p], lr=0.1, k=2, alpha=0.5)
    p0 = p.detach().clone()
    g1 = torch.randn(3, 4)
    p.grad = g1.clone()
    opt.step()
    gc = g1 - g1.mean(1, keepdim=True)               # gradient centralisation
    m = 0.05 * gc                                    # (1 - b1) g
    assert torch.allclose(p, p0 - 0.1 / (1 - 0.95) * m, atol=1e-6)   # rho_1 < 5: un-rectified step
    fast1 = p.detach().clone()
    p.grad = torch.randn(3, 4)
    opt.step()                                       # step 2 = k: lookahead pulls half way back
    g2 = p.grad - p.grad.mean(1, keepdim=True)
    m2 = 0.95 * m + 0.05 * g2
    fast2 = fast1 - 0.1 / (1 - 0.95 ** 2) * m2
    assert torch.allclose(p, p0 + 0.5 * (fast2 - p0), atol=1e-6)


@pytest.mark.slow
def test_tiny_run_decreases_the_loss_and_resumes_exactly(tiny_set, tmp_path):
    from facereel.reenact.network import load_transfer_network
    from facereel.reenact.train.data import PairSampler
    from facereel.reenact.train.trainer import Trainer

    _, _, ts = tiny_set
    facenet, lp = tiny_frozen()
    opts = ReenactTrainOptions(**{**OPTS, "lr": 1e-3, "max_steps": 1000})
    tr = Trainer(tiny_net(), PairSampler(ts, 0), opts, tmp_path / "a", facenet=facenet, lpips=lp)
    hist = tr.train(steps=16)
    assert np.mean(hist[-4:]) < np.mean(hist[:4]), hist
    lines = [json.loads(ln) for ln in (tmp_path / "a" / "scalars.jsonl").read_text().splitlines()]
    assert {ln["tag"] for ln in lines} >= {"train/loss", "train/loss_id", "train/loss_l2_crop"}
    # the official layout written next to the training state loads as a learned-method checkpoint
    net = load_transfer_network(tmp_path / "a" / "checkpoints" / "best_model.pt")
    assert torch.equal(net.mapping_net.linear_relu[0].weight, tr.net.mapping_net.linear_relu[0].weight)

    straight = Trainer(tiny_net(), PairSampler(ts, 0), opts, tmp_path / "b", facenet=facenet, lpips=lp)
    straight.train(steps=4)
    first = Trainer(tiny_net(), PairSampler(ts, 0), opts, tmp_path / "c", facenet=facenet, lpips=lp)
    first.train(steps=2)
    resumed = Trainer(tiny_net(), PairSampler(ts, 0), opts, tmp_path / "c", facenet=facenet, lpips=lp)
    assert resumed.resume() == 2
    resumed.train(steps=2)
    for a, b in zip(straight.net.state_dict().values(), resumed.net.state_dict().values()):
        assert torch.equal(a, b)
    sa = [json.loads(ln)["value"] for ln in (tmp_path / "b" / "scalars.jsonl").read_text().splitlines()]
    sc = [json.loads(ln)["value"] for ln in (tmp_path / "c" / "scalars.jsonl").read_text().splitlines()]
    assert sa == sc
