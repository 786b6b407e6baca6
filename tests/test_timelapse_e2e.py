"""End to end on the real sample photos (small size, few frames): library, CLI and demo."""

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from facereel.samples import OTHER_PERSON, SAME_PERSON
from tests.helpers.clitext import cli_text as _text

SIZE = 256


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def manifest_path(samples, tmp_path_factory):
    from facereel.manifest import save_manifest
    from facereel.pipelines.analyze import analyze_collection

    m = analyze_collection([samples / n for n in (*SAME_PERSON, OTHER_PERSON)], size=SIZE)
    return save_manifest(m, tmp_path_factory.mktemp("tl") / "manifest.json")


def test_real_photos_morph_mp4(manifest_path, tmp_path):
    from facereel.manifest import load_manifest
    from facereel.pipelines.analyze import aligned_crop
    from facereel.pipelines.timelapse import render_timelapse, timelapse_frames

    m = load_manifest(manifest_path)
    kept = m.ordered()
    assert len(kept) == 3
    r = render_timelapse(manifest_path, tmp_path / "t.mp4", engine="morph", frames_per_gap=4, size=SIZE)
    assert r.frames == (3 - 1) * 4 + 1 and r.keyframe_indices == [0, 4, 8]
    assert [p for p, _ in r.skipped] and all(OTHER_PERSON in p for p, _ in r.skipped)
    crops = [aligned_crop(e, size=SIZE, fast=True) for e in kept]  # the pixel engines' keyframes
    official = [aligned_crop(e, size=SIZE) for e in kept]
    assert all(_psnr(a, b) > 45 for a, b in zip(crops, official, strict=True))
    with av.open(str(r.path)) as c:
        dec = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(dec) == 9 and dec[0].shape == (SIZE, SIZE, 3)
    for k, i in enumerate(r.keyframe_indices):
        assert _psnr(dec[i], crops[k]) > 30
    # before encoding the keyframes are the aligned crops exactly
    frames = list(timelapse_frames(m, engine="morph", frames_per_gap=4, size=SIZE))
    for k, i in enumerate(r.keyframe_indices):
        assert np.array_equal(frames[i], crops[k])


def test_cli_timelapse(manifest_path, tmp_path):
    from facereel.cli import app

    out = tmp_path / "t.gif"
    res = CliRunner().invoke(app, ["timelapse", str(manifest_path), "-o", str(out), "--frames", "2",
                                   "--size", str(SIZE), "--engine", "crossfade", "--hold", "1"])
    text = _text(res)
    assert res.exit_code == 0, text
    assert "skipped" in text and OTHER_PERSON in text
    from PIL import Image

    with Image.open(out) as im:
        assert im.n_frames == 2 * 2 + 1 + 3 and im.size == (SIZE, SIZE)
    # --keep-flagged keeps the other person
    res = CliRunner().invoke(app, ["timelapse", str(manifest_path), "-o", str(tmp_path / "k"), "--format", "frames",
                                   "--frames", "1", "--size", str(SIZE), "--keep-flagged", "--engine", "crossfade"])
    assert res.exit_code == 0, _text(res)
    assert len(list((tmp_path / "k").iterdir())) == 4


def test_cli_stabilize_age_timing(manifest_path, tmp_path):
    from facereel.cli import app

    out = tmp_path / "s.mp4"
    res = CliRunner().invoke(app, ["timelapse", str(manifest_path), "-o", str(out), "--frames", "4", "--size",
                                   str(SIZE), "--stabilize", "--timing", "age", "--opacity", "0"])
    assert res.exit_code == 0, _text(res)
    with av.open(str(out)) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert n >= 2 * 1 + 1 and "wrote" in _text(res)


@pytest.mark.parametrize("args,msg", [
    (["-o", "{tmp}/x.avi"], "format"),
    (["-o", "{tmp}/missing/x.mp4"], "does not exist"),
    (["-o", "{tmp}/x.mp4", "--format", "mkv"], "mkv"),
    (["-o", "{tmp}/x.mp4", "--size", "30"], "--size: must be a whole number from 64 to 2048"),
    (["-o", "{tmp}/x.mp4", "--opacity", "150"], "--opacity"),
    (["-o", "{tmp}/x.mp4", "--engine", "latent", "--blend", "soft"], "--blend: unknown value 'soft'"),
])
def test_cli_bad_input(manifest_path, tmp_path, args, msg):
    from facereel.cli import app

    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = CliRunner().invoke(app, ["timelapse", str(manifest_path), *args])
    text = _text(res)
    assert res.exit_code != 0
    assert msg in text and "Traceback" not in text
    assert list(tmp_path.iterdir()) == []


def test_cli_single_photo(samples, tmp_path):
    from facereel.cli import app

    res = CliRunner().invoke(app, ["timelapse", str(samples / SAME_PERSON[0]), "-o", str(tmp_path / "x.mp4")])
    text = _text(res)
    assert res.exit_code == 1 and "at least 2 photos" in text and "Traceback" not in text


@pytest.mark.slow
def test_demo(tmp_path):
    from facereel.cli import app

    res = CliRunner().invoke(app, ["demo", "-o", str(tmp_path / "demo"), "--size", str(SIZE), "--frames", "3"])
    assert res.exit_code == 0, _text(res)
    d = tmp_path / "demo"
    assert {p.name for p in d.iterdir()} >= {"timelapse.mp4", "contact_sheet.png", "manifest.json", "timelapse.json"}
    with av.open(str(d / "timelapse.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 7
    from PIL import Image

    with Image.open(d / "contact_sheet.png") as im:
        assert im.width >= 4 * SIZE // 2 and im.height > 100


def test_keyframe_landmarks_on_crops(manifest_path):
    """The keyframe landmarks (the manifest's photo landmarks mapped through the quad, no second
    detector run) agree with MediaPipe run on the crop itself."""
    from facereel.pipelines.timelapse import _crop_landmarks, _manifest_landmarks, keyframe_landmarks, load_keyframes

    kfs, skipped, _ = load_keyframes(manifest_path, size=SIZE)
    assert len(kfs) == 3 and len(skipped) == 1
    keyframe_landmarks(kfs)
    for k in kfs:
        assert k.landmarks.shape == (478, 2)
        assert (k.landmarks > 0).all() and (k.landmarks < SIZE).all()
        np.testing.assert_allclose(k.landmarks, _manifest_landmarks(k))
        on_crop = _crop_landmarks(k)
        assert np.linalg.norm(on_crop - k.landmarks, axis=1).mean() < 0.02 * SIZE
