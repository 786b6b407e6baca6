"""The latent (generative) time-lapse engine: DCGAN end to end, interpolation choice, the aligned
keyframe blend, and the whole ``facereel timelapse --engine latent --method restyle`` pipeline on a
small random StyleGAN2 + ReStyle checkpoint in the official format.

Numerical identity of the encoders and compositions with the official code is what the golden
fixtures prove; these tests prove the plumbing: inversion → cache → interpolation → batched
generation → keyframe blend → video.
"""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from PIL import Image

from facereel.render.engines.base import Keyframe
from tests.helpers.clitext import cli_text as _text

SIZE = 256


def _decode(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def dcgan():
    from facereel.checkpoints.loaders import load_dcgan_digiface

    return load_dcgan_digiface("cpu")


def _dcgan_faces(gen, seeds, size=SIZE):
    """DCGAN faces of known seeds ([N, 64, 64] → uint8 [N, size, size, 3], bicubic upsampling)."""
    with torch.no_grad():
        img = gen.synthesize(gen.sample(seeds))
    arr = ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [np.asarray(Image.fromarray(a).resize((size, size), Image.BICUBIC)) for a in arr]


@pytest.fixture
def latent_cache(tmp_path, monkeypatch):
    """Latent cache in a temporary folder (other caches, e.g. the sample photos, stay where they are)."""
    import facereel.inversion.api as api

    root = tmp_path / "latents"
    root.mkdir()
    monkeypatch.setattr(api, "cache_dir", lambda *parts: root)
    return root


@pytest.fixture
def engines(monkeypatch):
    """Records every engine the pipeline builds (to check which options reached it)."""
    import facereel.render.engines as engines_mod

    made = []
    real = engines_mod.get_engine

    def recording(name, **kwargs):
        eng = real(name, **kwargs)
        made.append(eng)
        return eng

    monkeypatch.setattr(engines_mod, "get_engine", recording)
    return made


# ------------------------------------------------------------------------------------ DCGAN


@pytest.mark.slow
def test_dcgan_latent_timelapse_end_to_end(dcgan, latent_cache, engines, tmp_path, torch_threads):
    """Keyframes = DCGAN faces of seeds 4, 5, 6 at 256 px; the latent engine inverts them (Z, slerp)
    and the pipeline writes an MP4 whose keyframes sit at their schedule positions."""
    from facereel.pipelines.timelapse import render_timelapse

    seeds = [4, 5, 6]   # faces dlib's HOG detector finds at 256 px (for the identity curve)
    faces = _dcgan_faces(dcgan, seeds)
    kfs = [Keyframe(image=f, label=f"seed{s}") for f, s in zip(faces, seeds)]
    out = tmp_path / "dcgan.mp4"
    res = render_timelapse(kfs, out, engine="latent", frames_per_gap=4, size=SIZE, fps=12, generator=dcgan,
                           latent={"steps": 40, "restarts": 2, "blend": "seed"})
    assert res.frames == 9 and res.keyframe_indices == [0, 4, 8] and res.engine == "latent"
    (eng,) = engines
    assert eng.interpolation == "slerp"                      # the default for Z latents
    assert eng.latents.shape == (3, dcgan.z_dim)
    assert len(list(latent_cache.iterdir())) == 3             # one cached latent per keyframe

    video = _decode(out)
    assert len(video) == 9 and video[0].shape == (SIZE, SIZE, 3)

    # the inverted latents reconstruct their own keyframe better than the neighbouring ones
    with torch.no_grad():
        rec = eng._to_uint8(dcgan.synthesize(eng.latents))
    err = np.array([[np.mean((r.astype(float) - f.astype(float)) ** 2) for f in faces] for r in rec])
    assert np.all(np.argmin(err, axis=1) == np.arange(3)), err

    # in-between frames follow the latent path: the midpoint of gap 0 is the generated slerp midpoint
    # plus the seed blend (weight 0 at λ = 0.5), so it matches the generator's image (up to H.264)
    mid = eng.frames([(0, 0.5)])[0]
    assert np.mean(np.abs(video[2].astype(float) - mid.astype(float))) < 6.0
    assert not np.array_equal(mid, faces[0]) and not np.array_equal(mid, faces[1])

    # the identity curve (the seed's Fig. 5.6): dlib descriptor similarity to the nearest keyframe
    from facereel.metrics.identity import identity_curve, observe_face, observe_faces

    obs = observe_faces(video, descriptor=True, landmarks=None)
    key_desc = [observe_face(f, landmarks=None).descriptor for f in faces]
    assert all(d is not None for d in key_desc)              # seeds chosen so dlib finds each face
    curve = identity_curve([o.descriptor for o in obs], res.keyframe_indices, key_desc)
    sims = curve["similarity"]
    print("DCGAN latent time-lapse identity curve:", [None if v is None else round(v, 3) for v in sims])
    assert len(sims) == 9
    for i in res.keyframe_indices:                          # the keyframes themselves, through H.264
        assert sims[i] is not None and sims[i] > 0.8, sims
    between = [v for i, v in enumerate(sims) if i not in res.keyframe_indices]
    assert sum(v is not None for v in between) >= 4, sims   # generated in-between frames are faces
    assert curve["in_between_mean"] is not None and curve["in_between_mean"] > 0.0


def test_interpolation_choice_reaches_the_engine(dcgan, latent_cache, torch_threads):
    """Slerp is the default for Z, the C1 spline for W+; an explicit choice is what frames use."""
    from facereel.latent.interpolate import path
    from facereel.nets.adapters import NVFaceGenerator
    from facereel.nets.stylegan2 import Generator
    from facereel.options.latent import LatentOptions
    from facereel.pipelines.invert import load_inverter

    def get_engine(name, generator, **fields):  # what the pipeline builds for the latent engine
        from facereel.render.engines import get_engine as real

        opts = LatentOptions(**fields).validate()
        inv = load_inverter(opts, generator)
        return real(name, options=opts, generator=inv.generator,
                    invert=lambda keys, progress=None: inv([k.image for k in keys], progress))

    faces = _dcgan_faces(dcgan, [1, 2, 3], size=64)
    kfs = [Keyframe(image=f) for f in faces]

    torch.manual_seed(0)
    G = Generator(z_dim=16, c_dim=0, w_dim=24, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
                  channel_base=256, channel_max=32, num_fp16_res=0)
    sg = NVFaceGenerator(G, name="tiny-sg2", device="cpu")
    for gen, default in ((dcgan, "slerp"), (sg, "spline")):
        eng = get_engine("latent", generator=gen, steps=2, restarts=1, blend="seed")
        eng.prepare(kfs)
        assert eng.interpolation == default
    for choice in ("linear", "slerp", "spline"):
        eng = get_engine("latent", generator=sg, steps=2, interpolation=choice, blend="seed")
        eng.prepare(kfs)                                    # same settings: latents from the cache
        assert eng.interpolation == choice
        pos = [(0, 0.3), (1, 0.6)]
        with torch.no_grad():
            want = eng._to_uint8(sg.synthesize(path(eng.latents, pos, choice)))
        assert all(np.array_equal(a, b) for a, b in zip(eng.frames(pos), want))
    # the three paths differ between the keyframes (spline is not linear with 3 keyframes)
    lin, spl = (path(eng.latents, [(0, 0.3)], m) for m in ("linear", "spline"))
    assert not torch.allclose(lin, spl)
    with pytest.raises(ValueError, match="^interpolation: unknown value 'cubic'"):
        get_engine("latent", sg, interpolation="cubic")


def test_aligned_blend_warps_the_keyframe_onto_the_frame(samples):
    """blend='aligned' returns the keyframe warped so its landmarks land on the generated frame's."""
    import cv2

    from facereel.faces.io import load_image
    from facereel.faces.landmarks import landmarks_mediapipe
    from facereel.options.latent import LatentOptions
    from facereel.render.engines.latent import LatentEngine

    photo = load_image(samples / "obama.jpg").rgb
    pts = landmarks_mediapipe(photo).points
    c, half = pts.mean(0), 0.9 * np.ptp(pts, axis=0).max()
    x0, y0 = (c - half).astype(int)
    crop = cv2.resize(photo[y0:y0 + int(2 * half), x0:x0 + int(2 * half)], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    key_lm = landmarks_mediapipe(crop)
    assert key_lm is not None
    # the "generated frame": the same face, smaller and shifted (a differently placed face)
    m = np.array([[0.85, 0.0, 30.0], [0.0, 0.85, 12.0]])
    frame = cv2.warpAffine(crop, m, (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
    frame_lm = landmarks_mediapipe(frame).points

    kf = Keyframe(image=crop, landmarks=key_lm.points)
    seed = LatentEngine(LatentOptions(blend="seed"))
    seed.keyframes = [kf]
    assert seed.blend_source(0, frame) is kf.image
    aligned = LatentEngine(LatentOptions(blend="aligned"))
    aligned.keyframes = [kf]
    warped = aligned.blend_source(0, frame)
    assert warped.shape == crop.shape and warped.dtype == np.uint8
    before = np.linalg.norm(key_lm.points - frame_lm, axis=1).mean()
    after = np.linalg.norm(landmarks_mediapipe(warped).points - frame_lm, axis=1).mean()
    assert before > 10 and after < 0.25 * before, (before, after)
    # no landmarks on the frame (e.g. noise): the keyframe as is
    noise = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    assert aligned.blend_source(0, noise) is kf.image


# ------------------------------------------------------------------ ReStyle, whole CLI pipeline


@pytest.fixture(scope="module")
def restyle_pt(tmp_path_factory):
    """ReStyle-pSp over a 64 px rosinality StyleGAN2 (10 styles), seeded random weights, saved in the
    official ``{'state_dict': {encoder.*, decoder.*}, 'latent_avg', 'opts'}`` layout."""
    from facereel.nets.encoders import BackboneEncoder
    from facereel.nets.rosinality import Generator

    torch.manual_seed(6)
    dec = Generator(64, 512, 2, channel_multiplier=1)
    enc = BackboneEncoder(50, "ir_se", n_styles=dec.n_latent, input_nc=6)
    with torch.no_grad():  # small residuals so the loop stays near the average face
        for head in enc.modules():
            if isinstance(head, torch.nn.Linear):
                head.weight.mul_(0.01)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        latent_avg = dec.mean_latent(512)[0].expand(dec.n_latent, -1).clone()   # [10, 512]
    state = {**{f"encoder.{k}": v for k, v in enc.state_dict().items()},
             **{f"decoder.{k}": v for k, v in dec.state_dict().items()}}
    opts = {"encoder_type": "BackboneEncoder", "input_nc": 6, "output_size": 64, "n_iters_per_batch": 2,
            "start_from_latent_avg": True, "dataset_type": "ffhq_encode"}
    path = tmp_path_factory.mktemp("restyle") / "restyle_psp_tiny.pt"
    torch.save({"state_dict": state, "latent_avg": latent_avg, "opts": opts}, path)
    return path


@pytest.fixture(scope="module")
def face_manifest(tmp_path_factory):
    """A manifest of three 256 px face images (DCGAN faces of known seeds) whose quads are the whole image."""
    from facereel.checkpoints.loaders import load_dcgan_digiface
    from facereel.manifest import Manifest, PhotoEntry, save_manifest

    d = tmp_path_factory.mktemp("faces")
    entries = []
    for i, face in enumerate(_dcgan_faces(load_dcgan_digiface("cpu"), [21, 22, 23])):
        p = d / f"face{i}.png"
        Image.fromarray(face).save(p)
        entries.append(PhotoEntry(path=str(p), chosen=0, faces=[{"box": [0, 0, SIZE - 1, SIZE - 1]}], order=i,
                                  quad=[[0, 0], [0, SIZE], [SIZE, SIZE], [SIZE, 0]], width=SIZE, height=SIZE))
    return save_manifest(Manifest(photos=entries), d / "manifest.json")


@pytest.mark.slow
def test_cli_restyle_timelapse_caches_and_blends(restyle_pt, face_manifest, latent_cache, engines, tmp_path,
                                                 monkeypatch, torch_threads):
    from typer.testing import CliRunner

    import facereel.inversion.api as api
    from facereel.cli import app

    runs = []
    real_run = api._run
    monkeypatch.setattr(api, "_run", lambda batch, *a, **k: runs.append(len(batch)) or real_run(batch, *a, **k))

    base = ["timelapse", str(face_manifest), "--engine", "latent", "--method", "restyle", "--encoder", str(restyle_pt),
            "--size", str(SIZE), "--fps", "8"]
    out1 = tmp_path / "seed.mp4"
    r = CliRunner().invoke(app, [*base, "-o", str(out1), "--frames", "3", "--blend", "seed"])
    assert r.exit_code == 0, _text(r)
    assert runs == [3]                                      # three keyframes inverted in one batch
    assert len(list(latent_cache.iterdir())) == 3
    eng = engines[-1]
    assert eng.options.method == "restyle" and eng.blend == "seed" and eng.interpolation == "spline"   # W+ default
    assert eng.generator.num_ws == 10 and eng.generator.resolution == 64
    assert eng.latents.shape == (3, 10, 512)
    v1 = _decode(out1)
    assert len(v1) == 2 * 3 + 1 and v1[0].shape == (SIZE, SIZE, 3)

    # other render settings (frames, blend, interpolation): the latents come from the cache
    out2 = tmp_path / "aligned.mp4"
    r = CliRunner().invoke(app, [*base, "-o", str(out2), "--frames", "4", "--blend", "aligned",
                                 "--interpolation", "linear"])
    assert r.exit_code == 0, _text(r)
    assert runs == [3]                                      # no second inversion
    eng2 = engines[-1]
    assert eng2.blend == "aligned" and eng2.interpolation == "linear"
    assert torch.equal(eng2.latents, eng.latents)
    v2 = _decode(out2)
    assert len(v2) == 2 * 4 + 1
    # frames between keyframes come from the decoder: the midpoint frame is the generated one
    # (blend weight 0 at λ = 0.5), identical whichever blend
    mid = eng2.frames([(0, 0.5)])[0]
    assert np.mean(np.abs(v2[2].astype(float) - mid.astype(float))) < 6.0

    # --steps only concerns optimisation: not part of a ReStyle inversion's cache key
    r = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "x.mp4"), "--frames", "2", "--steps", "5"])
    assert r.exit_code == 0, _text(r)
    assert runs == [3]


def test_cli_latent_errors(tmp_path, monkeypatch, face_manifest):
    from typer.testing import CliRunner

    from facereel.cli import app

    monkeypatch.setenv("FACEREEL_HOME", str(tmp_path / "home"))
    base = ["timelapse", str(face_manifest), "-o", str(tmp_path / "t.mp4"), "--size", str(SIZE), "--frames", "2"]
    r = CliRunner().invoke(app, [*base, "--engine", "latent", "--method", "psp"])
    text = _text(r)
    assert r.exit_code != 0 and "Traceback" not in text
    assert "facereel weights download psp_ffhq_encode" in text
    r = CliRunner().invoke(app, [*base, "--engine", "latent", "--method", "restyle", "--encoder",
                                 str(tmp_path / "missing.pt")])
    assert r.exit_code != 0 and "not found" in _text(r)
    r = CliRunner().invoke(app, [*base, "--engine", "latent", "--interpolation", "cubic"])
    assert r.exit_code != 0 and "--interpolation" in _text(r)
    r = CliRunner().invoke(app, [*base, "--engine", "morph", "--method", "restyle"])
    assert r.exit_code != 0 and "only apply to --engine latent" in _text(r)
    assert not (tmp_path / "t.mp4").exists()
