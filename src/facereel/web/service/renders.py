"""Renders: the manifest with the user's choices, the render job, its result."""

from __future__ import annotations

import shutil
from pathlib import Path

from facereel.core.errors import OptionsError
from facereel.web.errors import Conflict, Invalid, NotFound
from facereel.web.jobs import JobCancelled, JobContext, JobError, public_job
from facereel.web.pipeline import PipelineUnavailable
from facereel.web.schemas import CONTENT_TYPES, OPTION_NAMES
from facereel.web.service.projects import effective_age
from facereel.web.storage import ID_RE, new_id


class RenderMixin:
    def render_manifest(self, pid: str, items: list[dict] | None = None, ages: dict[str, float | None] | None = None):
        """The project's manifest with the user's choices applied (age, excluded, order).

        ``items`` (the seed's and thesis' endpoints) picks photos, whatever their flags; else the
        project's items are used, the excluded ones (by the user or, until put back, by a
        recommendation) left out.  Photos that are used render even when flagged."""
        from facereel.manifest import load_manifest

        path = self.data.manifest_path(pid)
        if not path.is_file():
            raise Conflict("the photos have not been analysed yet")
        manifest = load_manifest(path)
        selected = items if items is not None else self.db.items(pid)
        by_name = {it["stored_name"]: it for it in selected}
        photos = []
        for entry in manifest.photos:
            it = by_name.get(Path(entry.path).name)
            if it is None:
                continue
            age = (ages or {}).get(it["id"])
            entry.age = float(age) if age is not None else effective_age(it)[0]
            entry.excluded = bool(it["excluded"]) if items is None else False
            entry.order = it["position"]
            if not entry.excluded and entry.quad is not None and entry.chosen is not None:
                entry.flags = []
            photos.append(entry)
        manifest.photos = photos
        return manifest

    def check_render(self, s):
        """The render's :class:`~facereel.options.timelapse.TimelapseOptions`, within this
        server's limits and with the weights it needs installed; raises :class:`Invalid`."""
        cfg = self.cfg
        if s.size not in cfg.render_sizes:
            raise Invalid(f"size must be one of {', '.join(map(str, cfg.render_sizes))}")
        if not 1 <= s.frames <= cfg.max_frames:
            raise Invalid(f"frames must be from 1 to {cfg.max_frames}")
        if s.fps > cfg.max_fps:
            raise Invalid(f"fps must be at most {cfg.max_fps}")
        if s.engine == "latent":
            ok, reason = self.pipelines.latent_status(s.method, s.generator, s.encoder)
            if not ok:
                raise Invalid(reason)
        try:
            return s.to_options()
        except OptionsError as exc:
            raise Invalid(exc.message_for(OPTION_NAMES)) from None

    def start_render(self, pid: str, s, manifest=None) -> dict:
        self.get_project(pid)
        options = self.check_render(s)
        if manifest is None:
            manifest = self.render_manifest(pid)
        usable = manifest.ordered()
        if len(usable) < 2:
            raise Invalid(f"a time-lapse needs at least two photos with a face; {len(usable)} selected")
        with self._submit_lock:   # check-then-submit must not interleave
            if self.db.active_jobs(pid, "render"):
                raise Conflict("a render of this project is already running; wait for it or cancel it")
            jid = new_id()
            ext = s.format
            tmp_dir = self.data.tmp / jid
            final = self.data.render_path(pid, f"{jid}.{ext}")
            user_errors = self.pipelines.timelapse_error()

            def fn(ctx: JobContext) -> None:
                tmp_dir.mkdir(parents=True, exist_ok=True)
                out = tmp_dir / f"render.{ext}"
                try:
                    ctx.progress(0, 1, "rendering")
                    try:
                        self.pipelines.render(manifest, out, options,
                                              progress=lambda d, t: ctx.progress(d, t, "rendering"),
                                              prepare_progress=lambda d, t: ctx.progress(d, t, "preparing keyframes"))
                    except JobCancelled:
                        raise
                    except PipelineUnavailable as exc:
                        raise JobError(str(exc)) from exc
                    except user_errors as exc:
                        raise JobError(f"render failed: {exc}") from exc
                    ctx.check()
                    if not out.is_file() or out.stat().st_size == 0:
                        raise JobError("render failed: the pipeline wrote no video")
                    out.replace(final)   # the result appears under its final name only once complete
                    ctx.result.update(result_name=final.name, content_type=CONTENT_TYPES[ext])
                    self.prune_renders(pid, keep=max(self.cfg.max_renders_kept - 1, 0))
                finally:
                    shutil.rmtree(tmp_dir, ignore_errors=True)

            return self.jobs.submit(jid, pid, "render", s.model_dump(), fn)

    def prune_renders(self, pid: str, keep: int) -> None:
        """Deletes the results of all but the ``keep`` newest finished renders (history stays)."""
        done = [j for j in self.db.jobs(pid, "render") if j["status"] == "done" and j.get("result_name")]
        for j in done[keep:]:
            p = self.result_path(j)
            if p is not None:
                p.unlink(missing_ok=True)
            self.db.update_job(j["id"], result_name=None, message="result deleted (only the newest renders are kept)")

    def result_path(self, job: dict) -> Path | None:
        if job.get("status") != "done" or not job.get("result_name") or not ID_RE.match(job.get("project_id") or ""):
            return None
        return self.data.servable(self.data.render_path(job["project_id"], job["result_name"]))

    def result_file(self, jid: str) -> tuple[Path, dict]:
        job = self.get_job(jid)
        p = self.result_path(job)
        if p is None:
            if job["status"] in ("done", "failed", "cancelled"):
                raise NotFound(f"no result: the job is {job['status']}" + (f" ({job['error']})" if job.get("error") else ""))
            raise Conflict(f"no result yet: the job is {job['status']}")
        return p, job

    def render_history(self, pid: str) -> list[dict]:
        self.get_project(pid)
        return [public_job(j) for j in self.db.jobs(pid, "render")]
