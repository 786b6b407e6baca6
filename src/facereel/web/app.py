"""The facereel web app (FastAPI): upload or crawl, review, render, watch.

``create_app(config)`` builds the app.  Everything the user produces lives under
``config.data_dir``::

    facereel.sqlite3                      projects, items, jobs (WAL)
    projects/<pid>/photos/<iid>.jpg       uploaded photos, metadata stripped
    projects/<pid>/thumbs/<iid>.jpg       aligned faces shown in the grid
    projects/<pid>/manifest.json          the analysis (facereel.manifest format)
    projects/<pid>/renders/<jid>.<ext>    finished renders only
    tmp/<jid>/                            renders in progress (wiped at start-up)

Ids of projects, items, jobs and storage names are 128-bit random hex strings; a path on disk
is only ever built from those ids after they matched ``[0-9a-f]{32}``, never from a request's
text.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from facereel.core.atomic import write_bytes
from facereel.options.choices import ENGINES, INVERSION_METHODS
from facereel.web.config import WebConfig
from facereel.web.crawl import CrawlError, GoogleCustomSearch, crawl
from facereel.web.db import Database
from facereel.web.jobs import JobCancelled, JobContext, JobError, JobManager, QueueFull, public_job
from facereel.web.pipeline import LATENT_ENCODERS, Pipelines, PipelineUnavailable
from facereel.web.uploads import UploadError, validate_image

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
ID_RE = re.compile(r"^[0-9a-f]{32}$")
STORAGE_RE = re.compile(r"^[0-9a-f]{32}\.jpg$")
CONTENT_TYPES = {"mp4": "video/mp4", "webm": "video/webm", "gif": "image/gif"}
#: flags that make the grid say "recommended to remove"
RECOMMEND_FLAGS = ("other_person", "duplicate", "no_face", "face_too_small", "unreadable")

CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'")


def new_id() -> str:
    """128 random bits, hex."""
    return secrets.token_hex(16)


# ----------------------------------------------------------------------------- request bodies

class ItemPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    age: float | None = Field(None, ge=0, le=130, description="the age used for ordering; null keeps the estimate")
    reset_age: bool = Field(False, description="drop the user's age and use the estimate again")
    excluded: bool | None = None
    position: int | None = Field(None, ge=0, description="new index in the project's sequence")


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=200)


class CrawlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=200)
    per_query: int | None = Field(None, ge=1, le=10)


class RenderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    engine: Literal[ENGINES] = "morph"
    generator: str | None = Field(None, max_length=100, description="latent engine: generator weights name")
    method: Literal[INVERSION_METHODS] | None = Field(
        None, description="latent engine: inversion method (default optimize)")
    frames: int = Field(24, ge=1, description="frames between two keyframes")
    opacity: float = Field(0.5, ge=0.0, le=1.0, description="keyframe blending γ")
    size: int = Field(512, description="256, 512 or 1024")
    fps: int = Field(24, ge=1)
    format: Literal["mp4", "webm", "gif"] = "mp4"


class SeedItem(BaseModel):
    path: str = Field(..., max_length=100)
    age: float | None = None


class SeedGifRequest(BaseModel):
    encoder: str | None = Field(None, description="psp, restyle (latent engine), None (pixel blending), morph, crossfade")
    frames: int = Field(10, ge=1)
    opacity: float = Field(0.5, ge=0.0, le=1.0)
    size: int = 256
    items: list[SeedItem]


class SeedName(BaseModel):
    celebrityName: str = Field(..., min_length=1, max_length=200)


# ----------------------------------------------------------------------------- ASGI guards

class _TooLarge(Exception):
    pass


class GuardMiddleware:
    """Bounds request bodies (Content-Length and streamed bytes) and adds security headers."""

    def __init__(self, app, max_body: int, cors_origins: list[str] | None = None,
                 allowed_hosts: list[str] | None = None):
        self.app = app
        self.max_body = max_body
        self.cors_origins = {o.rstrip("/").lower() for o in (cors_origins or [])}
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_wrapped(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for k, v in ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                             (b"referrer-policy", b"no-referrer"), (b"content-security-policy", CSP.encode()),
                             (b"cross-origin-resource-policy", b"same-origin")):
                    if k not in names:
                        headers.append((k, v))
                message = {**message, "headers": headers}
            await send(message)

        headers = {k: v for k, v in scope.get("headers", [])}
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if self.allowed_hosts is not None and _hostname(host) not in self.allowed_hosts:
            # DNS rebinding: a foreign name that resolves to this server
            return await self._reject(send_wrapped, 400, f"host {host!r} is not served here")
        origin = headers.get(b"origin")
        if origin is not None and scope.get("method") in ("POST", "PUT", "PATCH", "DELETE"):
            o = origin.decode("latin-1").rstrip("/").lower()
            same = o.split("://", 1)[-1] == host
            if not same and o not in self.cors_origins:
                # CSRF: a page of another site posting forms to this server
                return await self._reject(send_wrapped, 403, "cross-site request refused")
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    if int(v) > self.max_body:
                        return await self._reject(send_wrapped)
                except ValueError:
                    return await self._reject(send_wrapped, 400, "bad Content-Length")
        seen = 0

        async def receive_limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, receive_limited, send_wrapped)
        except _TooLarge:
            if not started:
                await self._reject(send_wrapped)

    async def _reject(self, send, status: int = 413, detail: str | None = None):
        body = json.dumps({"detail": detail or f"request body is larger than {self.max_body} bytes"}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


# ----------------------------------------------------------------------------- state

class WebState:
    def __init__(self, cfg: WebConfig):
        self.cfg = cfg
        self.data_dir = Path(cfg.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "projects").mkdir(exist_ok=True)
        self.tmp_dir = self.data_dir / "tmp"
        self.db = Database(self.data_dir / "facereel.sqlite3")
        self.pipelines = cfg.pipelines if cfg.pipelines is not None else Pipelines()
        self.jobs = JobManager(self.db, workers=cfg.workers, max_queued=cfg.max_queued_jobs)
        self._project_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._submit_lock = threading.Lock()
        self.recover()

    # --- start-up ------------------------------------------------------------------------
    def recover(self) -> None:
        """Fails jobs a dead server left running and removes every partial file."""
        self.jobs.recover()
        self.expire_legacy()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir(exist_ok=True)
        for pdir in (self.data_dir / "projects").iterdir():
            if not pdir.is_dir():
                continue
            if not ID_RE.match(pdir.name) or self.db.get_project(pdir.name) is None:
                shutil.rmtree(pdir, ignore_errors=True)   # a project deleted half-way
                continue
            rdir = pdir / "renders"
            if rdir.is_dir():
                for f in rdir.iterdir():
                    job = self.db.get_job(f.stem) if ID_RE.match(f.stem) else None
                    if job is None or job["status"] != "done" or job.get("result_name") != f.name:
                        f.unlink(missing_ok=True)
            for sub in ("photos", "thumbs"):
                d = pdir / sub
                if d.is_dir():
                    for f in d.iterdir():
                        if f.name.endswith(".part") or f.name.startswith("."):
                            f.unlink(missing_ok=True)

    def project_lock(self, pid: str) -> threading.Lock:
        with self._locks_lock:
            return self._project_locks.setdefault(pid, threading.Lock())

    # --- paths ---------------------------------------------------------------------------
    def pdir(self, pid: str) -> Path:
        assert ID_RE.match(pid)
        return self.data_dir / "projects" / pid

    def photo_path(self, item: dict) -> Path:
        return self.pdir(item["project_id"]) / "photos" / item["stored_name"]

    def thumb_path(self, item: dict) -> Path | None:
        if not item.get("thumb_name"):
            return None
        return self.pdir(item["project_id"]) / "thumbs" / item["thumb_name"]

    def manifest_path(self, pid: str) -> Path:
        return self.pdir(pid) / "manifest.json"

    # --- projects ------------------------------------------------------------------------
    def create_project(self, name: str = "", legacy: bool = False) -> dict:
        if legacy:
            self.expire_legacy()
        pid = new_id()
        for sub in ("photos", "thumbs", "renders"):
            (self.pdir(pid) / sub).mkdir(parents=True, exist_ok=True)
        return self.db.create_project(pid, name, legacy)

    def expire_legacy(self) -> None:
        """The seed's endpoints make a hidden project per call: delete those older than the TTL."""
        cutoff = time.time() - self.cfg.legacy_ttl_hours * 3600
        for pid in self.db.legacy_projects_before(cutoff):
            if not self.db.active_jobs(pid):
                self.delete_project(pid)

    def get_project(self, pid: str) -> dict:
        if not ID_RE.match(pid or ""):
            raise HTTPException(404, "no such project")
        p = self.db.get_project(pid)
        if p is None:
            raise HTTPException(404, "no such project")
        return p

    def get_item(self, pid: str, iid: str) -> dict:
        if not ID_RE.match(iid or ""):
            raise HTTPException(404, "no such item")
        item = self.db.get_item(iid)
        if item is None or item["project_id"] != pid:
            raise HTTPException(404, "no such item")
        return item

    def delete_project(self, pid: str) -> None:
        for jid in self.jobs.cancel_project(pid):
            self.jobs.wait(jid, timeout=10)
        self.db.delete_project(pid)
        shutil.rmtree(self.pdir(pid), ignore_errors=True)

    # --- items ---------------------------------------------------------------------------
    def store_image(self, pid: str, img, filename: str, source_url: str | None = None) -> dict:
        iid = new_id()
        stored_name = iid + img.ext
        path = self.pdir(pid) / "photos" / stored_name
        write_bytes(path, img.data)
        return self.db.add_item({
            "id": iid, "project_id": pid, "filename": _safe_filename(filename), "stored_name": stored_name,
            "sha256": img.sha256, "source_url": source_url, "width": img.width, "height": img.height,
            "exif_date": img.exif_date.isoformat() if img.exif_date else None, "storage_name": new_id() + ".jpg",
        })

    def public_item(self, item: dict) -> dict:
        age = item["age_user"] if item["age_user"] is not None else item["age_estimated"]
        pid, iid = item["project_id"], item["id"]
        return {
            "id": iid, "filename": item["filename"], "position": item["position"],
            "age": None if age is None else round(float(age), 1),
            "age_estimated": None if item["age_estimated"] is None else round(float(item["age_estimated"]), 1),
            "age_user": item["age_user"], "flags": item["flags"], "recommended_remove": item["recommended_remove"],
            "excluded": item["excluded"], "analyzed": item["analyzed"], "error": item["error"],
            "exif_date": item["exif_date"], "source_url": item["source_url"],
            "thumb_url": f"/api/projects/{pid}/items/{iid}/thumb" if item["thumb_name"] else None,
            "photo_url": f"/api/projects/{pid}/items/{iid}/photo",
        }

    def resort_by_age(self, pid: str) -> None:
        items = self.db.items(pid)

        def key(it):
            age = it["age_user"] if it["age_user"] is not None else it["age_estimated"]
            return (age is None, age if age is not None else 0.0, it["position"])

        self.db.set_positions([it["id"] for it in sorted(items, key=key)])

    # --- analysis ------------------------------------------------------------------------
    def analyze_project(self, ctx: JobContext, pid: str) -> None:
        """Analyses every photo of the project (flags depend on the whole collection) and
        writes ages, flags and aligned thumbnails back; repeats if photos arrived meanwhile."""
        with self.project_lock(pid):
            for _round in range(5):
                items = self.db.items(pid)
                if not items:
                    return
                ids = {it["id"] for it in items}
                by_name = {it["stored_name"]: it for it in items}
                paths = [self.photo_path(it) for it in items]
                ctx.progress(0, len(paths), "analysing photos")
                try:
                    manifest = self.pipelines.analyze(paths, size=self.cfg.analyze_size,
                                                      progress=lambda d, t: ctx.progress(d, t, "analysing photos"))
                except PipelineUnavailable as exc:
                    raise JobError(str(exc)) from exc
                except ValueError as exc:   # AnalyzeError: a problem with the request itself
                    raise JobError(f"analysis failed: {exc}") from exc
                ctx.check()
                from facereel.manifest import save_manifest

                for entry in manifest.photos:
                    it = by_name.get(Path(entry.path).name)
                    if it is not None and it["exif_date"] and not entry.date:
                        entry.date = it["exif_date"]
                if self.db.get_project(pid) is None:
                    return
                save_manifest(manifest, self.manifest_path(pid))
                for entry in manifest.photos:
                    it = by_name.get(Path(entry.path).name)
                    if it is None:
                        continue
                    thumb_name = None
                    try:
                        crop = self.pipelines.thumbnail(entry, self.cfg.thumb_size)
                    except Exception as exc:  # one bad crop must not fail the collection
                        log.warning("aligned crop of %s failed: %s", it["id"], exc)
                        crop = None
                    if crop is not None:
                        thumb_name = it["id"] + ".jpg"
                        _write_jpeg(crop, self.pdir(pid) / "thumbs" / thumb_name)
                    flags = list(entry.flags)
                    error = entry.error
                    if thumb_name is None and not error:
                        error = "no face found" if not flags or "no_face" in flags else entry.skip_reason(True)
                    self.db.update_item(it["id"], analyzed=True, age_estimated=entry.age, flags=flags,
                                        recommended_remove=bool(set(flags) & set(RECOMMEND_FLAGS)) or thumb_name is None,
                                        thumb_name=thumb_name, error=error)
                project = self.db.get_project(pid)
                if project is not None and not project["manual_order"]:
                    self.resort_by_age(pid)   # the user's ages count, the estimates fill in
                if {it["id"] for it in self.db.items(pid)} == ids:
                    return

    def start_analysis(self, pid: str) -> dict:
        active = self.db.active_jobs(pid, "analyze")
        if active:
            return active[0]

        def fn(ctx: JobContext) -> None:
            self.analyze_project(ctx, pid)

        def on_final(job: dict) -> None:
            # photos that arrived after the last round was read get their own analysis
            if job["status"] == "done" and self.db.get_project(pid) is not None:
                if any(not it["analyzed"] for it in self.db.items(pid)):
                    with contextlib.suppress(QueueFull):
                        self.start_analysis(pid)

        return self.jobs.submit(new_id(), pid, "analyze", {}, fn, on_final)

    # --- crawl ---------------------------------------------------------------------------
    def provider(self):
        if self.cfg.search_provider is not None:
            return self.cfg.search_provider
        if not (self.cfg.google_api_key and self.cfg.google_cse_id):
            raise HTTPException(503, "name search is not configured: set FACEREEL_GOOGLE_API_KEY and "
                                     "FACEREEL_GOOGLE_CSE_ID (a Google Custom Search key and engine id)")
        return GoogleCustomSearch(self.cfg.google_api_key, self.cfg.google_cse_id, endpoint=self.cfg.search_endpoint,
                                  timeout=self.cfg.crawl_timeout * 2)

    def start_crawl(self, pid: str, name: str, per_query: int | None = None) -> dict:
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
                if self.db.has_sha(pid, d.image.sha256):
                    continue
                self.store_image(pid, d.image, d.url.rsplit("/", 1)[-1] or "photo", source_url=d.url)
                kept += 1
            if kept == 0 and self.db.count_items(pid) == 0:
                reasons = "; ".join(sorted({r for _, r in res.errors})[:3])
                raise JobError(f"crawl failed: none of the {len(res.errors)} images could be used ({reasons})")
            self.analyze_project(ctx, pid)
            ctx.result["message"] = f"{kept} photos downloaded, {len(res.errors)} skipped"

        return self.jobs.submit(new_id(), pid, "crawl", {"name": name}, fn)

    # --- render --------------------------------------------------------------------------
    def render_manifest(self, pid: str, items: list[dict] | None = None, ages: dict[str, float] | None = None):
        """The project's manifest with the user's choices applied (age, excluded, order).

        Photos the user kept are used even when flagged: the flags were recommendations."""
        from facereel.manifest import load_manifest

        manifest = load_manifest(self.manifest_path(pid))
        selected = items if items is not None else self.db.items(pid)
        by_name = {it["stored_name"]: it for it in selected}
        photos = []
        for entry in manifest.photos:
            it = by_name.get(Path(entry.path).name)
            if it is None:
                continue
            if ages is not None and it["id"] in ages and ages[it["id"]] is not None:
                entry.age = float(ages[it["id"]])
            elif it["age_user"] is not None:
                entry.age = float(it["age_user"])
            entry.excluded = bool(it["excluded"]) if items is None else False
            entry.order = it["position"]
            if not entry.excluded and entry.quad is not None and entry.chosen is not None:
                entry.flags = []
            photos.append(entry)
        if ages is not None:
            photos.sort(key=lambda e: (e.age if e.age is not None else 0.0))
            for i, e in enumerate(photos):
                e.order = i
        manifest.photos = photos
        return manifest

    def start_render(self, pid: str, s: RenderSettings, manifest=None) -> dict:
        cfg = self.cfg
        if s.size not in cfg.render_sizes:
            raise HTTPException(422, f"size must be one of {', '.join(map(str, cfg.render_sizes))}")
        if s.frames > cfg.max_frames:
            raise HTTPException(422, f"frames must be at most {cfg.max_frames}")
        if s.fps > cfg.max_fps:
            raise HTTPException(422, f"fps must be at most {cfg.max_fps}")
        if s.engine == "latent":
            ok, reason = self.pipelines.latent_status(s.method, s.generator)
            if not ok:
                raise HTTPException(422, reason)
        if manifest is None:
            if not self.manifest_path(pid).is_file():
                raise HTTPException(409, "the photos have not been analysed yet")
            manifest = self.render_manifest(pid)
        usable = manifest.ordered()
        if len(usable) < 2:
            raise HTTPException(422, f"a time-lapse needs at least two photos with a face; {len(usable)} selected")
        with self._submit_lock:   # check-then-submit must not interleave
            if self.db.active_jobs(pid, "render"):
                raise HTTPException(409, "a render of this project is already running; wait for it or cancel it")
            jid = new_id()
            settings = s.model_dump()
            ext = s.format
            tmp_dir = self.tmp_dir / jid
            final = self.pdir(pid) / "renders" / f"{jid}.{ext}"

            def fn(ctx: JobContext) -> None:
                tmp_dir.mkdir(parents=True, exist_ok=True)
                out = tmp_dir / f"render.{ext}"
                try:
                    ctx.progress(0, 1, "rendering")
                    try:
                        self.pipelines.render(manifest, out, engine=s.engine, frames=s.frames, size=s.size, fps=s.fps,
                                              opacity=s.opacity, format=s.format, generator=s.generator,
                                              method=s.method, progress=lambda d, t: ctx.progress(d, t, "rendering"),
                                              prepare_progress=lambda d, t: ctx.progress(d, t, "preparing keyframes"))
                    except JobCancelled:
                        raise
                    except PipelineUnavailable as exc:
                        raise JobError(str(exc)) from exc
                    except self.pipelines.timelapse_error() as exc:
                        raise JobError(f"render failed: {exc}") from exc
                    ctx.check()
                    if not out.is_file() or out.stat().st_size == 0:
                        raise JobError("render failed: the pipeline wrote no video")
                    # the result appears under its final name only once complete (atomic rename)
                    os.replace(out, final)
                    ctx.result.update(result_name=final.name, content_type=CONTENT_TYPES[ext])
                    self.prune_renders(pid, keep=max(cfg.max_renders_kept - 1, 0))
                finally:
                    shutil.rmtree(tmp_dir, ignore_errors=True)

            try:
                return self.jobs.submit(jid, pid, "render", settings, fn)
            except QueueFull as exc:
                raise HTTPException(429, str(exc)) from exc

    def prune_renders(self, pid: str, keep: int) -> None:
        """Deletes the results of all but the ``keep`` newest finished renders (history stays)."""
        done = [j for j in self.db.jobs(pid, "render") if j["status"] == "done" and j.get("result_name")]
        for j in done[keep:]:
            p = self.result_path(j)
            if p is not None:
                p.unlink(missing_ok=True)
            self.db.update_job(j["id"], result_name=None, message="result deleted (only the newest renders are kept)")

    def result_path(self, job: dict) -> Path | None:
        if job.get("status") != "done" or not job.get("result_name") or not job.get("project_id"):
            return None
        if not ID_RE.match(job["project_id"]):
            return None
        p = self.pdir(job["project_id"]) / "renders" / job["result_name"]
        return p if p.is_file() else None

    # --- uploads -------------------------------------------------------------------------
    async def read_uploads(self, request: Request, fields: tuple[str, ...]) -> list[tuple[str, bytes | UploadError]]:
        """(filename, bytes or error) for every file of a multipart request."""
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise HTTPException(415, "send the photos as multipart/form-data")
        try:
            form = await request.form(max_files=self.cfg.max_files_per_request, max_fields=50)
        except (HTTPException, _TooLarge):
            raise
        except Exception as exc:
            raise HTTPException(400, f"malformed multipart body: {exc}") from exc
        out: list[tuple[str, bytes | UploadError]] = []
        try:
            for key, value in form.multi_items():
                if key not in fields or isinstance(value, str):
                    continue
                name = value.filename or "photo"
                data = await value.read(self.cfg.max_upload_bytes + 1)
                if len(data) > self.cfg.max_upload_bytes:
                    out.append((name, UploadError(
                        f"{name}: file is larger than the {self.cfg.max_upload_bytes // (1024 * 1024)} MiB limit", 413)))
                else:
                    out.append((name, data))
        finally:
            await form.close()
        if not out:
            raise HTTPException(400, f"no file in the request (form field {' or '.join(repr(f) for f in fields)})")
        return out

    def accept_uploads(self, pid: str, files: list[tuple[str, bytes | UploadError]]) -> tuple[list[dict], list[dict]]:
        accepted, rejected = [], []
        for name, data in files:
            try:
                if isinstance(data, UploadError):
                    raise data
                if self.db.count_items(pid) >= self.cfg.max_items_per_project:
                    raise UploadError(f"{name}: the project already holds {self.cfg.max_items_per_project} photos", 409)
                img = validate_image(data, max_bytes=self.cfg.max_upload_bytes, max_pixels=self.cfg.max_pixels,
                                     filename=name)
                if self.db.has_sha(pid, img.sha256):
                    raise UploadError(f"{name}: this file is already in the project", 409)
                accepted.append(self.store_image(pid, img, name))
            except UploadError as exc:
                rejected.append({"filename": _safe_filename(name), "error": str(exc), "status": exc.status})
        return accepted, rejected


