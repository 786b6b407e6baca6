"""Options of ``facereel directions fit``: :class:`DirectionFitOptions`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from . import Options, OptionsError, check_choice, check_float, check_int
from ._latent_rules import SEED_MAX, _device, _layers, _text
from .choices import DIRECTION_METHODS

__all__ = ["DirectionFitOptions"]


@dataclasses.dataclass(frozen=True)
class DirectionFitOptions(Options):
    """* ``label``: age, gender, smile, yaw, pitch, roll, an emotion or a MediaPipe blendshape
      (not needed by ``pca``/``sefa``); ``samples`` seeded latents ``seed …`` are labelled.
    * ``method``: one of :data:`~facereel.options.choices.DIRECTION_METHODS`.
    * ``condition_on``: labels projected out (InterFaceGAN conditional direction).
    * ``components``: how many PCA/SeFa components to keep; ``layers``: SeFa's layers.
    """

    generator: str = "dcgan-digiface"
    label: str = "age"
    samples: int = 1000
    seed: int = 0
    batch: int = 32
    method: str = "auto"
    condition_on: tuple[str, ...] = ()
    components: int = 10
    layers: str | None = None
    psi: float = 1.0
    output: str = "direction.safetensors"
    device: str = "auto"
    #: label the samples through the batch layer: None in process, "auto" or an address on Ray
    ray: str | None = None

    def validate(self) -> DirectionFitOptions:
        if self.ray is not None and not str(self.ray).strip():
            raise OptionsError("ray", "give 'auto' or a cluster address")
        _text("generator", self.generator, "a weights name or a checkpoint file")
        check_choice("method", self.method, DIRECTION_METHODS)
        if self.method not in ("pca", "sefa"):
            _text("label", self.label, "the label to fit")
        check_int("samples", self.samples, 8 if self.method != "sefa" else 0)
        check_int("seed", self.seed, 0, SEED_MAX)
        check_int("batch", self.batch, 1)
        check_int("components", self.components, 1, 512)
        if self.label in self.condition_on:
            raise OptionsError("condition_on", f"cannot condition {self.label!r} on itself")
        _layers("layers", self.layers)
        check_float("psi", self.psi, 0.0, 2.0)
        if Path(self.output).suffix.lower() != ".safetensors":
            raise OptionsError("output", "direction files are .safetensors")
        _device(self.device)
        return self
