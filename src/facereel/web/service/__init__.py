"""The web service: everything the routes do, raising facereel's own errors.

:class:`WebService` holds the database, the job manager, the data directory and the pipelines;
its methods come from one mixin per concern (projects and items, photo intake, analysis and
crawl, renders, the time-lapse seed's and thesis' endpoints).  Nothing here knows HTTP: errors
are :mod:`facereel.web.errors` classes, mapped to statuses once by the app's handlers.
"""

from __future__ import annotations

import logging
import threading
import time

from facereel.web.config import WebConfig
from facereel.web.db import Database
from facereel.web.jobs import JobManager
from facereel.web.pipeline import Pipelines
from facereel.web.service.analysis import AnalysisMixin
from facereel.web.service.intake import IntakeMixin
from facereel.web.service.legacy import LegacyMixin
from facereel.web.service.projects import ProjectsMixin
from facereel.web.service.renders import RenderMixin
from facereel.web.storage import DataDir

log = logging.getLogger(__name__)


class WebService(ProjectsMixin, IntakeMixin, AnalysisMixin, RenderMixin, LegacyMixin):
    def __init__(self, cfg: WebConfig):
        self.cfg = cfg
        self.data = DataDir(cfg.data_dir)
        self.data_dir = self.data.root
        self.tmp_dir = self.data.tmp
        self.db = Database(self.data.root / "facereel.sqlite3")
        self.pipelines = cfg.pipelines if cfg.pipelines is not None else Pipelines()
        self.jobs = JobManager(self.db, workers=cfg.workers, max_queued=cfg.max_queued_jobs)
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._submit_lock = threading.Lock()
        self._latent_cache: tuple[float, dict] | None = None
        self.recover()

    def lock(self, kind: str, pid: str) -> threading.Lock:
        """One lock per (purpose, project): ``analysis`` serialises analyses, ``intake`` the
        check-then-insert of uploads."""
        with self._locks_lock:
            return self._locks.setdefault((kind, pid), threading.Lock())

    # --- life cycle ----------------------------------------------------------------------
    def recover(self) -> None:
        """Fails jobs a dead server left running and removes every partial file."""
        self.jobs.recover()
        self.expire_legacy()
        self.data.sweep(self.db)

    def start(self) -> None:
        """At start-up (after :meth:`recover`): photos left unanalysed by a kill, a cancel or a
        full queue are analysed again."""
        for pid in self.db.projects_with_unanalysed():
            try:
                self.start_analysis(pid)
                log.info("project %s: analysing the photos a previous run left unanalysed", pid)
            except Exception as exc:  # a full queue: the page offers a retry button
                log.warning("project %s: could not re-queue its analysis: %s", pid, exc)

    def begin_shutdown(self) -> None:
        """Signal-safe first step of a graceful stop: running jobs are asked to stop now."""
        self.jobs.begin_shutdown()

    def shutdown(self, timeout: float = 8.0) -> None:
        self.jobs.shutdown(wait=True, timeout=timeout)
        self.data.reset_tmp()

    # --- meta ----------------------------------------------------------------------------
    def latent_options(self) -> dict:
        """Installed generators and usable inversion methods (looked up at most every 10 s)."""
        now = time.monotonic()
        if self._latent_cache is None or now - self._latent_cache[0] > 10.0:
            opts = self.pipelines.latent_options() if hasattr(self.pipelines, "latent_options") else {}
            self._latent_cache = (now, opts)
        return self._latent_cache[1]

    def public_config(self) -> dict:
        from facereel.web.schemas import WEB_FORMATS

        latent = self.latent_options()
        ok, reason = self.pipelines.latent_status(None)
        return {**self.cfg.public(),
                "engines": {"morph": True, "crossfade": True,
                            "latent": ok or any((latent.get("methods") or {}).values())},
                "latent_reason": reason or None, "latent": latent, "formats": list(WEB_FORMATS)}
