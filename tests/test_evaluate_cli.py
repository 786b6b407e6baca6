"""``facereel evaluate`` through the real CLI: report JSON, plot, keyframes from a manifest, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from facereel.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["evaluate", *map(str, args)])


def _no_traceback(result):
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


def _one_error_line(result, *needles):
    _no_traceback(result)
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, result.output
    joined = " ".join(lines)
    for n in needles:
        assert n in joined, result.output


def _bands(x0: int, size: int = 128) -> np.ndarray:
    img = np.full((size, size, 3), 90, np.uint8)
    img[:, x0:x0 + 15] = 220
    img[:, x0 + 30:x0 + 40] = 20
    return img


@pytest.fixture
def dissolve_video(tmp_path):
    """A 3-keyframe cross-dissolve (4 frames per gap) of synthetic band images, as MP4."""
    from facereel.render.video import open_writer

    keys = [_bands(30), _bands(55), _bands(40)]
    frames = []
    for a, b in zip(keys[:-1], keys[1:]):
        for i in range(4):
            frames.append(np.round((1 - i / 4) * a + (i / 4) * b.astype(np.float64)).astype(np.uint8))
    frames.append(keys[-1])
    path = tmp_path / "dissolve.mp4"
    with open_writer(path, "mp4", fps=8, size=(128, 128), crf=12) as w:
        for f in frames:
            w.write(f)
    return path


def test_keyframes_every_report_and_plot(dissolve_video, tmp_path):
    from PIL import Image

    report, plot = tmp_path / "r.json", tmp_path / "c.png"
    res = _run(dissolve_video, "--keyframes-every", 4, "--no-identity", "--landmarks", "none", "-o", report,
               "--plot", plot)
    _no_traceback(res)
    assert res.exit_code == 0, res.output
    assert "ghosting mean" in res.output and "frame diff p95" in res.output
    rep = json.loads(report.read_text())
    assert rep["frames"] == 9 and rep["keyframe_indices"] == [0, 4, 8]
    assert rep["video"]["width"] == 128 and rep["video"]["fps"] == pytest.approx(8)
    g = rep["ghosting"]["ghost"]
    assert g[0] is None and g[4] is None and g[8] is None
    assert g[2] == pytest.approx(0.5, abs=0.08) and g[6] == pytest.approx(0.5, abs=0.08)
    with Image.open(plot) as im:
        assert im.format == "PNG"


@pytest.mark.parametrize("case", ["missing", "not_video", "both", "neither", "plot_suffix", "no_folder", "bad_manifest",
                                  "landmarks"])
def test_bad_inputs_one_line(case, dissolve_video, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video\n")
    bad_manifest = tmp_path / "m.json"
    bad_manifest.write_text("{not json")
    args = {
        "missing": ([tmp_path / "nope.mp4", "--keyframes-every", 4], ["does not exist"]),
        "not_video": ([junk, "--keyframes-every", 4], ["junk.mp4"]),
        "both": ([dissolve_video, "--keyframes-every", 4, "--manifest", bad_manifest], ["--manifest"]),
        "neither": ([dissolve_video], ["--keyframes-every"]),
        "plot_suffix": ([dissolve_video, "--keyframes-every", 4, "--plot", tmp_path / "c.jpg"], [".png"]),
        "no_folder": ([dissolve_video, "--keyframes-every", 4, "-o", tmp_path / "no" / "r.json"], ["does not exist"]),
        "bad_manifest": ([dissolve_video, "--manifest", bad_manifest], ["m.json"]),
        "landmarks": ([dissolve_video, "--keyframes-every", 4, "--landmarks", "dlib68"], ["--landmarks"]),
    }[case]
    res = _run(*args[0])
    _one_error_line(res, *args[1])


@pytest.mark.slow
def test_manifest_keyframes_are_found(tmp_path):
    """A real time-lapse (3 photos, crossfade, 256) is measured with its own manifest."""
    from facereel.manifest import save_manifest
    from facereel.pipelines.analyze import analyze_collection
    from facereel.pipelines.timelapse import render_timelapse
    from facereel.samples import sample_path

    manifest = analyze_collection([sample_path(n) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")], size=256)
    mpath = save_manifest(manifest, tmp_path / "m.json")
    video = tmp_path / "t.mp4"
    result = render_timelapse(mpath, video, engine="crossfade", frames_per_gap=5, size=256, hold=1, keep_flagged=True)
    report = tmp_path / "r.json"
    res = _run(video, "--manifest", mpath, "--keep-flagged", "--landmarks", "dlib5", "-o", report)
    _no_traceback(res)
    assert res.exit_code == 0, res.output
    rep = json.loads(report.read_text())
    assert rep["frames"] == result.frames
    # with --hold a keyframe shows on several frames: the located one is one of them
    for found, first in zip(rep["keyframe_indices"], result.keyframe_indices):
        assert first <= found <= first + 1
    assert [k["name"] for k in rep["keyframes"]] == result.keyframes
    assert all(k["psnr_db"] > 30 for k in rep["keyframes"])
    ident = rep["identity"]
    assert ident["similarity"][rep["keyframe_indices"][1]] > 0.9
    assert 0.4 < ident["min"] < 0.95 and rep["ghosting"]["mid_gap_mean"] > 0.15
    assert "identity in-between mean" in res.output
