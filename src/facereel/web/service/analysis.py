"""Analysis and name search: jobs that turn photos into faces, ages, flags and thumbnails."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from facereel.pipelines.analyze.ordering import ages_from_dates
from facereel.web.crawl import CrawlError, GoogleCustomSearch, crawl
from facereel.web.errors import Conflict, Unavailable
from facereel.web.jobs import JobContext, JobError, QueueFull
from facereel.web.pipeline import PipelineUnavailable
from facereel.web.service.projects import RECOMMEND_FLAGS
from facereel.web.storage import new_id

log = logging.getLogger(__name__)

#: below this many faces (and without a crawl or a reference) nobody is flagged as another
#: person: the median of two or three faces is not "the person" (the thesis' rule)
MIN_FACES_FOR_OTHER_PERSON = 4


class AnalysisMixin:
    def analyze_project(self, ctx: JobContext, pid: str) -> None:
        """Analyses every photo of the project (flags depend on the whole collection) and
        writes ages, flags and aligned thumbnails back; repeats if photos arrived meanwhile."""
        from facereel.manifest import save_manifest

        with self.lock("analysis", pid):
            for _round in range(5):
                items = self.db.items(pid)
                if not items:
                    return
                ids = {it["id"] for it in items}
                by_name = {it["stored_name"]: it for it in items}
                paths = [self.data.photo_path(it) for it in items]
                ctx.progress(0, len(paths), "analysing photos")
                try:
                    manifest = self.pipelines.analyze(paths, size=self.cfg.analyze_size,
                                                      progress=lambda d, t: ctx.progress(d, t, "analysing photos"))
                except PipelineUnavailable as exc:
                    raise JobError(str(exc)) from exc
                except ValueError as exc:   # AnalyzeError: a problem with the request itself
                    raise JobError(f"analysis failed: {exc}") from exc
                ctx.check()
                self._apply_web_rules(manifest, by_name)
                if self.db.get_project(pid) is None:
                    return
                save_manifest(manifest, self.data.manifest_path(pid))
                for entry in manifest.photos:
                    it = by_name.get(Path(entry.path).name)
                    if it is not None:
                        self._store_entry(pid, it, entry)
                project = self.db.get_project(pid)
                if project is not None and not project["manual_order"]:
                    self.resort(pid)
                if {it["id"] for it in self.db.items(pid)} == ids:
                    return

    def _apply_web_rules(self, manifest, by_name: dict) -> None:
        """The EXIF dates read at upload (the stored copies carry none) and the few-faces rule."""
        crawled = False
        for entry in manifest.photos:
            it = by_name.get(Path(entry.path).name)
            if it is None:
                continue
            crawled = crawled or bool(it["source_url"])
            if it["exif_date"] and not entry.date:
                entry.date = it["exif_date"]
        faces = sum(1 for e in manifest.photos if e.chosen is not None)
        if faces < MIN_FACES_FOR_OTHER_PERSON and not crawled and manifest.reference is None:
            for e in manifest.photos:
                if "other_person" in e.flags:
                    e.flags.remove("other_person")
        ages_from_dates(manifest)

    def _store_entry(self, pid: str, it: dict, entry) -> None:
        thumb_name = None
        try:
            crop = self.pipelines.thumbnail(entry, self.cfg.thumb_size)
        except Exception as exc:  # one bad crop must not fail the collection
            log.warning("aligned crop of %s failed: %s", it["id"], exc)
            crop = None
        if crop is not None:
            thumb_name = it["id"] + ".jpg"
            self.data.write_jpeg(crop, self.data.pdir(pid) / "thumbs" / thumb_name)
        flags = list(entry.flags)
        error = entry.error
        if thumb_name is None and not error:
            error = "no face found" if not flags or "no_face" in flags else entry.skip_reason(True)
        recommended = bool(set(flags) & RECOMMEND_FLAGS) or thumb_name is None
        fields = dict(analyzed=True, age_estimated=entry.age_estimated if entry.age_estimated is not None else entry.age,
                      flags=flags, recommended_remove=recommended, thumb_name=thumb_name, error=error,
                      age_dated=entry.age if entry.date else None)
        if not it.get("excluded_set"):
            fields["excluded"] = recommended   # flagged photos stay out unless the user puts them back
        self.db.update_item(it["id"], **fields)

    def start_analysis(self, pid: str) -> dict:
        active = self.db.active_jobs(pid, "analyze")
        if active:
            return active[0]

        def fn(ctx: JobContext) -> None:
            self.analyze_project(ctx, pid)

        def on_final(job: dict) -> None:
            if self.db.get_project(pid) is None:
                return
            pending = [it for it in self.db.items(pid) if not it["analyzed"]]
            if job["status"] == "done":
                # photos that arrived after the last round was read get their own analysis
                if pending:
                    with contextlib.suppress(QueueFull):
                        self.start_analysis(pid)
            elif pending and not self.jobs.closed:
                # the page shows these as failed (with a retry button), not "analysing…" forever
                reason = job.get("error") or job["status"]
                for it in pending:
                    self.db.update_item(it["id"], error=f"analysis {job['status']}: {reason}"[:300])

        return self.jobs.submit(new_id(), pid, "analyze", {}, fn, on_final)

    def reanalyse(self, pid: str) -> dict:
        """Starts the analysis again (the photos left unanalysed, or all when none is)."""
        self.get_project(pid)
        if not self.db.count_items(pid):
            raise Conflict("the project has no photos to analyse")
        for it in self.db.items(pid):
            if not it["analyzed"]:
                self.db.update_item(it["id"], error=None)
        return self.start_analysis(pid)

    # --- crawl ---------------------------------------------------------------------------
    def provider(self):
        if self.cfg.search_provider is not None:
            return self.cfg.search_provider
        if not (self.cfg.google_api_key and self.cfg.google_cse_id):
            raise Unavailable("name search is not configured: set FACEREEL_GOOGLE_API_KEY and "
                              "FACEREEL_GOOGLE_CSE_ID (a Google Custom Search key and engine id)")
        return GoogleCustomSearch(self.cfg.google_api_key, self.cfg.google_cse_id, endpoint=self.cfg.search_endpoint,
                                  timeout=self.cfg.crawl_timeout * 2)

    def start_crawl(self, pid: str, name: str, per_query: int | None = None) -> dict:
        if self.db.active_jobs(pid, "crawl"):
            raise Conflict("a search for this project is already running")
        provider = self.provider()
        cfg = self.cfg

        def fn(ctx: JobContext) -> None:
            room = cfg.max_items_per_project - self.db.count_items(pid)
            if room <= 0:
                raise JobError(f"the project already holds {cfg.max_items_per_project} photos")
            try:
                res = crawl(name, provider, per_query=per_query or cfg.crawl_per_query,
                            max_images=min(cfg.crawl_max_images, room), timeout=cfg.crawl_timeout,
                            total_timeout=cfg.crawl_total_timeout, max_bytes=cfg.crawl_max_bytes,
                            max_pixels=cfg.max_pixels, parallel=cfg.crawl_parallel,
                            allow_private=cfg.crawl_allow_private,
                            progress=lambda d, t: ctx.progress(d, t, "downloading photos"),
                            cancelled=lambda: ctx.cancelled)
            except CrawlError as exc:
                raise JobError(f"crawl failed: {exc}") from exc
            kept = 0
            for d in res.images:
                with self.lock("intake", pid):
                    if self.db.has_sha(pid, d.image.sha256):
                        continue
                    if self.store_image(pid, d.image, d.url.rsplit("/", 1)[-1] or "photo", source_url=d.url) is None:
                        break
                kept += 1
            if kept == 0 and self.db.count_items(pid) == 0:
                reasons = "; ".join(sorted({r for _, r in res.errors})[:3])
                raise JobError(f"crawl failed: none of the {len(res.errors)} images could be used ({reasons})")
            self.analyze_project(ctx, pid)
            ctx.result["message"] = f"{kept} photos downloaded, {len(res.errors)} skipped"

        return self.jobs.submit(new_id(), pid, "crawl", {"name": name}, fn)
