"""``facereel generate``: a seed grid, offline with the DCGAN (DigiFace) weights; load_generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from facereel.commands.generate import image_grid, parse_seeds


def _app():
    from facereel.cli import app

    return app


def test_parse_seeds():
    assert parse_seeds("0-7") == list(range(8))
    assert parse_seeds("1,5, 9") == [1, 5, 9]
    assert parse_seeds("0-2,10") == [0, 1, 2, 10]
    for bad in ("", "a", "5-2", "1,,x"):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_generate_grid_offline_matches_generator(tmp_path, torch_threads):
    out = tmp_path / "grid.png"
    res = CliRunner().invoke(_app(), ["generate", "--weights", "dcgan-digiface", "--seeds", "0-7",
                                      "--psi", "0.7", "-o", str(out), "--device", "cpu", "--batch", "3"])
    assert res.exit_code == 0, res.output
    grid = np.asarray(Image.open(out).convert("RGB"))
    # 8 images → 3×3 grid of 64 px tiles with 2 px gaps
    assert grid.shape == (3 * 66 + 2, 3 * 66 + 2, 3)

    from facereel.checkpoints.loaders import load_generator

    G = load_generator("dcgan-digiface")
    with torch.no_grad():
        imgs = G.synthesize(G.sample([0, 1, 2, 3, 4, 5, 6, 7], truncation_psi=0.7))
    want = image_grid(imgs)
    assert np.array_equal(grid, want)
    tile = grid[2:66, 68:132].astype(float)  # seed 1
    assert tile.std() > 10  # a real face, not a flat tile
    # seeds give distinct faces; psi changes the image
    assert not np.array_equal(grid[2:66, 2:66], grid[2:66, 68:132])
    res = CliRunner().invoke(_app(), ["generate", "--seeds", "0", "--psi", "1", "-o", str(tmp_path / "one.png")])
    assert res.exit_code == 0, res.output
    one = np.asarray(Image.open(tmp_path / "one.png").convert("RGB"))
    assert one.shape == (68, 68, 3) and not np.array_equal(one[2:66, 2:66], grid[2:66, 2:66])


def test_generate_from_checkpoint_path(tmp_path, torch_threads):
    """A PATH works too: the package's weights.tar, and its safetensors conversion."""
    from facereel.checkpoints.loaders import convert
    from facereel.weights import digiface_weights_path

    conv = tmp_path / "dcgan.safetensors"
    assert convert(digiface_weights_path(), conv)["kind"] == "dcgan"
    outs = []
    for src in (str(digiface_weights_path()), str(conv)):
        out = tmp_path / f"g{len(outs)}.png"
        res = CliRunner().invoke(_app(), ["generate", "-w", src, "--seeds", "3,4", "-o", str(out)])
        assert res.exit_code == 0, res.output
        outs.append(np.asarray(Image.open(out)))
    assert np.array_equal(outs[0], outs[1])


def test_generate_errors_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEREEL_HOME", str(tmp_path / "home"))  # an empty weights cache
    runner = CliRunner()
    for args in (["--weights", "stylegan2-ffhq-1024"],             # not downloaded
                 ["--weights", str(tmp_path / "nope.pkl")],          # no such file
                 ["--seeds", "x"], ["-o", str(tmp_path / "g.gif")]):
        res = runner.invoke(_app(), ["generate", *args, "-o" if "-o" not in args else "--psi",
                                     str(tmp_path / "g.png") if "-o" not in args else "1"])
        assert res.exit_code == 1, (args, res.output)
        assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1, res.output


def test_generate_nvidia_pickle_official_seeds(tmp_path, torch_threads):
    """An official-structure StyleGAN2 pickle; --official-seeds draws z like gen_images.py."""
    import json

    from facereel.checkpoints.fakes import write_nvidia_pickle
    from facereel.checkpoints.loaders import load_generator
    from tests.helpers.golden import GOLDEN_DIR, golden_state_torch

    z = np.load(GOLDEN_DIR / "sg2_uncond_skip_32.npz")
    meta = json.loads(z["meta"].item())
    pkl = tmp_path / "net.pkl"
    write_nvidia_pickle(pkl, golden_state_torch(z), meta["init_kwargs"])
    out = tmp_path / "g.png"
    res = CliRunner().invoke(_app(), ["generate", "-w", str(pkl), "--seeds", "1,2", "--psi", "0.5",
                                      "--official-seeds", "-o", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    G = load_generator(pkl, device="cpu")
    zs = torch.from_numpy(np.stack([np.random.RandomState(s).randn(G.z_dim) for s in (1, 2)])).float()
    with torch.no_grad():
        want = image_grid(G.synthesize(G.G.mapping(zs, None, truncation_psi=0.5)))
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), want)
    res = CliRunner().invoke(_app(), ["generate", "--official-seeds", "-o", str(tmp_path / "d.png")])
    assert res.exit_code == 1 and "NVIDIA" in res.output


