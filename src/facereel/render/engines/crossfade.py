"""Pixel cross-dissolve between consecutive keyframes: the seed's baseline.

frame(j, λ) = (1−λ)·K_j + λ·K_{j+1}.  Fast and faithful to both photos, but every in-between frame
shows the "ghost" of the other face wherever the two faces do not line up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facereel.core.progress import Progress
from facereel.render.engines.base import Engine, Keyframe


class CrossfadeEngine(Engine):
    name = "crossfade"
    batch_size = 1

    def prepare(self, keyframes: Sequence[Keyframe], progress: Progress | None = None) -> None:
        super().prepare(keyframes, progress)
        if len(self.keyframes) < 2:
            raise ValueError("the crossfade engine needs at least 2 keyframes")
        shape = self.keyframes[0].image.shape
        if any(k.image.shape != shape for k in self.keyframes):
            raise ValueError("all keyframes must have the same size")
        if progress:
            progress(len(self.keyframes), len(self.keyframes))

    def frame(self, j: int, lam: float) -> np.ndarray:
        import cv2

        a, b = self.keyframes[j].image, self.keyframes[j + 1].image
        return cv2.addWeighted(a, 1.0 - float(lam), b, float(lam), 0.0)
