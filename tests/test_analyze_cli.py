"""``facereel analyze`` through the real CLI (typer's CliRunner): table, --json, bad inputs."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from facereel.cli import app
from facereel.manifest import load_manifest

runner = CliRunner()


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header announces width x height pixels (the data is never reached)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def _noise_png(path: Path) -> None:
    import cv2
    from PIL import Image

    rng = np.random.default_rng(0)
    img = cv2.resize(rng.uniform(0, 255, (20, 20, 3)).astype(np.float32), (240, 240))
    Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(path)


@pytest.fixture
def bad_inputs(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "notes.jpg").write_text("this is not a photo\n")
    (d / "empty.png").write_bytes(b"")
    _png_header_only(d / "huge.png", 50_000, 50_000)
    _noise_png(d / "noface.png")
    (d / "readme.txt").write_text("ignored: not an image extension\n")
    return d


def _run(*args):
    return runner.invoke(app, ["analyze", *map(str, args)])


def _no_traceback(result):
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


def test_table_and_one_line_per_bad_input(tmp_path, bad_inputs, samples):
    good = tmp_path / "good"
    good.mkdir()
    shutil.copyfile(samples / "obama.jpg", good / "obama.jpg")
    out = tmp_path / "m.json"
    with open(samples / "obama2.jpg", "rb") as f:
        (bad_inputs / "truncated.jpg").write_bytes(f.read()[:3000])
    result = _run(good, bad_inputs, "-o", out)
    _no_traceback(result)
    assert result.exit_code == 0, result.output
    # the table (stdout): every photo with its flags and the chosen face
    table = result.stdout
    for name in ("obama.jpg", "notes.jpg", "huge.png", "noface.png", "empty.png", "truncated.jpg"):
        assert name in table
    assert "no_face" in table and "unreadable" in table and "1 of 1" in table
    assert "readme.txt" not in result.output
    # one clear line per bad input (stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("skipped")]
    for name, words in (("notes.jpg", "not a recognised image"), ("empty.png", "empty file"),
                        ("huge.png", "MP limit"), ("noface.png", "no face"), ("truncated.jpg", "truncated")):
        mine = [ln for ln in lines if name in ln]
        assert len(mine) == 1 and words in mine[0], (name, mine)
    assert "1 of 6 photos usable" in result.stderr
    manifest = json.loads(out.read_text())
    assert manifest["version"] == 1 and len(manifest["photos"]) == 6


def test_json_output(tmp_path, samples):
    shutil.copyfile(samples / "obama2.jpg", tmp_path / "obama2.jpg")
    out = tmp_path / "sub" / "m.json"
    result = _run(tmp_path / "obama2.jpg", "--json", "-o", out, "--size", "256", "--birth-date", "1961-08-04")
    _no_traceback(result)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == json.loads(out.read_text())
    (photo,) = data["photos"]
    assert photo["flags"] == [] and photo["chosen"] == 0 and len(photo["quad"]) == 4
    assert data["settings"]["size"] == 256 and data["birth_date"] == "1961-08-04"
    if photo["date"]:  # obama2.jpg carries an EXIF date: the real age follows from the birth date
        assert 40 < photo["age"] < 60


def test_empty_folder_fails_with_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _run(tmp_path / "empty", "-o", tmp_path / "m.json")
    _no_traceback(result)
    assert result.exit_code != 0
    text = " ".join(result.stderr.split())  # rich wraps at the runner's 80 columns
    assert text.startswith("error: no photos found in") and text.count("error") == 1, text
    assert "WARNING" not in result.output
    assert not (tmp_path / "m.json").exists()
    # next to a folder with photos, an empty folder is one "skipped" line and the run goes on
    (tmp_path / "one").mkdir()
    _noise_png(tmp_path / "one" / "noface.png")
    result = _run(tmp_path / "empty", tmp_path / "one", "-o", tmp_path / "m.json")
    text = " ".join(result.stderr.split())
    assert "skipped no photos found in" in text and "noface.png: no face found" in text
    assert result.exit_code == 1 and (tmp_path / "m.json").exists()


def test_nothing_usable_exits_non_zero(tmp_path, bad_inputs):
    out = tmp_path / "m.json"
    result = _run(bad_inputs, "-o", out)
    _no_traceback(result)
    assert result.exit_code == 1
    assert "no usable photo" in result.stderr.splitlines()[-1]
    assert len(json.loads(out.read_text())["photos"]) == 4  # still written, for inspection


def test_bad_options(tmp_path, samples):
    photo = samples / "obama.jpg"
    for args, words in (
        (["--size", "10"], "--size: must be a whole number from 64 to 2048"),
        (["--birth-date", "someday"], "not a date"),
        (["--reference", tmp_path / "nope.jpg"], "reference photo"),
        (["--landmarks", "nope"], "nope"),
    ):
        result = _run(photo, "-o", tmp_path / "m.json", *args)
        _no_traceback(result)
        assert result.exit_code != 0 and words in result.output, (args, result.output)


def test_help_names_the_dlib68_licence():
    result = runner.invoke(app, ["analyze", "--help"])
    assert result.exit_code == 0
    assert "COMMERCIAL" in result.output and "dlib68" in result.output


def test_reference_follows_that_person(tmp_path, samples):
    for name in ("obama.jpg", "biden.jpg"):
        shutil.copyfile(samples / name, tmp_path / name)
    ref = tmp_path / "ref" / "biden_ref.jpg"
    ref.parent.mkdir()
    shutil.copyfile(samples / "biden.jpg", ref)
    out = tmp_path / "m.json"
    result = _run(tmp_path / "obama.jpg", tmp_path / "biden.jpg", "--reference", ref, "-o", out)
    _no_traceback(result)
    assert result.exit_code == 0, result.output
    photos = {Path(p["path"]).name: p for p in json.loads(out.read_text())["photos"]}
    assert photos["biden.jpg"]["flags"] == [] and photos["obama.jpg"]["flags"] == ["other_person"]
    assert load_manifest(out).reference == str(ref)  # stored relative to the manifest


def test_dlib68_landmarks(tmp_path, samples):
    shutil.copyfile(samples / "obama.jpg", tmp_path / "obama.jpg")
    out = tmp_path / "m.json"
    result = _run(tmp_path / "obama.jpg", "--landmarks", "dlib68", "-o", out)
    _no_traceback(result)
    assert result.exit_code == 0, result.output
    (photo,) = load_manifest(out).photos
    assert photo.landmarks_kind == "dlib68" and len(photo.landmarks) == 68 and photo.quad is not None
    assert load_manifest(out).settings["landmarks"] == "dlib68"
