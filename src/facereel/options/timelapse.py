"""Options of a facial time-lapse (``facereel timelapse``): :class:`TimelapseOptions`."""

from __future__ import annotations

import dataclasses

from . import Options, OptionsError, check_choice, check_float, check_int
from ._latent_rules import parse_extend_to
from .choices import ENGINES, SIZE_MAX, SIZE_MIN, TIMINGS, VIDEO_FORMATS
from .latent import LatentOptions

__all__ = ["TimelapseOptions", "LatentOptions"]


@dataclasses.dataclass(frozen=True)
class TimelapseOptions(Options):
    """What a time-lapse looks like.

    * ``engine``: ``morph`` (landmark morph) | ``crossfade`` (pixel blend, the seed's baseline) |
      ``latent`` (inversion into a generator; see ``latent``).
    * ``frames_per_gap``: frames from one photo to the next (keyframe included, so a video of n
      photos has (n−1)·frames_per_gap + 1 frames plus holds); with ``timing="age"`` the mean gap.
    * ``timing``: ``uniform`` | ``age`` (frames per gap proportional to the age or date difference).
    * ``hold``: extra still frames on each photo.
    * ``size``: side of the square frames in pixels, any whole number from 64 to 2048.
    * ``fps``: frames per second.
    * ``opacity``: peak weight (0–1) of the real photo mixed into the frames near it (seed Eq. 4-5).
    * ``format``: ``mp4`` | ``webm`` | ``gif`` | ``frames`` (PNG folder); None: from the output's suffix.
    * ``keep_flagged``: keep photos flagged as duplicates or other people.
    * ``stabilize``: smooth the face's position, scale and roll across photos.
    * ``latent``: the latent engine's options (ignored by the other engines).
    * ``extend_to``: (earlier age, later age): with the latent engine, the time-lapse is extended
      before its first and after its last photo along ``extend_direction`` (None: not extended).
    * ``extend_direction``: an age direction file (``facereel directions fit``) or a weights name
      (``e4e-age``); needed with ``extend_to``.
    """

    engine: str = "morph"
    frames_per_gap: int = 24
    timing: str = "uniform"
    hold: int = 0
    size: int = 512
    fps: float = 24.0
    opacity: float = 0.5
    format: str | None = None
    keep_flagged: bool = False
    stabilize: bool = False
    latent: LatentOptions = dataclasses.field(default_factory=LatentOptions)
    extend_to: tuple[float, float] | None = None
    extend_direction: str | None = None

    def validate(self) -> TimelapseOptions:
        check_choice("engine", self.engine, ENGINES)
        check_int("frames_per_gap", self.frames_per_gap, 1, 100_000)
        check_choice("timing", self.timing, TIMINGS)
        check_int("hold", self.hold, 0, 100_000)
        check_int("size", self.size, SIZE_MIN, SIZE_MAX)
        check_float("fps", self.fps, 0.0, 1000.0, lo_open=True)
        check_float("opacity", self.opacity, 0.0, 1.0)
        if self.format is not None:
            check_choice("format", self.format, VIDEO_FORMATS)
        for name in ("keep_flagged", "stabilize"):
            if not isinstance(getattr(self, name), bool):
                raise OptionsError(name, f"must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.latent, LatentOptions):
            raise OptionsError("latent", f"must be LatentOptions, got {type(self.latent).__name__}")
        try:
            self.latent.validate()
        except OptionsError as exc:
            raise OptionsError(f"latent.{exc.field}", exc.message) from None
        if self.extend_to is not None:
            if isinstance(self.extend_to, str):
                object.__setattr__(self, "extend_to", parse_extend_to(self.extend_to))
            try:
                lo, hi = (float(v) for v in self.extend_to)
            except (TypeError, ValueError):
                raise OptionsError("extend_to", f"give two ages (earlier, later), got {self.extend_to!r}") from None
            parse_extend_to(f"{lo},{hi}")
            object.__setattr__(self, "extend_to", (lo, hi))
            if self.engine != "latent":
                raise OptionsError("extend_to", f"extending needs the latent engine, not {self.engine}")
            if not self.extend_direction:
                raise OptionsError("extend_direction", "extend_to needs an age direction (a file or e4e-age)")
        elif self.extend_direction is not None:
            raise OptionsError("extend_direction", "only used with extend_to")
        return self
