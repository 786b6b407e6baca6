"""Options of the ageing-linearity lab (``facereel lab linearity``)."""

from __future__ import annotations

from dataclasses import dataclass

from facereel.options import Options, OptionsError, check_choice, check_float, check_int
from facereel.options.choices import INVERSION_METHODS, LAB_REGRESSIONS, SIZE_MAX, SIZE_MIN


def parse_pairs(text: str | None) -> tuple[tuple[float, float], ...]:
    """``"10:40,20:60"`` -> ((10, 40), (20, 60)); raises OptionsError on ``pairs``."""
    if not text:
        return ()
    out = []
    for part in str(text).split(","):
        try:
            a, b = (float(x) for x in part.split(":"))
        except ValueError:
            raise OptionsError("pairs", f"{part!r} is not START:END in years, like 10:40") from None
        out.append((a, b))
    return tuple(out)


def parse_floats(field: str, text: str | None) -> tuple[float, ...]:
    if not text:
        return ()
    try:
        return tuple(float(x) for x in str(text).split(","))
    except ValueError:
        raise OptionsError(field, f"{text!r} is not a comma-separated list of numbers") from None


@dataclass(frozen=True)
class LinearityOptions(Options):
    """What the lab measures and how the latents are made.

    ``pairs``: (start age, end age) pairs; none: the youngest and the oldest latent.  ``spans``:
    years for the all-pairs analysis; none: a quarter and a half of the age range.  ``window``:
    average this many consecutive latents (in age order) first.  ``direction``: an age direction
    file (``.npy`` vector, or a directions file) used as the interpolator beside the line.
    ``regression``: ``ridge``/``lasso`` ageing model, or None.  ``heldout_fraction``: the oldest
    share of latents held out to test the regression.  ``people``: each source is another person
    (enables leave-one-person-out).
    """

    pairs: tuple[tuple[float, float], ...] = ()
    spans: tuple[float, ...] = ()
    span_tolerance: float = 0.5
    window: int = 1
    direction: str | None = None
    regression: str | None = "ridge"
    alpha: float = 10.0
    age_weight: float = 1.0
    components: int = 64
    heldout_fraction: float = 0.2
    people: bool = False
    size: int = 256
    method: str = "optimize"
    generator: str | None = None
    encoder: str | None = None
    steps: int = 300
    device: str = "auto"

    def validate(self) -> LinearityOptions:
        for a, b in self.pairs:
            check_float("pairs", a, 0.0)
            check_float("pairs", b, 0.0)
            if not b > a:
                raise OptionsError("pairs", f"{a:g}:{b:g}: the end age must be after the start age")
        for s in self.spans:
            check_float("spans", s, 0.0, lo_open=True)
        check_float("span_tolerance", self.span_tolerance, 0.0, lo_open=True)
        check_int("window", self.window, 1, 10000)
        if self.regression is not None:
            check_choice("regression", self.regression, LAB_REGRESSIONS)
        check_float("alpha", self.alpha, 0.0, lo_open=True)
        check_float("age_weight", self.age_weight, 0.0, lo_open=True)
        check_int("components", self.components, 1, 100000)
        check_float("heldout_fraction", self.heldout_fraction, 0.0, 0.9, lo_open=True)
        check_int("size", self.size, SIZE_MIN, SIZE_MAX)
        check_choice("method", self.method, INVERSION_METHODS)
        check_int("steps", self.steps, 1, 1_000_000)
        return self
