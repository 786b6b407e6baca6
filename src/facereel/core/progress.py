"""The one progress callback type: ``progress(done, total)``; library code never prints."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]


def report(progress: Progress | None, done: int, total: int) -> None:
    """Calls ``progress`` when given (keeps the ``if progress:`` out of every loop)."""
    if progress is not None:
        progress(done, total)
