"""Issue 2 "Done when" on the real sample set, with the default backends (HOG + MediaPipe).

The set: the three distinct obama photos, the two crops of obama.jpg, a resized copy of
obama3.jpg, an EXIF-rotated copy of obama2.jpg (pixels stored sideways, Orientation = 6),
biden.jpg and astronaut.png.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from facereel.manifest import load_manifest, save_manifest

SAMPLES = ("obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg",
           "biden.jpg", "astronaut.png")


def make_sample_set(folder: Path) -> Path:
    from PIL import Image

    from facereel.samples import sample_path

    folder.mkdir(parents=True, exist_ok=True)
    for name in SAMPLES:
        shutil.copyfile(sample_path(name), folder / name)
    with Image.open(sample_path("obama3.jpg")) as im:
        im.resize((im.width * 3 // 5, im.height * 3 // 5), Image.LANCZOS).save(folder / "obama3_resized.jpg", quality=90)
    with Image.open(sample_path("obama2.jpg")) as im:
        upright = np.asarray(im.convert("RGB"))
    # Stored rotated 90° counter-clockwise; Orientation 6 tells viewers to turn it clockwise.
    sideways = Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(folder / "obama2_rotated.jpg", quality=92, exif=exif.tobytes())
    return folder


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    from facereel.pipelines.analyze import analyze_collection

    root = tmp_path_factory.mktemp("analyze_samples")
    old = os.environ.get("FACEREEL_HOME")
    os.environ["FACEREEL_HOME"] = str(root / "home")  # the crop cache of this test only
    try:
        folder = make_sample_set(root / "photos")
        calls = []
        manifest = analyze_collection([folder], progress=lambda d, n: calls.append((d, n)))
        path = save_manifest(manifest, root / "manifest.json")
        yield manifest, path, folder, calls
    finally:
        if old is None:
            os.environ.pop("FACEREEL_HOME", None)
        else:
            os.environ["FACEREEL_HOME"] = old


def _by_name(manifest):
    return {Path(e.path).name: e for e in manifest.photos}


@pytest.mark.slow
def test_three_distinct_photos_are_one_identity(analysed):
    manifest, _, _, calls = analysed
    assert calls[-1] == (9, 9)
    by = _by_name(manifest)
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg"):
        assert by[name].flags == [], (name, by[name].flags)
        assert by[name].chosen is not None and by[name].quad is not None
        assert by[name].landmarks_kind == "mediapipe" and len(by[name].landmarks) == 478
    assert {Path(e.path).name for e in manifest.ordered()} == {"obama.jpg", "obama2.jpg", "obama3.jpg"}


@pytest.mark.slow
def test_copies_are_duplicates_of_their_originals(analysed):
    by = _by_name(analysed[0])
    expected = {
        "obama_partial_face.jpg": "obama.jpg",
        "obama_partial_face2.jpg": "obama.jpg",
        "obama3_resized.jpg": "obama3.jpg",
        "obama2_rotated.jpg": "obama2.jpg",
    }
    for copy, original in expected.items():
        e = by[copy]
        assert "duplicate" in e.flags, (copy, e.flags)
        assert Path(e.duplicate_of).name == original, (copy, e.duplicate_of)


@pytest.mark.slow
def test_other_people_are_flagged(analysed):
    by = _by_name(analysed[0])
    for name in ("biden.jpg", "astronaut.png"):
        assert "other_person" in by[name].flags, (name, by[name].flags, by[name].other_distance)
    same = max(by[n].other_distance for n in ("obama.jpg", "obama2.jpg", "obama3.jpg"))
    other = min(by[n].other_distance for n in ("biden.jpg", "astronaut.png"))
    assert same < other


@pytest.mark.slow
def test_rotated_copy_aligns_upright(analysed):
    from facereel.faces.align import photo_to_crop
    from facereel.faces.io import load_image
    from facereel.faces.types import Alignment
    from facereel.pipelines.analyze import aligned_crop

    by = _by_name(analysed[0])
    orig, rot = by["obama2.jpg"], by["obama2_rotated.jpg"]
    assert load_image(rot.path).orientation == 6
    size = 512

    def aligned_points(e):
        al = Alignment(image=np.zeros((1, 1, 3), np.uint8), quad=np.asarray(e.quad), recipe="ffhq", size=size)
        return photo_to_crop(al, np.asarray(e.landmarks))

    # Face size in the aligned crop: the FFHQ quad side is the crop side.
    err = np.linalg.norm(aligned_points(rot) - aligned_points(orig), axis=1).max() / size
    assert err < 0.02, err
    a, b = aligned_crop(orig, size=256), aligned_crop(rot, size=256)
    assert a.shape == b.shape == (256, 256, 3)
    assert np.abs(a.astype(float) - b.astype(float)).mean() < 8  # upright, same face


@pytest.mark.slow
def test_aligned_crop_matches_align_face_and_is_cached(analysed):
    from facereel.faces.align import align_face
    from facereel.faces.io import load_image
    from facereel.faces.types import Landmarks
    from facereel.paths import cache_dir
    from facereel.pipelines.analyze import align_from_quad, aligned_crop

    e = _by_name(analysed[0])["obama.jpg"]
    rgb = load_image(e.path).rgb
    lm = Landmarks(points=np.asarray(e.landmarks), kind=e.landmarks_kind)
    for recipe, size in (("psp", 256), ("ffhq", 256)):
        ref = align_face(rgb, lm, size=size, recipe=recipe)
        got = align_from_quad(rgb, ref.quad, size=size, recipe=recipe)
        assert np.array_equal(got.image, ref.image), recipe
    before = set(cache_dir("crops").glob("*.png"))
    first = aligned_crop(e, size=256, recipe="psp")
    made = set(cache_dir("crops").glob("*.png")) - before
    assert len(made) == 1
    again = aligned_crop(e, size=256, recipe="psp")
    assert np.array_equal(first, again)
    # a hand-edited quad is a different crop
    moved = type(e)(**{**e.__dict__, "quad": (np.asarray(e.quad) + 5.0).tolist()})
    assert not np.array_equal(aligned_crop(moved, size=256, recipe="psp"), first)


@pytest.mark.slow
def test_manifest_round_trip_and_hand_edit(analysed):
    import json

    manifest, path, folder, _ = analysed
    data = json.loads(path.read_text())
    names = [Path(p["path"]).name for p in data["photos"]]
    data["photos"][names.index("obama2.jpg")]["excluded"] = True
    data["photos"][names.index("biden.jpg")]["flags"] = []  # the user keeps biden after all
    data["photos"][names.index("biden.jpg")]["order"] = -1
    edited = path.with_name("edited.json")
    edited.write_text(json.dumps(data))
    back = load_manifest(edited)
    order = [Path(e.path).name for e in back.ordered()]
    assert order[0] == "biden.jpg" and "obama2.jpg" not in order and "obama.jpg" in order


@pytest.mark.slow
def test_two_photos_at_a_time_give_the_serial_manifest(analysed, monkeypatch):
    """The analysis runs two photos at once (dlib's scans, MediaPipe and the age net overlap):
    every face, descriptor, age, flag and the order are those of one photo after the other."""
    from facereel.pipelines.analyze import analyze_collection
    from facereel.pipelines.analyze import collection as C

    manifest, _, folder, calls = analysed
    assert C.PHOTO_WORKERS == 2
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)      # progress in order
    monkeypatch.setattr(C, "PHOTO_WORKERS", 1)
    serial = analyze_collection([folder])
    from facereel.manifest import manifest_to_dict

    a, b = manifest_to_dict(manifest), manifest_to_dict(serial)
    a.pop("created"), b.pop("created")
    assert a == b
