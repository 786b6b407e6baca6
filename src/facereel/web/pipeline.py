"""The only place where the web app touches facereel's pipelines (the same ones the CLI calls).

:class:`Pipelines` is injectable (``WebConfig.pipelines``) so the server machinery (jobs,
cancellation, restarts) can be exercised with a stand-in; the default calls
:func:`facereel.pipelines.analyze.analyze_collection`, :func:`~facereel.pipelines.analyze.aligned_crop`,
:func:`facereel.pipelines.timelapse.render_timelapse` and :mod:`facereel.pipelines.capabilities`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from facereel.core.errors import FacereelError
from facereel.core.progress import Progress

log = logging.getLogger(__name__)


class PipelineUnavailable(FacereelError):
    """A pipeline (or the weights it needs) is not installed; the message says what to do."""

    http_status = 503


class Pipelines:
    """Real pipelines.  Every method runs in a worker thread and may be slow."""

    def analyze(self, paths: list[Path], *, size: int, progress: Progress | None = None):
        """-> :class:`facereel.manifest.Manifest` for ``paths``."""
        from facereel.pipelines.analyze import analyze_collection

        return analyze_collection([Path(p) for p in paths], size=size, progress=progress)

    def thumbnail(self, entry, size: int) -> np.ndarray | None:
        """[S, S, 3] uint8 aligned face of one manifest entry, or None without a face."""
        if entry.quad is None or entry.chosen is None:
            return None
        from facereel.pipelines.analyze import aligned_crop

        return aligned_crop(entry, size=size)

    def latent_options(self) -> dict:
        """What the latent engine can use here: installed generators and, per inversion method,
        whether its weights are installed (:func:`facereel.pipelines.capabilities.latent_options`)."""
        from facereel.pipelines.capabilities import latent_options

        return latent_options()

    def latent_status(self, method: str | None = None, generator: str | None = None,
                      encoder: str | None = None) -> tuple[bool, str]:
        """(available, reason) of the latent engine with inversion ``method``, ``generator`` and
        ``encoder`` weights (:func:`facereel.pipelines.capabilities.latent_status`)."""
        from facereel.pipelines.capabilities import latent_status

        return latent_status(method, generator, encoder)

    def render(self, manifest, output: Path, options, *, progress: Progress | None = None,
               prepare_progress: Progress | None = None) -> None:
        """Renders ``manifest`` with :class:`~facereel.options.timelapse.TimelapseOptions`
        ``options``.  ``progress`` counts written frames; ``prepare_progress`` the engine's
        preparation (landmarks, inversion), which can be long: both may raise to cancel."""
        from facereel.pipelines.timelapse import render_timelapse

        render_timelapse(manifest, output, options, progress=progress, analysis_progress=prepare_progress,
                         prepare_progress=prepare_progress)

    def timelapse_error(self) -> tuple[type[BaseException], ...]:
        """Exceptions that mean "bad input" or "not installed" (their one-line message is shown)."""
        from facereel.pipelines.capabilities import user_errors

        return user_errors()
