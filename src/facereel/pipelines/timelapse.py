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

from facereel.batch.render import RenderJob
from facereel.core.errors import FacereelError
from facereel.core.progress import Progress
from facereel.options.timelapse import LatentOptions, TimelapseOptions
from facereel.pipelines.invert import latent_choices
from facereel.render.engines.base import Engine, Keyframe
from facereel.render.schedule import Schedule, ScheduleError, make_schedule

log = logging.getLogger(__name__)

__all__ = ["LatentOptions", "TimelapseError", "TimelapseJob", "TimelapseOptions", "TimelapseResult",
           "latent_choices", "load_keyframes", "plan_timelapse", "render_frames", "render_timelapse",
           "timelapse_frames"]


class TimelapseError(FacereelError, ValueError):
    """A time-lapse request that cannot be done (too few photos, missing input, bad output)."""


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
    warnings: list[str] = field(default_factory=list)              # one line each, for a person
    identity: list[tuple[str, float | None]] = field(default_factory=list)  # latent: (photo, similarity)
    manifest: object | None = None                                 # the analysed (or given) manifest


#: threads rendering frames in :meth:`TimelapseJob.write` (the machine's cores, at most 2: the
#: encoder thread takes a share, and more frames in flight only cost memory)
RENDER_WORKERS = max(1, min(2, os.cpu_count() or 1))


@dataclass
class TimelapseJob:
    """A prepared time-lapse: call :meth:`frames` to stream it."""

    keyframes: list[Keyframe]
    schedule: Schedule
    engine: Engine
    options: TimelapseOptions
    timing: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    manifest: object | None = None
    warnings: list[str] = field(default_factory=list)
    identity: list[tuple[str, float | None]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(self.keyframes[0].image.shape[0])

    @property
    def opacity(self) -> float:
        return float(self.options.opacity)

    @property
    def fps(self) -> float:
        return float(self.options.fps)

    def __len__(self) -> int:
        return len(self.schedule)

    def frames(self, progress: Progress | None = None, workers: int = 1) -> Iterator[np.ndarray]:
        """Yields every output frame ([S, S, 3] uint8) in order; memory stays at one batch
        (``workers`` > 1: that many frames in flight, see :func:`render_frames`)."""
        return render_frames(self.engine, self.keyframes, self.schedule, self.opacity, progress, workers=workers)

    def write(self, writer, progress: Progress | None = None, workers: int = RENDER_WORKERS) -> int:
        """Streams every frame into ``writer`` (from :func:`facereel.render.video.open_writer`):
        ``workers`` threads render (engines with ``concurrent``), one more encodes
        (:func:`facereel.render.video.in_background`); OpenCV, libx264 and libswscale release the
        GIL, so the stages overlap on separate cores.  The frames are those of :meth:`frames`,
        in order.  Returns the number of frames written."""
        from facereel.render.video import in_background

        with in_background(writer, depth=2 * max(1, workers) + 2) as bw:
            for f in self.frames(progress, workers=workers):
                bw.write(f)
        return writer.count



def render_frames(
    engine: Engine,
    keyframes: Sequence[Keyframe],
    schedule: Schedule,
    opacity: float = 0.5,
    progress: Progress | None = None,
    workers: int = 1,
) -> Iterator[np.ndarray]:
    """Streams the frames of ``schedule`` from a prepared ``engine`` (seed Eq. 4-5 applied).

    ``workers`` > 1 and an engine whose ``concurrent`` is set: in-between frames are rendered by a
    pool of that many threads, at most 2·workers ahead of the consumer, and yielded in order
    (the same frames, bit for bit).
    """
    if workers > 1 and getattr(engine, "concurrent", False):
        yield from _render_concurrently(engine, keyframes, schedule, opacity, progress, workers)
        return
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


def _render_concurrently(engine: Engine, keyframes: Sequence[Keyframe], schedule: Schedule, opacity: float,
                         progress: Progress | None, workers: int) -> Iterator[np.ndarray]:
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    total = len(schedule)
    if progress:
        progress(0, total)
    pending: deque = deque()
    done = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="timelapse-render") as pool:
        try:
            for p in schedule.frames:
                if p.keyframe is not None:
                    pending.append(keyframes[p.keyframe].image.copy())  # a consumer may draw on its frames
                else:
                    pending.append(pool.submit(engine.blended_frame, p.j, p.lam, opacity))
                while len(pending) > 2 * workers:
                    f = pending.popleft()
                    yield f if isinstance(f, np.ndarray) else f.result()
                    done += 1
                    if progress:
                        progress(done, total)
            while pending:
                f = pending.popleft()
                yield f if isinstance(f, np.ndarray) else f.result()
                done += 1
                if progress:
                    progress(done, total)
        finally:  # the consumer stopped early or a frame failed: drop what is queued
            for f in pending:
                if not isinstance(f, np.ndarray):
                    f.cancel()


