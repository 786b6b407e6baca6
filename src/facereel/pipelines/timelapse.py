"""Facial time-lapse: photos (or a manifest) in, a streamed video out.

Steps: keyframes = the aligned crops of the usable photos in manifest order (flagged duplicates
and other people skipped unless ``keep_flagged``) → optional stabilisation → schedule
(:mod:`facereel.render.schedule`) → engine frames in batches of ``engine.batch_size`` → the
seed's keyframe blend (Eq. 4-5, :mod:`facereel.render.blend`) → writer
(:mod:`facereel.render.video`).

Frames at keyframe positions are the keyframes themselves, byte for byte (the aligned crops, or
the stabilised crops with ``stabilize``); the engine is only asked for in-between frames.

Everything that can be checked without work — output path and format, options, number of
photos — is checked first and raises :class:`TimelapseError` with one clear line.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facereel.core.errors import FacereelError
from facereel.core.progress import Progress
from facereel.render.engines.base import Engine, Keyframe
from facereel.render.schedule import TIMINGS, Schedule, ScheduleError, make_schedule

log = logging.getLogger(__name__)

SIZES = (256, 512, 1024)


class TimelapseError(FacereelError, ValueError):
    """A time-lapse request that cannot be done (bad option, too few photos, bad output)."""


@dataclass
class TimelapseResult:
    path: Path | None                 # the video (file, or folder of PNG frames)
    format: str
    frames: int                       # frames written
    fps: float
    size: int
    engine: str
    timing: str                       # timing actually used ("age" falls back to "uniform")
    keyframe_indices: list[int]       # output frame index of each keyframe
    keyframes: list[str]              # labels (file names) of the keyframes, in order
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (photo path, reason)
    gaps: list[int] = field(default_factory=list)                  # frames per gap
    seconds: float = 0.0


@dataclass
class TimelapseJob:
    """A validated, prepared time-lapse: call :meth:`frames` to stream it."""

    keyframes: list[Keyframe]
    schedule: Schedule
    engine: Engine
    opacity: float
    fps: float
    timing: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    manifest: object | None = None

    @property
    def size(self) -> int:
        return int(self.keyframes[0].image.shape[0])

    def __len__(self) -> int:
        return len(self.schedule)

    def frames(self, progress: Progress | None = None) -> Iterator[np.ndarray]:
        """Yields every output frame ([S, S, 3] uint8) in order; memory stays at one batch."""
        return render_frames(self.engine, self.keyframes, self.schedule, self.opacity, progress)


def render_frames(
    engine: Engine,
    keyframes: Sequence[Keyframe],
    schedule: Schedule,
    opacity: float = 0.5,
    progress: Progress | None = None,
) -> Iterator[np.ndarray]:
    """Streams the frames of ``schedule`` from a prepared ``engine`` (seed Eq. 4-5 applied)."""
    from facereel.render.blend import blend_keyframe, blend_weight, nearest_keyframe

    total = len(schedule)
    bs = max(1, int(getattr(engine, "batch_size", 1) or 1))
    done = 0
    if progress:
        progress(0, total)
    for start in range(0, total, bs):
        chunk = schedule.frames[start:start + bs]
        wanted = [(p.j, p.lam) for p in chunk if p.keyframe is None]
        rendered = iter(engine.frames(wanted) if wanted else [])
        for p in chunk:
            if p.keyframe is not None:
                out = keyframes[p.keyframe].image.copy()  # a consumer may draw on its frames
            else:
                out = next(rendered)
                w = blend_weight(p.lam, opacity)  # cos is 1-periodic: f(α) = f(λ)
                if w > 0:
                    k = nearest_keyframe(p.j, p.lam)
                    out = blend_keyframe(out, engine.blend_source(k, out), w)
            yield out
            done += 1
            if progress:
                progress(done, total)


# ----------------------------------------------------------------------------- validation


def validate_options(
    *, engine: str, frames: int, timing: str, hold: int, size: int | None, fps: float, opacity: float
) -> None:
    from facereel.render.engines import ENGINES

    if engine not in ENGINES:
        raise TimelapseError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if timing not in TIMINGS:
        raise TimelapseError(f"unknown timing {timing!r}; choose one of {', '.join(TIMINGS)}")
    if int(frames) != frames or frames < 1:
        raise TimelapseError(f"--frames must be a whole number >= 1, got {frames}")
    if int(hold) != hold or hold < 0:
        raise TimelapseError(f"--hold must be a whole number >= 0, got {hold}")
    if size is not None and size not in SIZES:
        raise TimelapseError(f"--size must be one of {', '.join(map(str, SIZES))}, got {size}")
    if not (fps > 0 and np.isfinite(fps)):
        raise TimelapseError(f"--fps must be positive, got {fps}")
    if not (0.0 <= opacity <= 1.0):
        raise TimelapseError(f"opacity must be between 0 and 1 (--opacity 0..100), got {opacity}")


# ----------------------------------------------------------------------------- keyframes


def load_keyframes(
    source,
    *,
    size: int = 512,
    keep_flagged: bool = False,
    progress: Progress | None = None,
    check_only: bool = False,
    analyze_options=None,
) -> tuple[list[Keyframe], list[tuple[str, str]], object | None]:
    """(keyframes, skipped (path, reason), manifest) for a Manifest, a manifest path, photos, videos or keyframes.

    Photos and videos are analysed on the fly (:func:`facereel.pipelines.analyze.analyze_collection`
    with ``analyze_options``).  With ``check_only`` photo inputs are only counted (cheap check
    before any work).
    """
    if isinstance(source, Keyframe):
        source = [source]
    if isinstance(source, (str, os.PathLike)):
        source = [source]
    if isinstance(source, Sequence) and source and all(isinstance(k, Keyframe) for k in source):
        kfs = list(source)
        if len(kfs) < 2:
            raise TimelapseError(f"a time-lapse needs at least 2 photos, got {len(kfs)}")
        shapes = {k.image.shape for k in kfs}
        if len(shapes) != 1 or next(iter(shapes))[2:] != (3,) or kfs[0].image.shape[0] != kfs[0].image.shape[1]:
            raise TimelapseError(f"keyframes must be square RGB images of one size, got {sorted(shapes)}")
        return kfs, [], None

    from facereel.manifest import Manifest
    from facereel.pipelines.analyze import (
        AnalyzeError,
        analysis_options,
        collect_photo_paths,
        is_video,
        load_aligned,
        resolve_manifest,
    )
    from facereel.pipelines.analyze.crops import TooFewPhotos, usable_photos

    try:
        opts = analysis_options(analyze_options, size=size)
        if not isinstance(source, Manifest):
            paths = [Path(p) for p in source] if source else []
            if not paths:
                raise TimelapseError("no photos given")
            if not any(_is_manifest_path(p) for p in paths):
                missing = [p for p in paths if not p.exists()]
                if missing:
                    raise TimelapseError(f"{missing[0]} does not exist")
                found = collect_photo_paths(paths, frame_folders=opts.frame_folders)
                if len(found) < 2 and not any(is_video(p) or p.is_dir() for p in found):
                    raise TimelapseError(f"a time-lapse needs at least 2 photos, found {len(found)} in the input")
                if check_only:
                    return [], [], None
        if check_only:
            manifest = resolve_manifest(source, opts)
            skipped = [(p.path, r) for p, r in manifest.skipped(keep_flagged)]
            usable_photos(manifest, keep_flagged, 2)
            return [], skipped, manifest
        faces = load_aligned(source, opts, keep_flagged=keep_flagged, min_photos=2, analysis_progress=progress)
    except TooFewPhotos as exc:
        raise TimelapseError(f"a time-lapse {exc}") from None
    except (AnalyzeError, OSError) as exc:
        raise TimelapseError(str(exc)) from None

    kfs = []
    for e, img in zip(faces.entries, faces.images, strict=True):
        age = e.age if e.age is not None else e.age_estimated
        kfs.append(Keyframe(image=img, landmarks=None, age=age, label=e.name,
                            meta={"path": e.path, "sha256": e.sha256, "date": e.date, "flags": list(e.flags),
                                  "quad": e.quad,
                                  # photo-space MediaPipe points: fallback when the crop finds no face
                                  "photo_landmarks": e.landmarks if e.landmarks_kind == "mediapipe" else None}))
    return kfs, faces.skipped, faces.manifest


def _is_manifest_path(p: str | os.PathLike) -> bool:
    return Path(p).suffix.lower() == ".json"


def keyframe_landmarks(keyframes: Sequence[Keyframe], progress: Progress | None = None) -> None:
    """Fills ``Keyframe.landmarks`` (MediaPipe 478 in crop pixels) where missing.

    Runs MediaPipe on the aligned crop; if that finds no face, falls back to the manifest's
    MediaPipe landmarks mapped from the photo into the crop through the alignment quad.
    """
    todo = [k for k in keyframes if k.landmarks is None]
    try:
        from facereel.faces.landmarks import landmarks_mediapipe
    except ImportError as exc:  # pragma: no cover - the faces module is another issue's
        log.warning("MediaPipe landmarks unavailable (%s)", exc)
        landmarks_mediapipe = None
    for n, k in enumerate(todo, 1):
        pts = None
        if landmarks_mediapipe is not None:
            try:
                res = landmarks_mediapipe(k.image)
            except Exception as exc:  # noqa: BLE001 - a detector failure only costs the warp
                log.debug("landmarks on %s failed: %s", k.label, exc)
                res = None
            pts = None if res is None else np.asarray(res.points, np.float64)
        if pts is None:
            pts = _manifest_landmarks(k)
        if pts is None:
            log.warning("%s: no landmarks on the aligned crop", k.label or "keyframe")
        k.landmarks = pts
        if progress:
            progress(n, len(todo))


def _manifest_landmarks(k: Keyframe) -> np.ndarray | None:
    quad, pts = k.meta.get("quad"), k.meta.get("photo_landmarks")
    if quad is None or pts is None:
        return None
    from facereel.faces.align import photo_to_crop
    from facereel.faces.types import Alignment

    s = k.image.shape[0]
    al = Alignment(image=k.image, quad=np.asarray(quad, np.float64), recipe="ffhq", size=s)
    return photo_to_crop(al, np.asarray(pts, np.float64))


def _times(keyframes: Sequence[Keyframe]) -> list | None:
    ages = [k.age for k in keyframes]
    if all(a is not None for a in ages):
        return ages
    dates = [k.meta.get("date") for k in keyframes]
    if all(d for d in dates):
        return dates
    return None


# ----------------------------------------------------------------------------- API


def plan_timelapse(
    source,
    *,
    engine: str | Engine = "morph",
    frames: int = 24,
    timing: str = "uniform",
    hold: int = 0,
    size: int = 512,
    fps: float = 24.0,
    opacity: float = 0.5,
    keep_flagged: bool = False,
    stabilize: bool = False,
    engine_kwargs: dict | None = None,
    analysis_progress: Progress | None = None,
    prepare_progress: Progress | None = None,
) -> TimelapseJob:
    """Validates, loads keyframes, builds the schedule and prepares the engine."""
    from facereel.render.engines import get_engine

    name = engine.name if isinstance(engine, Engine) else engine
    validate_options(engine=name, frames=frames, timing=timing, hold=hold, size=size, fps=fps, opacity=opacity)
    kfs, skipped, manifest = load_keyframes(source, size=size, keep_flagged=keep_flagged, progress=analysis_progress)
    n = len(kfs)
    times = _times(kfs) if timing == "age" else None
    used = timing
    if timing == "age" and times is None:
        log.warning("age timing needs an age or a date for every photo; using uniform timing")
        used = "uniform"
    try:
        schedule = make_schedule(n, frames_per_gap=int(frames), timing=used, hold=int(hold), times=times)
    except ScheduleError as exc:
        raise TimelapseError(str(exc)) from None

    if stabilize or name in ("morph", "latent"):  # latent: landmark-aligned keyframe blend
        keyframe_landmarks(kfs)
    if stabilize:
        from facereel.render.stabilize import stabilize_keyframes

        kfs = stabilize_keyframes(kfs)
    kw = dict(engine_kwargs or {})
    if isinstance(engine, Engine):
        eng = engine
    else:
        if name == "morph" and stabilize:
            kw.setdefault("path", "spline")
        try:
            eng = get_engine(name, **kw)
        except ImportError as exc:
            raise TimelapseError(f"the {name} engine is not available ({exc})") from None
    eng.prepare(kfs, prepare_progress)
    return TimelapseJob(keyframes=kfs, schedule=schedule, engine=eng, opacity=float(opacity), fps=float(fps),
                        timing=used, skipped=skipped, manifest=manifest)


def timelapse_frames(source, **kwargs) -> Iterator[np.ndarray]:
    """Generator of the time-lapse frames ([S, S, 3] uint8), same options as :func:`plan_timelapse`
    plus ``progress``.  Validation and preparation happen on the first ``next()``."""
    progress = kwargs.pop("progress", None)
    job = plan_timelapse(source, **kwargs)
    yield from job.frames(progress)


def render_timelapse(
    source,
    output: str | os.PathLike,
    *,
    engine: str | Engine = "morph",
    frames: int = 24,
    timing: str = "uniform",
    hold: int = 0,
    size: int = 512,
    fps: float = 24.0,
    opacity: float = 0.5,
    format: str | None = None,
    keep_flagged: bool = False,
    stabilize: bool = False,
    progress: Progress | None = None,
    engine_kwargs: dict | None = None,
    writer_options: dict | None = None,
    analysis_progress: Progress | None = None,
    prepare_progress: Progress | None = None,
) -> TimelapseResult:
    """Renders the time-lapse of ``source`` (Manifest, manifest path, photos/folders or Keyframes)
    into ``output`` (format from ``format`` or the suffix: .mp4 .webm .gif, or a folder for PNGs)."""
    from facereel.render.video import VideoError, check_output, open_writer

    t0 = time.perf_counter()
    name = engine.name if isinstance(engine, Engine) else engine
    try:
        out_path, fmt = check_output(output, format)
    except VideoError as exc:
        raise TimelapseError(str(exc)) from None
    validate_options(engine=name, frames=frames, timing=timing, hold=hold, size=size, fps=fps, opacity=opacity)
    load_keyframes(source, size=size, keep_flagged=keep_flagged, check_only=True)
    job = plan_timelapse(source, engine=engine, frames=frames, timing=timing, hold=hold, size=size, fps=fps,
                         opacity=opacity, keep_flagged=keep_flagged, stabilize=stabilize, engine_kwargs=engine_kwargs,
                         analysis_progress=analysis_progress, prepare_progress=prepare_progress)
    s = job.size
    with open_writer(out_path, fmt, fps=fps, size=(s, s), **(writer_options or {})) as w:
        for f in job.frames(progress):
            w.write(f)
    return TimelapseResult(
        path=out_path, format=fmt, frames=w.count, fps=float(fps), size=s, engine=name, timing=job.timing,
        keyframe_indices=job.schedule.keyframe_indices, keyframes=[k.label for k in job.keyframes],
        skipped=job.skipped, gaps=list(job.schedule.gaps), seconds=time.perf_counter() - t0,
    )
