"""Options objects: one frozen, typed dataclass per operation, validated once.

Each operation's options live in a module of this package (``options.timelapse``,
``options.analyze``, ...; the coming pipelines add theirs here).  Every choice list (sizes,
engines, formats, timings, inversion methods, interpolations, ...) is defined once, in
:mod:`facereel.options.choices`.  Front ends (Typer commands, web request models) build an
options object, call :meth:`Options.validate` and map :class:`OptionsError` field names back to
their own spelling; pipelines and engines take validated options and never validate again.

This package imports only :mod:`facereel.core`, so every room may import it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any, TypeVar

from facereel.core.errors import OptionsError

T = TypeVar("T", bound="Options")

__all__ = ["Options", "OptionsError", "check_choice", "check_int", "check_float"]


@dataclasses.dataclass(frozen=True)
class Options:
    """Base of the options dataclasses: ``validate()`` returns ``self`` or raises OptionsError."""

    def validate(self: T) -> T:  # subclasses extend; the base checks nothing
        return self

    def replace(self: T, **changes: Any) -> T:
        """A validated copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes).validate()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_choice(field: str, value: Any, choices: Iterable[Any]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise OptionsError(field, f"unknown value {value!r}; choose one of {', '.join(map(str, choices))}")


def check_int(field: str, value: Any, lo: int | None = None, hi: int | None = None) -> None:
    """A whole number (bools refused) within [lo, hi]."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if ok and lo is not None and value < lo:
        ok = False
    if ok and hi is not None and value > hi:
        ok = False
    if not ok:
        rng = "" if lo is None and hi is None else (
            f" from {lo} to {hi}" if lo is not None and hi is not None else (f" >= {lo}" if lo is not None else f" <= {hi}"))
        raise OptionsError(field, f"must be a whole number{rng}, got {value!r}")


def check_float(field: str, value: Any, lo: float | None = None, hi: float | None = None,
                *, lo_open: bool = False) -> None:
    """A finite number (bools refused) within [lo, hi] (``lo_open``: strictly above lo)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and lo is not None and (value <= lo if lo_open else value < lo):
        ok = False
    if ok and hi is not None and value > hi:
        ok = False
    if not ok:
        lo_s = "" if lo is None else (f"> {lo}" if lo_open else f">= {lo}")
        hi_s = "" if hi is None else f"<= {hi}"
        rng = " and ".join(s for s in (lo_s, hi_s) if s)
        raise OptionsError(field, f"must be a finite number{(' ' + rng) if rng else ''}, got {value!r}")
