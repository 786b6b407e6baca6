"""Options of ``facereel walk``: :class:`WalkOptions`."""

from __future__ import annotations

import dataclasses

from . import Options, OptionsError, check_choice, check_float, check_int
from ._latent_rules import SEED_MAX, _device, _text, _video
from .choices import LOOP_SPACES, WALK_MODES

__all__ = ["WalkOptions"]


@dataclasses.dataclass(frozen=True)
class WalkOptions(Options):
    """* ``mode``: random | coarse | fine | loop; ``keypoints`` seeded points the spline passes.
    * ``loop_space``: z (great circle) or w (closed spline).
    * ``even``: speed-normalise so every frame changes the image about as much.
    """

    mode: str = "random"
    generator: str = "dcgan-digiface"
    seed: int = 0
    frames: int = 120
    keypoints: int = 6
    loop_space: str = "z"
    even: bool = True
    psi: float = 1.0
    fps: float = 24.0
    size: int = 0
    batch: int = 8
    output: str = "walk.mp4"
    device: str = "auto"

    def validate(self) -> WalkOptions:
        check_choice("mode", self.mode, WALK_MODES)
        _text("generator", self.generator, "a weights name or a checkpoint file")
        check_int("seed", self.seed, 0, SEED_MAX)
        check_int("frames", self.frames, 2, 100_000)
        check_int("keypoints", self.keypoints, 2, 1000)
        check_choice("loop_space", self.loop_space, LOOP_SPACES)
        if not isinstance(self.even, bool):
            raise OptionsError("even", f"must be true or false, got {self.even!r}")
        check_float("psi", self.psi, 0.0, 2.0)
        check_float("fps", self.fps, 0.0, 240.0, lo_open=True)
        check_int("size", self.size, 0, 4096)
        check_int("batch", self.batch, 1)
        _video("output", self.output)
        _device(self.device)
        return self
