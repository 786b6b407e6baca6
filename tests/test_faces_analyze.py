"""facereel.faces.analyze_faces: all stages per face, on real and synthetic photos."""

from __future__ import annotations

import numpy as np
import pytest

from facereel.faces import analyze_faces
from facereel.faces.analyze import STAGES
from facereel.faces.io import load_image


def test_portrait_all_stages(samples):
    rgb = load_image(samples / "obama2.jpg").rgb
    timings: dict[str, float] = {}
    calls = []
    faces = analyze_faces(rgb, size=256, recipe="psp", timings=timings, progress=lambda d, t: calls.append((d, t)))
    assert len(faces) == 1
    f = faces[0]
    assert not f.detection.too_small
    assert f.landmarks.kind == "mediapipe" and f.landmarks.points.shape == (478, 2)
    assert f.landmarks5.shape == (5, 2)
    assert f.alignment.image.shape == (256, 256, 3) and f.alignment.recipe == "psp"
    assert f.descriptor.shape == (128,)
    assert 20 < f.age < 80 and f.gender_female < 0.5
    assert set(timings) == set(STAGES) and all(v >= 0 for v in timings.values())
    assert calls == [(1, 1)]


def test_dlib68_backend_and_no_align(samples):
    rgb = load_image(samples / "astronaut.png").rgb
    faces = analyze_faces(rgb, landmarks="dlib68", align=False)
    assert faces[0].landmarks.kind == "dlib68" and faces[0].alignment is None
    assert faces[0].gender_female > 0.5
    with pytest.raises(ValueError, match="landmark backend"):
        analyze_faces(rgb, landmarks="openface")


def test_two_people_and_a_tiny_face(samples):
    import cv2

    # A small group photo (0.33 MP, so the detector may upsample) with a face below min_size.
    a = load_image(samples / "obama.jpg").rgb
    b = load_image(samples / "biden.jpg").rgb[:1137, :910]
    canvas = cv2.resize(np.concatenate([a, b], axis=1), None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    tiny = cv2.resize(a, None, fx=0.15, fy=0.15, interpolation=cv2.INTER_AREA)
    canvas[-tiny.shape[0] - 5:-5, 5:5 + tiny.shape[1]] = tiny
    faces = analyze_faces(np.ascontiguousarray(canvas), size=256, recipe="psp")
    big = [f for f in faces if not f.detection.too_small]
    small = [f for f in faces if f.detection.too_small]
    assert len(big) == 2 and len(small) == 1
    assert small[0].landmarks is None and small[0].descriptor is None and small[0].alignment is None
    assert np.linalg.norm(big[0].descriptor - big[1].descriptor) > 0.6
    # Largest first.
    areas = [(f.detection.box[2] - f.detection.box[0]) * (f.detection.box[3] - f.detection.box[1]) for f in faces]
    assert areas == sorted(areas, reverse=True)


def test_no_face():
    assert analyze_faces(np.full((200, 200, 3), 128, np.uint8)) == []


def test_exif_rotated_copy_aligns_upright(samples):
    import io

    from PIL import Image

    from facereel.faces.align import eye_mouth_points, photo_to_crop

    original = load_image(samples / "obama3.jpg").rgb
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(original, k=-1)))  # sideways on disk
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 counter-clockwise to display"
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=92, exif=exif)
    rotated = load_image(buf.getvalue()).rgb
    assert rotated.shape == original.shape
    a = analyze_faces(original, size=256, recipe="psp")[0]
    b = analyze_faces(rotated, size=256, recipe="psp")[0]
    pa = photo_to_crop(a.alignment, np.stack(eye_mouth_points(a.landmarks)))
    pb = photo_to_crop(b.alignment, np.stack(eye_mouth_points(b.landmarks)))
    # Aligned eye/mouth points agree within 2 % of the crop (= face) size.
    assert np.linalg.norm(pa - pb, axis=1).max() < 0.02 * 256