def test_fused_kernels_flag_sets_the_default_plan(tmp_path, monkeypatch):
    import os

    from facereel.nets import plan

    monkeypatch.setattr(plan, "_default", None)     # the CLI's setting is undone afterwards
    monkeypatch.delenv(plan.FUSED_ENV, raising=False)
    env_before = dict(os.environ)
    runner = CliRunner()
    assert "--fused-kernels" in runner.invoke(_app(), ["--help"]).output
    res = runner.invoke(_app(), ["generate", "--seeds", "0", "-o", str(tmp_path / "a.png")])
    assert res.exit_code == 0, res.output
    assert plan.default_plan() == plan.FAST
    res = runner.invoke(_app(), ["--fused-kernels", "generate", "--seeds", "0", "-o", str(tmp_path / "b.png")])
    assert res.exit_code == 0, res.output
    assert plan.default_plan() == plan.FUSED
    # The environment variable still works (as the option's envvar), and nothing is written back.
    res = runner.invoke(_app(), ["generate", "--seeds", "0", "-o", str(tmp_path / "c.png")])
    assert res.exit_code == 0 and plan.default_plan() == plan.FAST
    res = runner.invoke(_app(), ["generate", "--seeds", "0", "-o", str(tmp_path / "d.png")],
                        env={plan.FUSED_ENV: "1"})
    assert res.exit_code == 0, res.output
    assert plan.default_plan() == plan.FUSED
    assert dict(os.environ) == env_before
    # The fused kernels compute the same picture (to float rounding: the PNG bytes may differ by 1).
    a, b = (np.asarray(Image.open(tmp_path / n).convert("RGB"), dtype=np.int16) for n in ("a.png", "b.png"))
    assert np.abs(a - b).max() <= 1


def _read_only_dir(tmp_path):
    """A folder no file can be created in, also for root (who ignores mode bits): sysfs."""
    import os
    from pathlib import Path

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):          # root
        return Path("/sys") / "facereel-test"
    return ro


@pytest.mark.parametrize("args, flag", [
    (["--batch", "0"], "--batch"),
    (["--cols", "-2"], "--cols"),
    (["--psi", "3"], "--psi"),
    (["--seeds", "4294967296"], "--seeds"),
    (["--device", "tpu"], "--device"),
])
def test_generate_bad_options_are_one_line(tmp_path, args, flag):
    out = tmp_path / "g.png"
    res = CliRunner().invoke(_app(), ["generate", *args, "-o", str(out)])
    assert res.exit_code == 1, (args, res.output)
    lines = res.output.strip().splitlines()
    assert "Traceback" not in res.output and len(lines) == 1 and flag in lines[0], res.output
    assert not out.exists()


def test_generate_read_only_output_is_one_line(tmp_path):
    out = _read_only_dir(tmp_path) / "g.png"
    res = CliRunner().invoke(_app(), ["generate", "--seeds", "0", "-o", str(out)])
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert "Traceback" not in res.output and len(lines) == 1 and "cannot write" in lines[0], res.output


def test_generate_writes_atomically(tmp_path, monkeypatch):
    """A failure while saving leaves the previous grid in place and no temporary file."""
    from PIL import Image as PILImage

    out = tmp_path / "g.png"
    res = CliRunner().invoke(_app(), ["generate", "--seeds", "0", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]
    before = out.read_bytes()

    real_save = PILImage.Image.save

    def broken_save(self, fp, *a, **k):
        real_save(self.crop((0, 0, 4, 4)), fp, *a, **k)  # something lands, then the disk "fills"
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PILImage.Image, "save", broken_save)
    res = CliRunner().invoke(_app(), ["generate", "--seeds", "1,2", "-o", str(out)])
    assert res.exit_code == 1 and "No space left" in res.output and "Traceback" not in res.output, res.output
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]