# ----------------------------------------------------------------------------- options


def timelapse_options(options: TimelapseOptions | None = None, **fields) -> tuple[TimelapseOptions, Engine | None]:
    """``options`` as given (already validated), or built from its fields and validated here.

    The keyword convenience also takes ``engine=`` a ready :class:`Engine` instance (its name
    becomes ``options.engine``) and ``latent=`` a dict of :class:`LatentOptions` fields.
    Raises :class:`~facereel.core.errors.OptionsError` naming the field.
    """
    ready = None
    if isinstance(fields.get("engine"), Engine):
        ready = fields["engine"]
        fields["engine"] = ready.name
    if options is not None:
        if fields.keys() - {"engine"} or (fields and ready is None):
            raise TypeError(f"give either options or keywords, not both ({', '.join(fields)})")
        return options, ready
    if isinstance(fields.get("latent"), dict):
        fields["latent"] = LatentOptions(**fields["latent"])
    return TimelapseOptions(**fields).validate(), ready


# ----------------------------------------------------------------------------- keyframes


def load_keyframes(
    source,
    *,
    size: int = 512,
    keep_flagged: bool = False,
    progress: Progress | None = None,
    check_only: bool = False,
    analyze_options=None,
    fast_crops: bool = False,
) -> tuple[list[Keyframe], list[tuple[str, str]], object | None]:
    """(keyframes, skipped (path, reason), manifest) for a Manifest, a manifest path, photos, videos or keyframes.

    Photos and videos are analysed on the fly (:func:`facereel.pipelines.analyze.analyze_collection`
    with ``analyze_options``).  With ``check_only`` photo inputs are only counted (cheap check
    before any work).  ``fast_crops``: the fast warp of the aligned crops (within 0.2 grey levels mean
    of the official FFHQ crop, ~6x faster; see :func:`facereel.faces.align.align_from_quad`).
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
        faces = load_aligned(source, opts, keep_flagged=keep_flagged, min_photos=2, fast=fast_crops,
                             analysis_progress=progress)
    except TooFewPhotos as exc:
        raise TimelapseError(f"a time-lapse {exc}") from None
    except (AnalyzeError, OSError) as exc:
        raise TimelapseError(str(exc)) from None

    kfs = []
    for e, img in zip(faces.entries, faces.images, strict=True):
        age = e.age if e.age is not None else e.age_estimated
        kfs.append(Keyframe(image=img, landmarks=None, age=age, label=e.name,
                            meta={"path": e.path, "sha256": e.sha256, "date": e.date, "flags": list(e.flags),
                                  "frame": e.frame,
                                  "quad": e.quad,
                                  # photo-space MediaPipe points: fallback when the crop finds no face
                                  "photo_landmarks": e.landmarks if e.landmarks_kind == "mediapipe" else None}))
    return kfs, faces.skipped, faces.manifest


def _is_manifest_path(p: str | os.PathLike) -> bool:
    return Path(p).suffix.lower() == ".json"


def keyframe_landmarks(keyframes: Sequence[Keyframe], progress: Progress | None = None) -> None:
    """Fills ``Keyframe.landmarks`` (MediaPipe 478 in crop pixels) where missing.

    The analysis already ran MediaPipe on each photo: its points, mapped from the photo into the
    crop through the alignment quad (a similarity, exact), are used where the manifest has them,
    so no detector runs twice.  Otherwise MediaPipe runs on the aligned crop.
    """
    todo = [k for k in keyframes if k.landmarks is None]
    for n, k in enumerate(todo, 1):
        pts = _manifest_landmarks(k)
        if pts is None:
            pts = _crop_landmarks(k)
        if pts is None:
            log.warning("%s: no landmarks on the aligned crop", k.label or "keyframe")
        k.landmarks = pts
        if progress:
            progress(n, len(todo))


def _crop_landmarks(k: Keyframe) -> np.ndarray | None:
    from facereel.faces.landmarks import landmarks_mediapipe

    try:
        res = landmarks_mediapipe(k.image)
    except Exception as exc:  # noqa: BLE001 - a detector failure only costs the warp
        log.debug("landmarks on %s failed: %s", k.label, exc)
        return None
    return None if res is None else np.asarray(res.points, np.float64)


def _manifest_landmarks(k: Keyframe) -> np.ndarray | None:
    quad, pts = k.meta.get("quad"), k.meta.get("photo_landmarks")
    if quad is None or pts is None:
        return None
    from facereel.faces.align import photo_to_crop
    from facereel.faces.types import Alignment

    s = k.image.shape[0]
    al = Alignment(image=k.image, quad=np.asarray(quad, np.float64), recipe="ffhq", size=s)
    return photo_to_crop(al, np.asarray(pts, np.float64))


def face_side(quad) -> float:
    """Side in photo pixels of the square an FFHQ ``quad`` [4, 2] aligns (the face's resolution)."""
    q = np.asarray(quad, dtype=np.float64)
    return float(np.hypot(*(q[3] - q[0])) + np.hypot(*(q[1] - q[0]))) / 2


def small_faces(items: Sequence, size: int) -> list[tuple[str, int]]:
    """(name, side px) of the faces whose aligned square is smaller than ``size``: upscaled crops.

    ``items``: keyframes (``meta["quad"]``) or manifest entries (``quad``)."""
    out = []
    for it in items:
        quad = it.meta.get("quad") if isinstance(it, Keyframe) else getattr(it, "quad", None)
        name = it.label if isinstance(it, Keyframe) else it.name
        if quad is not None:
            side = face_side(quad)
            if side < size:
                out.append((name, int(side)))
    return out


def small_face_warning(items: Sequence, size: int) -> str | None:
    """One line naming the faces smaller than the output ``size`` (they are upscaled), or None."""
    small = small_faces(items, size)
    if not small:
        return None
    listed = ", ".join(f"{n} ({s} px)" for n, s in small)
    return (f"{len(small)} face(s) are smaller than the {size} px output and are upscaled (soft): {listed}; "
            f"a size of {min(s for _, s in small)} px would match the smallest")


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
    options: TimelapseOptions | None = None,
    *,
    generator=None,
    analysis_progress: Progress | None = None,
    prepare_progress: Progress | None = None,
    analyze_options=None,
    **fields,
) -> TimelapseJob:
    """Loads keyframes, builds the schedule and prepares the engine.

    ``options``: validated :class:`TimelapseOptions` (or its fields as keywords, see
    :func:`timelapse_options`).  ``generator``: a ready FaceGenerator for the latent engine (else
    ``options.latent.generator`` is loaded).  ``analyze_options``: how photos and videos are
    analysed (:class:`~facereel.options.analyze.AnalyzeOptions`; its size is ``options.size``).  The latent engine's weights are loaded before the
    photos are analysed, so a missing checkpoint is reported before any long work.
    """
    from facereel.render.engines import get_engine

    options, ready = timelapse_options(options, **fields)
    name = options.engine
    inverter = None
    if ready is None and name == "latent":
        from facereel.pipelines.invert import load_inverter

        inverter = load_inverter(options.latent, generator)
    # The pixel engines show their keyframes: the fast crop warp (0.2 grey levels from the official
    # recipe, ~6x faster) is enough there; the latent engine encodes them, with the official crop.
    kfs, skipped, manifest = load_keyframes(source, size=options.size, keep_flagged=options.keep_flagged,
                                            progress=analysis_progress, analyze_options=analyze_options,
                                            fast_crops=name != "latent")
    warnings = [w for w in (small_face_warning(kfs, options.size),) if w]
    n = len(kfs)
    times = _times(kfs) if options.timing == "age" else None
    used = options.timing
    if options.timing == "age" and times is None:
        warnings.append("age timing needs an age or a date for every photo; used uniform timing")
        used = "uniform"
    try:
        schedule = make_schedule(n, frames_per_gap=options.frames_per_gap, timing=used, hold=options.hold,
                                 times=times)
    except ScheduleError as exc:
        raise TimelapseError(str(exc)) from None

    if options.stabilize or name in ("morph", "latent"):  # latent: landmark-aligned keyframe blend
        keyframe_landmarks(kfs)
    if options.stabilize:
        from facereel.render.stabilize import stabilize_keyframes

        kfs = stabilize_keyframes(kfs)
    if ready is not None:
        eng = ready
    elif inverter is not None:
        eng = get_engine("latent", options=options.latent, generator=inverter.generator,
                         invert=_keyframe_inverter(inverter, stabilized=options.stabilize))
    else:
        eng = get_engine(name, **({"path": "spline"} if name == "morph" and options.stabilize else {}))
    eng.prepare(kfs, prepare_progress)
    identity: list[tuple[str, float | None]] = []
    if inverter is not None:
        identity, warning = _check_identity(inverter, eng, kfs)
        if warning:
            warnings.append(warning)
    if options.extend_to is not None:
        kfs, schedule = _extend(eng, kfs, options, used)
    for w in warnings:
        log.debug("%s", w)
    return TimelapseJob(keyframes=kfs, schedule=schedule, engine=eng, options=options, timing=used,
                        skipped=skipped, manifest=manifest, warnings=warnings, identity=identity)


