"""``facereel lab linearity`` end to end on a short video made from the real sample photos."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from facereel.cli import app

runner = CliRunner()


def _video(path: Path, samples: Path) -> Path:
    """12 distinct frames (three Obama photos, mirrored and tilted) at 2 fps."""
    import av
    from PIL import Image, ImageOps

    frames = []
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg"):
        im = Image.open(samples / name).convert("RGB")
        for f in (lambda i: i, ImageOps.mirror, lambda i: i.rotate(8, resample=Image.BICUBIC),
                  lambda i: ImageOps.mirror(i.rotate(-8, resample=Image.BICUBIC))):
            frames.append(np.asarray(ImageOps.pad(f(im), (480, 480), color=(40, 40, 40))))
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=2)
        st.width = st.height = 480
        st.pix_fmt = "yuv420p"
        for f in frames:
            for p in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory, samples):
    return _video(tmp_path_factory.mktemp("lab") / "obama.mp4", Path(samples))


ARGS = ["--steps", "5", "--every", "1", "--start-date", "2004-01-01", "--end-date", "2016-01-01",
        "--birth-date", "1961-08-04"]


@pytest.mark.slow
def test_lab_runs_end_to_end_on_a_video_and_resumes(tmp_path, video):
    out = tmp_path / "report"
    res = runner.invoke(app, ["lab", "linearity", str(video), "-o", str(out), "--spans", "3,6", *ARGS])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "mean error" in res.output
    for f in ("report.html", "pairs.csv", "spans.csv", "errors.csv", "regression.csv", "settings.json",
              "latents.npz", "plots/error_vs_age.png", "plots/error_vs_span.png", "plots/latent_path_pca.png"):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    page = (out / "report.html").read_text()
    assert "plots/error_vs_age.png" in page and "Settings" in page
    rows = list(csv.DictReader(open(out / "errors.csv")))
    ages = [float(r["age"]) for r in rows]
    # ages from the spread dates and the birth date: 2004-01-01 is 42.4 years after 1961-08-04
    assert min(ages) == pytest.approx(42.4, abs=0.1) and max(ages) <= 54.5
    errs = sorted(rows, key=lambda r: float(r["age"]))
    assert float(errs[0]["error"]) < 1e-4 and float(errs[-1]["error"]) < 1e-4      # the line's own ends
    assert max(float(r["error"]) for r in rows) > 0
    spans = list(csv.DictReader(open(out / "spans.csv")))
    assert [float(s["span"]) for s in spans] == [3.0, 6.0]

    from facereel.options.analyze import AnalyzeOptions
    from facereel.options.lab import LinearityOptions
    from facereel.pipelines.lab import run_linearity

    again = run_linearity([video], out, LinearityOptions(steps=5),
                          analyze=AnalyzeOptions(size=256, every=1, start_date="2004-01-01", end_date="2016-01-01",
                                                 birth_date="1961-08-04"))
    assert again.data.batch[0].done_before == len(again.data.latents) and again.data.batch[0].computed == 0
    z = np.load(out / "latents.npz")
    np.testing.assert_array_equal(z["latents"], again.data.latents)


@pytest.mark.slow
def test_lab_bad_input_is_one_line_and_keeps_finished_latents(tmp_path, video):
    out = tmp_path / "r"
    res = runner.invoke(app, ["lab", "linearity", str(video), "-o", str(out), "--pairs", "30:20", *ARGS])
    assert res.exit_code == 1 and "--pairs" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["lab", "linearity", str(video), "-o", str(out), "--pairs", "5:12", *ARGS])
    assert res.exit_code == 1 and "outside the ages" in res.output
    assert len(list((out / "latents").glob("*.npz"))) == 12                 # the finished latents stay
    np.save(tmp_path / "dir.npy", np.ones(7, np.float32))
    res = runner.invoke(app, ["lab", "linearity", str(video), "-o", str(out), "--direction",
                              str(tmp_path / "dir.npy"), *ARGS])
    assert res.exit_code == 1 and "another generator or latent space" in res.output
    res = runner.invoke(app, ["lab", "linearity", str(video), "-o", str(out), *ARGS[2:], "--steps", "6"])
    assert res.exit_code == 1 and "not mixing" in res.output
    res = runner.invoke(app, ["lab", "linearity", str(tmp_path / "missing.mp4"), "-o", str(out)])
    assert res.exit_code == 1 and "does not exist" in res.output


def test_lab_reads_fitted_direction_files_and_refuses_other_generators(tmp_path):
    from facereel.lab.linearity import LabError
    from facereel.latent.directions import Direction, save_direction
    from facereel.pipelines.lab import load_direction

    v = np.random.default_rng(0).standard_normal((1, 100))
    path = save_direction(Direction(vectors=v, generator="dcgan-digiface", latent_space="z", dim=100, label="age"),
                          tmp_path / "age.safetensors")
    np.testing.assert_allclose(load_direction(path, (100,), "dcgan-digiface"), v[0])
    with pytest.raises(LabError, match="made for generator dcgan-digiface"):
        load_direction(path, (100,), "stylegan2-ffhq")
    w = np.random.default_rng(1).standard_normal(512)
    np.save(tmp_path / "w.npy", w)
    assert load_direction(tmp_path / "w.npy", (18, 512)).shape == (18, 512)     # one w for every layer
    with pytest.raises(LabError, match="another generator or latent space"):
        load_direction(tmp_path / "w.npy", (100,))
