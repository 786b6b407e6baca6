"""The whole person of an aligned crop as a layer: mask, outline points, background plate.

The inner-face landmarks move the face; everything else that belongs to the person (hair and head
outline, ears, neck, shoulders) ghosts under a plain warp + dissolve, because nothing moves it
and the two silhouettes dissolve into each other.  A :class:`HeadLayer` per keyframe holds:

* ``sdf`` — the signed distance (pixels, > 0 inside) to the person's outline, from a person
  segmentation (:mod:`facereel.faces.segmentation`), stored as a fourth uint8 channel next to the
  RGB crop (``rgba``) so one ``cv2.remap`` warps image and outline together;
* ``points`` — correspondence points on and inside the outline: for each of a fixed set of ray
  directions from the face centre, where the ray leaves the person (head and hair outline, ears)
  and half-way between that and the face hull; and on rows below the chin, the left and right
  edges of neck and shoulders.  Every keyframe has the same points in the same order;
* ``background`` — the crop with the person removed and the hole filled by push-pull
  interpolation of the surrounding background (smooth, like a defocused backdrop).

:func:`composite` makes the in-between frame at fraction λ from the two warped layers:

    sdf_λ = (1−λ)·sdf_A' + λ·sdf_B'                    (A', B': warped onto S_λ)
    M     = clip(1 + sdf_λ / F, 0, 1)                  (one outline, feathered F px outwards)
    P     = (w_A·A' + w_B·B') / (w_A + w_B),  w_A = (1−λ)·α_A', w_B = λ·α_B', α = clip(1 + sdf/F, 0, 1)
    frame = M·P + (1 − M)·((1−λ)·background_A + λ·background_B)

so there is one silhouette, between the two (never two translucent ones), the person's colour
where only one keyframe has person comes from that keyframe alone, and the backgrounds
cross-dissolve behind it with no outline of either person left in them.  α and M are 1 inside
the outline and ramp to 0 over F px outside, and a background is the crop itself outside its
(slightly dilated) outline, so at λ = 0 the frame is keyframe A exactly up to that dilation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

#: the SDF is stored clipped to ±SDF_CLIP·(size/512) px in a uint8 channel (128 = the outline)
SDF_CLIP = 48.0
#: ray directions, degrees clockwise from straight up; the downward cone (neck, chest) is left to rows
RAY_STEP = 7.5
RAY_MAX = 97.5
#: rows from the ears down, as fractions of the way from the face centre to the bottom edge
ROWS = (0.4, 0.55, 0.7, 0.85, 1.0)


@dataclass
class HeadLayer:
    rgba: np.ndarray          # [H, W, 4] uint8: RGB crop + encoded SDF
    background: np.ndarray    # [H, W, 3] uint8: crop with the person filled in by its surroundings
    points: np.ndarray        # [P, 2] float64 correspondence points (same order in every keyframe)
    sdf_scale: float          # px per code step of the SDF channel
    feather: float            # F, px


def scale_of(size: int) -> float:
    return size / 512.0


def clean_mask(conf: np.ndarray, center: np.ndarray) -> np.ndarray | None:
    """[H, W] uint8 0/1 person mask: confidence > ½ after a light blur, the component at ``center``.

    None when the face centre is not on a person (segmentation failed).
    """
    import cv2

    h, w = conf.shape
    s = scale_of(min(h, w))
    c = cv2.GaussianBlur(conf.astype(np.float32), (0, 0), max(0.8, 1.5 * s))
    m = (c > 0.5).astype(np.uint8)
    cx, cy = int(np.clip(round(center[0]), 0, w - 1)), int(np.clip(round(center[1]), 0, h - 1))
    n, lab = cv2.connectedComponents(m, connectivity=8)
    if n <= 1 or lab[cy, cx] == 0:
        return None
    m = (lab == lab[cy, cx]).astype(np.uint8)
    # fill holes (a background-coloured patch inside the person is still the person)
    inv = 1 - m
    n, lab = cv2.connectedComponents(inv, connectivity=4)
    border = set(np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))) - {0}
    keep = np.isin(lab, list(border)) if border else np.zeros_like(inv, bool)
    return np.where(keep, 0, 1).astype(np.uint8)


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """[H, W] float32 distance to the outline: > 0 inside ``mask``, < 0 outside (pixels)."""
    import cv2

    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((1 - mask).astype(np.uint8), cv2.DIST_L2, 5)
    return (inside - outside).astype(np.float32) + np.where(mask > 0, -0.5, 0.5).astype(np.float32)


def fill_background(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``image`` with the pixels where ``hole`` is set replaced by push-pull interpolation.

    Push: a pyramid of mask-weighted means (cv2.pyrDown of image·w and w) down to a level the
    background covers entirely; pull: each level's holes filled from the upsampled coarser one,
    blended by the level's coverage.  Smooth inside the hole, exact outside it.
    """
    import cv2

    img = image.astype(np.float32)
    w = (1.0 - hole.astype(np.float32))
    levels = [(img * w[..., None], w)]
    while min(levels[-1][1].shape) > 4:
        ci, cw = levels[-1]
        levels.append((cv2.pyrDown(ci), cv2.pyrDown(cw)))
    # coarsest: mean colour where nothing covers it
    ci, cw = levels[-1]
    total = float(cw.sum())
    mean = (ci.reshape(-1, 3).sum(0) / total) if total > 1e-6 else np.full(3, 127.0, np.float32)
    filled = np.where(cw[..., None] > 1e-6, ci / np.maximum(cw, 1e-6)[..., None], mean).astype(np.float32)
    for ci, cw in reversed(levels[:-1]):
        up = cv2.resize(filled, (cw.shape[1], cw.shape[0]), interpolation=cv2.INTER_LINEAR)
        cov = np.clip(cw, 0.0, 1.0)[..., None]
        own = ci / np.maximum(cw, 1e-6)[..., None]
        filled = cov * own + (1.0 - cov) * up
    out = np.where(hole[..., None] > 0, filled, img)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _face_hull(landmarks: np.ndarray, hull_idx: np.ndarray) -> np.ndarray:
    return np.asarray(landmarks, np.float64)[hull_idx]


