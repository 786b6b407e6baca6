"""Issue 16 on the real sample photos: any size from 64 to 2048 (128 and 720 rendered), faces smaller
than the output named, a missing input named as missing, the latent cache shared by ``invert`` and
``timelapse``, and the identity warning after a poor inversion (offline DCGAN)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from facereel.samples import SAME_PERSON
from tests.helpers.clitext import cli_text as _text


@pytest.fixture(scope="module")
def manifest_path(tmp_path_factory):
    from facereel.manifest import save_manifest
    from facereel.pipelines.analyze import analyze_collection
    from facereel.samples import sample_path

    m = analyze_collection([sample_path(n) for n in SAME_PERSON], size=128)
    return save_manifest(m, tmp_path_factory.mktemp("sizes") / "manifest.json")


@pytest.mark.parametrize("size", [128, 720])
def test_any_size_renders_with_exact_keyframes(manifest_path, tmp_path, size):
    from facereel.manifest import load_manifest
    from facereel.pipelines.analyze import aligned_crop
    from facereel.pipelines.timelapse import face_side, render_timelapse

    out = tmp_path / "frames"
    r = render_timelapse(manifest_path, out, engine="morph", frames_per_gap=2, size=size, format="frames")
    assert r.size == size and r.frames == 5 and r.keyframe_indices == [0, 2, 4]
    files = sorted(out.iterdir())
    assert len(files) == 5
    kept = load_manifest(manifest_path).ordered()
    for k, i in enumerate(r.keyframe_indices):     # keyframes are the (fast) aligned crops at that size, exactly
        frame = np.asarray(Image.open(files[i]).convert("RGB"))
        assert frame.shape == (size, size, 3)
        assert np.array_equal(frame, aligned_crop(kept[k], size=size, fast=True))
    small = [e.name for e in kept if face_side(e.quad) < size]
    if size == 128:
        assert small == [] and r.warnings == []
    else:                                          # every sample face is 411-523 px across
        assert len(small) == 3
        (w,) = r.warnings
        assert "smaller than the 720 px output" in w and all(n in w for n in small)


def test_cli_size_720_mp4_and_the_manifest_size_default(manifest_path, tmp_path):
    import av

    from facereel.cli import app

    out = tmp_path / "t.mp4"
    r = CliRunner().invoke(app, ["timelapse", str(manifest_path), "-o", str(out), "--size", "720", "--frames", "2",
                                 "--engine", "crossfade"])
    text = _text(r)
    assert r.exit_code == 0, text
    assert "smaller than the 720 px output" in text and "obama.jpg (411 px)" in text
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape == (720, 720, 3)
    # no --size: the size the manifest was analysed for (facereel analyze --size 128)
    r = CliRunner().invoke(app, ["timelapse", str(manifest_path), "-o", str(out), "--frames", "2",
                                 "--engine", "crossfade"])
    assert r.exit_code == 0, _text(r)
    assert "128x128" in _text(r) and "smaller than" not in _text(r)


def test_missing_input_is_named(samples, tmp_path):
    from facereel.cli import app

    missing = tmp_path / "nope.jpg"
    r = CliRunner().invoke(app, ["timelapse", str(samples / SAME_PERSON[0]), str(missing), "-o",
                                 str(tmp_path / "t.mp4")])
    text = _text(r)
    assert r.exit_code == 1 and "Traceback" not in text
    assert f"{missing} does not exist" in text and "at least 2" not in text
    r = CliRunner().invoke(app, ["invert", str(missing), "-o", str(tmp_path / "l.npz")])
    assert r.exit_code == 1 and "nope.jpg: no such file or folder" in _text(r)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.fixture
def latent_cache(tmp_path, monkeypatch):
    import facereel.inversion.api as api

    root = tmp_path / "latents"
    root.mkdir()
    monkeypatch.setattr(api, "cache_dir", lambda *parts: root)
    return root


@pytest.mark.slow
def test_invert_cache_is_reused_by_timelapse_and_poor_identity_is_named(manifest_path, latent_cache, tmp_path,
                                                                        monkeypatch, torch_threads):
    """`invert` then `timelapse --engine latent` on the same photos and generator: no second inversion
    (the inverter sees the same 256 px crops whatever --size), and the DCGAN's reconstructions of
    the Obama photos are named as not the same person (dlib), with a pointer to official weights."""
    import facereel.inversion.api as api
    from facereel.cli import app

    runs = []
    real_run = api._run
    monkeypatch.setattr(api, "_run", lambda batch, *a, **k: runs.append(len(batch)) or real_run(batch, *a, **k))
    r = CliRunner().invoke(app, ["invert", str(manifest_path), "--steps", "5", "-o", str(tmp_path / "l.npz")])
    text = _text(r)
    assert r.exit_code == 0, text
    assert runs == [3] and len(list(latent_cache.iterdir())) == 3
    assert "does not look like the same person" in text and "official" in text

    out = tmp_path / "latent.mp4"
    r = CliRunner().invoke(app, ["timelapse", str(manifest_path), "-o", str(out), "--engine", "latent",
                                 "--steps", "5", "--frames", "2", "--size", "128", "--blend", "seed"])
    text = _text(r)
    assert r.exit_code == 0, text
    assert runs == [3], "timelapse inverted again instead of reusing invert's latents"
    assert out.is_file()
    line = next(ln for ln in text.splitlines() if "does not look like the same person" in ln)
    assert "dcgan-digiface" in line and "official FFHQ" in line
    assert all(n in text for n in SAME_PERSON)

    from facereel.metrics.identity import SAME_PERSON_SIMILARITY
    from facereel.pipelines.timelapse import render_timelapse

    res = render_timelapse(manifest_path, tmp_path / "again.mp4", engine="latent", frames_per_gap=2, size=128,
                           latent={"steps": 5, "blend": "seed"})
    assert runs == [3]
    assert [n for n, _ in res.identity] == [n for n in res.keyframes]
    assert all(s is None or s < SAME_PERSON_SIMILARITY for _, s in res.identity), res.identity
    assert any("does not look like the same person" in w for w in res.warnings)


def test_analyze_size_is_recorded_and_small_faces_are_named(samples, tmp_path):
    import json

    from facereel.cli import app

    out = tmp_path / "m.json"
    r = CliRunner().invoke(app, ["analyze", str(samples / "obama.jpg"), "--size", "720", "-o", str(out)])
    text = _text(r)
    assert r.exit_code == 0, text
    assert json.loads(out.read_text())["settings"]["size"] == 720
    assert "smaller than the 720 px output" in text and "obama.jpg (411 px)" in text