def _extend(eng, kfs: list[Keyframe], options: TimelapseOptions, timing: str) -> tuple[list[Keyframe], Schedule]:
    """Keyframes and schedule with generated keyframes before the first and after the last photo:
    the first/last photo's latent moved along the age direction to ages down to / up to
    ``options.extend_to`` (strengths from the age model's read-out of the renders,
    :func:`facereel.latent.lifespan.extend_by_direction`).  The photos' keyframes are kept as they are."""
    import torch

    from facereel.latent.directions import DirectionError
    from facereel.latent.lifespan import LifespanError, extend_by_direction
    from facereel.latent.space import LatentSpaceError
    from facereel.pipelines.latent import resolve_direction

    if getattr(eng, "latents", None) is None or getattr(eng, "generator", None) is None:
        raise TimelapseError("--extend-to needs the latent engine")
    ages = [k.age for k in kfs]
    if any(a is None for a in ages):
        raise TimelapseError("extending needs an age for every photo (none was given or estimated for "
                             f"{next(k.label for k in kfs if k.age is None)})")
    lo, hi = options.extend_to
    if lo > float(ages[0]):
        raise TimelapseError(f"extend_to's earlier age {lo:g} is above the first photo's age {float(ages[0]):g}")
    if hi < float(ages[-1]):
        raise TimelapseError(f"extend_to's later age {hi:g} is below the last photo's age {float(ages[-1]):g}")
    G = eng.generator
    try:
        direction = resolve_direction(options.extend_direction, G)
        lat, out_ages, kinds = extend_by_direction(G, eng.latents, [float(a) for a in ages], direction,
                                                   (lo, hi), batch=eng.batch_size)
    except (DirectionError, LatentSpaceError, LifespanError) as exc:
        raise TimelapseError(f"extend_to: {exc}") from None
    new = [i for i, k in enumerate(kinds) if k == "extended"]
    images = []
    for s in range(0, len(new), eng.batch_size):
        with torch.inference_mode():
            images += eng._to_uint8(G.synthesize(lat[new[s:s + eng.batch_size]].to(G.device)))
    made = iter(images)
    photos = iter(kfs)
    out = [Keyframe(image=next(made), landmarks=None, age=a, label=f"extended to {a:.0f}", meta={"extended": True})
           if kind == "extended" else next(photos) for a, kind in zip(out_ages, kinds)]
    eng.latents = lat
    eng.keyframes = out
    try:
        schedule = make_schedule(len(out), frames_per_gap=options.frames_per_gap, timing=timing,
                                 hold=options.hold, times=out_ages if timing == "age" else None)
    except ScheduleError as exc:
        raise TimelapseError(str(exc)) from None
    log.info("extended: %d generated keyframes at ages %s", len(new), [round(out_ages[i], 1) for i in new])
    return out, schedule


