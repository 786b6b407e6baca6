"""The only place where the web app touches facereel's pipelines (the same ones the CLI calls).

:class:`Pipelines` is injectable (``WebConfig.pipelines``) so the server machinery (jobs,
cancellation, restarts) can be exercised with a stand-in; the default calls
:func:`facereel.pipelines.analyze.analyze_collection`, :func:`~facereel.pipelines.analyze.aligned_crop`
and :func:`facereel.pipelines.timelapse.render_timelapse`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

#: seed ``encoder`` values that mean the latent engine with that encoder
LATENT_ENCODERS = ("psp", "restyle", "e4e")


class PipelineUnavailable(Exception):
    """A pipeline (or the weights it needs) is not installed; the message says what to do."""


class Pipelines:
    """Real pipelines.  Every method runs in a worker thread and may be slow."""

    def analyze(self, paths: list[Path], *, size: int, progress: Progress | None = None):
        """-> :class:`facereel.manifest.Manifest` for ``paths``."""
        try:
            from facereel.pipelines.analyze import analyze_collection
        except ImportError as exc:
            raise PipelineUnavailable(f"the analysis pipeline is not installed ({exc})") from exc
        return analyze_collection([Path(p) for p in paths], size=size, progress=progress)

    def thumbnail(self, entry, size: int) -> np.ndarray | None:
        """[S, S, 3] uint8 aligned face of one manifest entry, or None without a face."""
        if entry.quad is None or entry.chosen is None:
            return None
        from facereel.pipelines.analyze import aligned_crop

        return aligned_crop(entry, size=size)

    def latent_status(self, encoder: str | None = None) -> tuple[bool, str]:
        """(available, reason) for the latent engine with ``encoder`` (psp, e4e, restyle)."""
        try:
            from facereel import weights
        except ImportError:
            return False, "the latent engine needs pretrained weights; the weights manager is not installed"
        finder = None
        for fname in ("is_installed", "installed", "available"):
            finder = getattr(weights, fname, None)
            if callable(finder):
                break
        if finder is None:
            return False, "the latent engine needs pretrained weights (facereel weights download ...)"
        names = [n for n in _weight_names(weights) if encoder is None or encoder in n.lower()]
        for n in names:
            try:
                if finder(n):
                    return True, ""
            except Exception:
                continue
        what = f"{encoder} encoder" if encoder else "encoder"
        return False, (f"the latent engine needs the {what} and a StyleGAN generator, which are not installed: "
                       f"run `facereel weights download ...` first (FFHQ weights are non-commercial)")

    def render(self, manifest, output: Path, *, engine: str, frames: int, size: int, fps: int, opacity: float,
               format: str, progress: Progress | None = None, generator: str | None = None,
               method: str | None = None) -> None:
        try:
            from facereel.pipelines.timelapse import render_timelapse
        except ImportError as exc:
            raise PipelineUnavailable(f"the time-lapse pipeline is not installed ({exc})") from exc
        kwargs = dict(engine=engine, frames=frames, size=size, fps=fps, opacity=opacity, format=format,
                      progress=progress)
        params = inspect.signature(render_timelapse).parameters
        if generator is not None and "generator" in params:
            kwargs["generator"] = generator
        if method is not None:
            for key in ("method", "encoder", "inversion"):
                if key in params:
                    kwargs[key] = method
                    break
        kwargs = {k: v for k, v in kwargs.items() if k in params or _has_var_kw(params)}
        render_timelapse(manifest, output, **kwargs)

    def timelapse_error(self) -> tuple[type[BaseException], ...]:
        """Exceptions that mean "bad input" (shown to the user as is)."""
        errors: list[type[BaseException]] = []
        try:
            from facereel.pipelines.timelapse import TimelapseError

            errors.append(TimelapseError)
        except ImportError:
            pass
        try:
            from facereel.manifest import ManifestError

            errors.append(ManifestError)
        except ImportError:
            pass
        return tuple(errors)


def _has_var_kw(params) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _weight_names(weights) -> list[str]:
    for attr in ("WEIGHTS", "TABLE", "REGISTRY"):
        table = getattr(weights, attr, None)
        if isinstance(table, dict):
            return list(table)
        if isinstance(table, (list, tuple)):
            return [getattr(t, "name", str(t)) for t in table]
    return []
