"""The JSON manifest: round trip, hand edits, validation errors, path resolution."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from facereel.manifest import (
    MANIFEST_VERSION,
    Manifest,
    ManifestError,
    PhotoEntry,
    load_manifest,
    save_manifest,
)

QUAD = [[10.0, 10.0], [10.0, 90.0], [90.0, 90.0], [90.0, 10.0]]


def _entry(path, order, **kw):
    face = {"box": [10, 10, 90, 90], "score": 1.0, "too_small": False}
    base = dict(path=str(path), sha256="ab" * 32, faces=[face], chosen=0, quad=QUAD, order=order)
    base.update(kw)
    return PhotoEntry(**base)


def _manifest(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    return Manifest(
        settings={"size": 512},
        photos=[
            _entry(photos / "b.jpg", 1, age=30.0, date="2010-05-01T12:00:00"),
            _entry(photos / "a.jpg", 0, age=20.0),
            _entry(photos / "c.jpg", 2, flags=["duplicate"], duplicate_of=str(photos / "a.jpg")),
            _entry(photos / "d.jpg", 3, flags=["other_person"], other_distance=0.71),
            PhotoEntry(path=str(photos / "e.txt"), flags=["unreadable"], error="not an image", order=4),
            PhotoEntry(path=str(photos / "f.jpg"), flags=["no_face"], order=5),
        ],
        birth_date="1980-01-01",
    )


def test_round_trip_relative_paths(tmp_path):
    m = _manifest(tmp_path)
    m.photos[0].landmarks = np.arange(10, dtype=np.float64).reshape(5, 2)  # numpy is accepted
    m.photos[0].pose = {"yaw": np.float32(1.5), "pitch": float("nan"), "roll": 0.0}
    out = save_manifest(m, tmp_path / "m.json")
    data = json.loads(out.read_text())
    assert data["version"] == MANIFEST_VERSION
    # photos inside the manifest's folder are stored relative to it
    assert data["photos"][0]["path"] == "photos/b.jpg"
    assert data["photos"][2]["duplicate_of"] == "photos/a.jpg"
    assert data["photos"][0]["pose"]["pitch"] is None  # NaN is not JSON
    # moving the whole folder keeps the manifest valid
    moved = tmp_path.parent / (tmp_path.name + "_moved")
    os.rename(tmp_path, moved)
    back = load_manifest(moved / "m.json")
    assert back.photos[0].path == str(moved / "photos" / "b.jpg")
    assert back.photos[2].duplicate_of == str(moved / "photos" / "a.jpg")
    assert back.photos[0].landmarks == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0], [8.0, 9.0]]
    assert back.birth_date == "1980-01-01" and back.settings == {"size": 512}
    assert [p.flags for p in back.photos] == [p.flags for p in m.photos]


def test_outside_paths_stay_absolute(tmp_path):
    m = Manifest(photos=[_entry(tmp_path / "x.jpg", 0)])
    sub = tmp_path / "sub"
    save_manifest(m, sub / "m.json")
    assert json.loads((sub / "m.json").read_text())["photos"][0]["path"] == str(tmp_path / "x.jpg")
    assert load_manifest(sub / "m.json").photos[0].path == str(tmp_path / "x.jpg")


def test_ordered_and_skipped(tmp_path):
    m = _manifest(tmp_path)
    assert [p.name for p in m.ordered()] == ["a.jpg", "b.jpg"]
    assert [p.name for p in m.ordered(keep_flagged=True)] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    reasons = {p.name: r for p, r in m.skipped()}
    assert reasons["c.jpg"] == "duplicate of a.jpg"
    assert "0.71" in reasons["d.jpg"] and "another person" in reasons["d.jpg"]
    assert reasons["e.txt"] == "unreadable: not an image"
    assert reasons["f.jpg"] == "no face found"
    # keep_flagged never makes a photo without a face usable
    assert {p.name for p, _ in m.skipped(keep_flagged=True)} == {"e.txt", "f.jpg"}


def test_hand_edits_are_honoured(tmp_path):
    path = save_manifest(_manifest(tmp_path), tmp_path / "m.json")
    data = json.loads(path.read_text())
    data["photos"][0]["order"] = -1          # b first now
    data["photos"][1]["excluded"] = True     # drop a
    data["photos"][3]["flags"] = []          # keep d after all
    data["photos"][3]["age"] = 44            # ints are fine
    data["photos"][0]["some_future_key"] = 1  # ignored
    path.write_text(json.dumps(data))
    m = load_manifest(path)
    assert [p.name for p in m.ordered()] == ["b.jpg", "d.jpg"]
    assert m.photos[3].age == 44.0
    assert [r for p, r in m.skipped() if p.name == "a.jpg"] == ["excluded by the user"]


def test_reorder_by_age_then_date_then_name(tmp_path):
    m = Manifest(photos=[
        PhotoEntry(path="z.jpg"),
        PhotoEntry(path="y.jpg", date="2001-01-01T00:00:00"),
        PhotoEntry(path="x.jpg", age=50.0),
        PhotoEntry(path="w.jpg", age=10.0),
        PhotoEntry(path="v.jpg"),
    ])
    m.reorder()
    assert [p.path for p in sorted(m.photos, key=lambda p: p.order)] == ["w.jpg", "x.jpg", "y.jpg", "v.jpg", "z.jpg"]


def test_atomic_save_leaves_no_temp_and_keeps_old_on_failure(tmp_path):
    path = save_manifest(_manifest(tmp_path), tmp_path / "m.json")
    before = path.read_text()
    bad = _manifest(tmp_path / "..")
    bad.settings = {"obj": object()}  # not serialisable: save must fail before touching the file
    with pytest.raises(TypeError):
        save_manifest(bad, path)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "photos"]


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", "not valid JSON"),
        ('{"version": 99, "photos": []}', "version 99 is not supported"),
        ('{"photos": []}', "no 'version'"),
        ('[1, 2]', "must be a JSON object"),
        ('{"version": 1, "photos": {}}', "'photos' must be a list"),
        ('{"version": 1, "photos": [{"path": "a.jpg", "chosen": 2, "faces": []}]}', "not an index"),
        ('{"version": 1, "photos": [{"path": "a.jpg", "flags": ["blurry"]}]}', "unknown flags"),
        ('{"version": 1, "photos": [{"path": "a.jpg", "age": "old"}]}', "'age' must be a number"),
        ('{"version": 1, "photos": [{"path": "a.jpg", "date": "yesterday"}]}', "not ISO 8601"),
        ('{"version": 1, "photos": [{"path": "a.jpg", "quad": [[1, 2]]}]}', "must have 4 points"),
        ('{"version": 1, "photos": [{"path": "a.jpg", "excluded": "yes"}]}', "'excluded' must be true or false"),
        ('{"version": 1, "photos": [{"faces": []}]}', "'path' must be a non-empty string"),
    ],
)
def test_bad_manifests_raise_one_clear_error(tmp_path, text, match):
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(ManifestError, match=match) as info:
        load_manifest(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_missing_manifest(tmp_path):
    with pytest.raises(ManifestError, match="no such manifest"):
        load_manifest(tmp_path / "nope.json")


def test_minimal_hand_written_manifest(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"version": 1, "photos": [
        {"path": "a.jpg", "faces": [{"box": [0, 0, 10, 10]}], "chosen": 0, "quad": QUAD, "order": 0}]}))
    m = load_manifest(tmp_path / "m.json")
    assert [Path(p.path) for p in m.ordered()] == [tmp_path / "a.jpg"]
