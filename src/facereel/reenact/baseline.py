"""``--method baseline``: the thesis' latent-arithmetic baseline, on any encoder facereel supports.

    z_out = z_R + (z_A1 - z_A0)

z_R is the target's code, z_A1 the driver frame's code and z_A0 the mean code of *all* frames of
the driving video and of their horizontal flips (a frontal, average-expression code: the flips
cancel the mean yaw and roll).  The method therefore asks the runner for a first pass over the
driver (``needs_driver_pass``); the per-frame codes of that pass are kept ([n_styles, 512] floats
each, 36 KB at 1024) so the second pass does not invert again.

Encoders: ``psp`` | ``e4e`` | ``restyle`` (their official FFHQ checkpoints or ``options.checkpoint``)
and ``optimize`` | ``hybrid`` (through :func:`facereel.inversion.api.invert_images` on
``options.generator``).  All FFHQ models are NON-COMMERCIAL.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from facereel.core.errors import FacereelError

from .base import ReenactError, ReenactMethod

log = logging.getLogger(__name__)

__all__ = ["BaselineMethod", "video_mean_code"]


def video_mean_code(codes: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    """z_A0: the mean over frames of their codes and their flips' codes, [N, S, 512] x2 -> [S, 512]."""
    return torch.cat([codes, flipped]).mean(0)


class BaselineMethod(ReenactMethod):
    name = "baseline"
    needs_driver_pass = True

    def __init__(self, invert=None, synthesize=None):
        # invert(list of aligned 256 uint8 crops) -> [N, S, 512]; synthesize([N, S, 512]) -> [N, 3, R, R]
        self._invert = invert
        self._synthesize = synthesize
        self._codes: list[torch.Tensor | None] = []
        self._sum: torch.Tensor | None = None
        self._count = 0
        self._next = 0
        self._options = None

    # -- encoder --------------------------------------------------------------------------
    def _load(self, options) -> None:
        if self._invert is not None:
            return
        from facereel.inversion.api import DEFAULT_ENCODERS, InversionSettings, invert_images

        enc = options.encoder
        settings = InversionSettings(method=enc, encoder=options.checkpoint if options.checkpoint else
                                     DEFAULT_ENCODERS.get(enc), iterations=options.restyle_iterations)
        generator = None
        if enc in ("optimize", "hybrid"):
            if not options.generator:
                raise ReenactError(f"the baseline with the {enc} encoder needs a generator (--generator)")
            from facereel.checkpoints.loaders import load_generator

            generator = load_generator(options.generator)
        state = {"generator": generator}

        def invert(crops):
            try:
                lat, gen = invert_images(list(crops), state["generator"], settings, use_cache=False)
            except (FileNotFoundError, ValueError, FacereelError) as exc:
                raise ReenactError(f"baseline encoder: {exc}") from None
            state["generator"] = gen
            return lat

        def synthesize(latents):
            return state["generator"].synthesize(latents)

        self._invert, self._synthesize = invert, synthesize

    def _ensure_loaded(self) -> None:
        if self._invert is None:
            from facereel.options.reenact import ReenactOptions

            self._load(self._options or ReenactOptions(method="baseline").validate())

    # -- the two passes -------------------------------------------------------------------
    def configure(self, options) -> None:
        """The runner's options, known before the driver pass (encoder choice)."""
        self._options = self.options = options

    def observe(self, frame_rgb: np.ndarray) -> None:
        from .learned import align256
        from .target import face_landmarks

        self._ensure_loaded()
        lm = face_landmarks(frame_rgb)
        if lm is None:
            self._codes.append(None)
            return
        crop = align256(frame_rgb, lm)
        codes = self._invert([crop, np.ascontiguousarray(crop[:, ::-1])]).float()   # [2, S, 512]
        self._codes.append(codes[0])
        total = codes.sum(0)
        self._sum = total if self._sum is None else self._sum + total
        self._count += 2

    def prepare(self, target_rgb: np.ndarray, options) -> None:
        from .learned import align256
        from .target import select_target_face

        self._options = options
        self._ensure_loaded()
        if self._count == 0:
            raise ReenactError("no face found in any of the driver's frames")
        self.z_a0 = self._sum / self._count
        self.face = select_target_face(target_rgb, options)
        self.target_rgb = target_rgb
        self.z_r = self._invert([align256(target_rgb, self.face.landmarks)]).float()[0]
        self._next = 0

    @torch.no_grad()
    def drive(self, frame_rgb: np.ndarray) -> np.ndarray | None:
        from .learned import to_uint8_resized

        i = self._next
        self._next += 1
        if i < len(self._codes):
            z_a1 = self._codes[i]
        else:   # a driver longer on the second pass than on the first: invert now
            from .learned import align256
            from .target import face_landmarks

            lm = face_landmarks(frame_rgb)
            z_a1 = None if lm is None else self._invert([align256(frame_rgb, lm)]).float()[0]
        if z_a1 is None:
            return None
        z = self.z_r + (z_a1 - self.z_a0)
        face = to_uint8_resized(self._synthesize(z[None]), self._options.size)
        if not self._options.paste_back:
            return face
        from .paste import paste_back

        return paste_back(face, self.target_rgb, self.face.alignment, self._options.feather)

    def close(self) -> None:
        self._codes = []

    def report(self) -> dict:
        return {"encoder": getattr(self._options, "encoder", None), "codes_in_mean": self._count}
