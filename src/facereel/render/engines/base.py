"""The one interface every time-lapse engine implements.

The pipeline owns the schedule (which (j, λ) each output frame shows), keyframe blending
(seed Eq. 4-5) and streaming to the writer; an engine only answers "what does the face look like
at fraction λ of the way from keyframe j to keyframe j+1".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from facereel.core.progress import Progress


@dataclass
class Keyframe:
    image: np.ndarray                        # [S, S, 3] uint8 aligned crop
    landmarks: np.ndarray | None = None      # [N, 2] float (x, y) in crop pixels (MediaPipe 478), if known
    age: float | None = None                 # age used for ordering/timing
    label: str = ""                          # e.g. file name, shown on contact sheets
    meta: dict = field(default_factory=dict)  # e.g. {"sha256": ...} for caches


class Engine(ABC):
    name: str = "engine"

    def prepare(self, keyframes: Sequence[Keyframe], progress: Progress | None = None) -> None:
        """Called once before rendering (inversion, landmark detection, triangulation, ...)."""
        self.keyframes = list(keyframes)

    @abstractmethod
    def frame(self, j: int, lam: float) -> np.ndarray:
        """[S, S, 3] uint8 frame at fraction ``lam`` in [0, 1) between keyframes j and j+1."""

    def frames(self, positions: Sequence[tuple[int, float]]) -> list[np.ndarray]:
        """Batch of frames; engines that batch (the generative one) override this."""
        return [self.frame(j, lam) for j, lam in positions]

    #: preferred batch size for :meth:`frames`
    batch_size: int = 1
    #: :meth:`blended_frame` may run in several threads at once (it keeps no per-call state)
    concurrent: bool = False

    def blended_frame(self, j: int, lam: float, opacity: float) -> np.ndarray:
        """The in-between frame at (j, λ) with the seed's keyframe blend (Eq. 4-5) applied."""
        from facereel.render.blend import blend_keyframe, blend_weight, nearest_keyframe

        out = self.frame(j, lam)
        w = blend_weight(lam, opacity)  # cos is 1-periodic: f(α) = f(λ)
        if w > 0:
            k = nearest_keyframe(j, lam)
            out = blend_keyframe(out, self.blend_source(k, out), w)
        return out

    def blend_source(self, k: int, frame: np.ndarray) -> np.ndarray:
        """The real keyframe k as it should be mixed into ``frame`` by the seed's f(α, γ) blend.

        By default the aligned crop itself; the latent engine can return it warped onto the
        generated frame's landmarks (the landmark-aligned blend, which removes "ghosts").
        """
        return self.keyframes[k].image
