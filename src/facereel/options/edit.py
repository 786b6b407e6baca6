"""Options of ``facereel edit``: :class:`EditOptions`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from . import Options, OptionsError, check_float, check_int
from ._latent_rules import _VIDEO_SUFFIXES, STRENGTH_LIMIT, _device, _layers, _text
from .choices import EDIT_OUTPUTS

__all__ = ["EditOptions"]


@dataclasses.dataclass(frozen=True)
class EditOptions(Options):
    """* ``source``: a photo path (inverted with ``inversion``) or a seed.
    * ``direction``: a direction file, or a weights name (``e4e-age``).
    * ``strengths``: one image/frame per strength; a video gets ``frames`` frames over them.
    * ``component``: which component of a PCA/SeFa file.
    """

    source: str = "0"
    direction: str = ""
    strengths: tuple[float, ...] = (-3.0, 0.0, 3.0)
    layers: str | None = None
    component: int = 0
    max_strength: float = 10.0
    generator: str = "dcgan-digiface"
    inversion: str = "optimize"
    output: str = "edit.png"
    frames: int = 48
    fps: float = 24.0
    size: int = 0
    batch: int = 8
    psi: float = 1.0
    device: str = "auto"

    def validate(self) -> EditOptions:
        _text("source", self.source, "a photo or a seed")
        _text("direction", self.direction, "a direction file or name")
        if not self.strengths:
            raise OptionsError("strengths", "give at least one strength")
        check_float("max_strength", self.max_strength, 0.0, STRENGTH_LIMIT, lo_open=True)
        for s in self.strengths:
            check_float("strengths", s)
            if abs(s) > self.max_strength:
                raise OptionsError("strengths", f"{s:g} is out of range [-{self.max_strength:g}, "
                                                f"{self.max_strength:g}]")
        _layers("layers", self.layers)
        check_int("component", self.component, 0)
        _text("generator", self.generator, "a weights name or a checkpoint file")
        suffix = Path(self.output).suffix.lower()
        if suffix not in EDIT_OUTPUTS:
            raise OptionsError("output", f"unsupported output type {suffix or '(none)'!r}; use {', '.join(EDIT_OUTPUTS)}")
        check_int("frames", self.frames, 2, 100_000)
        check_float("fps", self.fps, 0.0, 240.0, lo_open=True)
        check_int("size", self.size, 0, 4096)
        check_int("batch", self.batch, 1)
        check_float("psi", self.psi, 0.0, 2.0)
        _device(self.device)
        return self

    @property
    def is_video(self) -> bool:
        return Path(self.output).suffix.lower() in _VIDEO_SUFFIXES
