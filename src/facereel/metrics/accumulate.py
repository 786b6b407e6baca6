"""One pass over a video for every metric: each metric is an accumulator fed frame by frame.

An accumulator has ``update(i, frame)`` (frame ``i``, [H, W, 3] uint8, in order) and
``result()``.  :func:`run` drives several of them over one stream, so a video is decoded once
and never held in memory; the one-shot functions (``ghosting_curve``, ``frame_differences``,
``observe_faces``) are :func:`run` over a single accumulator, so what is tested is what runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from facereel.core.progress import Progress, report


class FrameAccumulator(Protocol):
    def update(self, i: int, frame: np.ndarray) -> None: ...

    def result(self) -> Any: ...


def run(frames: Iterable[np.ndarray], accumulators: Sequence[FrameAccumulator],
        progress: Progress | None = None, total: int | None = None) -> int:
    """Feeds every frame to every accumulator, in order; returns the number of frames."""
    n = 0
    for i, f in enumerate(frames):
        f = np.asarray(f)
        for acc in accumulators:
            acc.update(i, f)
        n = i + 1
        report(progress, n, total or n)
    return n
