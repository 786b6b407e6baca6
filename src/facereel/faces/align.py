"""FFHQ face alignment (Karras et al. 2019, NVlabs/ffhq-dataset ``recreate_aligned_images``).

Landmarks -> eye centres and mouth corners -> an oriented square ("quad") around the face ->
shrink / crop / reflect-pad with blur -> one ``Image.transform(QUAD, BILINEAR)``.  Two official
variants exist and are NOT interchangeable at the pixel level:

* ``recipe="ffhq"``: the FFHQ dataset's.  Warp to 4096x4096, Lanczos to 1024 (shrink only when
  the face quad is >= 4096 px).  Other output sizes are Lanczos resizes of that 1024 image,
  which is how FFHQ's 256/512 versions are made.
* ``recipe="psp"``: pixel2style2pixel's ``scripts/align_all_parallel.py`` (what the pSp/e4e/
  ReStyle encoders were trained on).  Warp straight to the output size (256 there) and shrink
  when the quad is >= 4x the output size.

Both are reproduced bit for bit (see ``tests/test_faces_align.py`` and the golden
``align_ffhq.npz``): the arithmetic below keeps the official statement order and dtypes,
because float32/float64 promotion and Pillow's filters decide the last bit.
"""

from __future__ import annotations

import numpy as np

from facereel.faces.types import Alignment, Landmarks
from facereel.options.choices import ALIGN_RECIPES as RECIPES

#: The FFHQ dataset recipe's fixed internal sizes.
FFHQ_TRANSFORM_SIZE = 4096
FFHQ_OUTPUT_SIZE = 1024

# MediaPipe Face Mesh indices matching dlib's 68-point eye contours (outer corner, two upper-lid
# points, inner corner, two lower-lid points) and outer mouth corners.  "left"/"right" are as
# seen in the image, like dlib's 36-41 / 42-47 / 48 / 54.
MP_EYE_LEFT = (33, 160, 158, 133, 153, 144)
MP_EYE_RIGHT = (362, 385, 387, 263, 373, 380)
MP_MOUTH_LEFT = 61
MP_MOUTH_RIGHT = 291


