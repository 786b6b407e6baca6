"""Identity along a video: dlib descriptors of each frame's face and the seed's identity curve.

Similarity (our definition, used everywhere in :mod:`facereel.metrics`)::

    sim(a, b) = 1 − ‖d(a) − d(b)‖₂

where d is dlib's 128-D ResNet descriptor (:func:`facereel.faces.identity.face_descriptor`).
1 means the same descriptor; dlib's own same-person threshold (distance 0.6 on LFW) is
``sim = 0.4``.  The identity curve (the seed's Fig. 5.6) is the similarity of every frame to its
nearest keyframe (nearest in frame index), so it reads 1 at the keyframes and dips in between
as far as the engine loses the person.

Frames are analysed at most :data:`ANALYSIS_MAX` pixels on a side (the descriptor's chip is 150
px), coordinates are reported in frame pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from facereel.core.progress import Progress
from facereel.metrics.accumulate import run

log = logging.getLogger(__name__)

ANALYSIS_MAX = 384
#: dlib's same-person distance on LFW, as a similarity
SAME_PERSON_SIMILARITY = 1.0 - 0.6


@dataclass
class FaceObservation:
    box: tuple[int, int, int, int] | None     # (l, t, r, b) in frame pixels; None: no face
    landmarks5: np.ndarray | None             # [5, 2] dlib points in frame pixels
    descriptor: np.ndarray | None             # [128] dlib descriptor
    landmarks: np.ndarray | None = None       # [N, 2] landmarks used for jitter (MediaPipe 478 or dlib 5)
    detected: bool = False                    # False when the box was carried over from the previous frame


def similarity(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """``1 − ‖a − b‖₂`` for two dlib descriptors (NaN when either is missing)."""
    if a is None or b is None:
        return float("nan")
    return 1.0 - float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def _work_image(frame: np.ndarray) -> tuple[np.ndarray, float]:
    import cv2

    h, w = frame.shape[:2]
    s = min(1.0, ANALYSIS_MAX / max(h, w))
    if s == 1.0:
        return np.ascontiguousarray(frame, dtype=np.uint8), 1.0
    return cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA), s


def observe_face(frame: np.ndarray, previous_box: tuple[int, int, int, int] | None = None, *,
                 descriptor: bool = True, landmarks: str | None = "mediapipe") -> FaceObservation:
    """Detects the largest face of ``frame`` (dlib HOG) and measures it.

    When the detector misses (an in-between frame can be blurry), ``previous_box`` is used, so a
    time-lapse keeps its track.  ``landmarks``: ``"mediapipe"`` (478 points), ``"dlib5"`` or None.
    """
    from facereel.faces.detect import detect_faces
    from facereel.faces.identity import face_descriptor
    from facereel.faces.landmarks import landmarks_dlib5

    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an [H, W, 3] frame, got {frame.shape}")
    work, s = _work_image(frame)
    dets = [d for d in detect_faces(work, min_size=32) if not d.too_small] or detect_faces(work, min_size=32)
    detected = bool(dets)
    if dets:
        box_w = dets[0].box
    elif previous_box is not None:
        box_w = tuple(int(round(v * s)) for v in previous_box)
    else:
        return FaceObservation(None, None, None)
    pts5_w = landmarks_dlib5(work, box_w)
    desc = face_descriptor(work, pts5_w, box_w) if descriptor else None
    box = tuple(int(round(v / s)) for v in box_w)
    pts5 = pts5_w / s
    lms = None
    if landmarks == "mediapipe":
        from facereel.faces.landmarks import landmarks_mediapipe

        try:
            res = landmarks_mediapipe(work, box_w)
        except Exception as exc:  # noqa: BLE001 - a landmarker failure only costs the jitter figure
            log.debug("MediaPipe failed: %s", exc)
            res = None
        lms = None if res is None else np.asarray(res.points, np.float64) / s
    elif landmarks == "dlib5":
        lms = pts5
    return FaceObservation(box, pts5, desc, lms, detected)


class FaceTrack:
    """Accumulator (:mod:`facereel.metrics.accumulate`) of :func:`observe_face` on every frame,
    carrying the last box over detector misses.  Keeps the descriptors and landmarks only
    (``keep_observations`` keeps every :class:`FaceObservation`)."""

    def __init__(self, *, descriptor: bool = True, landmarks: str | None = "mediapipe",
                 keep_observations: bool = False) -> None:
        self.descriptor, self.landmarks = descriptor, landmarks
        self.descriptors: list[np.ndarray | None] = []
        self.marks: list[np.ndarray | None] = []
        self.observations: list[FaceObservation] | None = [] if keep_observations else None
        self._prev: tuple[int, int, int, int] | None = None

    def update(self, i: int, frame: np.ndarray) -> None:
        ob = observe_face(frame, self._prev, descriptor=self.descriptor, landmarks=self.landmarks)
        self._prev = ob.box or self._prev
        self.descriptors.append(ob.descriptor)
        self.marks.append(ob.landmarks)
        if self.observations is not None:
            self.observations.append(ob)

    def result(self) -> list[FaceObservation] | None:
        return self.observations


def observe_faces(frames: Iterable[np.ndarray], *, descriptor: bool = True, landmarks: str | None = "mediapipe",
                  progress: Progress | None = None, total: int | None = None) -> list[FaceObservation]:
    """:func:`observe_face` on every frame, carrying the last box over detector misses."""
    acc = FaceTrack(descriptor=descriptor, landmarks=landmarks, keep_observations=True)
    run(frames, [acc], progress, total)
    return acc.result()


def nearest_keyframes(n_frames: int, keyframe_indices: Sequence[int]) -> np.ndarray:
    """[n_frames] index (into ``keyframe_indices``) of the keyframe nearest to each frame (ties: earlier)."""
    k = np.asarray(sorted(keyframe_indices), np.int64)
    if k.size == 0:
        raise ValueError("no keyframes")
    i = np.arange(n_frames)[:, None]
    return np.argmin(np.abs(i - k[None, :]), axis=1)


def identity_curve(descriptors: Sequence[np.ndarray | None], keyframe_indices: Sequence[int],
                   keyframe_descriptors: Sequence[np.ndarray | None] | None = None) -> dict:
    """The seed's identity curve: similarity of each frame's descriptor to its nearest keyframe's.

    ``keyframe_descriptors`` default to the descriptors of the frames at ``keyframe_indices``.
    Returns ``{"similarity": [...], "nearest_keyframe": [...], "mean", "min", "in_between_mean",
    "below_same_person"}``; frames without a face are NaN in the list (``None`` in JSON) and left
    out of the statistics.
    """
    n = len(descriptors)
    kidx = list(keyframe_indices)
    if any(not 0 <= k < n for k in kidx):
        raise ValueError(f"keyframe indices {kidx} outside the {n} frames")
    kdesc = list(keyframe_descriptors) if keyframe_descriptors is not None else [descriptors[k] for k in kidx]
    if len(kdesc) != len(kidx):
        raise ValueError("one descriptor per keyframe is needed")
    order = np.argsort(kidx, kind="stable")
    kidx = [kidx[o] for o in order]
    kdesc = [kdesc[o] for o in order]
    near = nearest_keyframes(n, kidx) if n else np.zeros(0, np.int64)
    sims = np.array([similarity(descriptors[i], kdesc[near[i]]) for i in range(n)], np.float64)
    keyset = set(kidx)
    between = np.array([i not in keyset for i in range(n)], bool)
    ok = np.isfinite(sims)

    def _stat(fn, mask):
        return float(fn(sims[mask & ok])) if np.any(mask & ok) else None

    return {
        "similarity": [None if not np.isfinite(s) else float(s) for s in sims],
        "nearest_keyframe": [int(kidx[j]) for j in near],
        "mean": _stat(np.mean, np.ones(n, bool)),
        "min": _stat(np.min, np.ones(n, bool)),
        "in_between_mean": _stat(np.mean, between),
        "below_same_person": int(np.sum(sims[ok] < SAME_PERSON_SIMILARITY)),
        "no_face_frames": int(np.sum(~ok)),
        "definition": "1 - L2 distance between dlib ResNet descriptors (same person above 0.4)",
    }
