"""Frame schedules of a facial time-lapse: which position (j, λ) every output frame shows.

The seed's scheme: with n keyframes and d frames per gap the video has m = (n−1)·d + 1 frames;
frame i sits at α = i/d, shows the gap j = ⌊α⌋ at fraction λ = α − j.  Every keyframe appears
exactly once (at λ = 0) — the seed's public code rendered each gap as d+1 frames including both
ends, which duplicated every inner keyframe at the joins and repeated the first frame; we do not.

``--timing age`` makes the number of frames of each gap proportional to the age (or date)
difference of its two keyframes, clipped to [min_gap, max_gap]; ``--hold K`` repeats each keyframe
as K extra still frames (the only deliberate duplicates, off by default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from facereel.core.errors import FacereelError
from facereel.options.choices import TIMINGS


class ScheduleError(FacereelError, ValueError):
    """Invalid schedule parameters (fewer than two keyframes, d < 1, ...)."""


@dataclass(frozen=True)
class FramePos:
    """One output frame.  ``keyframe`` is set on frames that show a keyframe exactly (λ = 0)."""

    j: int                 # gap index: between keyframe j and j+1 (j = n−1 only for the last keyframe)
    lam: float             # λ ∈ [0, 1)
    keyframe: int | None   # index of the keyframe shown exactly, else None
    hold: bool = False     # an extra still copy of a keyframe (--hold)

    @property
    def alpha(self) -> float:
        """Global position in keyframe units (α = j + λ)."""
        return self.j + self.lam


@dataclass(frozen=True)
class Schedule:
    frames: tuple[FramePos, ...]
    gaps: tuple[int, ...]          # frames per gap d_g (n−1 entries)
    hold: int = 0

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self):
        return iter(self.frames)

    def __getitem__(self, i: int) -> FramePos:
        return self.frames[i]

    @property
    def keyframe_indices(self) -> list[int]:
        """Output index of the (first, non-hold) frame of each keyframe."""
        return [i for i, f in enumerate(self.frames) if f.keyframe is not None and not f.hold]


def uniform_gaps(n: int, frames_per_gap: int) -> list[int]:
    if n < 2:
        raise ScheduleError(f"a time-lapse needs at least 2 keyframes, got {n}")
    if frames_per_gap < 1:
        raise ScheduleError(f"frames per gap must be >= 1, got {frames_per_gap}")
    return [int(frames_per_gap)] * (n - 1)


def _as_years(value: float | date | datetime | str | None) -> float | None:
    """Ages stay as they are; dates become fractional years so differences are comparable."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime | date):
        if not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        return value.toordinal() / 365.2425 + (value.hour * 3600 + value.minute * 60 + value.second) / 86400 / 365.2425
    v = float(value)
    return v if math.isfinite(v) else None


def age_gaps(
    times: Sequence[float | date | datetime | str | None],
    frames_per_gap: int,
    min_gap: int | None = None,
    max_gap: int | None = None,
) -> list[int]:
    """Frames per gap ∝ |t_{j+1} − t_j| (ages in years, or dates), mean gap ≈ ``frames_per_gap``.

    ``min_gap`` defaults to max(1, d/4) and ``max_gap`` to 4·d.  Raises :class:`ScheduleError`
    when a time is missing (the caller decides whether to fall back to uniform timing).
    """
    n = len(times)
    uniform_gaps(n, frames_per_gap)  # validates n and d
    years = [_as_years(t) for t in times]
    missing = [i for i, y in enumerate(years) if y is None]
    if missing:
        raise ScheduleError(f"age timing needs an age or a date for every keyframe; missing for keyframe(s) {missing}")
    lo = max(1, round(frames_per_gap / 4)) if min_gap is None else int(min_gap)
    hi = frames_per_gap * 4 if max_gap is None else int(max_gap)
    if lo < 1 or hi < lo:
        raise ScheduleError(f"need 1 <= min_gap <= max_gap, got {lo}, {hi}")
    diffs = [abs(b - a) for a, b in zip(years[:-1], years[1:], strict=True)]
    mean = sum(diffs) / len(diffs)
    if mean <= 0:  # all at the same age: nothing to be proportional to
        return [min(max(frames_per_gap, lo), hi)] * (n - 1)
    return [min(max(round(frames_per_gap * dd / mean), lo), hi) for dd in diffs]


def build_schedule(gaps: Sequence[int], hold: int = 0) -> Schedule:
    """Positions of every output frame for the given frames-per-gap list.

    With uniform gaps d this is exactly the seed's α = i/d, i = 0 … (n−1)·d.
    """
    if len(gaps) < 1:
        raise ScheduleError("a time-lapse needs at least 2 keyframes")
    if any(int(d) < 1 for d in gaps):
        raise ScheduleError(f"every gap needs at least 1 frame, got {list(gaps)}")
    if hold < 0:
        raise ScheduleError(f"hold must be >= 0, got {hold}")
    out: list[FramePos] = []

    def key(k: int) -> None:
        out.append(FramePos(j=k, lam=0.0, keyframe=k))
        out.extend(FramePos(j=k, lam=0.0, keyframe=k, hold=True) for _ in range(hold))

    for j, d in enumerate(gaps):
        d = int(d)
        key(j)
        # α = j + k/d for k = 1 … d−1; k = d is keyframe j+1, emitted by the next gap (or at the end)
        out.extend(FramePos(j=j, lam=k / d, keyframe=None) for k in range(1, d))
    key(len(gaps))
    return Schedule(frames=tuple(out), gaps=tuple(int(d) for d in gaps), hold=int(hold))


def make_schedule(
    n: int,
    frames_per_gap: int = 24,
    timing: str = "uniform",
    hold: int = 0,
    times: Sequence[float | date | datetime | str | None] | None = None,
    min_gap: int | None = None,
    max_gap: int | None = None,
) -> Schedule:
    """Schedule for ``n`` keyframes; ``times`` (ages or dates, one per keyframe) for ``timing="age"``."""
    if timing == "uniform":
        gaps = uniform_gaps(n, frames_per_gap)
    elif timing == "age":
        if times is None or len(times) != n:
            raise ScheduleError("age timing needs one age or date per keyframe")
        gaps = age_gaps(times, frames_per_gap, min_gap, max_gap)
    else:
        raise ScheduleError(f"unknown timing {timing!r}; choose one of {', '.join(TIMINGS)}")
    return build_schedule(gaps, hold)


def frame_count(n: int, frames_per_gap: int, hold: int = 0) -> int:
    """m = (n−1)·d + 1 (+ n·K hold frames)."""
    return (n - 1) * frames_per_gap + 1 + n * hold
