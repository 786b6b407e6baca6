"""Options of ageing one photo: :class:`LifespanOptions` (the age-direction search of
:func:`facereel.latent.lifespan.lifespan_by_direction`) and :class:`AgeOptions` (``facereel age``:
a video from one photo, by SAM or by a direction)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from . import Options, OptionsError, check_choice, check_float, check_int
from ._latent_rules import _VIDEO_SUFFIXES, STRENGTH_LIMIT, _device, _layers, _text
from .choices import AGE_MAX, AGE_METHODS, AGE_MIN, INTERPOLATIONS, INVERSION_METHODS, SIZE_MAX, SIZE_MIN

__all__ = ["LifespanOptions", "AgeOptions"]


@dataclasses.dataclass(frozen=True)
class LifespanOptions(Options):
    """Ageing along a direction (:func:`facereel.latent.lifespan.lifespan_by_direction`):
    strengths searched in [−max_strength, max_strength] on a ``grid``, ``refine`` secant rounds
    to within ``tolerance`` years; ``identity_guard``: largest dlib distance to the unedited face
    (None: no guard); ``layers``: mask the direction is added on."""

    ages: tuple[float, ...] = (5.0, 20.0, 40.0, 60.0, 80.0)
    max_strength: float = 6.0
    grid: int = 13
    refine: int = 2
    tolerance: float = 1.0
    identity_guard: float | None = None
    layers: str | None = None

    def validate(self) -> LifespanOptions:
        if not self.ages:
            raise OptionsError("ages", "give at least one target age")
        for a in self.ages:
            check_float("ages", a, 0.0, 120.0)
        check_float("max_strength", self.max_strength, 0.0, STRENGTH_LIMIT, lo_open=True)
        check_int("grid", self.grid, 3, 1000)
        check_int("refine", self.refine, 0, 20)
        check_float("tolerance", self.tolerance, 0.0, 50.0, lo_open=True)
        if self.identity_guard is not None:
            check_float("identity_guard", self.identity_guard, 0.0, 2.0, lo_open=True)
        _layers("layers", self.layers)
        return self

    def kwargs(self) -> dict:
        return {"max_strength": self.max_strength, "grid": self.grid, "refine": self.refine,
                "tolerance": self.tolerance, "identity_guard": self.identity_guard}


@dataclasses.dataclass(frozen=True)
class AgeOptions(Options):
    """``facereel age PHOTO --from A --to B -o life.mp4 --method sam|direction``.

    * keyframes at ``age_from``, every ``step`` years, ``age_to``, and the photo at its own age
      (``photo_age``, else the age model's estimate) when it lies inside; frames between two
      keyframes ∝ their age difference (``frames_per_year``), W+ interpolated (``interpolation``);
      the real photo is blended in around its keyframe with peak ``opacity`` (seed Eq. 4/5);
    * ``sam``: SAM (``weights``: a checkpoint file or weights name, None = ``sam_ffhq_aging``) at each
      keyframe age;
    * ``direction``: the photo inverted into ``generator`` (``inversion``) and moved along
      ``direction`` with strengths read back from the age model (``lifespan``).
    """

    photo: str = ""
    output: str = "life.mp4"
    age_from: float = 5.0
    age_to: float = 80.0
    method: str = "sam"
    step: float = 10.0
    photo_age: float | None = None
    weights: str | None = None
    generator: str = "stylegan2-ffhq-config-f"
    direction: str = "e4e-age"
    inversion: str = "optimize"
    frames_per_year: float = 2.0
    fps: float = 24.0
    size: int = 512
    opacity: float = 0.5
    interpolation: str = "linear"
    batch: int = 4
    device: str = "auto"
    lifespan: LifespanOptions = dataclasses.field(default_factory=LifespanOptions)

    def validate(self) -> AgeOptions:
        _text("photo", self.photo, "a photo")
        suffix = Path(str(self.output)).suffix.lower()
        if suffix not in _VIDEO_SUFFIXES:
            raise OptionsError("output", f"unsupported video type {suffix or '(none)'!r}; use "
                                         f"{', '.join(_VIDEO_SUFFIXES)}")
        check_choice("method", self.method, AGE_METHODS)
        check_float("age_from", self.age_from, AGE_MIN, AGE_MAX)
        check_float("age_to", self.age_to, AGE_MIN, AGE_MAX)
        if not self.age_from < self.age_to:
            raise OptionsError("age_from", f"must be below the last age ({self.age_to:g}), got {self.age_from:g}")
        check_float("step", self.step, 0.0, float(AGE_MAX), lo_open=True)
        if self.photo_age is not None:
            check_float("photo_age", self.photo_age, AGE_MIN, AGE_MAX)
        if self.weights is not None:
            _text("weights", self.weights, "a SAM checkpoint file or weights name")
        _text("generator", self.generator, "a weights name or a checkpoint file")
        _text("direction", self.direction, "a direction file or name")
        check_choice("inversion", self.inversion, INVERSION_METHODS)
        check_float("frames_per_year", self.frames_per_year, 0.0, 1000.0, lo_open=True)
        check_float("fps", self.fps, 0.0, 240.0, lo_open=True)
        check_int("size", self.size, SIZE_MIN, SIZE_MAX)
        check_float("opacity", self.opacity, 0.0, 1.0)
        check_choice("interpolation", self.interpolation, INTERPOLATIONS)
        check_int("batch", self.batch, 1, 1024)
        _device(self.device)
        if not isinstance(self.lifespan, LifespanOptions):
            raise OptionsError("lifespan", f"must be LifespanOptions, got {type(self.lifespan).__name__}")
        try:
            self.lifespan.validate()
        except OptionsError as exc:
            raise OptionsError(f"lifespan.{exc.field}", exc.message) from None
        return self

    def keyframe_ages(self) -> list[int]:
        """``age_from``, then every ``step`` years, then ``age_to``, as whole years (SAM's age
        channel is int(age)/100), without repeats: 5, 15, ..., 75, 80."""
        lo, hi = int(round(self.age_from)), int(round(self.age_to))
        ages, k = [], 0
        while lo + k * self.step < hi - 1e-9:
            ages.append(int(round(lo + k * self.step)))
            k += 1
        return sorted(set(ages + [hi]))
