"""Collection logic of ``facereel analyze`` on synthetic data (no face models involved).

The per-photo stage (:func:`facereel.pipelines.analyze.photo.analyze_photo`) is replaced by a fake that
returns prepared faces, so the identity vote, the other-person and duplicate flags and the
ordering are tested on their own.  The duplicate test itself runs on real pixel arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import facereel.pipelines.analyze as pa
from facereel.faces.types import Alignment, Detection, FaceAnalysis, Landmarks
from facereel.manifest import PhotoEntry
from facereel.pipelines.analyze import duplicates as dup
from facereel.pipelines.analyze import photo as ph

# ----------------------------------------------------------------------------- inputs


def test_collect_photo_paths(tmp_path):
    d = tmp_path / "album"
    (d / "sub").mkdir(parents=True)
    (d / ".hidden").mkdir()
    for name in ("b.JPG", "a.png", "sub/c.webp", "notes.txt", ".hidden/x.jpg", ".y.jpg"):
        (d / name).write_bytes(b"x")
    single = tmp_path / "odd.dat"
    single.write_bytes(b"x")
    got = pa.collect_photo_paths([d, single, d / "a.png"])  # a.png twice: kept once
    assert got == [d / "a.png", d / "b.JPG", d / "sub" / "c.webp", single]


def test_collect_empty_folder_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(pa.AnalyzeError, match="no photos found in .*empty"):
        pa.collect_photo_paths([tmp_path / "empty"])
    # a missing file is kept: the analysis reports it as unreadable next to the others
    assert pa.collect_photo_paths([tmp_path / "empty", tmp_path / "gone.jpg"]) == [tmp_path / "gone.jpg"]


# ----------------------------------------------------------------------------- duplicates on pixels


def _texture(seed: int, h: int = 400, w: int = 300) -> np.ndarray:
    """Smooth random photo-like image (low-frequency noise), [H, W, 3] uint8."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (h // 10, w // 10, 3)).astype(np.float32)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _face(rgb, quad, descriptor, age=None, too_small=False, shift=(0, 0)) -> ph._Face:
    quad = np.asarray(quad, dtype=np.float64)
    box = tuple(int(v) for v in (*quad.min(0), *quad.max(0)))
    fa = FaceAnalysis(detection=Detection(box=box, score=1.0, too_small=too_small),
                      landmarks=Landmarks(points=quad.copy(), kind="mediapipe", yaw=1.0, pitch=2.0, roll=3.0),
                      landmarks5=quad[[0, 1, 2, 3, 0]], descriptor=np.asarray(descriptor, dtype=np.float64), age=age,
                      gender_female=0.3)
    fa.alignment = Alignment(image=np.zeros((8, 8, 3), np.uint8), quad=quad, recipe="ffhq", size=8)
    f = ph._Face(analysis=fa, quad=quad)
    if rgb is not None:
        f.thumb, f.valid = pa.face_thumb(rgb, quad)
    return f


SQUARE = np.array([[80.0, 100.0], [80.0, 300.0], [280.0, 300.0], [280.0, 100.0]])  # TL, BL, BR, TR


def test_face_thumb_invariant_to_resize_and_crop():
    import cv2

    img = _texture(1)
    a = _face(img, SQUARE, np.zeros(128))
    # resized copy, 0.6x
    small = cv2.resize(img, (180, 240), interpolation=cv2.INTER_AREA)
    b = _face(small, SQUARE * 0.6, np.zeros(128))
    pix, ham = pa.crop_distance(a, b)
    assert pix < 3 and ham <= 6
    # crop that cuts into the face: only the shared pixels are compared
    crop = img[:, 150:]
    c = _face(crop, SQUARE - [150, 0], np.zeros(128))
    assert 0.3 < c.valid.mean() < 0.8
    pix, ham = pa.crop_distance(a, c)
    assert pix < 3 and ham <= 8
    # rotated 90° with the quad rotated the same way: the aligned crop is upright again
    rot = np.ascontiguousarray(np.rot90(img, k=-1))  # clockwise: (x, y) -> (H-1-y, x)
    h = img.shape[0]
    rq = np.stack([h - 1 - SQUARE[:, 1], SQUARE[:, 0]], axis=1)
    d = _face(rot, rq, np.zeros(128))
    pix, ham = pa.crop_distance(a, d)
    assert pix < 3 and ham <= 6


