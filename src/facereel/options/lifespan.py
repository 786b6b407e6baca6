"""Options of ageing along a direction (:func:`facereel.latent.lifespan.lifespan_by_direction`)."""

from __future__ import annotations

import dataclasses

from . import Options, OptionsError, check_float, check_int
from ._latent_rules import STRENGTH_LIMIT, _layers

__all__ = ["LifespanOptions"]


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
