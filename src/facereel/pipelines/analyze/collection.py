"""The orchestration: every photo (and sampled video frame) through the per-photo stage, then the
collection-wide decisions: the person, duplicates, other people, ages and order."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from datetime import date as Date
from pathlib import Path

from facereel.core.errors import OptionsError
from facereel.core.progress import Progress, report
from facereel.manifest import Manifest, PhotoEntry
from facereel.options.analyze import AnalyzeOptions, parse_date
from facereel.pipelines.analyze import duplicates, identity, ordering
from facereel.pipelines.analyze import photo as photo_stage
from facereel.pipelines.analyze.inputs import AnalyzeError, collect_photo_paths, is_video
from facereel.pipelines.analyze.photo import _add_time, _Photo

log = logging.getLogger("facereel.pipelines.analyze")


def analysis_options(options: AnalyzeOptions | None = None, **overrides) -> AnalyzeOptions:
    """``options`` (default :class:`AnalyzeOptions`) with keyword ``overrides``, validated;
    an invalid value is an :class:`AnalyzeError` naming the option."""
    for key in ("reference", "birth_date", "start_date", "end_date"):
        value = overrides.get(key)
        if isinstance(value, os.PathLike):
            overrides[key] = os.fspath(value)
        elif isinstance(value, Date):
            overrides[key] = value.isoformat()
    try:
        opts = options or AnalyzeOptions()
        return opts.replace(**overrides) if overrides else opts.validate()
    except OptionsError as exc:
        raise AnalyzeError(f"{exc.field.replace('_', ' ')}: {exc.message}") from None
    except TypeError as exc:  # an unknown keyword
        raise AnalyzeError(str(exc)) from None


#: photos analysed at once: dlib holds the GIL, but decoding, MediaPipe, the age net and the
#: thumbnails release it, so a second photo's run overlaps the first one's dlib calls
PHOTO_WORKERS = 2


def _analyze_one(path: Path, opts: AnalyzeOptions) -> tuple[_Photo, dict[str, float]]:
    """(photo, its stage seconds); a photo that fails is flagged, never raised."""
    own: dict[str, float] = {}
    try:
        return photo_stage.analyze_photo(path, options=opts, timings=own), own
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # one broken photo must not end a long batch
        log.debug("analysis of %s failed", path, exc_info=True)
        return _Photo(entry=PhotoEntry(path=str(Path(os.path.abspath(path))), flags=["unreadable"],
                                       error=f"analysis failed ({type(exc).__name__}: {exc})")), own


def _photos_in_order(paths: Sequence[Path], opts: AnalyzeOptions):
    """Yields :func:`_analyze_one` of each path in order, ``PHOTO_WORKERS`` photos in flight.

    The first photo runs alone, so the models load once (their caches do not lock); every model
    call is thread-safe (dlib's under the GIL, MediaPipe's and the descriptor's behind locks,
    onnxruntime's sessions by design).  Results are the same as one photo after the other.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    if not paths:
        return
    with ThreadPoolExecutor(max_workers=PHOTO_WORKERS, thread_name_prefix="analyze") as pool:
        pending: deque = deque()
        rest = iter(paths[1:])
        yield _analyze_one(paths[0], opts)
        try:
            for path in rest:
                pending.append(pool.submit(_analyze_one, path, opts))
                if len(pending) >= PHOTO_WORKERS:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()


def analyze_collection(
    inputs: Sequence[str | os.PathLike],
    options: AnalyzeOptions | None = None,
    *,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
    **overrides,
) -> Manifest:
    """Analyses every photo in ``inputs`` (files, folders, videos) into a :class:`Manifest`.

    ``options`` (:class:`~facereel.options.analyze.AnalyzeOptions`) or its fields as keywords
    (``size=256, reference=...``).  Bad photos never stop the run: they are flagged
    (``unreadable``, ``no_face``, ``face_too_small``) with a one-line ``error`` and
    logged.  Raises :class:`AnalyzeError` only for problems with the request itself: nothing to
    analyse, a bad date, a ``reference`` photo without a usable face or matching nobody, a birth
    date after a photo, a video without faces.  ``landmarks="dlib68"`` uses dlib's 68-point
    model, whose licence excludes commercial use.  ``timings`` (optional dict) accumulates
    seconds per stage: load, the stages of ``analyze_faces``, thumbnails, collection.
    """
    opts = analysis_options(options, **overrides)
    birth = parse_date("birth_date", opts.birth_date)
    paths = collect_photo_paths(inputs, frame_folders=opts.frame_folders)
    videos = [p for p in paths if is_video(p) or p.is_dir()]
    if (opts.start_date or opts.every or opts.interval) and not videos:
        raise AnalyzeError("start date, every and interval apply to videos (or frame folders), and none was given")
    ref_desc = identity._reference_descriptor(opts.reference, opts) if opts.reference is not None else None

    from facereel.pipelines.analyze import frames as frame_stage

    plans = {p: frame_stage.plan_sampling(p, opts) for p in videos}
    total = sum(plans[p].expected if p in plans else 1 for p in paths)
    photos: list[_Photo] = []
    done = 0
    report(progress, 0, total)
    analysed = _photos_in_order([p for p in paths if p not in plans], opts)
    try:
        for path in paths:
            if path in plans:
                for photo in frame_stage.analyze_video(plans[path], opts, timings=timings):
                    photos.append(photo)
                    done += 1
                    report(progress, min(done, total), total)
                continue
            photo, own = next(analysed)
            for stage, seconds in own.items():
                if timings is not None:
                    timings[stage] = timings.get(stage, 0.0) + seconds
            photos.append(photo)
            if photo.entry.error:
                log.warning("%s: %s", path, photo.entry.error)
            elif "no_face" in photo.entry.flags:
                log.warning("%s: no face found", path)
            done += 1
            report(progress, done, total)
    finally:
        analysed.close()
    report(progress, total, total)
    frame_stage.check_videos(plans.values(), photos)

    t0 = time.perf_counter()
    info: dict = {}
    if ref_desc is not None:
        identity.check_reference(photos, ref_desc, opts.reference, info)
        target = ref_desc
    else:
        target = identity._target_descriptor(photos, info)
    for p in photos:
        identity._choose(p, target)
    duplicates._find_duplicates(photos)
    identity._flag_other_people(photos, target)
    settings = {
        "detector": opts.detector, "landmarks": opts.landmarks, "size": opts.size, "recipe": opts.recipe,
        "min_size": opts.min_size, "same_person_distance": identity.SAME_PERSON_DISTANCE,
        "other_person_distance": identity.OTHER_PERSON_DISTANCE,
        "duplicate_pixel_distance": duplicates.DUPLICATE_PIXEL_DISTANCE,
        "duplicate_hash_distance": duplicates.DUPLICATE_HASH_DISTANCE,
        **info,
    }
    if plans:
        settings["videos"] = [plan.summary() for plan in plans.values()]
    ordering._assign_ages_and_order(photos, birth, settings)
    _add_time(timings, "collection", t0)
    for p in photos:
        for flag in ("face_too_small", "no_face"):
            if flag in p.entry.flags and p.entry.chosen is None and not p.entry.error:
                p.entry.error = "no face found" if flag == "no_face" else "face too small"
    return Manifest(
        settings=settings,
        photos=[p.entry for p in photos],
        reference=str(Path(os.path.abspath(opts.reference))) if opts.reference is not None else None,
        birth_date=birth.date().isoformat() if birth is not None else None,
    )
