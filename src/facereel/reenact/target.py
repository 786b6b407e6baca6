"""The target face: which face of the target photo is driven, and its FFHQ alignment.

:func:`select_target_face` honours ``options.face_index``, then ``options.reference`` (the face
whose dlib descriptor is nearest the reference photo's largest face), then takes the largest
face.  Results are cached per photo content and options, so the runner and the method it drives
analyse the photo once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading

import numpy as np

from facereel.faces.types import Alignment, Landmarks

from .base import NoFaceError, ReenactError

__all__ = ["TargetFace", "select_target_face", "face_landmarks"]


@dataclasses.dataclass(frozen=True)
class TargetFace:
    index: int                           # in detection order (largest first)
    count: int                           # faces found in the photo
    box: tuple[int, int, int, int]
    landmarks: Landmarks                 # MediaPipe 478 points in photo pixels
    alignment: Alignment                 # FFHQ crop at options.size, quad in photo pixels
    how: str                             # "only" | "largest" | "reference" | "index"

    def describe(self) -> str:
        if self.count == 1:
            return "the target photo's only face"
        why = {"largest": "the largest", "reference": "the one nearest --reference",
               "index": "the one asked for"}[self.how]
        return f"face {self.index + 1} of {self.count} in the target photo ({why}, box {self.box})"


_cache: dict[tuple, TargetFace] = {}
_lock = threading.Lock()


def _key(rgb: np.ndarray, size: int, reference, face_index) -> tuple:
    h = hashlib.sha1(np.ascontiguousarray(rgb).tobytes()).hexdigest()
    return (h, rgb.shape, int(size), reference, face_index)


def face_landmarks(rgb: np.ndarray) -> Landmarks | None:
    """MediaPipe landmarks of the largest face of a frame (None: no face)."""
    from facereel.faces.landmarks import landmarks_mediapipe

    return landmarks_mediapipe(np.ascontiguousarray(rgb, dtype=np.uint8))


def _reference_descriptor(path: str) -> np.ndarray:
    from facereel.faces.detect import detect_faces
    from facereel.faces.identity import face_descriptor
    from facereel.faces.io import load_image

    try:
        ref = load_image(path).rgb
    except Exception as exc:  # unreadable reference photo: one line
        raise ReenactError(f"cannot read the reference photo {path}: {exc}") from None
    faces = detect_faces(ref)
    if not faces:
        raise NoFaceError(f"no face found in the reference photo {path}")
    return face_descriptor(ref, box=faces[0].box)


def select_target_face(rgb: np.ndarray, options) -> TargetFace:
    """The target face chosen by ``options`` (face_index > reference > largest)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    key = _key(rgb, options.size, options.reference, options.face_index)
    with _lock:
        if key in _cache:
            return _cache[key]
    face = _select(rgb, options)
    with _lock:
        if len(_cache) > 16:
            _cache.clear()
        _cache[key] = face
    return face


def _select(rgb: np.ndarray, options) -> TargetFace:
    from facereel.faces.align import align_face
    from facereel.faces.detect import detect_faces
    from facereel.faces.landmarks import landmarks_mediapipe

    dets = [d for d in detect_faces(rgb) if not d.too_small] or detect_faces(rgb)
    if not dets:
        # dlib's HOG misses some strongly turned faces that MediaPipe still finds.
        lm = landmarks_mediapipe(rgb)
        if lm is None:
            raise NoFaceError("no face found in the target photo")
        lo, hi = lm.points.min(axis=0), lm.points.max(axis=0)
        box = (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
        return TargetFace(0, 1, box, lm, align_face(rgb, lm, size=options.size), "only")
    if options.face_index is not None:
        if options.face_index >= len(dets):
            raise ReenactError(f"the target photo shows {len(dets)} face(s); face index {options.face_index} "
                               "does not exist")
        index, how = options.face_index, "index"
    elif options.reference is not None and len(dets) > 1:
        from facereel.faces.identity import descriptor_distance, face_descriptor

        ref = _reference_descriptor(options.reference)
        dist = [descriptor_distance(ref, face_descriptor(rgb, box=d.box)) for d in dets]
        index, how = int(np.argmin(dist)), "reference"
    else:
        index, how = 0, "only" if len(dets) == 1 else "largest"
    det = dets[index]
    lm = landmarks_mediapipe(rgb, det.box)
    if lm is None:
        raise NoFaceError(f"no facial landmarks found for the target face at {det.box}")
    return TargetFace(index, len(dets), det.box, lm, align_face(rgb, lm, size=options.size), how)
