"""Test helper: everything a Typer ``CliRunner`` result printed (stdout, plus stderr where the
runner keeps it apart)."""

from __future__ import annotations


def cli_text(result) -> str:
    text = result.output
    try:
        text += result.stderr
    except (ValueError, AttributeError):   # stderr mixed into output, or not captured separately
        pass
    return text
