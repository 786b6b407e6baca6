"""Interpolation between keyframe latents.

All functions take the stacked keyframe latents ``keys`` [n, ...] (any trailing shape: z [n, z],
w [n, w] or w+ [n, num_ws, w]) and a schedule position (j, λ): keyframe j, fraction λ ∈ [0, 1]
of the way to keyframe j+1.  They work on numpy arrays and torch tensors alike.

* ``linear``: the time-lapse seed's Eq. 2, w(λ) = (1 − λ)·w_j + λ·w_{j+1}.  Piecewise linear, so
  the velocity jumps at every keyframe (a visible "kink" in motion).
* ``slerp``: spherical interpolation for Gaussian Z latents, which keeps the norm near √dim where
  the generator was trained (linear interpolation shrinks it mid-way).
* ``spline``: a C1 cubic Hermite (Catmull-Rom) spline through the keyframes: it passes through
  every keyframe exactly and its first derivative is continuous there (no velocity kink).
"""

from __future__ import annotations

import numpy as np

from facereel.options.choices import INTERPOLATIONS as METHODS


def _lib(x):
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return torch
    except ImportError:  # pragma: no cover
        pass
    return np


def linear(keys, j: int, lam: float):
    """Seed Eq. 2: (1 − λ)·keys[j] + λ·keys[j+1]."""
    n = len(keys)
    if j >= n - 1:
        return keys[n - 1]
    return keys[j] * (1.0 - lam) + keys[j + 1] * lam


def slerp(keys, j: int, lam: float, eps: float = 1e-7):
    """Spherical interpolation along the great circle between keys[j] and keys[j+1] (per row of the last axis).

    The magnitude is interpolated linearly, the direction spherically, so two latents of
    different norms still meet exactly at both ends.
    """
    n = len(keys)
    if j >= n - 1:
        return keys[n - 1]
    lib = _lib(keys)
    a, b = keys[j], keys[j + 1]
    na = lib.sqrt((a * a).sum(-1, keepdims=True)) if lib is np else a.norm(dim=-1, keepdim=True)
    nb = lib.sqrt((b * b).sum(-1, keepdims=True)) if lib is np else b.norm(dim=-1, keepdim=True)
    ua, ub = a / (na + eps), b / (nb + eps)
    dot = (ua * ub).sum(-1, keepdims=True) if lib is np else (ua * ub).sum(-1, keepdim=True)
    dot = lib.clip(dot, -1.0, 1.0) if lib is np else dot.clamp(-1.0, 1.0)
    omega = lib.arccos(dot) if lib is np else torch_acos(dot)
    so = lib.sin(omega)
    # Where the two directions are (anti)parallel sin ω → 0: fall back to linear blending of directions.
    small = so < 1e-6
    safe = lib.where(small, lib.ones_like(so), so)
    wa = lib.where(small, lib.ones_like(so) * (1.0 - lam), lib.sin((1.0 - lam) * omega) / safe)
    wb = lib.where(small, lib.ones_like(so) * lam, lib.sin(lam * omega) / safe)
    direction = wa * ua + wb * ub
    return direction * (na * (1.0 - lam) + nb * lam)


def torch_acos(x):
    import torch

    return torch.acos(x)


def spline(keys, j: int, lam: float):
    """Catmull-Rom cubic Hermite spline through the keys (uniform knots): C1 at every keyframe.

    Tangent at key k: m_k = (p_{k+1} − p_{k−1}) / 2, one-sided (p_1 − p_0, p_{n−1} − p_{n−2}) at
    the ends.  Hermite basis h00 = 2t³ − 3t² + 1, h10 = t³ − 2t² + t, h01 = −2t³ + 3t², h11 = t³ − t².
    """
    n = len(keys)
    if j >= n - 1:
        return keys[n - 1]
    if n == 2:
        return linear(keys, j, lam)

    def tangent(k):
        if k == 0:
            return keys[1] - keys[0]
        if k == n - 1:
            return keys[n - 1] - keys[n - 2]
        return (keys[k + 1] - keys[k - 1]) * 0.5

    t = float(lam)
    t2, t3 = t * t, t * t * t
    h00 = 2 * t3 - 3 * t2 + 1
    h10 = t3 - 2 * t2 + t
    h01 = -2 * t3 + 3 * t2
    h11 = t3 - t2
    return keys[j] * h00 + tangent(j) * h10 + keys[j + 1] * h01 + tangent(j + 1) * h11


def interpolate(keys, j: int, lam: float, method: str = "linear"):
    if method == "linear":
        return linear(keys, j, lam)
    if method == "slerp":
        return slerp(keys, j, lam)
    if method == "spline":
        return spline(keys, j, lam)
    raise ValueError(f"unknown interpolation {method!r}; choose one of {', '.join(METHODS)}")


def path(keys, positions, method: str = "linear"):
    """Stacks ``interpolate`` over [(j, λ), ...] → [len(positions), ...]."""
    lib = _lib(keys)
    items = [interpolate(keys, j, lam, method) for j, lam in positions]
    return np.stack(items) if lib is np else lib.stack(items)


def default_method(latent_kind: str) -> str:
    """Slerp for Gaussian Z latents, the C1 spline for W/W+."""
    return "slerp" if latent_kind == "z" else "spline"


