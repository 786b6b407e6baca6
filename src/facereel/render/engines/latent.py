"""The generative engine: invert the keyframes, interpolate their latents, generate the frames.

The time-lapse seed's method (invert into W+, interpolate linearly — Eq. 2 — and blend the
real keyframes back in).  Also: slerp for Z latents and a C1 spline (no velocity kink at the
keyframes), batched generation, and a landmark-aligned keyframe blend (``blend="aligned"``)
that warps the real keyframe onto each generated frame's landmarks before the pipeline mixes
it in with f(α, γ), so the mix adds detail instead of a "ghost" of a differently shaped face.

Output is at the generator's resolution, resized to the keyframe size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from facereel.core.progress import Progress
from facereel.render.engines.base import Engine, Keyframe

log = logging.getLogger(__name__)


class LatentEngine(Engine):
    name = "latent"

    def __init__(self, generator=None, method: str = "optimize", interpolation: str | None = None,
                 steps: int = 300, blend: str = "aligned", batch_size: int = 8, device=None, use_cache: bool = True,
                 encoder: str | None = None, seed: int = 0, iterations: int | None = None,
                 restarts: int | None = None):
        """``generator``: a weights name, a checkpoint path or a FaceGenerator.  None means the
        offline DCGAN (DigiFace-1M, NON-COMMERCIAL weights) for ``optimize`` and the encoder's own
        decoder for ``psp``/``e4e``/``restyle``/``hybrid``; the FFHQ StyleGAN decoders inside the
        official encoder checkpoints are NON-COMMERCIAL too.  ``interpolation`` None picks slerp
        for Z latents and the C1 spline for W+ (:func:`facereel.latent.interpolate.default_method`).
        """
        from facereel.inversion.api import METHODS
        from facereel.latent.interpolate import METHODS as PATHS

        if method not in METHODS:
            raise ValueError(f"unknown inversion method {method!r}; choose one of {', '.join(METHODS)}")
        if interpolation is not None and interpolation not in PATHS:
            raise ValueError(f"unknown interpolation {interpolation!r}; choose one of {', '.join(PATHS)}")
        if blend not in ("seed", "aligned"):
            raise ValueError("blend must be 'seed' or 'aligned'")
        if int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self._generator_spec = generator
        self.method = method
        self.interpolation = interpolation
        self.steps = int(steps)
        self.blend = blend
        self.batch_size = max(1, int(batch_size))
        self.device = device
        self.use_cache = use_cache
        self.encoder = encoder
        self.seed = seed
        self.iterations = iterations
        self.restarts = restarts
        self.generator = None
        self.latents = None

    def _load_generator(self):
        spec = self._generator_spec
        if spec is None and self.method in ("psp", "e4e", "restyle", "hybrid"):
            return None                      # the encoder checkpoint's own decoder
        if spec is None or isinstance(spec, str):
            from facereel.checkpoints import CheckpointError
            from facereel.checkpoints.loaders import load_generator
            from facereel.inversion.api import InversionError

            try:
                return load_generator(spec or "dcgan-digiface", device=self.device)
            except CheckpointError as exc:
                raise InversionError(str(exc)) from exc
        return spec

    def prepare(self, keyframes: Sequence[Keyframe], progress: Progress | None = None) -> None:
        from facereel.inversion.api import InversionSettings, invert_images
        from facereel.latent.interpolate import default_method

        super().prepare(keyframes)
        generator = self._load_generator()
        settings = InversionSettings(method=self.method, steps=self.steps, seed=self.seed, encoder=self.encoder,
                                     iterations=self.iterations, restarts=self.restarts)
        self.latents, self.generator = invert_images([k.image for k in self.keyframes], generator, settings,
                                                     use_cache=self.use_cache, progress=progress)
        self.interpolation = self.interpolation or default_method(self.generator.latent_kind)
        self.size = int(self.keyframes[0].image.shape[0])
        log.info("latent engine: %d keyframes inverted with %s into %s, %s interpolation, %s blend",
                 len(self.keyframes), self.method, getattr(self.generator, "name", "?"), self.interpolation,
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
        try:
            from facereel.faces.landmarks import landmarks_mediapipe
            from facereel.render.engines.morph import warp_to_landmarks
        except ImportError:  # pragma: no cover
            return key.image
        try:
            found = landmarks_mediapipe(frame)
        except Exception as exc:  # noqa: BLE001 - a detector failure only costs the alignment
            log.debug("landmarks on a generated frame failed: %s", exc)
            found = None
        if found is None or len(found.points) != len(key.landmarks):
            return key.image
        return warp_to_landmarks(key.image, np.asarray(key.landmarks), np.asarray(found.points))
