"""Keyframe blending of the seed (Eq. 4 and 5).

Generated in-between frames lose detail of the real photos; the seed mixes the nearest real
keyframe back in with an opacity that peaks at the keyframes and vanishes half-way:

    f(α, γ) = γ · (cos 2πα + 1) / 2                      (Eq. 4)
    frame   = f · keyframe_nearest + (1 − f) · generated  (Eq. 5)

γ is the maximum opacity (``--opacity 50`` → 0.5).  Near λ = 0 the nearest keyframe is j, near
λ = 1 it is j+1; at λ = ½ the weight is 0, so switching keyframes there is continuous.

The keyframe mixed in is ``engine.blend_source(k, frame)``: the raw crop by default; the morph
engine returns the keyframe warped onto the frame's interpolated shape, which keeps Eq. 5 from
adding a ghost of the un-warped face.
Frames that *are* keyframes (λ = 0) are emitted by the pipeline as the exact aligned crop.
"""

from __future__ import annotations

import math

import numpy as np


def blend_weight(alpha: float, opacity: float) -> float:
    """f(α, γ) = γ·(cos 2πα + 1)/2 (seed Eq. 4)."""
    return float(opacity) * (math.cos(2.0 * math.pi * float(alpha)) + 1.0) / 2.0


def nearest_keyframe(j: int, lam: float) -> int:
    """Keyframe mixed in at (j, λ): j for λ < ½, j+1 for λ ≥ ½ (weight is 0 at ½ anyway)."""
    return j if lam < 0.5 else j + 1


def blend_keyframe(frame: np.ndarray, keyframe: np.ndarray, weight: float) -> np.ndarray:
    """Seed Eq. 5 on uint8 [S, S, 3] images: weight·keyframe + (1 − weight)·frame, rounded."""
    if weight <= 0.0:
        return frame
    if frame.shape != keyframe.shape:
        raise ValueError(f"frame {frame.shape} and keyframe {keyframe.shape} differ in shape")
    if weight >= 1.0:
        return keyframe.copy()
    import cv2

    # cv2.addWeighted rounds and saturates in one pass (≈10× faster than float numpy at 1024²)
    return cv2.addWeighted(keyframe, float(weight), frame, 1.0 - float(weight), 0.0)