def eye_mouth_points(landmarks: Landmarks | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(eye_left, eye_right, mouth_left, mouth_right), each [2] float64, image left/right.

    dlib 68 points: eye centres are the means of points 36-41 and 42-47, mouth corners 48 and
    54 (the official recipe).  MediaPipe 478 (or 468) points: the same six-point eye contours
    and outer mouth corners from the Face Mesh topology, so one recipe serves both backends.
    """
    pts = np.asarray(landmarks.points if isinstance(landmarks, Landmarks) else landmarks, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 2:
        raise ValueError(f"landmarks must be [N, 2], got {pts.shape}")
    pts = pts[:, :2]
    n = pts.shape[0]
    if n == 68:
        eye_left = np.mean(pts[36:42], axis=0)
        eye_right = np.mean(pts[42:48], axis=0)
        return eye_left, eye_right, pts[48], pts[54]
    if n in (468, 478):
        eye_left = np.mean(pts[list(MP_EYE_LEFT)], axis=0)
        eye_right = np.mean(pts[list(MP_EYE_RIGHT)], axis=0)
        return eye_left, eye_right, pts[MP_MOUTH_LEFT], pts[MP_MOUTH_RIGHT]
    raise ValueError(f"need dlib 68 or MediaPipe 478 landmarks, got {n} points")


def _quad_and_qsize(eye_left, eye_right, mouth_left, mouth_right) -> tuple[np.ndarray, float]:
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    # Horizontal half-axis: the eye-to-eye direction blended with the eye-to-mouth direction
    # rotated by -90 deg; length from the larger of 2x eye distance / 1.8x eye-mouth distance.
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]  # x rotated by +90 deg (image y points down)
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    qsize = np.hypot(*x) * 2
    return quad, qsize


def ffhq_quad(eye_left, eye_right, mouth_left, mouth_right) -> np.ndarray:
    """The oriented crop square [4, 2] (top-left, bottom-left, bottom-right, top-right)."""
    args = [np.asarray(p, dtype=np.float64) for p in (eye_left, eye_right, mouth_left, mouth_right)]
    return _quad_and_qsize(*args)[0]


def _warp(img, quad: np.ndarray, qsize: float, output_size: int, transform_size: int, fast: bool = False):
    """Official shrink / crop / pad / transform.  Returns (PIL image, quad_final, info).

    ``img`` is a PIL RGB image; ``quad`` is modified on a copy.  ``fast``: the padding's blur
    with OpenCV (same kernel and reflection, float rounding aside) instead of scipy.
    """
    import PIL.Image

    quad = quad.copy()
    info: dict = {"qsize": float(qsize), "shrink": 0, "shrink_size": None, "crop": None, "pad": None}

    # Shrink: a face much larger than the output is first box-free downsampled (Lanczos).
    shrink = int(np.floor(qsize / output_size * 0.5))
    info["shrink"] = shrink
    if shrink > 1:
        rsize = (int(np.rint(float(img.size[0]) / shrink)), int(np.rint(float(img.size[1]) / shrink)))
        img = img.resize(rsize, PIL.Image.LANCZOS)
        quad /= shrink
        qsize /= shrink
        info["shrink_size"] = list(rsize)

    # Crop to the quad's bounding box plus a 10 % border.
    border = max(int(np.rint(qsize * 0.1)), 3)
    info["border"] = border
    crop = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))),
            int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))))
    crop = (max(crop[0] - border, 0), max(crop[1] - border, 0),
            min(crop[2] + border, img.size[0]), min(crop[3] + border, img.size[1]))
    if crop[2] - crop[0] < img.size[0] or crop[3] - crop[1] < img.size[1]:
        img = img.crop(crop)
        quad -= crop[0:2]
        info["crop"] = list(crop)

    # Pad where the quad leaves the photo: reflect, blur towards the edge, fade to the median.
    pad = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))),
           int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))))
    pad = (max(-pad[0] + border, 0), max(-pad[1] + border, 0),
           max(pad[2] - img.size[0] + border, 0), max(pad[3] - img.size[1] + border, 0))
    if max(pad) > border - 4:
        pad = np.maximum(pad, int(np.rint(qsize * 0.3)))  # int64 [4]: dtypes below follow from it
        arr = np.pad(np.float32(img), ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), "reflect")
        h, w, _ = arr.shape
        yy, xx, _ = np.ogrid[:h, :w, :1]
        # Distance-to-edge ramp: 1 at the outer edge of the padding, <= 0 inside the photo.
        mask = np.maximum(1.0 - np.minimum(np.float32(xx) / pad[0], np.float32(w - 1 - xx) / pad[2]),
                          1.0 - np.minimum(np.float32(yy) / pad[1], np.float32(h - 1 - yy) / pad[3]))
        blur = qsize * 0.02
        if fast:
            import cv2

            # σ is 2 % of the face: a blur that wide is as well made on a copy `f` times smaller
            # (σ/f there) and upsampled bilinearly — the result is smooth at that scale
            f = int(max(1, min(4, blur // 3)))
            small = cv2.resize(arr, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA) if f > 1 else arr
            sb = blur / f
            k = 2 * int(4.0 * sb + 0.5) + 1  # scipy's truncate=4 support, its 'reflect' border
            blurred = cv2.GaussianBlur(small, (k, k), sb, borderType=cv2.BORDER_REFLECT)
            if f > 1:
                blurred = cv2.resize(blurred, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            import scipy.ndimage  # the official blur (the fast path does without scipy's import)

            blurred = scipy.ndimage.gaussian_filter(arr, [blur, blur, 0])
        arr += (blurred - arr) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
        # the fast path's median: of every 4th pixel each way (it only tints the far padding)
        arr += (np.median(arr[::4, ::4] if fast else arr, axis=(0, 1)) - arr) * np.clip(mask, 0.0, 1.0)
        img = PIL.Image.fromarray(np.uint8(np.clip(np.rint(arr), 0, 255)), "RGB")
        quad += pad[:2]
        info["pad"] = [int(v) for v in pad]

    # +0.5: Pillow's QUAD maps pixel edges, the quad is in pixel-centre coordinates.
    # (OpenCV's warpAffine would be faster, but its 1/32-pixel weights cost 0.3 grey levels mean.)
    img = img.transform((transform_size, transform_size), PIL.Image.QUAD, (quad + 0.5).flatten(),
                        PIL.Image.BILINEAR)
    if output_size < transform_size:
        img = img.resize((output_size, output_size), PIL.Image.LANCZOS)
    return img, quad, info


def align_face(
    rgb: np.ndarray,
    landmarks: Landmarks | np.ndarray,
    *,
    size: int = 512,
    recipe: str = "ffhq",
) -> Alignment:
    """FFHQ-aligned [size, size, 3] crop of the face whose landmarks are given.

    ``landmarks``: dlib 68 or MediaPipe 478 points in ``rgb``'s pixel coordinates.
    ``recipe``: ``"ffhq"`` (dataset: 4096 warp -> 1024 Lanczos -> ``size`` Lanczos) or ``"psp"``
    (warp straight to ``size``; the official pSp crop is ``size=256``).  The returned quad is in
    ``rgb`` coordinates, so :meth:`Alignment.crop_to_photo` maps crop pixels back to the photo.
    """
    if recipe not in RECIPES:
        raise ValueError(f"unknown alignment recipe {recipe!r} (use 'ffhq' or 'psp')")
    size = int(size)
    if size < 8:
        raise ValueError(f"output size must be >= 8, got {size}")
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    el, er, ml, mr = eye_mouth_points(landmarks)
    if np.hypot(*(er - el)) < 1e-6 and np.hypot(*((ml + mr) / 2 - (el + er) / 2)) < 1e-6:
        raise ValueError("degenerate landmarks: eyes and mouth coincide")
    quad, qsize = _quad_and_qsize(el, er, ml, mr)
    if not np.all(np.isfinite(quad)) or qsize < 1:
        raise ValueError("degenerate landmarks: eyes and mouth coincide")
    return align_from_quad(rgb, quad, size=size, recipe=recipe, qsize=qsize)


def align_from_quad(
    rgb: np.ndarray,
    quad: np.ndarray,
    *,
    size: int = 512,
    recipe: str = "ffhq",
    qsize: float | None = None,
    fast: bool = False,
) -> Alignment:
    """The official shrink / crop / pad / warp for a known quad (e.g. one stored in a manifest).

    ``qsize`` (the quad side) defaults to ``|quad[3] - quad[0]|``; :func:`align_face` passes the
    recipe's own ``2 * |x|`` so its results stay bit-exact with the official code.

    ``fast`` (opt-in, ``recipe="ffhq"`` only): the bilinear warp goes to 2 x ``size`` instead of
    4096 and one Lanczos step to ``size``; ~6x faster at 512 and within 0.3 grey levels mean
    (PSNR >= 52 dB, tested) of the official crop, for pictures rather than encoders.
    """
    from PIL import Image

    if recipe not in RECIPES:
        raise ValueError(f"unknown alignment recipe {recipe!r} (use 'ffhq' or 'psp')")
    size = int(size)
    if size < 8:
        raise ValueError(f"output size must be >= 8, got {size}")
    quad = np.array(quad, dtype=np.float64).reshape(4, 2)
    if qsize is None:
        qsize = float(np.hypot(*(quad[3] - quad[0])))
    if not np.all(np.isfinite(quad)) or not qsize >= 1:
        raise ValueError("degenerate quad")
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    if recipe == "psp":
        out, _, _ = _warp(img, quad, qsize, size, size)
    elif fast:
        out, _, _ = _warp(img, quad, qsize, size, 2 * size, fast=True)
    elif size > FFHQ_OUTPUT_SIZE:
        out, _, _ = _warp(img, quad, qsize, size, max(FFHQ_TRANSFORM_SIZE, size))
    else:
        out, _, _ = _warp(img, quad, qsize, FFHQ_OUTPUT_SIZE, FFHQ_TRANSFORM_SIZE)
        if size != FFHQ_OUTPUT_SIZE:
            out = out.resize((size, size), Image.LANCZOS)
    return Alignment(image=np.asarray(out.convert("RGB")), quad=quad, recipe=recipe, size=size)


def photo_to_crop(alignment: Alignment, xy: np.ndarray) -> np.ndarray:
    """Inverse of :meth:`Alignment.crop_to_photo` for points: [N, 2] photo -> crop pixels.

    The FFHQ quad is a square (a similarity transform), so the inverse is exact.  Conventions
    (both directions): photo pixel (x, y) has its centre at (x, y); crop pixel (i, j) has its
    centre at (i + 0.5, j + 0.5), i.e. crop pixel (i, j) is the photo sampled bilinearly at
    ``crop_to_photo((i + 0.5, j + 0.5))``.
    """
    q = alignment.quad
    origin = q[0]
    ex = (q[3] - q[0]) / alignment.size   # photo displacement per crop pixel along u
    ey = (q[1] - q[0]) / alignment.size   # ... along v
    m = np.stack([ex, ey], axis=1)        # [2, 2]: photo = origin + m @ (u, v)
    d = np.asarray(xy, dtype=np.float64) - origin
    return np.linalg.solve(m, d.reshape(-1, 2).T).T.reshape(np.shape(xy))
