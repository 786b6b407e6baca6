"""Paste-back: an aligned face crop put back into the full photo with a feathered mask.

The FFHQ quad is a square in the photo (a similarity transform), so the crop maps back by one
affine warp.  The mask is an ellipse over the face region of the FFHQ crop (the crop's corners
hold background and hair the generator re-synthesises), blurred over ``feather`` × the crop side.

Per photo pixel p (integer centres, as OpenCV maps them) with the crop coordinate c(p) = A⁻¹ p:

    out(p) = ⌊photo(p)·(1 − α(p)) + face(c(p))·α(p) + ½⌋,   α(p) = mask(c(p))

(bilinear samples; the face replicated past its edge, the mask 0 past it).  α is 0 outside the
photo box the mask's support maps to, where out = photo.  :class:`PhotoPaste` prepares
everything that does not change from frame to frame once — the box, the fixed-point maps of
c(p) over it, α and photo·(1 − α) in it, the photo itself — and per face warps and blends the box
only; :func:`paste_back_full` evaluates the same equation over the whole photo (the definition
the box is tested against: both sample c(p) from the same float64 expression of the absolute
pixel position, so the box is a slice of the full computation, bit for bit).
"""

from __future__ import annotations

import numpy as np

from facereel.faces.types import Alignment

__all__ = ["PhotoPaste", "crop_to_photo_matrix", "face_mask", "paste_back", "paste_back_full"]


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


def _maps(inv: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point remap maps (CV_16SC2 + CV_16UC1) of c(p) = ``inv`` · p over photo pixels
    x0 <= x < x1, y0 <= y < y1: each value from the pixel's absolute position, so a box's maps are
    a slice of the whole photo's."""
    import cv2

    x = np.arange(x0, x1, dtype=np.float64)[None, :]
    y = np.arange(y0, y1, dtype=np.float64)[:, None]
    mx = (inv[0, 0] * x + inv[0, 1] * y + inv[0, 2]).astype(np.float32)
    my = (inv[1, 0] * x + inv[1, 1] * y + inv[1, 2]).astype(np.float32)
    return cv2.convertMaps(mx, my, cv2.CV_16SC2)


def _warp_face(face: np.ndarray, maps) -> np.ndarray:
    """[h, w, 3] uint8: the face at c(p) over a box (replicated past its edge)."""
    import cv2

    return cv2.remap(face, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _warp_mask(mask: np.ndarray, maps) -> np.ndarray:
    """[h, w, 1] float32: α = the mask at c(p) over a box (0 past its edge)."""
    import cv2

    alpha = cv2.remap(mask, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return alpha[..., None]


class PhotoPaste:
    """Face crops (``size`` × ``size`` × 3 uint8, aligned like ``alignment``) pasted back into
    ``photo`` (H × W × 3 uint8), one after another; ``box`` = (x0, y0, x1, y1), the photo pixels
    the mask reaches.  Each call returns a new H × W × 3 uint8 array (the frames may be queued
    for an encoder while the next is made)."""

    def __init__(self, photo: np.ndarray, alignment: Alignment, size: int, feather: float = 0.08):
        import cv2

        self.photo = np.ascontiguousarray(photo, dtype=np.uint8)
        self.size = int(size)
        h, w = self.photo.shape[:2]
        inv = cv2.invertAffineTransform(crop_to_photo_matrix(alignment, self.size))
        mask = face_mask(self.size, feather)
        # α > 0 only where c(p) lies within one crop pixel of the crop (bilinear taps of the mask,
        # 0 outside it): the quad's box grown by one crop pixel in photo pixels, then the support
        q = np.asarray(alignment.quad, dtype=np.float64)
        grow = float(np.linalg.norm(q[3] - q[0])) / self.size + 2.0
        lo = np.maximum(np.floor(q.min(0) - grow), 0).astype(int)
        hi = np.minimum(np.ceil(q.max(0) + grow) + 1, (w, h)).astype(int)
        x0, y0, x1, y1 = int(lo[0]), int(lo[1]), max(int(hi[0]), int(lo[0])), max(int(hi[1]), int(lo[1]))
        if x1 > x0 and y1 > y0:
            alpha = _warp_mask(mask, _maps(inv, x0, y0, x1, y1))
            bx, by, bw, bh = cv2.boundingRect((alpha[..., 0] > 0).astype(np.uint8))
            x0, y0, x1, y1 = x0 + bx, y0 + by, x0 + bx + bw, y0 + by + bh
        self.box = (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else (0, 0, 0, 0)
        x0, y0, x1, y1 = self.box
        self._box_maps = _maps(inv, x0, y0, x1, y1) if x1 > x0 else None
        if self._box_maps is not None:
            self._alpha = _warp_mask(mask, self._box_maps)
            # photo·(1 − α), as the full equation's first product (float32, the same rounding)
            self._kept = self.photo[y0:y1, x0:x1].astype(np.float32) * (1.0 - self._alpha)

    def __call__(self, face: np.ndarray) -> np.ndarray:
        face = np.ascontiguousarray(face, dtype=np.uint8)
        if face.shape[:2] != (self.size, self.size):
            raise ValueError(f"face crop {face.shape[:2]} is not {self.size}x{self.size}")
        out = self.photo.copy()
        if self._box_maps is None:
            return out
        x0, y0, x1, y1 = self.box
        warped = _warp_face(face, self._box_maps)
        blend = np.multiply(warped, self._alpha, dtype=np.float32)
        blend += self._kept
        blend += 0.5
        np.clip(blend, 0, 255, out=blend)
        out[y0:y1, x0:x1] = blend          # float -> uint8 truncates: ⌊·⌋
        return out


def paste_back(face: np.ndarray, photo: np.ndarray, alignment: Alignment, feather: float = 0.08) -> np.ndarray:
    """The photo (H×W×3 uint8) with ``face`` (S×S×3 uint8, aligned like ``alignment``) blended in
    (one face; :class:`PhotoPaste` for many into the same photo)."""
    return PhotoPaste(photo, alignment, np.asarray(face).shape[0], feather)(face)


def paste_back_full(face: np.ndarray, photo: np.ndarray, alignment: Alignment, feather: float = 0.08) -> np.ndarray:
    """:func:`paste_back` evaluated over every pixel of the photo (the module docstring's
    equation; the definition :class:`PhotoPaste` is tested and benchmarked against)."""
    import cv2

    face = np.ascontiguousarray(face, dtype=np.uint8)
    s = face.shape[0]
    h, w = photo.shape[:2]
    inv = cv2.invertAffineTransform(crop_to_photo_matrix(alignment, s))
    maps = _maps(inv, 0, 0, w, h)
    warped, alpha = _warp_face(face, maps), _warp_mask(face_mask(s, feather), maps)
    out = photo.astype(np.float32) * (1.0 - alpha) + warped.astype(np.float32) * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
