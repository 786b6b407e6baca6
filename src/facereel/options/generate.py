"""Options of ``facereel generate`` (a grid of samples from a generator): :class:`GenerateOptions`."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from . import Options, OptionsError, check_choice, check_float, check_int
from .choices import DEVICES, GRID_SUFFIXES

__all__ = ["GenerateOptions"]

#: seeds are drawn into 32-bit generators (torch.Generator, numpy RandomState)
SEED_MAX = 2**32 - 1


@dataclasses.dataclass(frozen=True)
class GenerateOptions(Options):
    """* ``weights``: a weights-table name or a checkpoint file.
    * ``seeds``: one image per seed, in order.
    * ``psi``: truncation (1 = none), 0..2.
    * ``cols``: grid columns, 0 = square-ish.
    * ``batch``: images per forward pass (>= 1).
    * ``output``: the grid image; its suffix picks the format (PNG, JPEG, WebP).
    * ``official_seeds``: NVIDIA StyleGAN only, draw z as the official ``gen_images.py`` does.
    """

    weights: str = "dcgan-digiface"
    seeds: tuple[int, ...] = tuple(range(8))
    psi: float = 1.0
    cols: int = 0
    batch: int = 8
    output: str = "grid.png"
    device: str = "auto"
    official_seeds: bool = False

    def validate(self) -> GenerateOptions:
        if not str(self.weights).strip():
            raise OptionsError("weights", "give a weights name or a checkpoint file")
        if not self.seeds:
            raise OptionsError("seeds", "no seeds given")
        for s in self.seeds:
            check_int("seeds", s, 0, SEED_MAX)
        check_float("psi", self.psi, 0.0, 2.0)
        check_int("cols", self.cols, 0)
        check_int("batch", self.batch, 1)
        suffix = Path(self.output).suffix.lower()
        if suffix not in GRID_SUFFIXES:
            raise OptionsError("output", f"unsupported image type {suffix or '(none)'!r}; use "
                                         f"{', '.join(GRID_SUFFIXES)}")
        if not (self.device in DEVICES or re.fullmatch(r"cuda:\d+", str(self.device))):
            check_choice("device", self.device, DEVICES)
        if not isinstance(self.official_seeds, bool):
            raise OptionsError("official_seeds", f"must be true or false, got {self.official_seeds!r}")
        return self
