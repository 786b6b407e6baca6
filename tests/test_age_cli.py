"""``facereel age``: one photo to a lifespan video through a tiny seeded SAM checkpoint in the
official layout (the real classes), on a real sample photo; and its one-line refusals."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers.clitext import cli_text
from tests.helpers.sam import write_sam_checkpoint


@pytest.fixture(scope="module")
def sam_file(tmp_path_factory):
    return write_sam_checkpoint(tmp_path_factory.mktemp("sam") / "sam_tiny.pt", size=16, seed=1)


def _invoke(*args):
    from facereel.cli import app

    return CliRunner().invoke(app, ["age", *map(str, args)])


@pytest.mark.slow
def test_sam_lifespan_video_end_to_end(samples, sam_file, tmp_path, torch_threads):
    from facereel.metrics.video_io import read_frames
    from facereel.options.lifespan import AgeOptions
    from facereel.pipelines.age import _gaps, plan_keyframes
    from facereel.pipelines.analyze import load_aligned

    photo = samples / "obama.jpg"
    out = tmp_path / "life.mp4"
    r = _invoke(photo, "--from", 10, "--to", 90, "--step", 40, "--photo-age", 50.4, "-o", out, "--weights", sam_file,
                "--size", 128, "--frames-per-year", 0.25, "--device", "cpu", "--opacity", 60)
    text = cli_text(r)
    assert r.exit_code == 0, text
    assert "ages 10, 50, 90" in text and "photo at 50 blended in" in text
    assert out.is_file() and not list(tmp_path.glob(".*"))          # atomic: no temporary left behind
    frames = np.stack(list(read_frames(out)))
    ages, k = plan_keyframes(AgeOptions(photo="x", age_from=10, age_to=90, step=40).keyframe_ages(), 50.4)
    assert ages == [10, 50, 90] and k == 1
    assert plan_keyframes([5, 15, 25, 35, 45], 33.2, min_gap=5) == ([5, 15, 25, 33, 45], 3)
    assert plan_keyframes([5, 15, 25], 60, min_gap=5) == ([5, 15, 25], None)
    gaps = _gaps(ages, 0.25)
    assert frames.shape == (sum(gaps) + 1, 128, 128, 3)
    crop = load_aligned([str(photo)], size=128, keep_flagged=True).images[0].astype(np.float32)
    diff = [float(np.abs(f.astype(np.float32) - crop).mean()) for f in frames]
    at_photo = gaps[0]
    assert diff[at_photo] < 6, diff                  # the photo's keyframe is the photo (H.264 loss only)
    assert diff[at_photo + 1] < diff[at_photo + 4] < diff[-1], diff   # blended in, fading away from it
    assert diff[0] > 20 and diff[-1] > 20             # the generated keyframes are not the photo
    assert np.abs(frames[0].astype(np.float32) - frames[-1]).mean() > 0.5   # age 10 and 90 differ


def test_refusals_are_one_line(samples, sam_file, tmp_path, monkeypatch):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (256, 256), (128, 128, 128)).save(blank)
    photo = samples / "obama.jpg"
    out = tmp_path / "o.mp4"
    monkeypatch.setenv("FACEREEL_HOME", str(tmp_path / "home"))
    cases = [
        ((blank, "--weights", sam_file), "no usable face in blank.png"),
        ((photo, "--from", 80, "--to", 5), "--from: must be below the last age"),
        ((photo, "--from", 5, "--to", 120), "--to: must be a finite number >= 0 and <= 100"),
        ((photo, "--from", -1), "--from: must be a finite number >= 0"),
        ((photo, "--method", "magic"), "--method: unknown value 'magic'"),
        ((photo,), "facereel weights download sam_ffhq_aging"),
        ((photo, "--weights", tmp_path / "none.pt"), "no such SAM checkpoint"),
    ]
    for args, words in cases:
        r = _invoke(*args, "-o", out, "--device", "cpu", "--size", 64)
        text = cli_text(r)
        assert r.exit_code != 0 and "Traceback" not in text, text
        assert words in text, (args, text)
        assert len({ln for ln in text.splitlines() if ln.startswith("error:")}) == 1, text
        assert not out.exists()


@pytest.mark.slow
def test_direction_method_on_the_offline_dcgan(samples, tmp_path, torch_threads):
    from facereel.metrics.video_io import read_frames

    fit = tmp_path / "age.safetensors"
    from facereel.cli import app

    r = CliRunner().invoke(app, ["directions", "fit", "--label", "age", "--samples", "64", "--batch", "32",
                                 "-o", str(fit)])
    assert r.exit_code == 0, cli_text(r)
    out = tmp_path / "life.mp4"
    r = _invoke(samples / "obama.jpg", "--method", "direction", "--generator", "dcgan-digiface", "--direction", fit,
                "--from", 20, "--to", 70, "--step", 25, "--photo-age", 45, "--frames-per-year", 0.2, "--size", 64,
                "-o", out, "--device", "cpu")
    text = cli_text(r)
    assert r.exit_code == 0, text
    assert "ages 20, 45, 70" in text and "photo at 45 blended in" in text
    frames = list(read_frames(out))
    assert len(frames) == 5 + 5 + 1 and frames[0].shape == (64, 64, 3)