def test_different_shots_are_not_duplicates():
    a = _face(_texture(1), SQUARE, np.zeros(128))
    b = _face(_texture(2), SQUARE, np.zeros(128))
    pix, ham = pa.crop_distance(a, b)
    assert pix > pa.DUPLICATE_PIXEL_DISTANCE or ham > pa.DUPLICATE_HASH_DISTANCE
    # faces that barely overlap cannot be compared at all
    c = _face(_texture(1)[:, 250:], SQUARE - [250, 0], np.zeros(128))
    assert pa.crop_distance(a, c) == (np.inf, None)


# ----------------------------------------------------------------------------- collection


def _unit(seed: int, base: np.ndarray | None = None, spread: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=128)
    v = v / np.linalg.norm(v)
    if base is None:
        return v * 0.5  # identities ~0.7 apart, like dlib's
    return base + spread * v


A = _unit(100)
B = _unit(200)
C = _unit(300)


def _photo(path, faces, date=None, size=(300, 400), orientation=1, nbytes=1000) -> ph._Photo:
    e = PhotoEntry(path=str(path), sha256=str(abs(hash(str(path)))), date=date, width=size[0], height=size[1])
    e.faces = [ph._face_dict(f.analysis.detection) for f in faces]
    if not faces:
        e.flags = ["no_face"]
    return ph._Photo(entry=e, faces=faces, file_bytes=nbytes, orientation=orientation)


@pytest.fixture
def fake_photos(monkeypatch, tmp_path):
    """Installs a fake per-photo stage: ``table[name]`` is the _Photo returned for that file."""
    table: dict[str, ph._Photo] = {}

    def fake(path, **kw):
        made = table[Path(path).name]
        made.entry.path = str(Path(path).absolute())
        return made

    monkeypatch.setattr(ph, "analyze_photo", fake)
    return table


def _files(tmp_path, names):
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    return [tmp_path / n for n in names]