def _inversion_crop(k: Keyframe, size: int, stabilized: bool) -> np.ndarray:
    """What the inverter sees of keyframe ``k``: the photo's aligned crop at the inverter's size
    (the same bytes ``facereel invert`` inverts, so the latent cache is shared); the keyframe
    itself when it is not a manifest photo or was moved by stabilisation."""
    from facereel.pipelines.analyze import aligned_crop

    quad, path = k.meta.get("quad"), k.meta.get("path")
    if stabilized or quad is None or path is None:
        return k.image
    from facereel.manifest import PhotoEntry

    try:
        return aligned_crop(PhotoEntry(path=path, sha256=k.meta.get("sha256"), quad=quad, frame=k.meta.get("frame")),
                            size=size)
    except (OSError, ValueError):  # the photo moved since the analysis: the keyframe is what there is
        return k.image


def _keyframe_inverter(inverter, *, stabilized: bool):
    def invert(keyframes: Sequence[Keyframe], progress: Progress | None = None):
        return inverter([_inversion_crop(k, inverter.crop_size, stabilized) for k in keyframes], progress)

    return invert


def _check_identity(inverter, engine, keyframes: Sequence[Keyframe]):
    """(per-photo identity of the reconstructions, a warning or None)."""
    from facereel.pipelines.invert import identity_warning, reconstruction_identity

    try:
        scores = reconstruction_identity(inverter, engine.latents, [k.image for k in keyframes],
                                         [k.label or f"keyframe {i}" for i, k in enumerate(keyframes)])
    except Exception as exc:  # noqa: BLE001 - a failed measurement must not cost the video
        log.debug("identity check of the reconstructions failed: %s", exc)
        return [], None
    return scores, identity_warning(scores, inverter.options, getattr(inverter.generator, "name", "the generator"))


