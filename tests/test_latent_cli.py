"""The latent commands on the offline DCGAN: outputs, and one clear line for every bad input."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from facereel.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(map(str, args)))


@pytest.fixture(scope="module")
def age_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("dirs") / "age.safetensors"
    r = run("directions", "fit", "--label", "age", "--samples", "64", "--batch", "32", "-o", p)
    assert r.exit_code == 0, r.output
    return p


def test_fit_show_list(age_file):
    r = run("directions", "show", age_file)
    assert r.exit_code == 0 and '"latent_space": "z"' in r.output and '"generator": "dcgan-digiface"' in r.output
    r = run("directions", "list")
    assert r.exit_code == 0 and "e4e-age" in r.output and "e4e-ganspace-ffhq" in r.output
    r = run("directions", "fit", "--label", "wrinkles", "--samples", "16", "-o", age_file.parent / "x.safetensors")
    assert r.exit_code == 1 and "unknown label 'wrinkles'" in r.output and "Traceback" not in r.output
    r = run("directions", "fit", "--samples", "16", "-o", age_file.parent / "x.npz")
    assert r.exit_code == 1 and "--output" in r.output


def test_edit_grid_video_and_errors(age_file, tmp_path):
    from PIL import Image

    r = run("edit", "3", "--direction", age_file, "--strength", "-2..2", "--steps", "3", "-o", tmp_path / "g.png")
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "g.png").size == (3 * 66 + 2, 68)
    r = run("edit", "3", "--direction", age_file, "--strength", "0..2", "--frames", "6", "-o", tmp_path / "e.mp4")
    assert r.exit_code == 0 and (tmp_path / "e.mp4").stat().st_size > 0
    r = run("edit", "3", "--direction", age_file, "--strength", "12", "-o", tmp_path / "g.png")
    assert r.exit_code == 1 and "--strength" in r.output and "out of range" in r.output
    r = run("edit", "3", "--direction", age_file, "--layers", "0-7", "-o", tmp_path / "g.png")
    assert r.exit_code == 1 and "no layers" in r.output

    from facereel.latent.directions import Direction, save_direction

    other = save_direction(Direction(vectors=np.ones((1, 512)) / np.sqrt(512), generator="stylegan2-ffhq-1024",
                                     latent_space="w", dim=512, num_ws=18, label="age"), tmp_path / "w.safetensors")
    r = run("edit", "3", "--direction", other, "-o", tmp_path / "g.png")
    assert r.exit_code == 1 and "w space" in r.output and "Traceback" not in r.output
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(blank)
    r = run("edit", blank, "--direction", age_file, "-o", tmp_path / "g.png")
    assert r.exit_code == 1 and "no usable face" in r.output
    assert not (tmp_path / "h.png").exists()


def test_walk_and_emotions(tmp_path):
    import av

    r = run("walk", "loop", "--seed", "1", "--frames", "12", "-o", tmp_path / "w.mp4")
    assert r.exit_code == 0, r.output
    with av.open(str(tmp_path / "w.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 12
    r = run("walk", "fine", "-o", tmp_path / "w.mp4")
    assert r.exit_code == 1 and "z space" in r.output
    r = run("emotions", "--sequence", "happy,joy", "-o", tmp_path / "e.mp4")
    assert r.exit_code == 1 and "unknown emotion 'joy'" in r.output
    r = run("emotions", "--sequence", "auto", "-o", tmp_path / "e.mp4")
    assert r.exit_code == 1 and "--model" in r.output
    r = run("emotions", "train", tmp_path / "missing.mp4")
    assert r.exit_code == 1 and "no such video" in r.output


def test_walk_many_seeds_into_a_folder(tmp_path):
    d = tmp_path / "walks"
    r = run("walk", "loop", "--seeds", "0-1,5", "--out-dir", d, "--frames", "6", "--keypoints", "2", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "3 walks rendered, 0 already there, 0 failed (local)" in " ".join(r.output.split())
    assert sorted(p.name for p in d.glob("*.mp4")) == ["loop-seed0.mp4", "loop-seed1.mp4", "loop-seed5.mp4"]
    r = run("walk", "loop", "--seeds", "0-1,5,6", "--out-dir", d, "--frames", "6", "--keypoints", "2", "--device", "cpu")
    assert r.exit_code == 0 and "1 walks rendered, 3 already there" in " ".join(r.output.split()), r.output
    for args, msg in ((("--seeds", "0-3"), "--seeds and --out-dir go together"),
                      (("--ray", "auto"), "--ray and --workers apply to --seeds"),
                      (("--seeds", "5-2", "--out-dir", d), "--seeds"),
                      (("--seeds", "0", "--out-dir", d, "--format", "avi"), "--format")):
        r = run("walk", *args)
        assert r.exit_code != 0 and msg in " ".join(r.output.split()), (args, r.output)
