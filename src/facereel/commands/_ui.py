"""Shared CLI helpers: rich logging, progress bars, clean errors (CLI only; the library never prints)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from facereel.core.progress import Progress

console = Console(stderr=True)
out = Console()


def setup_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger("facereel")
    root.setLevel(level)
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        root.addHandler(RichHandler(console=console, show_time=False, show_path=False, markup=False))


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear error line and exit non-zero (no traceback)."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _rich_progress() -> RichProgress:
    """The one look of facereel's progress bars."""
    return RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)


@contextlib.contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Progress]:
    """Yields a ``progress(done, total)`` callback rendered as a rich progress bar."""
    with _rich_progress() as prog:
        task = prog.add_task(description, total=total)

        def callback(done: int, total_: int) -> None:
            prog.update(task, completed=done, total=total_)

        yield callback


@contextlib.contextmanager
def staged_progress() -> Iterator[Callable[[str], Progress]]:
    """Yields ``stage(description)`` -> a ``progress(done, total)`` callback whose bar appears on its
    first call, so one library call with several progress callbacks shows one bar per stage."""
    with _rich_progress() as prog:

        def stage(description: str) -> Progress:
            task = None

            def callback(done: int, total: int) -> None:
                nonlocal task
                if task is None:
                    task = prog.add_task(description, total=total)
                prog.update(task, completed=done, total=total)

            return callback

        yield stage


def options_failure(exc, flags: dict[str, str]) -> typer.Exit:
    """:func:`fail` with an :class:`~facereel.core.errors.OptionsError` worded in flags."""
    return fail(exc.message_for(flags))
