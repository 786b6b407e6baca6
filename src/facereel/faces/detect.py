"""Face detection with dlib: HOG (default) or the mmod CNN.

dlib's frontal HOG detector scans an 80x80 window, so it finds faces of about 80 px and up;
the mmod CNN about 40 px.  With ``upsample=None`` we resample the photo once so that faces
of ``min_size`` pixels become findable, but keep the detection image within a pixel budget:
big photos are downscaled (speed), small ones upscaled (recall), and boxes are scaled back.
An explicit integer ``upsample`` runs dlib's own pyramid upsampling on the full-resolution
photo instead (what the official pSp/FFHQ scripts do with ``detector(img, 1)``).
"""

from __future__ import annotations

import logging
import math
import threading

import numpy as np

from facereel.faces import _models
from facereel.faces.types import Detection

log = logging.getLogger(__name__)
_cnn_lock = threading.Lock()

#: Pixel budget of the (resampled) image the detector scans when ``upsample=None``.
#: ~0.1 s per MP for HOG on one core.
MAX_DETECT_PIXELS = {"hog": 1_200_000, "cnn": 600_000}
#: Smallest face (px) each detector finds at scale 1.
DETECTOR_WINDOW = {"hog": 80, "cnn": 40}
MAX_UPSCALE = 2.0


def detection_scale(shape: tuple[int, ...], *, method: str = "hog", min_size: int = 48) -> float:
    """Resampling factor for the detection image (>1 upscales a small photo)."""
    h, w = shape[:2]
    # Faces down to 2/3 of min_size must stay findable, or too-small ones could not be reported.
    want = DETECTOR_WINDOW[method] / (max(min_size, 1) * 2 / 3)
    budget = math.sqrt(MAX_DETECT_PIXELS[method] / max(h * w, 1))
    return float(min(want, budget, MAX_UPSCALE))


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, size, interpolation=interp)


def detect_faces(
    rgb: np.ndarray,
    *,
    method: str = "hog",
    min_size: int = 48,
    upsample: int | None = None,
) -> list[Detection]:
    """Every face in an [H, W, 3] uint8 RGB photo, largest first.

    ``method``: ``"hog"`` (dlib frontal detector) or ``"cnn"`` (dlib mmod, slower, finds more
    profile/occluded faces).  Faces whose box is narrower or shorter than ``min_size`` pixels
    are returned with ``too_small=True``, never dropped.  Boxes are (left, top, right, bottom)
    in photo pixels, dlib's inclusive convention, clipped to the photo.
    """
    if method not in DETECTOR_WINDOW:
        raise ValueError(f"unknown face detector {method!r} (use 'hog' or 'cnn')")
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an [H, W, 3] RGB image, got shape {rgb.shape}")
    h, w = rgb.shape[:2]
    if upsample is None:
        scale = detection_scale(rgb.shape, method=method, min_size=min_size)
        if abs(scale - 1.0) < 0.02:
            scale = 1.0
        img = rgb if scale == 1.0 else np.ascontiguousarray(_resize(rgb, scale))
        ups = 0
    else:
        scale, img, ups = 1.0, rgb, int(upsample)
    # Scale actually applied per axis (rounding of the resized size).
    sx, sy = img.shape[1] / w, img.shape[0] / h

    raw: list[tuple[tuple[float, float, float, float], float]] = []
    if method == "hog":
        rects, scores, _ = _models.hog_detector().run(img, ups, 0.0)
        for r, s in zip(rects, scores):
            raw.append(((r.left(), r.top(), r.right(), r.bottom()), float(s)))
    else:
        with _cnn_lock:  # dlib releases the GIL; the network keeps its activations in itself
            dets = _models.cnn_detector()(img, ups)
        for d in dets:
            r = d.rect
            raw.append(((r.left(), r.top(), r.right(), r.bottom()), float(d.confidence)))

    out: list[Detection] = []
    for (l, t, r, b), score in raw:
        if scale != 1.0:
            # Inclusive pixel boxes: map edges, not centres, back through the resampling.
            l, t = l / sx, t / sy
            r, b = (r + 1) / sx - 1, (b + 1) / sy - 1
        box = (
            int(np.clip(round(l), 0, w - 1)),
            int(np.clip(round(t), 0, h - 1)),
            int(np.clip(round(r), 0, w - 1)),
            int(np.clip(round(b), 0, h - 1)),
        )
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        side = min(box[2] - box[0] + 1, box[3] - box[1] + 1)
        out.append(Detection(box=box, score=score, too_small=side < min_size))
    out.sort(key=lambda d: (-(d.box[2] - d.box[0] + 1) * (d.box[3] - d.box[1] + 1), -d.score))
    log.debug("%s: %d face(s) at detection scale %.2f", method, len(out), scale)
    return out
