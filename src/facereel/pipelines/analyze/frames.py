"""Video input: frames sampled from a video file (PyAV) or a folder of frames become photos.

Sampling (:class:`~facereel.options.analyze.AnalyzeOptions`): one frame in ``every`` frames,
or one every ``interval`` seconds; neither: one a second.  A sampled frame is dropped, with its
reason in ``settings["videos"]``, when it repeats the last kept frame (mean grey difference of
64 px thumbnails below :data:`REPEAT_DIFFERENCE`: a photo-a-day video shows each photo for
several frames), when it has no face, or when its largest face is blurry (variance of the
Laplacian of the face, scaled to 128 px, below :data:`BLUR_SHARPNESS`).

A kept frame's date: its timestamp after ``start_date`` (with ``end_date``, the video's duration
is spread over that range), else after the container's ``creation_time``, else placed so that
the video ends at the file's modification time (``date_source`` says which).  Frames of a video
file are entries whose ``path`` is the video and ``frame`` its index in decoding order (crops
re-decode it, :func:`facereel.pipelines.analyze.crops.read_frames_at`); frames of a folder are entries of their own files.

Frames are streamed: one decoded frame is in memory at a time, and each kept frame leaves only
its faces' small thumbnails behind.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from facereel.manifest import PhotoEntry
from facereel.options.analyze import AnalyzeOptions, parse_date
from facereel.pipelines.analyze.inputs import IMAGE_EXTENSIONS, AnalyzeError
from facereel.pipelines.analyze.photo import _Photo, analyze_pixels

log = logging.getLogger("facereel.pipelines.analyze")

#: Mean |grey difference| (0..255) of 64 px thumbnails under which a frame repeats the last kept
#: one.  Re-encoded copies of one still differ by ~1; consecutive frames of a moving face by 5+.
REPEAT_DIFFERENCE = 2.0
#: Variance of the Laplacian of the face box (grey, scaled to 128 px wide) under which a face is
#: blurry.  Measured on the sample faces (originals and 640x480 frames): sharp 200-580; blurred
#: by a Gaussian of sigma 1 px at that scale 32-135, 2 px 9-60, 3 px 5-33.
BLUR_SHARPNESS = 25.0
#: Sampling interval (seconds) when neither ``every`` nor ``interval`` is given.
DEFAULT_INTERVAL = 1.0


@dataclass
class SamplingPlan:
    path: Path
    files: list[Path] | None            # a folder of frames, in name order; None for a video file
    fps: float | None
    frames: int | None                  # declared (video) or counted (folder)
    duration: float | None              # seconds
    every: int | None
    interval: float | None
    start: datetime | None              # date of t = 0
    span: float | None                  # seconds of the date range per second of video (start..end)
    date_source: str | None
    sha256: str | None = None
    sampled: int = 0
    kept: int = 0
    dropped: list[dict] = field(default_factory=list)

    @property
    def expected(self) -> int:
        """Frames the sampling will pick (an estimate for a video without a frame count)."""
        if self.every is not None and self.frames:
            return max(1, math.ceil(self.frames / self.every))
        if self.interval is not None and self.duration:
            return max(1, math.ceil(self.duration / self.interval))
        return max(1, self.frames or 1)

    def date_at(self, t: float) -> datetime | None:
        if self.start is None:
            return None
        return self.start + timedelta(seconds=t * (self.span or 1.0))

    def summary(self) -> dict:
        return {
            "path": str(self.path), "fps": self.fps, "duration": self.duration, "frames": self.frames,
            "every": self.every, "interval": self.interval, "date_source": self.date_source,
            "start": self.start.isoformat(timespec="seconds") if self.start else None,
            "sampled": self.sampled, "kept": self.kept, "dropped": list(self.dropped),
        }


def _frame_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
                  and not f.name.startswith("."))


def _probe(path: Path) -> tuple[float | None, int | None, float | None, datetime | None]:
    """(fps, declared frames, duration s, creation time) of a video file."""
    from facereel.metrics.video_io import VideoReadError, probe_video

    if not path.exists():
        raise AnalyzeError(f"{path} does not exist")
    try:
        info = probe_video(path)
    except VideoReadError as exc:
        raise AnalyzeError(str(exc)) from None
    when = None
    if info.created:
        try:
            when = datetime.fromisoformat(info.created.replace("Z", "+00:00")).replace(tzinfo=None)
        except ValueError:
            when = None
    return info.fps, info.frames, info.duration, when


def plan_sampling(path: Path, options: AnalyzeOptions) -> SamplingPlan:
    """How ``path`` (a video file or a folder of frames) will be sampled and dated; bad input
    (not a video, a date range that cannot be spread over it) is one :class:`AnalyzeError`."""
    path = Path(path)
    if path.is_dir():
        files = _frame_files(path)
        fps, n, created = float(options.frame_rate), len(files), None
        duration = n / fps
    else:
        files = None
        fps, n, duration, created = _probe(path)
    every, interval = options.every, options.interval
    if every is None and interval is None:
        interval = DEFAULT_INTERVAL
    start, end = parse_date("start_date", options.start_date), parse_date("end_date", options.end_date)
    span = None
    if start is not None:
        source = "start_date"
        if end is not None:
            if not duration:
                raise AnalyzeError(f"{path.name}: its duration is unknown, so the date range "
                                   f"{options.start_date} to {options.end_date} cannot be spread over it")
            span = (end - start).total_seconds() / duration
    elif created is not None:
        start, source = created, "video"
    else:
        try:
            mtime = datetime.fromtimestamp(os.stat(path).st_mtime)
        except OSError:
            mtime = None
        start = mtime - timedelta(seconds=duration or 0.0) if mtime is not None else None
        source = "file" if start is not None else None
    plan = SamplingPlan(path=path, files=files, fps=fps, frames=n, duration=duration, every=every,
                        interval=interval, start=start, span=span, date_source=source)
    last = plan.date_at(duration or 0.0)
    if source == "start_date" and last is not None and last > datetime.now() + timedelta(days=1):
        raise AnalyzeError(f"{path.name}: with the start date {options.start_date} its frames would run to "
                           f"{last.date().isoformat()}, after today (the date range does not fit the video)")
    if interval is not None and duration and interval > duration and duration > 0:
        log.warning("%s is %.1f s long; sampling every %.1f s keeps only its first frame", path.name, duration,
                    interval)
    return plan


def _picked(plan: SamplingPlan, frames: Iterable[tuple[int, float, object]]) -> Iterator[tuple[int, float, object]]:
    """The sampled ones of (index, time, frame) in order."""
    next_t = 0.0
    for i, t, f in frames:
        if plan.every is not None:
            if i % plan.every == 0:
                yield i, t, f
        elif t + 1e-6 >= next_t:
            yield i, t, f
            while next_t <= t + 1e-6:
                next_t += plan.interval


def _decoded(path: Path) -> Iterator[tuple[int, float, object]]:
    """(index, time s, av.VideoFrame) of every frame of a video, in decoding order."""
    from facereel.metrics.video_io import VideoReadError, decode_frames

    try:
        yield from decode_frames(path)
    except VideoReadError as exc:
        raise AnalyzeError(str(exc)) from None


def _thumb(rgb: np.ndarray) -> np.ndarray:
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)


def face_sharpness(rgb: np.ndarray, box) -> float:
    """Variance of the Laplacian of the face box, grey, scaled to 128 px wide."""
    import cv2

    l, t, r, b = (int(v) for v in box)
    h, w = rgb.shape[:2]
    l, t, r, b = max(0, l), max(0, t), min(w, r), min(h, b)
    if r - l < 4 or b - t < 4:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[t:b, l:r]), cv2.COLOR_RGB2GRAY)
    s = 128 / (r - l)
    grey = cv2.resize(grey, (128, max(4, round((b - t) * s))), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def analyze_video(plan: SamplingPlan, options: AnalyzeOptions, *,
                  timings: dict[str, float] | None = None) -> Iterator[_Photo]:
    """Yields a :class:`_Photo` per kept frame; the dropped ones go to ``plan.dropped``."""
    from facereel.pipelines.analyze.crops import file_sha256

    if plan.files is None:
        plan.sha256 = file_sha256(plan.path)
        source = _decoded(plan.path)
    else:
        source = ((i, i / plan.fps, f) for i, f in enumerate(plan.files))
    last = previous = None  # (index, thumbnail) of the last kept / the last sampled frame
    for i, t, item in _picked(plan, source):
        plan.sampled += 1
        made = _frame_photo(plan, i, t, item, options)
        if made is None:
            continue  # an unreadable frame file: recorded
        photo, rgb = made
        thumb = _thumb(rgb)
        seen = [r for r in (last, previous) if r is not None and float(np.abs(thumb - r[1]).mean()) < REPEAT_DIFFERENCE]
        previous = (i, thumb)
        if seen:  # a still (kept, or dropped for its reason) shown again
            plan.dropped.append({"frame": i, "time": round(t, 3), "reason": f"repeats frame {seen[0][0]}"})
            continue
        try:
            analyze_pixels(photo, rgb, options=options, timings=timings)
        except (MemoryError, KeyboardInterrupt):
            raise
        except Exception as exc:  # one broken frame must not end a long video
            log.debug("analysis of %s frame %d failed", plan.path, i, exc_info=True)
            plan.dropped.append({"frame": i, "time": round(t, 3),
                                 "reason": f"analysis failed ({type(exc).__name__}: {exc})"})
            continue
        faces = [f for f in photo.faces if f.quad is not None and f.analysis.descriptor is not None]
        if not faces:
            small = bool(photo.faces) and all(f.analysis.detection.too_small for f in photo.faces)
            plan.dropped.append({"frame": i, "time": round(t, 3), "reason": "face too small" if small else "no face"})
            continue
        face = max(faces, key=lambda f: _box_area(f.analysis.detection.box))
        sharp = face_sharpness(rgb, face.analysis.detection.box)
        if sharp < BLUR_SHARPNESS:
            plan.dropped.append({"frame": i, "time": round(t, 3),
                                 "reason": f"blurry (sharpness {sharp:.0f} < {BLUR_SHARPNESS:.0f})"})
            continue
        last = (i, thumb)
        plan.kept += 1
        yield photo


def _box_area(box) -> float:
    l, t, r, b = box
    return float(max(0, r - l) * max(0, b - t))


def _frame_photo(plan: SamplingPlan, i: int, t: float, item,
                 options: AnalyzeOptions) -> tuple[_Photo, np.ndarray] | None:
    """(the photo of frame ``i`` at time ``t``, its [H, W, 3] uint8 pixels)."""
    when = plan.date_at(t)
    if plan.files is None:
        entry = PhotoEntry(path=str(Path(os.path.abspath(plan.path))), sha256=plan.sha256, frame=i, time=round(t, 3))
        rgb = item.to_ndarray(format="rgb24")
    else:
        from facereel.faces.io import load_image
        from facereel.faces.types import ImageLoadError

        try:
            loaded = load_image(item, max_pixels=options.max_pixels, max_bytes=options.max_bytes)
        except ImageLoadError as exc:
            plan.dropped.append({"frame": i, "time": round(t, 3), "reason": f"unreadable ({exc})"})
            return None
        entry = PhotoEntry(path=str(Path(os.path.abspath(item))), sha256=loaded.sha256, time=round(t, 3))
        rgb = loaded.rgb
        if loaded.exif_date and plan.date_source != "start_date":
            when, entry.date_source = loaded.exif_date, "exif"
    if when is not None:
        entry.date = when.isoformat(timespec="seconds")
        entry.date_source = entry.date_source or plan.date_source
    return _Photo(entry=entry), rgb


def check_videos(plans: Iterable[SamplingPlan], photos: Sequence[_Photo]) -> None:
    """A video none of whose sampled frames shows a face is one :class:`AnalyzeError`."""
    for plan in plans:
        if plan.kept == 0:
            reasons: dict[str, int] = {}
            for d in plan.dropped:
                key = d["reason"].split(" (")[0].split(" frame")[0]
                reasons[key] = reasons.get(key, 0) + 1
            detail = ", ".join(f"{n} {r}" for r, n in reasons.items()) or "no frames"
            raise AnalyzeError(f"{plan.path.name}: no usable face in any of its {plan.sampled} sampled frames ({detail})")
        log.info("%s: %d frames sampled, %d kept", plan.path.name, plan.sampled, plan.kept)
