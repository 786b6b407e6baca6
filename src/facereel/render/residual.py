"""What the landmarks do not move below the face: a residual flow for neck, collar and shoulders.

The morph's correspondences stop at the jaw (MediaPipe's mesh) and, with head layers, at the
person's outline (:mod:`facereel.render.head`); inside the outline below the chin nothing ties a
shirt collar or a lapel of keyframe A to the same collar of keyframe B, so a dissolve shows both,
each translucent (a doubled collar at mid-gap).  Per gap, once:

1. both keyframes warped onto the gap's middle shape S_½ (A', B': the morph's own warp);
2. dense optical flow on the rows from the mouth down (DIS, at half size): F with A'(x) ≈ B'(x + F(x))
   and G with B'(x) ≈ A'(x + G(x));
3. confidence c = exp(−(e/τ)²) with the forward-backward error e = |F(x) + G(x + F(x))| (a
   different shirt has no consistent flow: its confidence is ~0 and it simply dissolves), times
   the person's support in either layer;
4. D = ramp · (c·F ∗ g_σ) / (c ∗ g_σ + ε): normalised convolution (a smooth field that fills the
   unreliable pixels from their reliable neighbours), the ramp 0 at the chin rising to 1 a little
   below it, so the face and the jaw are left to the landmarks.

The frame at λ then samples A at x − λ·D(x) and B at x + (1−λ)·D(x) through the morph's maps
(M'_A(x) = M_A(x − λD(x)), M'_B(x) = M_B(x + (1−λ)D(x))): a collar point of A and its match in B
(x_B = x_A + D) meet at x_A + λD, exact keyframes at λ = 0 and 1.  D lives in the coordinates of
S_½; it is applied on every S_λ of the gap, which differ from S_½ by at most half the gap's shape
change, a few pixels where D matters.  Smooth D (σ ≈ 6 px at 512) keeps x − λD one-to-one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BandFlow:
    """D on the rows ``y0`` … H−1 of the frame: ``dx``, ``dy`` [H − y0, W] float32 (pixels);
    ``gx``, ``gy`` the pixel coordinates of those rows (the identity map)."""

    y0: int
    dx: np.ndarray
    dy: np.ndarray
    gx: np.ndarray
    gy: np.ndarray


def _grey_half(img: np.ndarray) -> np.ndarray:
    import cv2

    g = cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2GRAY)
    return cv2.resize(g, (g.shape[1] // 2, g.shape[0] // 2), interpolation=cv2.INTER_AREA)


def band_flow(img_a: np.ndarray, img_b: np.ndarray, face: np.ndarray, support: np.ndarray | None = None,
              *, tau: float = 3.0, sigma: float = 5.0) -> BandFlow | None:
    """The residual flow D (module docstring) of two images warped onto one shape.

    ``img_a``, ``img_b``: [H, W, ≥3] uint8 (RGB first); ``face``: [N, 2] the face landmarks in
    that shape (their hull is left to the landmarks); ``support``: [H, W] float32 in [0, 1], where
    either image has person (None: everywhere).  ``tau``: the forward-backward error (half-size
    px at 512) at which the confidence is 1/e; ``sigma``: the smoothing (half-size px at 512).
    The band is the rows from the mouth down; None when it is too thin or the flow is nowhere
    above a quarter pixel.
    """
    import cv2

    h, w = img_a.shape[:2]
    s = min(h, w) / 512.0
    face = np.asarray(face, np.float64)
    lo, hi = face[:, 1].min(), face[:, 1].max()
    top = lo + 0.7 * (hi - lo)                                # about the mouth: D starts below it
    y0 = int(max(0, np.floor(top - 32.0 * s))) // 2 * 2      # flow context above it; even (half size)
    if h - top < 16.0 * s or w < 64:
        return None
    ga, gb = _grey_half(img_a[y0:]), _grey_half(img_b[y0:])
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    f = dis.calc(ga, gb, None)                              # [h', w', 2] half-size pixels
    g = dis.calc(gb, ga, None)
    hh, ww = ga.shape
    xs, ys = np.meshgrid(np.arange(ww, dtype=np.float32), np.arange(hh, dtype=np.float32))
    back = cv2.remap(g, xs + f[..., 0], ys + f[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = np.linalg.norm(f + back, axis=2)                  # forward-backward error, half-size px
    tau = max(0.75, tau * s)
    conf = np.exp(-np.square(err / tau)).astype(np.float32)
    if support is not None:
        sup = cv2.resize(np.ascontiguousarray(support[y0:], np.float32), (ww, hh), interpolation=cv2.INTER_AREA)
        conf *= sup
    sigma = max(1.5, sigma * s)                             # half-size px: ~6 px at 512
    num_x = cv2.GaussianBlur(conf * f[..., 0], (0, 0), sigma)
    num_y = cv2.GaussianBlur(conf * f[..., 1], (0, 0), sigma)
    den = cv2.GaussianBlur(conf, (0, 0), sigma) + 1e-2
    # where D may act: outside the face hull (0 on it, 1 from 12 px out at 512), on the rows
    # below the mouth (0 at ``top``, 1 from 16 px lower), and near reliable flow
    hull = cv2.convexHull(((face - [0.0, y0]) / 2.0).astype(np.float32)).astype(np.int32)
    outside = np.full((hh, ww), 255, np.uint8)
    cv2.fillConvexPoly(outside, hull, 0)
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, 5)    # half-size px from the hull
    away = np.clip((dist - 1.0 * s) / (6.0 * s), 0.0, 1.0)
    rows = np.arange(hh, dtype=np.float32) * 2.0 + y0 + 0.5
    below = np.clip((rows - top) / (16.0 * s), 0.0, 1.0)[:, None]
    keep = away * below * (cv2.GaussianBlur(conf, (0, 0), 2.0 * sigma) > 0.05)
    keep = cv2.GaussianBlur(keep.astype(np.float32), (0, 0), sigma)
    limit = 0.08 * min(h, w) / 2.0                           # no residual is larger than this
    dx = np.clip(num_x / den, -limit, limit) * keep
    dy = np.clip(num_y / den, -limit, limit) * keep
    full = (w, h - y0)
    dx = 2.0 * cv2.resize(dx.astype(np.float32), full, interpolation=cv2.INTER_LINEAR)
    dy = 2.0 * cv2.resize(dy.astype(np.float32), full, interpolation=cv2.INTER_LINEAR)
    if not (np.abs(dx).max() > 0.25 or np.abs(dy).max() > 0.25):
        return None                                          # nothing worth a remap per frame
    gy, gx = np.mgrid[y0:h, 0:w].astype(np.float32)
    return BandFlow(y0, np.ascontiguousarray(dx, np.float32), np.ascontiguousarray(dy, np.float32), gx, gy)


def apply(flow: BandFlow, maps: tuple[np.ndarray, np.ndarray], t: float) -> tuple[np.ndarray, np.ndarray]:
    """The backward maps (map_x, map_y) [H, W] float32 resampled at x + t·D(x) on the flow's rows,
    in place: M'(x) = M(x + t·D(x)) (t = −λ for keyframe A, 1 − λ for B)."""
    import cv2

    mx, my = maps
    px = cv2.scaleAdd(flow.dx, float(t), flow.gx)
    py = cv2.scaleAdd(flow.dy, float(t), flow.gy)
    nx = cv2.remap(mx, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ny = cv2.remap(my, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mx[flow.y0:] = nx
    my[flow.y0:] = ny
    return mx, my
