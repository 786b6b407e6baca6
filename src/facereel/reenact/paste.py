"""Paste-back: an aligned face crop put back into the full photo with a feathered mask.

The FFHQ quad is a square in the photo (a similarity transform), so the crop maps back by one
affine warp.  The mask is an ellipse over the face region of the FFHQ crop (the crop's corners
hold background and hair the generator re-synthesises), blurred over ``feather`` × the crop side.
"""

from __future__ import annotations

import numpy as np

from facereel.faces.types import Alignment

__all__ = ["crop_to_photo_matrix", "face_mask", "paste_back"]


def crop_to_photo_matrix(alignment: Alignment, crop_size: int) -> np.ndarray:
    """[2, 3] affine: crop pixel centre (i + 0.5, j + 0.5) of a ``crop_size`` crop -> photo (x, y)."""
    q = np.asarray(alignment.quad, dtype=np.float64)
    ex = (q[3] - q[0]) / crop_size
    ey = (q[1] - q[0]) / crop_size
    # photo = q0 + ex * u + ey * v with (u, v) = (i + 0.5, j + 0.5); cv2 maps integer pixel centres.
    origin = q[0] + 0.5 * ex + 0.5 * ey
    return np.array([[ex[0], ey[0], origin[0]], [ex[1], ey[1], origin[1]]])


_mask_cache: dict[tuple[int, float], np.ndarray] = {}


def face_mask(size: int, feather: float) -> np.ndarray:
    """[size, size] float32 in [0, 1]: an ellipse over the FFHQ face (forehead to chin), soft edge."""
    import cv2

    key = (int(size), round(float(feather), 4))
    if key in _mask_cache:
        return _mask_cache[key]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    # FFHQ crop: eyes at ~0.48 of the height, mouth at ~0.73; the face spans ~0.2..0.8 across.
    cx, cy, rx, ry = 0.5 * size, 0.54 * size, 0.36 * size, 0.42 * size
    m = (((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0).astype(np.float32)
    k = max(1, int(round(feather * size)))
    if k > 1:
        m = cv2.GaussianBlur(m, (0, 0), sigmaX=k / 2.0, borderType=cv2.BORDER_CONSTANT)
        m *= (((xx - cx) / (rx + k)) ** 2 + ((yy - cy) / (ry + k)) ** 2 <= 1.0)
    if len(_mask_cache) > 8:
        _mask_cache.clear()
    _mask_cache[key] = m
    return m


def paste_back(face: np.ndarray, photo: np.ndarray, alignment: Alignment, feather: float = 0.08) -> np.ndarray:
    """The photo (H×W×3 uint8) with ``face`` (S×S×3 uint8, aligned like ``alignment``) blended in."""
    import cv2

    face = np.ascontiguousarray(face, dtype=np.uint8)
    s = face.shape[0]
    h, w = photo.shape[:2]
    m = crop_to_photo_matrix(alignment, s)
    inv = cv2.invertAffineTransform(m)
    warped = cv2.warpAffine(face, inv, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(face_mask(s, feather), inv, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)[..., None]
    out = photo.astype(np.float32) * (1.0 - alpha) + warped.astype(np.float32) * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
