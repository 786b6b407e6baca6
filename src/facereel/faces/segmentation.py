"""Person segmentation: MediaPipe's selfie-segmentation model (Apache-2.0).

The model file, ``selfie_segmentation.tflite`` (MediaPipe's general 256x256 model; head, hair,
ears, neck, shoulders and body against the background), ships inside the registry wheels of
MediaPipe's 0.10 line.  :func:`fetch_model` downloads one such wheel with ``pip download
--no-deps`` into a temporary folder, extracts that one file, checks its SHA-256 and writes it into
the cache (``python -m facereel.faces.segmentation``; the Makefile's setup does it).  It is never
committed.  It runs on the installed MediaPipe's tasks ``ImageSegmenter``.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import logging
import threading
from pathlib import Path

import numpy as np

from facereel.core.atomic import write_bytes
from facereel.core.errors import FacereelError
from facereel.core.registry import wheel_member
from facereel.faces import _models
from facereel.paths import cache_dir

log = logging.getLogger(__name__)

WHEEL = "mediapipe==0.10.14"
MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"
FILENAME = "selfie_segmentation.tflite"
SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
LICENCE = "Apache-2.0 (MediaPipe)"

_lock = threading.Lock()


class SegmentationUnavailable(FacereelError):
    """The segmentation model could not be fetched or loaded."""


def model_path(fetch: bool = True) -> Path:
    """The cached ``selfie_segmentation.tflite``; fetched on first use when ``fetch``."""
    path = cache_dir("models") / FILENAME
    if path.is_file() and _sha256(path.read_bytes()) == SHA256:
        return path
    if not fetch:
        raise SegmentationUnavailable(f"{path} is missing; run `python -m facereel.faces.segmentation`")
    return fetch_model()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_model() -> Path:
    """Downloads the MediaPipe 0.10 wheel (no dependencies), extracts the model, verifies it."""
    dest = cache_dir("models") / FILENAME
    data = wheel_member(WHEEL, "mediapipe-*.whl", MEMBER, SHA256, error=SegmentationUnavailable)
    write_bytes(dest, data)
    return dest


@functools.cache
def _segmenter():
    _models.mediapipe()  # registers the native library (its drawing modules left unrun)
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    path = model_path()
    log.debug("loading MediaPipe selfie segmentation from %s", path)
    options = vision.ImageSegmenterOptions(
        base_options=BaseOptions(model_asset_path=str(path)),
        running_mode=vision.RunningMode.IMAGE,
        output_confidence_masks=True,
        output_category_mask=False,
    )
    seg = vision.ImageSegmenter.create_from_options(options)
    atexit.register(_close_quietly, seg)
    return seg


def _close_quietly(seg) -> None:
    try:
        seg.close()
        seg.close = lambda: None  # __del__ calls close() again
    except Exception:  # pragma: no cover - shutdown path
        pass


def person_mask(rgb: np.ndarray) -> np.ndarray:
    """[H, W] float32 confidence in [0, 1] that a pixel belongs to a person (hair included)."""
    mp = _models.mediapipe()

    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an [H, W, 3] RGB image, got {img.shape}")
    with _lock:
        result = _segmenter().segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=img))
        mask = np.array(result.confidence_masks[0].numpy_view(), dtype=np.float32, copy=True)
    return mask.reshape(img.shape[:2])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("person segmentation model: %s (%s)", model_path(), LICENCE)


if __name__ == "__main__":
    main()
