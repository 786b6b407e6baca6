"""Errors raised by the checkpoint readers (one clear line each; the CLI shows them as is)."""

from __future__ import annotations


class CheckpointError(Exception):
    """A checkpoint file cannot be read: unknown layout, refused global, truncated file, ..."""
