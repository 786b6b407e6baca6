"""Measures of latent videos and edits (arrays in, numbers out).

* ACD, as the video-synthesis paper and MoCoGAN (Tulyakov et al. 2018, §4.1 "ACD") define it:
  the mean L2 distance between consecutive frames' face features.  MoCoGAN used OpenFace's
  128-D embedding; the features here are dlib's 128-D ResNet face descriptors (the same kind:
  a metric face embedding, distance < 0.6 = same person on LFW).  Lower = the content (the
  identity) changes less from frame to frame.
* Identity drift: each frame's descriptor distance to the first frame (or a reference).
* Attribute change vs leakage of a direction: over a strength sweep, the slope of the target
  attribute against the strength and the slopes of other attributes, each in units of that
  attribute's spread over the unedited faces, and their ratio.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def acd(features: Sequence[np.ndarray | None] | np.ndarray) -> float | None:
    """Mean ‖f_{t+1} − f_t‖₂ over consecutive frames (pairs with a missing face skipped)."""
    dists = [float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))
             for a, b in zip(features[:-1], features[1:]) if a is not None and b is not None]
    return float(np.mean(dists)) if dists else None


def identity_drift(features: Sequence[np.ndarray | None] | np.ndarray,
                   reference: np.ndarray | None = None) -> dict:
    """Distances of every frame's descriptor to ``reference`` (default: the first frame's):
    ``{"curve": [...], "mean", "max", "final"}`` (None where a frame has no face)."""
    ref = reference if reference is not None else next((f for f in features if f is not None), None)
    if ref is None:
        return {"curve": [None] * len(features), "mean": None, "max": None, "final": None}
    ref = np.asarray(ref, np.float64)
    curve = [None if f is None else float(np.linalg.norm(np.asarray(f, np.float64) - ref)) for f in features]
    vals = [c for c in curve if c is not None]
    return {"curve": curve, "mean": float(np.mean(vals)) if vals else None,
            "max": float(np.max(vals)) if vals else None, "final": curve[-1]}


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(y)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0:
        return float("nan")
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def attribute_leakage(strengths: Sequence[float], labels: dict[str, np.ndarray], target: str,
                      spread: dict[str, float] | None = None) -> dict:
    """Change of ``target`` vs leakage into the other labels along a strength sweep.

    ``labels[name]``: [S] (mean over faces per strength) or [S, F] (per face).  ``spread``: the
    label's standard deviation over unedited faces (default: over the sweep itself).  Returns
    ``{"target": slope, "others": {name: slope}, "leakage": {name: |slope_other| / |slope_target|}}``
    with slopes in spreads per unit strength."""
    s = np.asarray(strengths, np.float64)

    def norm_slope(name: str) -> float:
        y = np.asarray(labels[name], np.float64)
        if y.ndim == 2:
            y = np.nanmean(y, axis=1)
        sd = (spread or {}).get(name) or float(np.nanstd(labels[name]))
        return _slope(s, y) / sd if sd else float("nan")

    t = norm_slope(target)
    others = {k: norm_slope(k) for k in labels if k != target}
    leak = {k: (abs(v) / abs(t) if t and np.isfinite(v) else float("nan")) for k, v in others.items()}
    return {"target": t, "others": others, "leakage": leak}


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(np.asarray(x, np.float64), np.asarray(y, np.float64))[0])
