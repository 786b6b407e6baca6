"""``facereel invert``: DCGAN optimisation end to end, the latent cache, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from tests.helpers.clitext import cli_text as _text


@pytest.fixture(scope="module")
def dcgan():
    from facereel.checkpoints.loaders import load_dcgan_digiface

    return load_dcgan_digiface("cpu")


@pytest.fixture(scope="module")
def faces(dcgan, tmp_path_factory):
    """Two DCGAN faces of known seeds saved as 64 px PNGs (already aligned crops)."""
    d = tmp_path_factory.mktemp("faces")
    with torch.no_grad():
        img = dcgan.synthesize(dcgan.sample([5, 6]))
    arr = ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    paths = []
    for i, a in enumerate(arr):
        paths.append(d / f"face{i}.png")
        Image.fromarray(a).save(paths[-1])
    return paths, arr


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty facereel cache (no weights installed, no cached latents)."""
    monkeypatch.setenv("FACEREEL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_invert_dcgan_optimize_writes_latents(dcgan, faces, home, tmp_path, monkeypatch, torch_threads):
    import facereel.inversion.api as api
    from facereel.cli import app

    paths, arr = faces
    runs = []
    real_run = api._run
    monkeypatch.setattr(api, "_run", lambda batch, *a, **k: runs.append(len(batch)) or real_run(batch, *a, **k))
    out = tmp_path / "latents.npz"
    args = ["invert", *map(str, paths), "--aligned", "--generator", "dcgan-digiface", "--method", "optimize",
            "--steps", "20", "--restarts", "1", "-o", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, _text(r)
    z = np.load(out)
    assert z["latents"].shape == (2, dcgan.z_dim) and z["latents"].dtype == np.float32
    assert list(z["names"]) == ["face0.png", "face1.png"]
    assert str(z["method"]) == "optimize" and str(z["latent_kind"]) == "z" and str(z["generator"]) == "dcgan-digiface"
    assert runs == [2]

    # the stored MSE is the reconstruction's, and the optimisation beat the mean latent (z = 0)
    target = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        rec = dcgan.synthesize(torch.from_numpy(z["latents"]))
        mean = dcgan.synthesize(torch.zeros(2, dcgan.z_dim))
    mse = (rec - target).square().mean(dim=(1, 2, 3)).numpy()
    assert np.allclose(z["mse"], mse, rtol=1e-4, atol=1e-6)
    assert np.all(mse < (mean - target).square().mean(dim=(1, 2, 3)).numpy())

    # the same images and settings again: from the cache, identical latents
    out2 = tmp_path / "again.npz"
    r = CliRunner().invoke(app, [*args[:-1], str(out2)])
    assert r.exit_code == 0, _text(r)
    assert runs == [2]
    assert np.array_equal(np.load(out2)["latents"], z["latents"])


@pytest.mark.parametrize("method", ["psp", "e4e", "restyle", "hybrid"])
def test_missing_encoder_weights_is_one_line(method, faces, home, tmp_path):
    from facereel.cli import app
    from facereel.inversion.api import DEFAULT_ENCODERS

    paths, _ = faces
    out = tmp_path / "l.npz"
    r = CliRunner().invoke(app, ["invert", str(paths[0]), "--aligned", "--method", method, "-o", str(out)])
    text = _text(r)
    assert r.exit_code != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]   # stdout stays empty
    assert not r.stdout.strip(), text
    assert len(lines) == 1 and lines[0].startswith("error:"), text
    name = DEFAULT_ENCODERS[method]
    assert f"facereel weights download {name}" in text and f"facereel weights import {name}" in text
    assert not out.exists()


def test_invert_errors(faces, home, tmp_path):
    from facereel.cli import app

    paths, _ = faces
    cases = [
        (["--method", "restyle", "--encoder", str(tmp_path / "nope.pt")], "encoder checkpoint not found"),
        (["--method", "psp", "--encoder", "no_such_weights"], "unknown encoder 'no_such_weights'"),
        (["--method", "magic"], "--method: unknown value 'magic'"),
        (["--encoder", "psp_ffhq_encode"], "--encoder: only applies to the methods psp, e4e, restyle, hybrid"),
        (["--device", "tpu"], "--device: unknown device 'tpu'"),
        (["--size", "4000"], "--size must be a whole number from 64 to 2048"),
        (["--generator", "stylegan2-ffhq-1024"], "facereel weights download stylegan2-ffhq-1024"),
        (["-o", str(tmp_path / "l.txt")], ".npz"),
    ]
    for extra, expected in cases + [([str(tmp_path / "missing.jpg")], "missing.jpg: no such file or folder")]:
        args = ["invert", str(paths[0]), "--aligned", "-o", str(tmp_path / "l.npz"), *extra]
        r = CliRunner().invoke(app, args)
        text = _text(r)
        assert r.exit_code != 0, (extra, text)
        assert expected in text and "Traceback" not in text, (extra, text)
    bad = tmp_path / "wide.png"
    Image.new("RGB", (80, 64)).save(bad)
    r = CliRunner().invoke(app, ["invert", str(bad), "--aligned", "-o", str(tmp_path / "l.npz")])
    assert r.exit_code != 0 and "not a square image" in _text(r)
    assert not (tmp_path / "l.npz").exists()


def test_invert_manifest_uses_aligned_crops_and_lists_skipped(faces, home, tmp_path, torch_threads):
    """A manifest: every photo with a face is inverted (its aligned crop), the others are listed."""
    from facereel.cli import app
    from facereel.manifest import Manifest, PhotoEntry, save_manifest

    paths, _ = faces
    entries = [PhotoEntry(path=str(p), chosen=0, faces=[{"box": [0, 0, 63, 63]}], order=i,
                          quad=[[0, 0], [0, 64], [64, 64], [64, 0]], width=64, height=64)
               for i, p in enumerate(paths)]
    entries.append(PhotoEntry(path=str(tmp_path / "empty.jpg"), flags=["no_face"], order=2))
    manifest = save_manifest(Manifest(photos=entries), tmp_path / "m.json")
    out = tmp_path / "m.npz"
    r = CliRunner().invoke(app, ["invert", str(manifest), "--steps", "3", "--restarts", "1", "-o", str(out)])
    assert r.exit_code == 0, _text(r)
    assert "skipped" in r.stderr and "empty.jpg" in r.stderr and "no face" in r.stderr
    z = np.load(out)
    assert list(z["names"]) == ["face0.png", "face1.png"] and z["latents"].shape == (2, 100)