def timelapse_frames(source, options: TimelapseOptions | None = None, *, progress: Progress | None = None,
                     **kwargs) -> Iterator[np.ndarray]:
    """Generator of the time-lapse frames ([S, S, 3] uint8), same arguments as :func:`plan_timelapse`
    plus ``progress``.  Preparation happens on the first ``next()``."""
    job = plan_timelapse(source, options, **kwargs)
    yield from job.frames(progress)


def render_timelapse(
    source,
    output: str | os.PathLike,
    options: TimelapseOptions | None = None,
    *,
    progress: Progress | None = None,
    analysis_progress: Progress | None = None,
    prepare_progress: Progress | None = None,
    generator=None,
    writer_options: dict | None = None,
    analyze_options=None,
    **fields,
) -> TimelapseResult:
    """Renders the time-lapse of ``source`` (Manifest, manifest path, photos/folders or Keyframes)
    into ``output`` (format from ``options.format`` or the suffix: .mp4 .webm .gif, or a folder for PNGs).

    ``options``: validated :class:`TimelapseOptions`, or its fields as keywords
    (``render_timelapse(m, "out.mp4", engine="morph", frames_per_gap=24, size=512)``).  Everything
    that needs no work (output, options, number of photos, the latent engine's weights) is
    checked before any photo is analysed; progress: ``analysis_progress`` (photos analysed),
    ``prepare_progress`` (landmarks, inversion), ``progress`` (frames written).
    """
    from facereel.render.video import VideoError, check_output, open_writer

    t0 = time.perf_counter()
    options, ready = timelapse_options(options, **fields)
    try:
        out_path, fmt = check_output(output, options.format)
    except VideoError as exc:
        raise TimelapseError(str(exc)) from None
    load_keyframes(source, size=options.size, keep_flagged=options.keep_flagged, check_only=True,
                   analyze_options=analyze_options)
    job = plan_timelapse(source, options, generator=generator, analysis_progress=analysis_progress,
                         prepare_progress=prepare_progress, analyze_options=analyze_options,
                         **({"engine": ready} if ready is not None else {}))
    s = job.size
    wopts = dict(writer_options or {})
    if fmt == "gif":  # one palette for the video, from the keyframes every frame is mixed from
        wopts.setdefault("palette_images", [k.image for k in job.keyframes])
    with open_writer(out_path, fmt, fps=options.fps, size=(s, s), **wopts) as w:
        job.write(w, progress)
    return TimelapseResult(
        path=out_path, format=fmt, frames=w.count, fps=float(options.fps), size=s, engine=job.engine.name,
        timing=job.timing, keyframe_indices=job.schedule.keyframe_indices, keyframes=[k.label for k in job.keyframes],
        skipped=job.skipped, gaps=list(job.schedule.gaps), seconds=time.perf_counter() - t0,
        warnings=list(job.warnings), identity=list(job.identity), manifest=job.manifest,
    )


class TimelapseBatchJob(RenderJob):
    """The time-lapses of many manifests with one :class:`TimelapseOptions` (items: ``{"manifest"}``)."""

    def __init__(self, options: TimelapseOptions):
        self.options = options

    def signature(self) -> str:
        import hashlib

        return "timelapse:" + hashlib.sha256(repr(self.options).encode()).hexdigest()[:16]

    def render(self, item: dict) -> int:
        return render_timelapse(str(item["manifest"]), str(item["output"]), self.options).frames


def render_timelapses(manifests: Sequence[str | os.PathLike], options: TimelapseOptions, render, batch=None,
                      progress: Progress | None = None):
    """The time-lapse of every manifest as ``out_dir/<manifest stem>.<format>`` (``render``:
    :class:`~facereel.options.batch.BatchRenderOptions`), in this process or on Ray (``batch``);
    finished videos are skipped, failed ones reported.  Returns the :class:`BatchReport`."""
    from facereel.batch.render import render_many

    out_dir = Path(render.out_dir)
    stems = [Path(m).stem for m in manifests]
    items = []
    for m, stem in zip(manifests, stems):
        name = stem if stems.count(stem) == 1 else f"{stem}-{Path(m).parent.name}"
        items.append({"key": name, "manifest": str(Path(m).resolve()), "output": str(out_dir / f"{name}.{render.format}")})
    return render_many(items, TimelapseBatchJob(options), out_dir, batch, progress=progress)
