"""Landmarks (MediaPipe, dlib 68/5), head pose, blendshapes, and the two backends' FFHQ quads."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from facereel.faces.align import eye_mouth_points, ffhq_quad
from facereel.faces.detect import detect_faces
from facereel.faces.expression import BLENDSHAPE_NAMES, expression_scores, head_pose, smile_score
from facereel.faces.io import load_image
from facereel.faces.landmarks import landmarks_dlib5, landmarks_dlib68, landmarks_mediapipe
from tests.helpers.golden import GOLDEN_DIR

log = logging.getLogger(__name__)
# beside the repository (../shared/golden); a missing fixture fails, never skips
GOLDEN = GOLDEN_DIR / "align_ffhq.npz"


@pytest.fixture(scope="module")
def obama(samples):
    rgb = load_image(samples / "obama.jpg").rgb
    return rgb, detect_faces(rgb)[0].box


def test_mediapipe_on_a_portrait(obama):
    rgb, box = obama
    lm = landmarks_mediapipe(rgb, box)
    assert lm is not None and lm.kind == "mediapipe"
    assert lm.points.shape == (478, 2) and lm.points.dtype == np.float64
    # The mesh covers the detected face (points within a margin of the box).
    l, t, r, b = box
    inside = (lm.points[:, 0] > l - 0.3 * (r - l)) & (lm.points[:, 0] < r + 0.3 * (r - l)) \
        & (lm.points[:, 1] > t - 0.5 * (b - t)) & (lm.points[:, 1] < b + 0.3 * (b - t))
    assert inside.all()
    assert set(lm.blendshapes) == set(BLENDSHAPE_NAMES) and len(lm.blendshapes) == 52
    assert all(0.0 <= v <= 1.0 for v in lm.blendshapes.values())
    assert lm.pose_matrix.shape == (4, 4)
    assert abs(lm.yaw) < 10 and abs(lm.roll) < 10 and abs(lm.pitch) < 15  # a frontal portrait
    assert expression_scores(lm) == lm.blendshapes
    assert smile_score(lm) is not None


def test_mediapipe_whole_image_agrees_with_box_crop(obama):
    rgb, box = obama
    a = landmarks_mediapipe(rgb, box)
    b = landmarks_mediapipe(rgb)
    face = box[2] - box[0]
    assert np.median(np.linalg.norm(a.points - b.points, axis=1)) < 0.02 * face


def test_mediapipe_matches_dlib_on_corresponding_points(obama):
    rgb, box = obama
    mp = landmarks_mediapipe(rgb, box)
    dl = landmarks_dlib68(rgb, box)
    face = box[2] - box[0]
    for a, b in zip(eye_mouth_points(mp), eye_mouth_points(dl)):
        assert np.linalg.norm(a - b) < 0.03 * face


def test_pose_signs_under_flip_and_rotation(obama):
    rgb, box = obama
    base = landmarks_mediapipe(rgb)
    flipped = landmarks_mediapipe(np.ascontiguousarray(rgb[:, ::-1]))
    rotated = landmarks_mediapipe(np.asarray(Image.fromarray(rgb).rotate(15)))  # 15 deg counter-clockwise
    assert rotated.roll - base.roll == pytest.approx(15, abs=4)
    assert flipped.pitch == pytest.approx(base.pitch, abs=3)
    # A turned face: mirroring negates yaw.
    assert abs(flipped.yaw + base.yaw) < 3


def test_yaw_sign_on_turned_faces(samples):
    # obama2 looks to the image's left, obama3 to the image's right (nose offset confirms).
    for name, sign in [("obama2.jpg", -1), ("obama3.jpg", +1)]:
        rgb = load_image(samples / name).rgb
        lm = landmarks_mediapipe(rgb, detect_faces(rgb)[0].box)
        p = lm.points
        nose_offset = p[1, 0] - (p[234, 0] + p[454, 0]) / 2
        assert np.sign(nose_offset) == sign and np.sign(lm.yaw) == sign and abs(lm.yaw) > 5


def test_head_pose_from_synthetic_matrix():
    def rot(yaw, pitch, roll):
        y, p, r = np.radians([yaw, pitch, roll])
        rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
        ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
        rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
        m = np.eye(4)
        m[:3, :3] = 1.3 * (rz @ ry @ rx)  # a scale must not change the angles
        return m

    for angles in [(0, 0, 0), (20, -10, 5), (-35, 15, -12)]:
        np.testing.assert_allclose(head_pose(rot(*angles)), angles, atol=1e-9)


def test_mediapipe_multi_face_uses_the_box(samples):
    a = load_image(samples / "obama.jpg").rgb
    b = load_image(samples / "biden.jpg").rgb[:1137, :910]
    canvas = np.ascontiguousarray(np.concatenate([a, b[: a.shape[0], : a.shape[1]]], axis=1))
    dets = detect_faces(canvas)
    assert len(dets) == 2
    for d in dets:
        lm = landmarks_mediapipe(canvas, d.box)
        cx = lm.points[:, 0].mean()
        assert d.box[0] <= cx <= d.box[2]


def test_mediapipe_none_without_face():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (240, 240, 3), dtype=np.uint8)
    assert landmarks_mediapipe(noise) is None
    assert landmarks_mediapipe(noise, (60, 60, 180, 180)) is None


def test_dlib_landmarks_reproduce_the_fixture(samples):
    # Same photo, same rectangle -> dlib's 68 and 5 points exactly as stored.
    z = np.load(GOLDEN)
    rgb = load_image(samples / "astronaut.png").rgb  # PNG: dlib's and Pillow's decoders agree
    box = tuple(int(v) for v in z["in/astronaut/det_rect_ltrb"])
    lm68 = landmarks_dlib68(rgb, box)
    assert lm68.kind == "dlib68" and lm68.points.shape == (68, 2)
    np.testing.assert_array_equal(lm68.points, z["in/astronaut/landmarks68"])
    np.testing.assert_array_equal(landmarks_dlib5(rgb, box), z["in/astronaut/landmarks5"])


def test_mediapipe_quad_vs_dlib68_quad(samples):
    """Both backends feed one FFHQ recipe; report how far their quads are apart."""
    rows = []
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png", "obama_partial_face.jpg"]:
        rgb = load_image(samples / name).rgb
        box = detect_faces(rgb)[0].box
        qa = ffhq_quad(*eye_mouth_points(landmarks_mediapipe(rgb, box)))
        qb = ffhq_quad(*eye_mouth_points(landmarks_dlib68(rgb, box)))
        side = np.linalg.norm(qb[3] - qb[0])
        corner = np.linalg.norm(qa - qb, axis=1).max() / side
        centre = np.linalg.norm(qa.mean(0) - qb.mean(0)) / side
        scale = np.linalg.norm(qa[3] - qa[0]) / side - 1
        angle = np.degrees(np.arctan2(*(qa[3] - qa[0])[::-1]) - np.arctan2(*(qb[3] - qb[0])[::-1]))
        rows.append((name, corner, centre, scale, angle))
        log.info("%s: quad side %.0f px, max corner %.2f%%, centre %.2f%%, scale %+.2f%%, angle %+.2f deg",
                 name, side, 100 * corner, 100 * centre, 100 * scale, angle)
    corners = np.array([r[1] for r in rows])
    print("\nMediaPipe vs dlib68 FFHQ quad (fraction of the quad side):")
    for name, corner, centre, scale, angle in rows:
        print(f"  {name:24s} corner {corner:.4f} centre {centre:.4f} scale {scale:+.4f} angle {angle:+.2f} deg")
    assert corners.max() < 0.04
    assert corners.mean() < 0.025


_IMPORT_RACE = """
import threading
from facereel.faces import _models
bar, errors = threading.Barrier(8), []
def run():
    try:
        bar.wait()
        _models.mediapipe()
        from mediapipe.tasks.python import vision   # what the landmarker and segmenter import next
        vision.ImageSegmenterOptions
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=run) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print("errors", errors)
"""


def test_mediapipe_imported_by_many_threads_at_once():
    """The morph builds its head layers two at a time, so two threads reach MediaPipe's first
    import together.  Without one import lock a thread got the half-imported package and Python's
    import deadlock detection failed the other's import (about one run in four here; the
    time-lapse then fell back to the face-only morph).  Three fresh processes, eight threads each."""
    import subprocess
    import sys

    runs = [subprocess.Popen([sys.executable, "-c", _IMPORT_RACE], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in runs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        assert "errors []" in out, out[-2000:]