def ray_directions() -> np.ndarray:
    """[R, 2] unit vectors (x right, y down), clockwise from straight up, downward cone left out."""
    ang = np.deg2rad(np.arange(-RAY_MAX, RAY_MAX + 1e-9, RAY_STEP))
    return np.stack([np.sin(ang), -np.cos(ang)], 1)


def _ray_polygon(center: np.ndarray, dirs: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """[R] farthest distance along each ray from ``center`` at which it crosses the polygon."""
    a = poly
    b = np.roll(poly, -1, axis=0)
    d = b - a                                               # [E, 2]
    ac = a - center                                         # [E, 2]

    def cross(p, q):
        return p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]

    den = cross(dirs[:, None, :], d[None])                  # [R, E]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = cross(ac[None], d[None]) / den
        s = cross(ac[None], dirs[:, None, :]) / den
    ok = (np.abs(den) > 1e-12) & (s >= 0) & (s <= 1) & (t > 0)
    t = np.where(ok, t, 0.0)
    return t.max(1)


def _exit_along(mask: np.ndarray, start: np.ndarray, dirs: np.ndarray, r0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, hit_edge) where each ray from ``start`` first leaves ``mask`` beyond r0."""
    h, w = mask.shape
    rmax = float(np.hypot(h, w))
    steps = np.arange(0.0, rmax, 1.0)
    r = r0[:, None] + steps[None]                            # [R, S]
    x = start[0] + r * dirs[:, 0:1]
    y = start[1] + r * dirs[:, 1:2]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    xi = np.clip(np.rint(x), 0, w - 1).astype(np.int64)
    yi = np.clip(np.rint(y), 0, h - 1).astype(np.int64)
    person = mask[yi, xi].astype(bool) & inside
    gone = ~person
    first = gone.argmax(1)                                   # first step off the person (or off the frame)
    hit_edge = ~inside[np.arange(len(r0)), first]
    return r[np.arange(len(r0)), first], hit_edge


def outline_points(mask: np.ndarray, landmarks: np.ndarray, hull_idx: np.ndarray) -> np.ndarray:
    """[P, 2] correspondence points of one keyframe (see the module docstring)."""
    h, w = mask.shape
    lm = np.asarray(landmarks, np.float64)
    poly = _face_hull(lm, hull_idx)
    center = poly.mean(0)
    dirs = ray_directions()
    hull_r = _ray_polygon(center, dirs, poly)
    s = scale_of(min(h, w))
    exit_r, _ = _exit_along(mask, center, dirs, 0.9 * hull_r)
    exit_r = np.maximum(exit_r, hull_r + 4.0 * s)            # the outline never inside the face hull
    mid_r = 0.5 * (hull_r + exit_r)
    lo, hi = np.array([0.0, 0.0]), np.array([w - 1.0, h - 1.0])
    contour = np.clip(center + exit_r[:, None] * dirs, lo, hi)
    middle = np.clip(center + mid_r[:, None] * dirs, lo, hi)
    # rows from the ears down: where the person's outline (jaw, neck, shoulders) crosses the row,
    # to the left and right of the face centre, never inside the face hull
    rows = []
    x0 = int(np.clip(round(center[0]), 0, w - 1))
    sides = np.array([[-1.0, 0.0], [1.0, 0.0]])
    for f in ROWS:
        y = min(h - 1.0, center[1] + f * (h - 1.0 - center[1]))
        line = mask[int(round(y))].astype(bool)
        hull_x = _ray_polygon(np.array([center[0], y]), sides, poly)      # [2] hull half-widths on the row
        off = np.flatnonzero(~line)
        left, right = off[off < x0], off[off > x0]
        xl = float(left.max() + 1) if left.size else 0.0
        xr = float(right.min() - 1) if right.size else w - 1.0
        xl = min(xl, center[0] - hull_x[0] - 4.0 * s)
        xr = max(xr, center[0] + hull_x[1] + 4.0 * s)
        rows.extend([(xl, y), (xr, y)])
    rows = np.clip(np.asarray(rows, np.float64), lo, hi)
    return np.concatenate([contour, middle, rows])


def build_layer(image: np.ndarray, landmarks: np.ndarray, hull_idx: np.ndarray,
                confidence: np.ndarray | None = None) -> HeadLayer | None:
    """The :class:`HeadLayer` of one aligned crop; None when no person is found at the face."""
    import cv2

    h, w = image.shape[:2]
    s = scale_of(min(h, w))
    if confidence is None:
        from facereel.faces.segmentation import person_mask

        confidence = person_mask(image)
    lm = np.asarray(landmarks, np.float64)
    center = _face_hull(lm, hull_idx).mean(0)
    mask = clean_mask(confidence, center)
    if mask is None or mask.mean() < 0.02:
        return None
    clip = SDF_CLIP * s
    sdf = signed_distance(mask)
    code = np.clip(np.rint(128.0 + sdf * (127.0 / clip)), 0, 255).astype(np.uint8)
    rgba = np.concatenate([np.asarray(image, np.uint8), code[..., None]], axis=2)
    # the background plate: the person (grown by a little, for semi-transparent hair) filled in
    grow = max(1, round(2 * s))
    hole = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    background = fill_background(np.asarray(image, np.uint8), hole)
    points = outline_points(mask, lm, hull_idx)
    return HeadLayer(rgba=np.ascontiguousarray(rgba), background=background, points=points,
                     sdf_scale=clip / 127.0, feather=max(2.0, 6.0 * s))


def decode_sdf(code: np.ndarray, sdf_scale: float) -> np.ndarray:
    return (code.astype(np.float32) - 128.0) * np.float32(sdf_scale)


def _ramp_lut(sdf_scale: float, feather: float) -> np.ndarray:
    """[256] float32: code of the SDF channel → clip(1 + sdf/F, 0, 1)."""
    sdf = (np.arange(256, dtype=np.float32) - 128.0) * np.float32(sdf_scale)
    return np.clip(1.0 + sdf / np.float32(feather), 0.0, 1.0).astype(np.float32)


def composite(wa: np.ndarray, wb: np.ndarray, bg_a: np.ndarray, bg_b: np.ndarray, lam: float,
              sdf_scale: float, feather: float, parts: bool = False):
    """The in-between frame from warped RGBA layers ``wa``, ``wb`` ([H, W, 4] uint8) and the two
    background plates (see the module docstring).  With ``parts`` also returns
    (P, M, α_A, α_B, RGB_A', RGB_B').

    The SDF is linear in its uint8 code, so sdf_λ's code is the uint8 blend of the two codes and
    every ramp is a 256-entry table (cv2.LUT); cv2.blendLinear does the per-pixel weighted means.
    Channels are split with OpenCV (a strided numpy copy of [..., :3] cost as much as a remap).
    """
    import cv2

    lam = float(lam)
    lut = _ramp_lut(sdf_scale, feather)
    ca, cb = cv2.extractChannel(wa, 3), cv2.extractChannel(wb, 3)
    ra, rb = cv2.cvtColor(wa, cv2.COLOR_RGBA2RGB), cv2.cvtColor(wb, cv2.COLOR_RGBA2RGB)
    alpha_a, alpha_b = cv2.LUT(ca, lut), cv2.LUT(cb, lut)
    m = cv2.LUT(cv2.addWeighted(ca, 1.0 - lam, cb, lam, 0.0), lut)
    eps = 1e-3  # where neither has person (outer feather): the plain dissolve
    ka = cv2.addWeighted(alpha_a, 1.0 - lam, alpha_a, 0.0, eps * (1.0 - lam))
    kb = cv2.addWeighted(alpha_b, lam, alpha_b, 0.0, eps * lam)
    person = cv2.blendLinear(ra, rb, ka, kb)
    bg = cv2.addWeighted(bg_a, 1.0 - lam, bg_b, lam, 0.0)
    frame = cv2.blendLinear(person, bg, m, cv2.subtract(1.0, m))
    if parts:
        return frame, person, m, alpha_a, alpha_b, ra, rb
    return frame


def layer_over(rgb: np.ndarray, alpha: np.ndarray, person: np.ndarray, m: np.ndarray,
               background: np.ndarray) -> np.ndarray:
    """One keyframe's colour (``rgb``: its warped RGB) where it has person, inside the frame's
    outline ``m``, over its plate."""
    import cv2

    p = cv2.blendLinear(rgb, person, alpha, cv2.subtract(1.0 + 1e-6, alpha))
    return cv2.blendLinear(p, background, m, cv2.subtract(1.0, m))
