"""Which torch device a run uses: one rule for every command, pipeline and the web."""

from __future__ import annotations

from facereel.core.errors import FacereelError


def resolve_device(spec="auto"):
    """``"auto"`` (or None): CUDA when present, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (or a
    ``torch.device``) as given.

    Asking for CUDA where there is none is a :class:`FacereelError`, not a crash later.
    """
    import torch

    s = str(spec or "auto").strip().lower()
    if s == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if s == "cpu":
        return torch.device("cpu")
    if s == "cuda" or s.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise FacereelError(f"device {spec!r} asked for, but no CUDA device is available")
        return torch.device(s)
    raise FacereelError(f"unknown device {spec!r}; choose auto, cpu, cuda or cuda:N")
