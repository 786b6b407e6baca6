"""Where facereel keeps its files: one cache root for weights, samples and aligned crops."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str, create: bool = True) -> Path:
    """``$FACEREEL_HOME``, else ``$XDG_CACHE_HOME/facereel``, else ``~/.cache/facereel``."""
    home = os.environ.get("FACEREEL_HOME")
    if home:
        root = Path(home).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "facereel"
    path = root.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
