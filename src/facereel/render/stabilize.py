"""Stabilisation: smooth face trajectories across frames.

Photo-to-photo jitter (the face jumping a little in position, scale and roll between keyframes,
from alignment noise) is among the most frequent complaints about face-video tools.  Two tools:

* :func:`stabilize_keyframes` fits, for every keyframe, the similarity transform that places the
  mean landmark shape onto its landmarks (its "pose"), smooths the pose parameters over the
  sequence with a Gaussian (σ in keyframes; ``None`` = register every face onto the mean pose)
  and re-warps each crop from its pose to the smoothed one.  All 478 landmarks vote, so the fit
  is far less noisy than the 5-point alignment that made the crops.
* :func:`smooth_trajectory` low-passes any [F, N, 2] landmark trajectory over frames; the morph
  engine's ``path="spline"`` makes its interpolated shapes C1 through the keyframes.

With stabilisation on, the keyframes of the video are the stabilised crops (not the raw aligned
crops); without it nothing is changed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from facereel.render.engines.base import Keyframe

log = logging.getLogger(__name__)


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """[2, 3] least-squares similarity (rotation, uniform scale, translation) with dst ≈ M·[src; 1].

    Umeyama (1991), "Least-squares estimation of transformation parameters between two point
    patterns", without reflections.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)                      # [2, 2]
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        s[1, 1] = -1
    r = u @ s @ vt
    var = (a**2).sum() / len(src)
    scale = float(np.trace(np.diag(d) @ s) / var) if var > 0 else 1.0
    t = mu_d - scale * r @ mu_s
    return np.concatenate([scale * r, t[:, None]], axis=1)


def _params(m: np.ndarray, center: np.ndarray) -> np.ndarray:
    """(log scale, angle, tx, ty) of a similarity, translation measured at ``center``."""
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    angle = float(np.arctan2(m[1, 0], m[0, 0]))
    t = m[:, :2] @ center + m[:, 2] - center
    return np.array([np.log(scale), angle, t[0], t[1]])


def _matrix(p: np.ndarray, center: np.ndarray) -> np.ndarray:
    s, a = np.exp(p[0]), p[1]
    r = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    t = center + p[2:] - r @ center
    return np.concatenate([r, t[:, None]], axis=1)


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[2, 3] affine a∘b (apply b first)."""
    a3 = np.vstack([a, [0, 0, 1]])
    b3 = np.vstack([b, [0, 0, 1]])
    return (a3 @ b3)[:2]


def _invert(m: np.ndarray) -> np.ndarray:
    return np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]


def smooth_series(values: np.ndarray, sigma: float | None) -> np.ndarray:
    """Gaussian low-pass along axis 0 (edges held); ``None``/inf → the mean."""
    values = np.asarray(values, np.float64)
    if sigma is None or not np.isfinite(sigma):
        return np.broadcast_to(values.mean(0), values.shape).copy()
    if sigma <= 0 or len(values) < 2:
        return values.copy()
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(values, sigma, axis=0, mode="nearest")


def smooth_trajectory(points: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Temporally smoothed [F, N, 2] landmark trajectory (Gaussian over frames, σ in frames)."""
    pts = np.asarray(points, np.float64)
    if pts.ndim != 3 or pts.shape[-1] != 2:
        raise ValueError(f"expected [F, N, 2] landmarks, got {pts.shape}")
    return smooth_series(pts.reshape(len(pts), -1), sigma).reshape(pts.shape)


def stabilize_keyframes(keyframes: Sequence[Keyframe], sigma: float | None = 1.5) -> list[Keyframe]:
    """Keyframes re-warped so the face pose follows a smoothed path (see module docstring).

    Keyframes without landmarks are returned unchanged.  Returns new :class:`Keyframe` objects
    (landmarks moved with the image); the inputs are not modified.
    """
    import cv2

    kfs = list(keyframes)
    idx = [i for i, k in enumerate(kfs) if k.landmarks is not None]
    if len(idx) < 2:
        log.info("stabilisation needs landmarks on at least 2 keyframes; left as is")
        return [replace(k) for k in kfs]
    marks = np.stack([np.asarray(kfs[i].landmarks, np.float64) for i in idx])   # [K, N, 2]
    h, w = kfs[idx[0]].image.shape[:2]
    center = np.array([(w - 1) / 2, (h - 1) / 2])
    ref = marks.mean(0)
    # a couple of Procrustes rounds so the reference is not biased towards the first poses
    for _ in range(2):
        aligned = [_apply(_invert(fit_similarity(ref, m)), m) for m in marks]
        ref = np.mean(aligned, 0)
    poses = [fit_similarity(ref, m) for m in marks]                            # ref → keyframe
    params = np.stack([_params(p, center) for p in poses])                    # [K, 4]
    params[:, 1] = np.unwrap(params[:, 1])
    smooth = smooth_series(params, sigma)
    # the aligned crops may already be at the floor: a correction that does not bring the eye
    # centres closer together than they are would only add resampling, so the flag is a no-op then
    def spread(pts: np.ndarray) -> float:
        c = pts[:, [468, 473]].mean(1) if pts.shape[1] > 473 else pts.mean(1)
        return float(np.linalg.norm(c - c.mean(0), axis=1).mean())

    corrs = [_compose(_matrix(smooth[n], center), _invert(poses[n])) for n in range(len(idx))]
    moved = np.stack([_apply(c, marks[n]) for n, c in enumerate(corrs)])
    if spread(moved) >= spread(marks):
        log.info("stabilisation: the aligned crops are already steadier (eye-centre spread %.2f px) than a "
                 "correction would make them (%.2f px); keyframes left as they are", spread(marks), spread(moved))
        return [replace(k) for k in kfs]
    out = [replace(k) for k in kfs]
    for n, i in enumerate(idx):
        corr = _compose(_matrix(smooth[n], center), _invert(poses[n]))        # keyframe → smoothed pose
        img = cv2.warpAffine(kfs[i].image, corr, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        out[i] = replace(kfs[i], image=img, landmarks=_apply(corr, marks[n]),
                         meta={**kfs[i].meta, "stabilize_matrix": corr.tolist()})
    return out


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def landmark_jitter(points: np.ndarray) -> float:
    """Std of consecutive landmark displacements of an [F, N, 2] trajectory (pixels)."""
    pts = np.asarray(points, np.float64)
    if len(pts) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=-1).std())
