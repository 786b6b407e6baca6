"""Every per-photo stage for every face: detect -> landmarks -> align -> identity -> age/gender."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

import numpy as np

from facereel.core.progress import Progress
from facereel.faces.types import FaceAnalysis
from facereel.options.choices import LANDMARKS

log = logging.getLogger(__name__)

LANDMARK_BACKENDS = LANDMARKS
STAGES = ("detect", "landmarks", "landmarks5", "align", "identity", "age")


@contextmanager
def _timed(timings: dict[str, float] | None, stage: str):
    t0 = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0


def analyze_faces(
    rgb: np.ndarray,
    *,
    detector: str = "hog",
    landmarks: str = "mediapipe",
    size: int = 512,
    recipe: str = "ffhq",
    min_size: int = 48,
    align: bool = True,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
) -> list[FaceAnalysis]:
    """Analyses every face of an [H, W, 3] uint8 RGB photo, largest face first.

    ``detector``: ``"hog"`` | ``"cnn"``.  ``landmarks``: ``"mediapipe"`` (default, Apache-2.0)
    or ``"dlib68"`` (NON-COMMERCIAL iBUG 300-W licence).  ``size``/``recipe``: FFHQ alignment
    (see :func:`facereel.faces.align.align_face`); ``align=False`` skips it.  Faces smaller
    than ``min_size`` px get the detection only (``detection.too_small``).  A face whose
    landmarks cannot be found keeps ``landmarks=None`` and no alignment; identity and age still
    come from dlib's 5 points.  ``timings`` (optional dict) accumulates seconds per stage.
    """
    from facereel.faces.age import estimate_age_gender
    from facereel.faces.align import align_face
    from facereel.faces.detect import detect_faces
    from facereel.faces.identity import face_descriptor
    from facereel.faces.landmarks import landmarks_dlib5, landmarks_dlib68, landmarks_mediapipe

    if landmarks not in LANDMARK_BACKENDS:
        raise ValueError(f"unknown landmark backend {landmarks!r} (use 'mediapipe' or 'dlib68')")
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    with _timed(timings, "detect"):
        detections = detect_faces(rgb, method=detector, min_size=min_size)
    results: list[FaceAnalysis] = []
    todo = sum(not d.too_small for d in detections)
    done = 0
    for det in detections:
        face = FaceAnalysis(detection=det)
        results.append(face)
        if det.too_small:
            continue
        with _timed(timings, "landmarks"):
            if landmarks == "mediapipe":
                face.landmarks = landmarks_mediapipe(rgb, det.box)
                if face.landmarks is None:
                    log.info("MediaPipe found no landmarks for the face at %s", det.box)
            else:
                face.landmarks = landmarks_dlib68(rgb, det.box)
        with _timed(timings, "landmarks5"):
            face.landmarks5 = landmarks_dlib5(rgb, det.box)
        if align and face.landmarks is not None:
            with _timed(timings, "align"):
                face.alignment = align_face(rgb, face.landmarks, size=size, recipe=recipe)
        with _timed(timings, "identity"):
            face.descriptor = face_descriptor(rgb, face.landmarks5, det.box)
        with _timed(timings, "age"):
            face.age, face.gender_female = estimate_age_gender(rgb, det.box, face.landmarks5)
        done += 1
        if progress is not None:
            progress(done, todo)
    return results
