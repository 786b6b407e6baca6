"""The generative engine: interpolate the inverted keyframes' latents, generate the frames.

The time-lapse seed's method (invert into W+, interpolate linearly — Eq. 2 — and blend the
real keyframes back in).  Also: slerp for Z latents and a C1 spline (no velocity kink at the
keyframes), batched generation, and a landmark-aligned keyframe blend (``blend="aligned"``)
that warps the real keyframe onto each generated frame's landmarks before the pipeline mixes
it in with f(α, γ), so the mix adds detail instead of a "ghost" of a differently shaped face.

Output is at the generator's resolution, resized to the keyframe size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from facereel.core.progress import Progress
from facereel.options.latent import LatentOptions
from facereel.render.engines.base import Engine, Keyframe

log = logging.getLogger(__name__)


class LatentEngine(Engine):
    """Frames from a ready generator along latent paths between the inverted keyframes.

    ``generator``: the FaceGenerator frames are generated with; ``invert``: a callable
    ``invert(keyframes, progress) -> latents [N, ...]`` (both made by the pipeline,
    :func:`facereel.pipelines.invert.load_inverter`; this engine never loads weights or inverts
    by itself).  ``options``: validated :class:`~facereel.options.latent.LatentOptions`
    (interpolation, blend, batch size).  ``interpolation`` None picks slerp for Z latents and the
    C1 spline for W+ (:func:`facereel.latent.interpolate.default_method`).
    """

    name = "latent"

    def __init__(self, options: LatentOptions | None = None, generator=None,
                 invert: Callable[[Sequence[Keyframe], Progress | None], object] | None = None):
        self.options = options if options is not None else LatentOptions()
        self.generator = generator
        self._invert = invert
        self.interpolation = self.options.interpolation
        self.blend = self.options.blend
        self.batch_size = self.options.batch_size
        self.latents = None

    def prepare(self, keyframes: Sequence[Keyframe], progress: Progress | None = None) -> None:
        from facereel.latent.interpolate import default_method

        super().prepare(keyframes)
        if self.generator is None or self._invert is None:
            raise ValueError("the latent engine needs a ready generator and inverter "
                             "(facereel.pipelines.invert.load_inverter)")
        self.latents = self._invert(self.keyframes, progress)
        self.interpolation = self.interpolation or default_method(self.generator.latent_kind)
        self.size = int(self.keyframes[0].image.shape[0])
        log.info("latent engine: %d keyframes inverted with %s into %s, %s interpolation, %s blend",
                 len(self.keyframes), self.options.method, getattr(self.generator, "name", "?"), self.interpolation,
                 self.blend)

    def _to_uint8(self, images) -> list[np.ndarray]:
        import torch
        import torch.nn.functional as F

        x = images.float()
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bicubic", align_corners=False,
                              antialias=x.shape[-1] > self.size)
        x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return list(x)

    def frames(self, positions: Sequence[tuple[int, float]]) -> list[np.ndarray]:
        import torch

        from facereel.latent.interpolate import path

        out: list[np.ndarray] = []
        for start in range(0, len(positions), self.batch_size):
            chunk = positions[start:start + self.batch_size]
            lat = path(self.latents, chunk, self.interpolation).to(self.generator.device)
            with torch.inference_mode():
                out += self._to_uint8(self.generator.synthesize(lat))
        return out

    def frame(self, j: int, lam: float) -> np.ndarray:
        return self.frames([(j, lam)])[0]

    def blend_source(self, k: int, frame: np.ndarray) -> np.ndarray:
        """Seed blend: the keyframe as is.  Aligned blend: the keyframe warped so its landmarks land
        on the generated frame's (MediaPipe on ``frame``), so the f(α, γ) mix adds the real photo's
        detail where the generated face actually is instead of a shifted "ghost" of it.  Falls back
        to the keyframe as is when either face has no landmarks."""
        key = self.keyframes[k]
        if self.blend != "aligned" or key.landmarks is None:
            return key.image
        from facereel.faces.landmarks import landmarks_mediapipe
        from facereel.render.engines.morph import warp_to_landmarks

        try:
            found = landmarks_mediapipe(frame)
        except Exception as exc:  # noqa: BLE001 - a detector failure only costs the alignment
            log.debug("landmarks on a generated frame failed: %s", exc)
            found = None
        if found is None or len(found.points) != len(key.landmarks):
            return key.image
        return warp_to_landmarks(key.image, np.asarray(key.landmarks), np.asarray(found.points))