def _hostname(host: str) -> str:
    """``host[:port]`` or ``[v6]:port`` -> host name."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _safe_filename(name: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(ch for ch in name if ch.isprintable())[:120]
    return name or "photo"


def _write_jpeg(rgb, path: Path) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    write_bytes(path, buf.getvalue())


def _reject_response(rejected: list[dict]) -> JSONResponse:
    status = rejected[0]["status"] if len({r["status"] for r in rejected}) == 1 else 422
    detail = rejected[0]["error"] if len(rejected) == 1 else "; ".join(r["error"] for r in rejected[:5])
    return JSONResponse({"detail": detail, "rejected": rejected}, status_code=status)


# ----------------------------------------------------------------------------- the app

def create_app(config: WebConfig | dict | None = None) -> FastAPI:
    """The FastAPI app.  CORS is off unless ``config.cors_origins`` lists origins."""
    cfg = WebConfig.from_any(config)
    st = WebState(cfg)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        st.jobs.shutdown(wait=False)

    from facereel import __version__ as version

    app = FastAPI(
        title="facereel", version=str(version), lifespan=lifespan,
        description="Facial time-lapses from your photos: upload or crawl, review, render.",
        docs_url=None, redoc_url=None, openapi_url="/openapi.json",   # the docs UIs load from CDNs
    )
    app.state.web = st
    if cfg.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cfg.cors_origins), allow_methods=["*"],
                           allow_headers=["*"])
    app.add_middleware(GuardMiddleware, max_body=cfg.max_request_bytes, cors_origins=cfg.cors_origins,
                       allowed_hosts=cfg.allowed_hosts)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, html=False), name="static")

    upload_body = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
        "required": ["files"]}}}}}
    seed_upload_body = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": {"image": {"type": "array", "items": {"type": "string", "format": "binary"}}},
        "required": ["image"]}}}}}

    # --- pages ---------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-cache"})

    @app.get("/api/config", tags=["meta"])
    def get_config() -> dict:
        ok, reason = st.pipelines.latent_status(None)
        latent = st.pipelines.latent_options() if hasattr(st.pipelines, "latent_options") else {}
        return {**cfg.public(), "engines": {"morph": True, "crossfade": True, "latent": ok or any(
                    (latent.get("methods") or {}).values())},
                "latent_reason": reason or None, "latent": latent, "formats": list(CONTENT_TYPES)}

    # --- projects ------------------------------------------------------------------------
    @app.post("/api/projects", status_code=201, tags=["projects"])
    def create_project(body: ProjectCreate | None = None) -> dict:
        p = st.create_project((body.name if body else "") or "")
        return {"id": p["id"], "name": p["name"], "created": p["created"]}

    @app.get("/api/projects/{pid}", tags=["projects"])
    def get_project(pid: str) -> dict:
        p = st.get_project(pid)
        return {"id": p["id"], "name": p["name"], "created": p["created"], "manual_order": p["manual_order"],
                "items": [st.public_item(i) for i in st.db.items(pid)],
                "jobs": [public_job(j) for j in st.db.jobs(pid)][:50]}

    @app.delete("/api/projects/{pid}", status_code=204, tags=["projects"])
    def delete_project(pid: str) -> Response:
        st.get_project(pid)
        st.delete_project(pid)
        return Response(status_code=204)

    @app.post("/api/projects/{pid}/photos", tags=["projects"], openapi_extra=upload_body, status_code=201)
    async def upload_photos(pid: str, request: Request):
        """Adds photos (multipart field ``files``, many allowed) and starts their analysis.

        Every file is checked by content; refused files are listed with their reason. When no
        file is accepted the status is 4xx."""
        st.get_project(pid)
        files = await st.read_uploads(request, ("files", "file", "image"))
        accepted, rejected = await run_in_threadpool(st.accept_uploads, pid, files)
        if not accepted:
            return _reject_response(rejected)
        try:
            job = st.start_analysis(pid)
        except QueueFull as exc:
            raise HTTPException(429, str(exc)) from exc
        return JSONResponse({"items": [st.public_item(i) for i in accepted], "rejected": rejected,
                             "job": public_job(job)}, status_code=201)

    @app.get("/api/projects/{pid}/items", tags=["items"])
    def list_items(pid: str) -> list[dict]:
        st.get_project(pid)
        return [st.public_item(i) for i in st.db.items(pid)]

    @app.patch("/api/projects/{pid}/items/{iid}", tags=["items"])
    def patch_item(pid: str, iid: str, body: ItemPatch) -> dict:
        """Edits an item: ``age`` (the grid re-sorts by age unless the order was set by hand),
        ``excluded``, ``position`` (moves it; the order becomes manual)."""
        st.get_project(pid)
        item = st.get_item(pid, iid)
        fields: dict[str, Any] = {}
        if body.reset_age:
            fields["age_user"] = None
        elif body.age is not None:
            fields["age_user"] = float(body.age)
        if body.excluded is not None:
            fields["excluded"] = body.excluded
        st.db.update_item(iid, **fields)
        if body.position is not None:
            ids = [i["id"] for i in st.db.items(pid) if i["id"] != iid]
            ids.insert(min(body.position, len(ids)), iid)
            st.db.set_positions(ids)
            st.db.set_manual_order(pid, True)
        elif "age_user" in fields and not st.db.get_project(pid)["manual_order"]:
            st.resort_by_age(pid)
        return st.public_item(st.db.get_item(item["id"]))

    @app.post("/api/projects/{pid}/sort-by-age", tags=["items"])
    def sort_by_age(pid: str) -> list[dict]:
        """Orders the items by age again and forgets the manual order."""
        st.get_project(pid)
        st.db.set_manual_order(pid, False)
        st.resort_by_age(pid)
        return [st.public_item(i) for i in st.db.items(pid)]

    @app.get("/api/projects/{pid}/items/{iid}/thumb", tags=["items"], response_class=FileResponse)
    def item_thumb(pid: str, iid: str):
        st.get_project(pid)
        p = st.thumb_path(st.get_item(pid, iid))
        if p is None or not p.is_file():
            raise HTTPException(404, "no aligned face for this photo")
        # re-analysis rewrites it under the same URL: revalidate (ETag) every time
        return FileResponse(p, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})

    @app.get("/api/projects/{pid}/items/{iid}/photo", tags=["items"], response_class=FileResponse)
    def item_photo(pid: str, iid: str):
        st.get_project(pid)
        item = st.get_item(pid, iid)
        p = st.photo_path(item)
        if not p.is_file():
            raise HTTPException(404, "photo missing")
        return FileResponse(p, media_type="image/jpeg" if p.suffix == ".jpg" else "image/png")

    @app.post("/api/projects/{pid}/crawl", status_code=202, tags=["projects"])
    def crawl_name(pid: str, body: CrawlRequest) -> dict:
        """Searches photos of a person (four age-diversified queries), downloads and analyses them."""
        st.get_project(pid)
        if st.db.active_jobs(pid, "crawl"):
            raise HTTPException(409, "a search for this project is already running")
        try:
            return public_job(st.start_crawl(pid, body.name, body.per_query))
        except QueueFull as exc:
            raise HTTPException(429, str(exc)) from exc

    @app.post("/api/projects/{pid}/renders", status_code=202, tags=["renders"])
    def start_render(pid: str, body: RenderSettings) -> dict:
        """Starts a render; follow it at ``/api/jobs/{id}/events`` (SSE)."""
        st.get_project(pid)
        return public_job(st.start_render(pid, body))

    @app.get("/api/projects/{pid}/renders", tags=["renders"])
    def render_history(pid: str) -> list[dict]:
        st.get_project(pid)
        return [public_job(j) for j in st.db.jobs(pid, "render")]

    # --- jobs ----------------------------------------------------------------------------
    def get_job(jid: str) -> dict:
        job = st.jobs.get(jid) if ID_RE.match(jid or "") else None
        if job is None:
            raise HTTPException(404, "no such job")
        return job

    @app.get("/api/jobs/{jid}", tags=["jobs"])
    def job_state(jid: str) -> dict:
        return public_job(get_job(jid))

    @app.get("/api/jobs/{jid}/events", tags=["jobs"], response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}}})
    async def job_events(jid: str):
        """Server-Sent Events: ``progress`` while running, then ``done``, ``failed`` or ``cancelled``."""
        get_job(jid)
        return StreamingResponse(st.jobs.events(jid), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/api/jobs/{jid}/cancel", tags=["jobs"])
    def cancel_job(jid: str) -> dict:
        job = get_job(jid)
        if not st.jobs.cancel(jid):
            raise HTTPException(409, f"the job is {job['status']}, not running")
        return public_job(st.jobs.get(jid))

    @app.get("/api/jobs/{jid}/result", tags=["jobs"], response_class=FileResponse,
             responses={200: {"content": {t: {} for t in CONTENT_TYPES.values()}}})
    def job_result(jid: str, download: bool = False):
        job = get_job(jid)
        p = st.result_path(job)
        if p is None:
            raise HTTPException(404 if job["status"] in ("done", "failed", "cancelled") else 409,
                                f"no result: the job is {job['status']}" + (f" ({job['error']})" if job.get("error") else ""))
        headers = {"Cache-Control": "private, max-age=3600"}
        if download:
            headers["Content-Disposition"] = f'attachment; filename="facereel-{jid[:8]}{p.suffix}"'
        return FileResponse(p, media_type=job["content_type"], headers=headers)

    # --- the seed's endpoints ------------------------------------------------------------
    def seed_rows(pid: str) -> list[list]:
        rows = []
        for it in st.db.items(pid):
            if not it["thumb_name"]:
                continue
            age = it["age_user"] if it["age_user"] is not None else it["age_estimated"]
            rows.append([it["storage_name"], None if age is None else round(float(age), 1),
                         bool(it["recommended_remove"])])
        return rows

    def wait_job(job: dict) -> dict:
        final = st.jobs.wait(job["id"])
        if final["status"] != "done":
            raise HTTPException(422 if final["status"] == "failed" else 409, final.get("error") or final["status"])
        return final

    @app.post("/uploadFile", tags=["seed"], openapi_extra=seed_upload_body)
    async def seed_upload_file(request: Request):
        """The seed's upload: photos in form field ``image`` → ``[[path, age, recommendedRemove], ...]``."""
        files = await st.read_uploads(request, ("image", "files", "file"))
        p = st.create_project("uploadFile", legacy=True)
        accepted, rejected = await run_in_threadpool(st.accept_uploads, p["id"], files)
        if not accepted:
            await run_in_threadpool(st.delete_project, p["id"])
            return _reject_response(rejected)
        try:
            job = st.start_analysis(p["id"])
        except QueueFull as exc:
            raise HTTPException(429, str(exc)) from exc
        await run_in_threadpool(wait_job, job)
        rows = seed_rows(p["id"])
        if not rows:
            raise HTTPException(422, "no face found in the uploaded photos")
        return rows

    @app.post("/uploadName", tags=["seed"])
    async def seed_upload_name(body: SeedName) -> list[list]:
        """The seed's name search: ``{"celebrityName": ...}`` → ``[[path, age, recommendedRemove], ...]``."""
        st.provider()
        p = st.create_project(body.celebrityName, legacy=True)
        try:
            job = st.start_crawl(p["id"], body.celebrityName)
        except QueueFull as exc:
            raise HTTPException(429, str(exc)) from exc
        await run_in_threadpool(wait_job, job)
        rows = seed_rows(p["id"])
        if not rows:
            raise HTTPException(422, f"no face found in the photos of {body.celebrityName!r}")
        return rows

    @app.post("/generateGif", tags=["seed"], response_class=Response,
              responses={200: {"content": {"image/gif": {}}}})
    async def seed_generate_gif(body: SeedGifRequest):
        """The seed's render: ``encoder`` ``psp``/``restyle`` (latent engine, needs its weights),
        ``None`` (pixel blending), or an engine name (``morph``, ``crossfade``) → a GIF."""
        enc = (body.encoder or "None").strip()
        if enc.lower() in ("none", "null", "", "pixel", "crossfade"):
            engine, method = "crossfade", None
        elif enc.lower() == "morph":
            engine, method = "morph", None
        elif enc.lower() in LATENT_ENCODERS:
            engine, method = "latent", enc.lower()
        else:
            raise HTTPException(422, f"unknown encoder {enc!r}: use psp, restyle, None, morph or crossfade")
        if len(body.items) < 2:
            raise HTTPException(422, "a time-lapse needs at least two items")
        items, ages = [], {}
        for it in body.items:
            if not STORAGE_RE.match(it.path):
                raise HTTPException(404, f"unknown path {it.path!r}")
            row = st.db.item_by_storage_name(it.path)
            if row is None:
                raise HTTPException(404, f"unknown path {it.path!r}")
            items.append(row)
            ages[row["id"]] = it.age
        pids = {r["project_id"] for r in items}
        if len(pids) != 1:
            raise HTTPException(422, "all items must come from the same upload or search")
        pid = pids.pop()
        size = min(cfg.render_sizes, key=lambda s: abs(s - body.size))
        settings = RenderSettings(engine=engine, method=method, frames=min(body.frames, cfg.max_frames),
                                  opacity=body.opacity, size=size, fps=12, format="gif")
        manifest = await run_in_threadpool(st.render_manifest, pid, items, ages)
        job = st.start_render(pid, settings, manifest=manifest)
        final = await run_in_threadpool(wait_job, job)
        p = st.result_path(final)
        if p is None:
            raise HTTPException(500, "the render finished without a result")
        return FileResponse(p, media_type="image/gif")

    @app.get("/storage/{name}", tags=["seed"], response_class=FileResponse,
             responses={200: {"content": {"image/jpeg": {}}}})
    def seed_storage(name: str):
        """An aligned face returned by ``/uploadFile`` or ``/uploadName``."""
        if not STORAGE_RE.match(name or ""):
            raise HTTPException(404, "not found")
        item = st.db.item_by_storage_name(name)
        p = st.thumb_path(item) if item else None
        if p is None or not p.is_file():
            raise HTTPException(404, "not found")
        return FileResponse(p, media_type="image/jpeg")

    return app
