"""Reading videos back for evaluation: MP4/WebM/GIF/MOV through PyAV, or a folder of PNG frames.

Frames come out as [H, W, 3] uint8 RGB arrays, one at a time (a long video is never held in
memory).  Every failure to open or decode raises :class:`VideoReadError` with one clear line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facereel.core.errors import FacereelError
from facereel.options.choices import IMAGE_SUFFIXES


class VideoReadError(FacereelError, ValueError):
    """A video that is missing, not a video, or cannot be decoded."""


@dataclass
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float | None
    frames: int | None      # as declared by the container (None if unknown); count while reading to be sure
    codec: str | None
    duration: float | None = None   # seconds, as declared (None if unknown)
    created: str | None = None      # the container's creation_time tag (ISO 8601), if any


def _source(path: str | os.PathLike) -> tuple[Path, list[Path] | None]:
    """The path (which must exist) and, for a frame folder, its image files in name order."""
    p = Path(path)
    if not p.exists():
        raise VideoReadError(f"{p} does not exist")
    if not p.is_dir():
        return p, None
    files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if not files:
        raise VideoReadError(f"{p} is a folder without PNG/JPEG (or other photo format) frames")
    return p, files


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate and declared frame count of a video file or PNG frame folder."""
    p, files = _source(path)
    if files is not None:
        first = next(read_frames(p))
        return VideoInfo(str(p), int(first.shape[1]), int(first.shape[0]), None, len(files), "png")
    import av

    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{p.name} has no video stream")
            s = container.streams.video[0]
            fps = float(s.average_rate) if s.average_rate else None
            n = int(s.frames) if s.frames else None
            if s.duration is not None and s.time_base is not None:
                duration = float(s.duration * s.time_base)
            elif container.duration is not None:
                duration = container.duration / 1e6
            else:
                duration = n / fps if (n and fps) else None
            created = container.metadata.get("creation_time") or s.metadata.get("creation_time")
            return VideoInfo(str(p), int(s.codec_context.width), int(s.codec_context.height), fps, n,
                             s.codec_context.name, duration, created)
    except VideoReadError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoReadError(f"cannot read {p.name} as a video ({_short(exc)})") from None


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def read_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Yields every frame of the video (or PNG folder, in file-name order) as [H, W, 3] uint8 RGB."""
    p, files = _source(path)
    if files is not None:
        from PIL import Image

        for f in files:
            try:
                with Image.open(f) as im:
                    yield np.asarray(im.convert("RGB"))
            except OSError as exc:
                raise VideoReadError(f"cannot read frame {f.name} ({_short(exc)})") from None
        return
    for _i, _t, frame in decode_frames(p):
        yield frame.to_ndarray(format="rgb24")


def decode_frames(path: str | os.PathLike) -> Iterator[tuple[int, float, object]]:
    """(index, timestamp in seconds, ``av.VideoFrame``) of every frame of a video file, in
    decoding order; a frame is converted to pixels only by whoever wants it."""
    import av

    p = Path(path)
    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoReadError(f"cannot read {p.name} as a video ({_short(exc)})") from None
    with container:
        if not container.streams.video:
            raise VideoReadError(f"{p.name} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate) if stream.average_rate else None
        try:
            for i, frame in enumerate(container.decode(stream)):
                t = float(frame.time) if frame.time is not None else (i / fps if fps else float(i))
                yield i, t, frame
        except (av.error.FFmpegError, ValueError) as exc:
            raise VideoReadError(f"cannot decode {p.name} ({_short(exc)})") from None
