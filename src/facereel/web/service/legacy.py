"""The time-lapse seed's and thesis' endpoints: one hidden project per call, answered when done.

Their clients wait for the answer, so these methods wait for the job they start; while they
wait the job's progress goes to the server log, and a client that hangs up cancels its job.
Items are addressed by their storage names (128-bit random, returned only to the client that
uploaded them), so a render may combine items of several earlier uploads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from facereel.web.errors import Conflict, Invalid, NotFound, WebError
from facereel.web.service.projects import effective_age
from facereel.web.storage import STORAGE_RE

log = logging.getLogger(__name__)

#: the thesis flags "recommended to remove" only for an upload of at least this many photos
#: (or a crawled set)
MIN_PHOTOS_TO_FLAG = 4


class ClientGone(WebError):
    http_status = 499


class LegacyMixin:
    async def wait_for_job(self, job: dict, label: str, gone: Callable[[], Awaitable[bool]] | None = None,
                           poll: float = 0.25, log_every: float = 2.0) -> dict:
        """Waits for ``job`` to end, logging its progress at most every ``log_every`` s; cancels
        it when ``gone()`` says the client hung up.  Raises unless it ended ``done``."""
        jid = job["id"]
        last_log, last_seen = 0.0, None
        while True:
            st = self.jobs.get(jid)
            if st is None or st["status"] in ("done", "failed", "cancelled"):
                break
            seen = (st.get("message"), st.get("done"), st.get("total"))
            now = time.monotonic()
            stage_changed = last_seen is None or seen[0] != last_seen[0]
            if seen != last_seen and (stage_changed or now - last_log >= log_every):
                log.info("%s %s: %s %s/%s", label, jid[:8], st.get("message") or st["status"], st.get("done"),
                         st.get("total"))
                last_log, last_seen = now, seen
            if gone is not None and await gone():
                self.jobs.cancel(jid)
                log.info("%s %s: the client went away; job cancelled", label, jid[:8])
                raise ClientGone("the client went away")
            await asyncio.sleep(poll)
        final = st or {"status": "failed", "error": "the job vanished"}
        log.info("%s %s: %s%s", label, jid[:8], final["status"], f" ({final['error']})" if final.get("error") else "")
        if final["status"] == "failed":
            raise Invalid(final.get("error") or "failed")
        if final["status"] != "done":
            raise Conflict(final.get("error") or final["status"])
        return final

    def seed_rows(self, pid: str, flag: bool) -> list[list]:
        """``[[storage name, age, recommended to remove], ...]`` (ages whole years, as the
        thesis' own server answered)."""
        rows = []
        for it in self.db.items(pid):
            if not it["thumb_name"]:
                continue
            age, _ = effective_age(it)
            rows.append([it["storage_name"], None if age is None else int(round(age)),
                         bool(it["recommended_remove"]) and flag])
        return rows

    async def legacy_upload(self, files, gone=None) -> list[list]:
        from starlette.concurrency import run_in_threadpool

        p = self.create_project("uploadFile", legacy=True)
        accepted, rejected = await run_in_threadpool(self.accept_uploads, p["id"], files)
        if not accepted:
            await run_in_threadpool(self.delete_project, p["id"])
            raise self.refuse(rejected)
        job = self.start_analysis(p["id"])
        await self.wait_for_job(job, "uploadFile", gone)
        rows = self.seed_rows(p["id"], flag=len(accepted) >= MIN_PHOTOS_TO_FLAG)
        if not rows:
            raise Invalid("no face found in the uploaded photos")
        return rows

    async def legacy_name(self, name: str, gone=None) -> list[list]:
        self.provider()
        p = self.create_project(name, legacy=True)
        job = self.start_crawl(p["id"], name)
        await self.wait_for_job(job, "uploadName", gone)
        rows = self.seed_rows(p["id"], flag=True)
        if not rows:
            raise Invalid("no face found in the photos the search returned")
        return rows

    def legacy_manifest(self, items) -> tuple[object, list[str]]:
        """The manifest of the thesis' ``items`` (``path``, ``age``), from any earlier uploads."""
        from facereel.manifest import Manifest

        if len(items) < 2:
            raise Invalid("a time-lapse needs at least two items")
        if len(items) > self.cfg.max_items_per_project:
            raise Invalid(f"at most {self.cfg.max_items_per_project} items")
        rows, ages = [], {}
        for n, it in enumerate(items, 1):
            row = self.db.item_by_storage_name(it.path) if STORAGE_RE.match(it.path) else None
            if row is None or not row["thumb_name"]:
                raise NotFound(f"item {n}: unknown path (upload the photo again)")
            rows.append(row)
            ages[row["id"]] = it.age
        photos, pids = [], []
        for pid in dict.fromkeys(r["project_id"] for r in rows):
            pids.append(pid)
            photos += self.render_manifest(pid, [r for r in rows if r["project_id"] == pid], ages).photos
        order = {r["stored_name"]: i for i, r in enumerate(rows)}
        photos.sort(key=lambda e: order[e.path.rsplit("/", 1)[-1]])
        photos.sort(key=lambda e: e.age if e.age is not None else 0.0)   # stable: the client's order breaks ties
        for i, e in enumerate(photos):
            e.order = i
        return Manifest(photos=photos), pids

    async def legacy_gif(self, body, gone=None):
        """-> (path of the GIF, the hidden project to delete once it is sent)."""
        from starlette.concurrency import run_in_threadpool

        try:
            settings = body.render_settings(fps=self.cfg.legacy_fps)
        except ValueError as exc:
            raise Invalid(f"encoder: {exc}") from None
        self.check_render(settings)
        manifest, _ = await run_in_threadpool(self.legacy_manifest, body.items)
        p = self.create_project("generateGif", legacy=True)
        try:
            job = self.start_render(p["id"], settings, manifest=manifest)
            final = await self.wait_for_job(job, "generateGif", gone)
            path = self.result_path(final)
            if path is None:
                raise Invalid("the render finished without a result")
        except BaseException:
            await run_in_threadpool(self.delete_project, p["id"])
            raise
        return path, p["id"]

    def storage_file(self, name: str):
        item = self.db.item_by_storage_name(name) if STORAGE_RE.match(name or "") else None
        p = self.data.servable(self.data.thumb_path(item)) if item else None
        if p is None:
            raise NotFound("not found")
        return p
