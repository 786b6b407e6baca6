"""Identity: dlib's 128-D ResNet face descriptor (``dlib_face_recognition_resnet_model_v1``).

The descriptor is computed on dlib's 150x150 chip aligned from the 5-point shape, as
``face_recognition`` does.  Euclidean distance < ~0.6 means "same person" on LFW (dlib's figure).
"""

from __future__ import annotations

import threading

import numpy as np

from facereel.faces import _models
from facereel.faces.landmarks import full_object_detection, landmarks_dlib5

_lock = threading.Lock()


def face_descriptor(
    rgb: np.ndarray,
    landmarks5: np.ndarray | None = None,
    box: tuple[int, int, int, int] | None = None,
    *,
    num_jitters: int = 0,
) -> np.ndarray:
    """[128] float64 descriptor of one face.

    Give the dlib 5-point landmarks (from :func:`landmarks_dlib5`) or the detection ``box``
    (the 5 points are then predicted), or both.  ``num_jitters`` > 0 averages that many
    randomly jittered chips (slower, slightly more stable).
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if landmarks5 is None:
        if box is None:
            raise ValueError("face_descriptor needs landmarks5 or a box")
        landmarks5 = landmarks_dlib5(rgb, box)
    pts = np.asarray(landmarks5, dtype=np.float64)
    if pts.shape != (5, 2):
        raise ValueError(f"landmarks5 must be [5, 2], got {pts.shape}")
    if box is None:
        # The rectangle only matters to dlib for bookkeeping; chip geometry comes from the points.
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        box = (int(lo[0]), int(lo[1]), int(np.ceil(hi[0])), int(np.ceil(hi[1])))
    shape = full_object_detection(box, pts)
    with _lock:
        if num_jitters > 0:
            desc = _models.face_recognizer().compute_face_descriptor(rgb, shape, num_jitters)
        else:
            desc = _models.face_recognizer().compute_face_descriptor(rgb, shape)
    return np.asarray(desc, dtype=np.float64).reshape(128)


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors (dlib's metric)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))
