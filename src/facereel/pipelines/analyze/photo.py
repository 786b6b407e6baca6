"""The per-photo stage: read one photo (or take one video frame) and analyse every face in it.

No warps happen here: a face's quad comes from its landmarks, aligned crops are made on demand
(:mod:`.crops`, cached), and the duplicate test uses its own small thumbnails (:mod:`.duplicates`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facereel.manifest import PhotoEntry
from facereel.options.analyze import AnalyzeOptions

THUMB = 160  # aligned grey thumbnails for the duplicate test


@dataclass
class _Face:
    analysis: object                     # FaceAnalysis
    quad: np.ndarray | None              # [4, 2]
    thumb: np.ndarray | None = None      # [T, T] uint8 grey aligned crop
    valid: np.ndarray | None = None      # [T, T] bool: pixels that came from the photo
    features: tuple | None = None        # SIFT ([K, 2] points, [K, 128] descriptors), lazily


@dataclass
class _Photo:
    entry: PhotoEntry
    faces: list[_Face] = field(default_factory=list)
    file_bytes: int = 0
    orientation: int = 1


def _quad_side(quad: np.ndarray) -> float:
    q = np.asarray(quad, dtype=np.float64)
    return float(np.hypot(*(q[3] - q[0])) + np.hypot(*(q[1] - q[0]))) / 2


def quad_affine(quad: np.ndarray, size: int) -> np.ndarray:
    """[2, 3] affine map from photo pixels to an ``size``² crop of the FFHQ ``quad``.

    The quad's top-left, bottom-left and top-right corners go to (0, 0), (0, S), (S, 0): the
    FFHQ quad is a square, so three corners fix it (pixel-centre convention of cv2/PIL aside).
    """
    import cv2

    q = np.asarray(quad, dtype=np.float32)
    src = np.stack([q[0], q[1], q[3]])
    dst = np.array([[0, 0], [0, size], [size, 0]], dtype=np.float32)
    return cv2.getAffineTransform(src, dst)


def face_thumb(rgb: np.ndarray, quad: np.ndarray, size: int = THUMB) -> tuple[np.ndarray, np.ndarray]:
    """Grey aligned crop of ``quad`` ([S, S] uint8) and the mask of pixels inside the photo.

    The photo is first shrunk with area averaging so that the warp never skips pixels; a
    resized copy of a photo then gives the same thumbnail as the original.
    """
    import cv2

    quad = np.asarray(quad, dtype=np.float64)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    scale = min(1.0, 1.5 * size / max(_quad_side(quad), 1.0))
    if scale < 1.0:
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        grey = cv2.resize(grey, (nw, nh), interpolation=cv2.INTER_AREA)
        sx, sy = nw / w, nh / h
        quad = quad * np.array([sx, sy])
    m = quad_affine(quad, size)
    thumb = cv2.warpAffine(grey, m, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ones = np.ones(grey.shape, np.uint8)
    valid = cv2.warpAffine(ones, m, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0)
    valid = cv2.erode(valid, np.ones((5, 5), np.uint8)) > 0  # drop the interpolated border
    return thumb, valid


def _face_dict(det) -> dict:
    box = [int(v) for v in det.box]
    return {"box": box, "score": round(float(det.score), 4), "too_small": bool(det.too_small)}


def _analysis_quad(fa) -> np.ndarray | None:
    """The FFHQ quad of a face: from its alignment, else from its landmarks (no warp needed)."""
    al = getattr(fa, "alignment", None)
    if al is not None and getattr(al, "quad", None) is not None:
        return np.asarray(al.quad, dtype=np.float64)
    if getattr(fa, "landmarks", None) is None:
        return None
    from facereel.faces.align import eye_mouth_points, ffhq_quad

    quad = ffhq_quad(*eye_mouth_points(fa.landmarks))
    return quad if np.all(np.isfinite(quad)) and _quad_side(quad) >= 1 else None


def _add_time(timings: dict[str, float] | None, stage: str, t0: float) -> None:
    if timings is not None:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0


def _strip_name(msg: str, path: Path) -> str:
    """ImageLoadError messages start with the path; the manifest already has it."""
    for prefix in (f"{path}: ", f"{os.path.abspath(path)}: "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def analyze_photo(path: Path, *, options: AnalyzeOptions, timings: dict[str, float] | None = None) -> _Photo:
    """Reads ``path`` (EXIF orientation applied) and analyses its faces; unreadable files are flagged."""
    from facereel.faces.io import load_image
    from facereel.faces.types import ImageLoadError

    entry = PhotoEntry(path=str(Path(os.path.abspath(path))))
    photo = _Photo(entry=entry)
    t0 = time.perf_counter()
    try:
        loaded = load_image(path, max_pixels=options.max_pixels, max_bytes=options.max_bytes)
    except ImageLoadError as exc:
        entry.flags = ["unreadable"]
        entry.error = _strip_name(str(exc), path)
        return photo
    finally:
        _add_time(timings, "load", t0)
    entry.sha256 = loaded.sha256
    if loaded.exif_date:
        entry.date = loaded.exif_date.isoformat(timespec="seconds")
        entry.date_source = "exif"
    photo.orientation = int(loaded.orientation or 1)
    try:
        photo.file_bytes = path.stat().st_size
    except OSError:
        photo.file_bytes = 0
    analyze_pixels(photo, loaded.rgb, options=options, timings=timings)
    return photo


def analyze_pixels(photo: _Photo, rgb: np.ndarray, *, options: AnalyzeOptions,
                   timings: dict[str, float] | None = None) -> _Photo:
    """Fills ``photo`` with the faces of ``rgb`` ([H, W, 3] uint8): detection, landmarks, identity, age."""
    from facereel.faces.analyze import analyze_faces

    entry = photo.entry
    entry.height, entry.width = int(rgb.shape[0]), int(rgb.shape[1])
    faces = analyze_faces(rgb, detector=options.detector, landmarks=options.landmarks, size=options.size,
                          recipe=options.recipe, min_size=options.min_size, align=False, timings=timings)
    t0 = time.perf_counter()
    entry.faces = [_face_dict(fa.detection) for fa in faces]
    for fa in faces:
        quad = _analysis_quad(fa)
        f = _Face(analysis=fa, quad=quad)
        if quad is not None and fa.descriptor is not None:
            f.thumb, f.valid = face_thumb(rgb, quad)
        photo.faces.append(f)
    if not faces:
        entry.flags = ["no_face"]
    _add_time(timings, "thumbnails", t0)
    return photo