def test_identity_vote_other_people_duplicates_order(fake_photos, tmp_path):
    img1, img2, img3 = _texture(1), _texture(2), _texture(3)
    q2 = SQUARE + [10, 0]
    t = fake_photos
    t["a1.png"] = _photo("a1", [_face(img1, SQUARE, _unit(1, A, 0.1), age=30)], date="2010-06-01T10:00:00")
    # group photo: B is bigger, but A is the person in most photos
    t["a2.png"] = _photo("a2", [_face(img3, SQUARE, B), _face(img2, q2, _unit(2, A, 0.1), age=26)],
                         date="2006-06-01T10:00:00")
    t["a3.png"] = _photo("a3", [_face(img3, SQUARE, _unit(3, A, 0.1), age=41)])  # undated: estimated age
    t["a1_copy.png"] = _photo("a1_copy", [_face(img1, SQUARE, _unit(4, A, 0.05), age=31)],
                              date="2010-06-01T10:00:00", size=(150, 200))
    t["b.png"] = _photo("b", [_face(img2, SQUARE, _unit(5, B, 0.1), age=50)])
    t["c.png"] = _photo("c", [_face(img3 // 2, SQUARE, _unit(6, C, 0.1), age=20)])
    t["none.png"] = _photo("none", [])
    t["tiny.png"] = _photo("tiny", [_face(img1, SQUARE / 10, _unit(7, A, 0.1), too_small=True)])
    paths = _files(tmp_path, list(t))
    seen = []
    m = pa.analyze_collection(paths, progress=lambda d, n: seen.append((d, n)))
    assert seen[0] == (0, 8) and seen[-1] == (8, 8)
    by = {Path(e.path).name: e for e in m.photos}
    assert by["a2.png"].chosen == 1 and by["a2.png"].faces[0]["distance"] > 0.5
    assert by["a1.png"].flags == [] and by["a3.png"].flags == [] and by["a2.png"].flags == []
    assert by["a1_copy.png"].flags == ["duplicate"] and by["a1_copy.png"].duplicate_of == by["a1.png"].path
    assert by["b.png"].flags == ["other_person"] and by["c.png"].flags == ["other_person"]
    assert by["b.png"].other_distance > pa.OTHER_PERSON_DISTANCE > by["a3.png"].other_distance
    assert by["none.png"].flags == ["no_face"] and by["none.png"].chosen is None
    assert "face_too_small" in by["tiny.png"].flags
    # entries carry the chosen face's data
    e = by["a2.png"]
    assert e.quad == q2.tolist() and e.landmarks_kind == "mediapipe" and e.pose == {"yaw": 1.0, "pitch": 2.0, "roll": 3.0}
    assert len(e.descriptor) == 128 and e.age_estimated == 26 and e.gender_female == 0.3
    # birth date inferred from the dated photos (median of date - estimated age), ages on one axis:
    # a2 (2006, est. 26) and a1 (2010, est. 30) both say born mid-1980; a3 keeps its estimate.
    born = m.settings["birth_date_inferred"]
    assert born.startswith("1980-")
    assert abs(by["a2.png"].age - 26) < 0.1 and abs(by["a1.png"].age - 30) < 0.1 and by["a3.png"].age == 41
    assert [Path(p.path).name for p in m.ordered()] == ["a2.png", "a1.png", "a3.png"]
    assert sorted(e.order for e in m.photos) == list(range(8))


def test_birth_date_makes_real_ages(fake_photos, tmp_path):
    img = _texture(1)
    t = fake_photos
    t["old.png"] = _photo("old", [_face(img, SQUARE, _unit(1, A, 0.1), age=10)], date="2020-01-01T00:00:00")
    t["young.png"] = _photo("young", [_face(_texture(2), SQUARE, _unit(2, A, 0.1), age=60)], date="2000-01-01T00:00:00")
    t["undated.png"] = _photo("undated", [_face(_texture(3), SQUARE, _unit(3, A, 0.1), age=12.5)])
    m = pa.analyze_collection(_files(tmp_path, list(t)), birth_date="1990-01-01")
    by = {Path(e.path).name: e for e in m.photos}
    assert abs(by["young.png"].age - 10.0) < 0.01 and abs(by["old.png"].age - 30.0) < 0.01
    assert by["undated.png"].age == 12.5  # estimate where no date
    assert [Path(p.path).name for p in m.ordered()] == ["young.png", "undated.png", "old.png"]
    assert m.birth_date == "1990-01-01" and "birth_date_inferred" not in m.settings
    with pytest.raises(pa.AnalyzeError, match="not a date"):
        pa.analyze_collection(_files(tmp_path, list(t)), birth_date="last spring")


def test_order_falls_back_to_file_name(fake_photos, tmp_path):
    t = fake_photos
    for i, n in enumerate(["c.png", "a.png", "b.png"]):
        t[n] = _photo(n, [_face(_texture(i), SQUARE, _unit(i, A, 0.1))])
    m = pa.analyze_collection(_files(tmp_path, list(t)))
    assert [Path(p.path).name for p in m.ordered()] == ["a.png", "b.png", "c.png"]


def test_reference_picks_the_other_identity(fake_photos, tmp_path, monkeypatch):
    t = fake_photos
    t["a1.png"] = _photo("a1", [_face(_texture(1), SQUARE, _unit(1, A, 0.1))])
    t["a2.png"] = _photo("a2", [_face(_texture(2), SQUARE, _unit(2, A, 0.1))])
    t["ab.png"] = _photo("ab", [_face(_texture(3), SQUARE, _unit(3, A, 0.1)),
                                _face(_texture(4), SQUARE + [5, 0], _unit(4, B, 0.1))])
    t["b.png"] = _photo("b", [_face(_texture(5), SQUARE, _unit(5, B, 0.1))])
    t["ref.png"] = _photo("ref", [_face(_texture(6), SQUARE, _unit(6, B, 0.1))])
    files = _files(tmp_path, list(t))
    m = pa.analyze_collection(files[:4], reference=files[4])
    by = {Path(e.path).name: e for e in m.photos}
    assert by["ab.png"].chosen == 1
    assert by["a1.png"].flags == ["other_person"] and by["a2.png"].flags == ["other_person"]
    assert by["b.png"].flags == [] and m.reference == str(files[4])
    t["noface.png"] = _photo("noface", [])
    with pytest.raises(pa.AnalyzeError, match="reference photo .*no usable face"):
        pa.analyze_collection(files[:4], reference=_files(tmp_path, ["noface.png"])[0])


def test_broken_photo_does_not_stop_the_batch(monkeypatch, tmp_path):
    good = _photo("good", [_face(_texture(1), SQUARE, A)])

    def fake(path, **kw):
        if Path(path).name == "bad.png":
            raise RuntimeError("decoder exploded")
        return good

    monkeypatch.setattr(ph, "analyze_photo", fake)
    m = pa.analyze_collection(_files(tmp_path, ["good.png", "bad.png"]))
    bad = [e for e in m.photos if Path(e.path).name == "bad.png"][0]
    assert bad.flags == ["unreadable"] and "decoder exploded" in bad.error
    assert len(m.ordered()) == 1


def test_split_collection_still_flags_the_other_person(fake_photos, tmp_path):
    # Two photos, two people: the median of both would sit between them and flag nobody; the
    # centre is taken over the followed person's photos only.
    t = fake_photos
    t["a.png"] = _photo("a", [_face(_texture(1), SQUARE, _unit(1, A, 0.1))])
    t["b.png"] = _photo("b", [_face(_texture(2), SQUARE, _unit(2, B, 0.1))])
    m = pa.analyze_collection(_files(tmp_path, list(t)))
    flags = sorted(tuple(e.flags) for e in m.photos)
    assert flags == [(), ("other_person",)]
    assert m.settings["target_support"] == [1, 2]


def test_best_copy_prefers_face_pixels_then_resolution_then_upright():
    img = _texture(1)
    big = _photo("big.png", [_face(img, SQUARE * 1.0, A)], size=(300, 400))
    small = _photo("small.png", [_face(img, SQUARE * 0.5, A)], size=(300, 400))
    crop = _photo("crop.png", [_face(img, SQUARE, A)], size=(200, 400))
    rotated = _photo("a_rotated.png", [_face(img, SQUARE * 1.02, A)], size=(300, 400), orientation=6)
    photos = [small, crop, rotated, big]
    for p in photos:
        p.entry.chosen = 0
        p.entry.quad = p.faces[0].quad.tolist()
    # the small copy loses on face pixels; the crop on image pixels; the rotated one on EXIF
    assert dup._best_copy(photos, [0, 1, 2, 3])[0] == 3
    assert dup._best_copy(photos, [0, 1])[0] == 1


def test_aligned_crop_cache_follows_file_and_quad(tmp_path, monkeypatch):
    from PIL import Image

    from facereel.faces.types import ImageLoadError

    monkeypatch.setenv("FACEREEL_HOME", str(tmp_path / "home"))
    photo = tmp_path / "p.png"
    Image.fromarray(_texture(1)).save(photo)
    entry = PhotoEntry(path=str(photo), quad=SQUARE.tolist(), chosen=0)
    crops = tmp_path / "home" / "crops"
    first = pa.aligned_crop(entry, size=64, recipe="psp")
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8
    assert len(list(crops.glob("*.png"))) == 1
    assert np.array_equal(pa.aligned_crop(entry, size=64, recipe="psp"), first)  # from the cache
    assert len(list(crops.glob("*.png"))) == 1
    # the crop shows the quad's content: the texture under SQUARE, resized to 64 px
    want = np.asarray(Image.fromarray(_texture(1)[100:300, 80:280]).resize((64, 64), Image.BILINEAR))
    assert np.abs(first.astype(float) - want).mean() < 12
    Image.fromarray(_texture(2)).save(photo)  # same path, new content: a new crop
    assert not np.array_equal(pa.aligned_crop(entry, size=64, recipe="psp"), first)
    assert len(list(crops.glob("*.png"))) == 2
    photo.unlink()
    with pytest.raises(ImageLoadError):
        pa.aligned_crop(entry, size=64, recipe="psp")
    with pytest.raises(ValueError, match="no chosen face"):
        pa.aligned_crop(PhotoEntry(path=str(photo)), size=64)


def test_ages_from_dates_puts_dated_photos_on_one_axis():
    """The web page's ages: years since the birth date, given or inferred as the median of
    (date − estimate) over the person's dated photos (other people and unusable entries left out)."""
    from facereel.manifest import Manifest
    from facereel.pipelines.analyze.ordering import ages_from_dates, infer_birth_date

    quad = SQUARE.tolist()

    def entry(name, date, est, flags=()):
        return PhotoEntry(path=name, date=date, age_estimated=est, chosen=0, quad=quad, flags=list(flags))

    photos = [entry("a.jpg", "2000-01-01T00:00:00", 10.0), entry("b.jpg", "2010-01-01T00:00:00", 22.0),
              entry("c.jpg", "2020-01-01T00:00:00", 29.0), entry("d.jpg", None, 40.0),
              entry("e.jpg", "2015-01-01T00:00:00", 80.0, flags=["other_person"])]
    born = infer_birth_date(photos)                       # offsets: 1990, 1988, 1991 -> median 1990
    assert abs((born - __import__("datetime").datetime(1990, 1, 1)).days) <= 1
    m = Manifest(photos=photos)
    ages_from_dates(m)
    assert m.settings["birth_date_inferred"] == born.date().isoformat()
    assert [p.age for p in photos[:3]] == pytest.approx([10.0, 20.0, 30.0], abs=0.01)
    assert photos[3].age is None                          # undated: untouched
    m2 = Manifest(photos=[entry("a.jpg", "2000-01-01T00:00:00", 10.0)], birth_date="1995-01-01")
    ages_from_dates(m2)
    assert m2.photos[0].age == pytest.approx(5.0, abs=0.01) and "birth_date_inferred" not in m2.settings
