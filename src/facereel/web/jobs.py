"""Background jobs: a bounded worker pool, cancellation, progress for Server-Sent Events.

A job is a function ``fn(ctx)`` run on one of ``workers`` threads.  It reports progress with
``ctx.progress(done, total)``; cancelling sets a flag that the next progress call turns into
:class:`JobCancelled`, so pipelines stop at their next progress report without knowing about
jobs.  State lives in memory (cheap to poll for SSE) and is written through to SQLite (so a
restart shows what happened; :meth:`JobManager.recover` fails what was running).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from facereel.core.errors import FacereelError
from facereel.web.db import FINAL, Database
from facereel.web.errors import Busy, public_message

log = logging.getLogger(__name__)

INTERRUPTED = "the server stopped while this job was running; start it again"


class JobCancelled(Exception):
    """Raised inside a job (from its progress callback) once the job is cancelled."""


class JobError(FacereelError):
    """An expected failure whose message is shown to the user as is."""

    http_status = 422


class QueueFull(Busy):
    """Too many jobs are waiting (429)."""


@dataclass
class JobContext:
    job_id: str
    project_id: str | None
    settings: dict
    _manager: JobManager
    _cancel: threading.Event = field(default_factory=threading.Event)
    result: dict = field(default_factory=dict)   # set by fn: result_name, content_type, ...

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled()

    def progress(self, done: int, total: int, message: str | None = None) -> None:
        """Pipeline progress callback; raises :class:`JobCancelled` once cancelled."""
        self._manager._progress(self.job_id, int(done), int(total), message)
        self.check()


class JobManager:
    def __init__(self, db: Database, workers: int = 1, max_queued: int = 16):
        self.db = db
        self.max_queued = max_queued
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="facereel-job")
        self._lock = threading.Lock()
        self._ctx: dict[str, JobContext] = {}
        self._state: dict[str, dict] = {}     # live state of active jobs (a copy of the DB row + version)
        self._last_write: dict[str, float] = {}
        self._closed = False
        self._closing_since: float | None = None

    # --- life cycle ----------------------------------------------------------------------
    def recover(self) -> list[dict]:
        """At start-up: every job the previous process left queued or running has failed."""
        rows = self.db.fail_interrupted_jobs(INTERRUPTED)
        for r in rows:
            log.warning("job %s (%s) was interrupted by a server stop; marked failed", r["id"], r["kind"])
        return rows

    def begin_shutdown(self) -> None:
        """Stops taking jobs and asks every active one to stop; each ends ``failed`` with
        :data:`INTERRUPTED` (its partial files removed by its own cleanup), so SSE streams get
        their final event.  Returns at once (safe in a signal handler)."""
        if not self._closed:
            self._closed = True
            self._closing_since = time.monotonic()
        with self._lock:
            for ctx in self._ctx.values():
                ctx._cancel.set()

    def shutdown(self, wait: bool = True, timeout: float = 10.0) -> None:
        """:meth:`begin_shutdown`, then (``wait``) up to ``timeout`` s for the workers to stop;
        jobs still active after that are marked failed in the database."""
        self.begin_shutdown()
        deadline = time.monotonic() + (timeout if wait else 0.0)
        while wait and time.monotonic() < deadline:
            with self._lock:
                if not self._ctx:
                    break
            time.sleep(0.05)
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            stuck = list(self._ctx)
        for job_id in stuck:
            self.db.update_job(job_id, status="failed", error=INTERRUPTED, finished=time.time())
        if stuck:
            log.warning("%d job(s) did not stop in time; marked failed", len(stuck))

    @property
    def closed(self) -> bool:
        return self._closed

    # --- submit / cancel -----------------------------------------------------------------
    def submit(self, job_id: str, project_id: str | None, kind: str, settings: dict,
               fn: Callable[[JobContext], None], on_final: Callable[[dict], None] | None = None) -> dict:
        if self._closed:
            raise QueueFull("the server is shutting down")
        with self._lock:
            if len(self._ctx) >= self.max_queued:
                raise QueueFull(f"{len(self._ctx)} jobs are already waiting; try again later")
            row = self.db.create_job(job_id, project_id, kind, settings)
            ctx = JobContext(job_id, project_id, settings, self)
            self._ctx[job_id] = ctx
            self._state[job_id] = {**row, "version": 0}
        self._pool.submit(self._run, ctx, fn, on_final)
        return row

    def cancel(self, job_id: str) -> bool:
        """Asks a queued or running job to stop; False when it is not active."""
        with self._lock:
            ctx = self._ctx.get(job_id)
        if ctx is None:
            return False
        ctx._cancel.set()
        return True

    def cancel_project(self, project_id: str) -> list[str]:
        with self._lock:
            ids = [j for j, c in self._ctx.items() if c.project_id == project_id]
        for j in ids:
            self.cancel(j)
        return ids

    def wait(self, job_id: str, timeout: float | None = None) -> dict | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                active = job_id in self._ctx
            if not active:
                return self.get(job_id)
            if deadline is not None and time.monotonic() > deadline:
                return self.get(job_id)
            time.sleep(0.05)

    # --- state ---------------------------------------------------------------------------
    def get(self, job_id: str) -> dict | None:
        with self._lock:
            live = self._state.get(job_id)
            if live is not None:
                return dict(live)
        row = self.db.get_job(job_id)
        if row is not None:
            row["version"] = -1
        return row

    def is_active(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._ctx

    def _set(self, job_id: str, persist: bool = True, **fields_: Any) -> None:
        with self._lock:
            st = self._state.get(job_id)
            if st is not None:
                st.update(fields_)
                st["version"] += 1
        if persist:
            self.db.update_job(job_id, **fields_)

    def _progress(self, job_id: str, done: int, total: int, message: str | None) -> None:
        now = time.monotonic()
        # SQLite sees progress at most twice a second; the in-memory state sees all of it
        persist = now - self._last_write.get(job_id, 0.0) > 0.5 or done >= total
        if persist:
            self._last_write[job_id] = now
        fields_: dict[str, Any] = {"done": done, "total": total}
        if message is not None:
            fields_["message"] = message
        self._set(job_id, persist=persist, **fields_)

    def _run(self, ctx: JobContext, fn: Callable[[JobContext], None], on_final) -> None:
        job_id = ctx.job_id
        try:
            if ctx.cancelled:
                raise JobCancelled()
            self._set(job_id, status="running", started=time.time())
            fn(ctx)   # a job that got to its end is done, even if a cancel arrived meanwhile
            self._set(job_id, status="done", finished=time.time(), error=None,
                      result_name=ctx.result.get("result_name"), content_type=ctx.result.get("content_type"),
                      message=ctx.result.get("message"))
        except JobCancelled:
            if self._closed:
                log.warning("job %s stopped: the server is shutting down", job_id)
                self._set(job_id, status="failed", finished=time.time(), error=INTERRUPTED)
            else:
                self._set(job_id, status="cancelled", finished=time.time(), error="cancelled")
        except JobError as exc:
            self._set(job_id, status="failed", finished=time.time(), error=public_message(str(exc)))
        except Exception:  # a job must never take the worker down; the user sees one line
            log.exception("job %s failed", job_id)
            self._set(job_id, status="failed", finished=time.time(),
                      error="internal error (details are in the server log)")
        finally:
            final = self.get(job_id)
            with self._lock:
                self._ctx.pop(job_id, None)
                self._state.pop(job_id, None)
                self._last_write.pop(job_id, None)
            if on_final is not None and final is not None:
                try:
                    on_final(final)
                except Exception:  # pragma: no cover - cleanup must not raise
                    log.exception("cleanup of job %s failed", job_id)

    # --- Server-Sent Events --------------------------------------------------------------
    async def events(self, job_id: str, poll: float = 0.1, heartbeat: float = 10.0) -> AsyncIterator[str]:
        """SSE stream: ``progress`` events while the job runs, then one final event
        (``done``, ``failed`` or ``cancelled``) and the end of the stream."""
        last_version = None
        last_sent = time.monotonic()
        while True:
            st = self.get(job_id)
            if st is None:
                yield _sse("error", {"error": "no such job"})
                return
            if (st["status"] not in FINAL and self._closing_since is not None
                    and time.monotonic() - self._closing_since > 2.0):
                # a worker stuck where it cannot see the cancel: the stream still ends properly
                yield _sse("failed", public_job({**st, "status": "failed", "error": INTERRUPTED}))
                return
            if st["status"] in FINAL:
                yield _sse(st["status"], public_job(st))
                return
            if st.get("version") != last_version:
                last_version = st.get("version")
                last_sent = time.monotonic()
                yield _sse("progress", public_job(st))
            elif time.monotonic() - last_sent > heartbeat:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"
            await asyncio.sleep(poll)


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def public_job(row: dict) -> dict:
    """The JSON a client sees for a job (no file names)."""
    out = {k: row.get(k) for k in ("id", "project_id", "kind", "status", "done", "total", "message", "error",
                                    "content_type", "created", "started", "finished")}
    out["settings"] = row.get("settings") or {}
    out["result_url"] = f"/api/jobs/{row['id']}/result" if row.get("status") == "done" and row.get("result_name") else None
    return out
