"""Shared plumbing of the latent commands (directions, edit, walk, emotions): build the options,
map field names to flags, run the pipeline with a progress bar, one clear line on any error."""

from __future__ import annotations

from collections.abc import Callable


def build(cls, flags: dict[str, str], **fields):
    """``cls(**fields).validate()``, or exit with the offending flag named."""
    from facereel.commands._ui import fail
    from facereel.core.errors import OptionsError

    try:
        return cls(**fields).validate()
    except OptionsError as exc:
        fail(exc.message_for(flags))


def run(fn: Callable, options, description: str, output: str | None = None):
    """``fn(options, progress)`` under a progress bar; FacereelError / I/O errors → one line."""
    import torch

    from facereel.commands._ui import fail, progress_bar
    from facereel.core.atomic import check_writable
    from facereel.core.errors import FacereelError

    try:
        if output:
            check_writable(output)
        with progress_bar(description) as progress:
            return fn(options, progress)
    except FacereelError as exc:
        fail(str(exc))
    except (OSError, ValueError, torch.OutOfMemoryError) as exc:
        fail(f"{type(exc).__name__}: {exc}")


