"""Options of the latent engine and of inversion: :class:`LatentOptions`."""

from __future__ import annotations

import dataclasses

from . import Options, OptionsError, check_choice, check_int
from .choices import BLENDS, DEVICES, ENCODER_METHODS, INTERPOLATIONS, INVERSION_METHODS

__all__ = ["LatentOptions", "check_device"]


def check_device(field: str, value) -> None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    s = str(value)
    if not (s in DEVICES or (s.startswith("cuda:") and s[5:].isdigit())):
        raise OptionsError(field, f"unknown device {value!r}; choose one of {', '.join(DEVICES)} (or cuda:N)")


@dataclasses.dataclass(frozen=True)
class LatentOptions(Options):
    """How photos are inverted into a generator and how the latent engine walks between them.

    * ``generator``: a weights name (``facereel weights list``) or a checkpoint file; None means the
      offline DCGAN (``dcgan-digiface``, NON-COMMERCIAL weights) for ``optimize`` and the encoder
      checkpoint's own decoder for the encoder methods.
    * ``method``: ``optimize`` | ``psp`` | ``e4e`` | ``restyle`` | ``hybrid`` (encoder + optimisation).
    * ``encoder``: encoder weights name or ``.pt`` file of the encoder methods (None: the official
      FFHQ encoder of the method).
    * ``steps``: optimisation steps (``optimize``, ``hybrid``); ``restarts``: random starts per image
      in Z space (None: the method's default); ``iterations``: ReStyle refinement steps (None: the
      checkpoint's); ``seed``: seed of the optimisation.
    * ``interpolation``: ``linear`` (the seed's Eq. 2) | ``slerp`` | ``spline``; None: slerp for Z
      latents, the C1 spline for W+.
    * ``blend``: ``seed`` (Eq. 4-5 as is) | ``aligned`` (the keyframe warped onto the generated
      frame's landmarks before it is mixed in).
    * ``batch_size``: frames generated per forward pass; ``device``: ``auto`` | ``cpu`` | ``cuda[:N]``;
      ``use_cache``: reuse latents cached for the same photo, generator and settings.
    """

    generator: str | None = None
    method: str = "optimize"
    encoder: str | None = None
    steps: int = 300
    restarts: int | None = None
    iterations: int | None = None
    seed: int = 0
    interpolation: str | None = None
    blend: str = "aligned"
    batch_size: int = 8
    device: str = "auto"
    use_cache: bool = True

    def validate(self) -> LatentOptions:
        for name in ("generator", "encoder"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v.strip()):
                raise OptionsError(name, f"must be a weights name or a file path, got {v!r}")
        check_choice("method", self.method, INVERSION_METHODS)
        if self.encoder is not None and self.method not in ENCODER_METHODS:
            raise OptionsError("encoder", f"only applies to the methods {', '.join(ENCODER_METHODS)}")
        check_int("steps", self.steps, 1)
        if self.restarts is not None:
            check_int("restarts", self.restarts, 1)
        if self.iterations is not None:
            check_int("iterations", self.iterations, 1)
        check_int("seed", self.seed, 0)
        if self.interpolation is not None:
            check_choice("interpolation", self.interpolation, INTERPOLATIONS)
        check_choice("blend", self.blend, BLENDS)
        check_int("batch_size", self.batch_size, 1, 1024)
        check_device("device", self.device)
        if not isinstance(self.use_cache, bool):
            raise OptionsError("use_cache", f"must be true or false, got {self.use_cache!r}")
        return self
