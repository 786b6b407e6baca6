"""Shared rules of the latent-space options (``options.directions``, ``edit``, ``walk``,
``emotions``, ``lifespan``): ``generator`` is a weights-table name or a checkpoint file; ``seed`` ≥ 0;
strengths are multiples of a direction's ``scale`` (one standard deviation of the sampled codes
along it for fitted directions, raw latent units for the public e4e files), at most
``max_strength`` in magnitude; ``layers`` is a W+ mask (``all``, ``coarse``, ``middle``,
``fine``, ``vs``, ``first 8 of 18``, ``0-7``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from . import OptionsError, check_choice
from .choices import (
    DEVICES,
    VIDEO_FORMATS,
)

SEED_MAX = 2**32 - 1
#: strengths beyond this many scales leave the generator's distribution far behind
STRENGTH_LIMIT = 50.0
_VIDEO_SUFFIXES = tuple(f".{f}" for f in VIDEO_FORMATS if f != "frames")


def _device(value) -> None:
    if not (value in DEVICES or re.fullmatch(r"cuda:\d+", str(value))):
        check_choice("device", value, DEVICES)


def _text(field: str, value, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise OptionsError(field, f"give {what}")


def _layers(field: str, value) -> None:
    if value is not None and not isinstance(value, str):
        raise OptionsError(field, f"must be a layer mask such as all, coarse, vs or 0-7, got {value!r}")


def _video(field: str, value) -> None:
    suffix = Path(str(value)).suffix.lower()
    if suffix not in _VIDEO_SUFFIXES and suffix:
        raise OptionsError(field, f"unsupported video type {suffix!r}; use {', '.join(_VIDEO_SUFFIXES)}")


def parse_extend_to(text: str) -> tuple[float, float]:
    """``"5,80"`` → (5.0, 80.0) (earlier age, later age)."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise OptionsError("extend_to", f"give two ages 'EARLY,LATE' such as 5,80, got {text!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi <= 120):
        raise OptionsError("extend_to", f"need 0 <= early < late <= 120, got {text!r}")
    return lo, hi
