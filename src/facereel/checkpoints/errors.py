"""Errors raised by the checkpoint readers (one clear line each; the CLI shows them as is)."""

from __future__ import annotations

from facereel.core.errors import FacereelError


class CheckpointError(FacereelError):
    """A checkpoint file cannot be read: unknown layout, refused global, truncated file, ..."""

    http_status = 422
