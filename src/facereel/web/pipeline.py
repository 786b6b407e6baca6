"""The only place where the web app touches facereel's pipelines (the same ones the CLI calls).

:class:`Pipelines` is injectable (``WebConfig.pipelines``) so the server machinery (jobs,
cancellation, restarts) can be exercised with a stand-in; the default calls
:func:`facereel.pipelines.analyze.analyze_collection`, :func:`~facereel.pipelines.analyze.aligned_crop`
and :func:`facereel.pipelines.timelapse.render_timelapse`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from facereel.core.errors import FacereelError
from facereel.core.progress import Progress

log = logging.getLogger(__name__)


#: seed ``encoder`` values that mean the latent engine with that encoder
LATENT_ENCODERS = ("psp", "restyle", "e4e")


class PipelineUnavailable(FacereelError):
    """A pipeline (or the weights it needs) is not installed; the message says what to do."""

    http_status = 409


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

    def latent_options(self) -> dict:
        """What the latent engine can use here (:func:`facereel.pipelines.timelapse.latent_choices`):
        installed generators, per inversion method whether it is usable and which weights it needs."""
        try:
            from facereel.pipelines.timelapse import latent_choices
        except ImportError:
            return {"generators": [], "methods": {}, "needs": {}}
        return latent_choices()

    def latent_status(self, method: str | None = None, generator: str | None = None) -> tuple[bool, str]:
        """(available, reason) of the latent engine with inversion ``method`` (psp, e4e, restyle:
        their encoder weights; optimize or None: the ``generator`` weights, DCGAN by default)."""
        opts = self.latent_options()
        if not opts["methods"]:
            return False, "the latent engine needs the inversion package and pretrained weights, not installed here"
        if generator is not None and generator not in opts["generators"]:
            return False, (f"generator {generator!r} is not installed here (installed: "
                           f"{', '.join(opts['generators']) or 'none'}); see `facereel weights list`")
        m = method or "optimize"
        if m not in opts["methods"]:
            return False, f"unknown inversion method {m!r}; choose one of {', '.join(opts['methods'])}"
        if not opts["methods"][m]:
            need = opts["needs"].get(m, "dcgan-digiface")
            return False, (f"the latent engine with {m} needs the {need} weights, which are not installed on this "
                           f"server: run `facereel weights download {need}` (FFHQ weights are licensed for "
                           f"non-commercial use only)")
        if m == "optimize" and generator is None and "dcgan-digiface" not in opts["generators"]:
            return False, f"choose a generator: {', '.join(opts['generators'])}"
        return True, ""

    def render(self, manifest, output: Path, *, engine: str, frames: int, size: int, fps: int, opacity: float,
               format: str, progress: Progress | None = None, generator: str | None = None,
               method: str | None = None, prepare_progress: Progress | None = None) -> None:
        """``progress`` counts written frames; ``prepare_progress`` the engine's preparation
        (landmarks, inversion), which can be long: both may raise to cancel."""
        try:
            from facereel.pipelines.timelapse import render_timelapse
        except ImportError as exc:
            raise PipelineUnavailable(f"the time-lapse pipeline is not installed ({exc})") from exc
        from facereel.options.timelapse import LatentOptions, TimelapseOptions

        latent = LatentOptions(generator=generator or None, method=method or "optimize")
        options = TimelapseOptions(engine=engine, frames_per_gap=frames, size=size, fps=fps, opacity=opacity,
                                   format=format, latent=latent).validate()
        render_timelapse(manifest, output, options, progress=progress, analysis_progress=prepare_progress,
                         prepare_progress=prepare_progress)

    def timelapse_error(self) -> tuple[type[BaseException], ...]:
        """Exceptions that mean "bad input" (shown to the user as is)."""
        from facereel.core.errors import OptionsError

        errors: list[type[BaseException]] = [OptionsError]
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
