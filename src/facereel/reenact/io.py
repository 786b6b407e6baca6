"""Driver frames in (a video, one photo, or a folder of frames), streamed; audio copied into the output.

:class:`DriverSource` decodes lazily: each call of :meth:`DriverSource.frames` starts a new pass,
so a method that needs a first pass over the driver (the baseline's mean code) gets the frames
twice without the video ever being held in memory.  Every failure to open or decode raises
:class:`~facereel.reenact.base.ReenactError` with one line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from facereel.options.choices import IMAGE_SUFFIXES, VIDEO_SUFFIXES

from .base import ReenactError

log = logging.getLogger(__name__)

__all__ = ["DriverSource", "load_photo", "copy_audio"]

DEFAULT_FPS = 25.0


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def load_photo(path: str | Path, what: str = "target photo") -> np.ndarray:
    from facereel.faces.io import load_image

    try:
        return load_image(path).rgb
    except Exception as exc:  # ImageLoadError, FileNotFoundError, ...: one line
        raise ReenactError(f"cannot read the {what} {path}: {_short(exc)}") from None


class DriverSource:
    """The driver: ``kind`` is ``video`` | ``image`` | ``folder``; ``fps`` (None: unknown), ``has_audio``."""

    def __init__(self, path: str | Path, max_frames: int | None = None):
        self.path = Path(path)
        self.max_frames = max_frames
        self.has_audio = False
        self.fps: float | None = None
        self.declared_frames: int | None = None
        p = self.path
        if not p.exists():
            raise ReenactError(f"the driver {p} does not exist")
        if p.is_dir():
            self.kind = "folder"
            self.files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not self.files:
                raise ReenactError(f"the driver folder {p} holds no frames ({', '.join(IMAGE_SUFFIXES[:4])}, ...)")
            self.declared_frames = len(self.files)
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            self.kind = "image"
            self.files = [p]
            self.declared_frames = 1
        else:
            self.kind = "video"
            self.files = []
            self._probe()
        if max_frames is not None and self.declared_frames is not None:
            self.declared_frames = min(self.declared_frames, max_frames)

    def _probe(self) -> None:
        import av

        try:
            with av.open(str(self.path)) as c:
                if not c.streams.video:
                    raise ReenactError(f"the driver {self.path.name} has no video stream")
                s = c.streams.video[0]
                self.fps = float(s.average_rate) if s.average_rate else None
                self.declared_frames = int(s.frames) if s.frames else None
                self.has_audio = bool(c.streams.audio)
        except ReenactError:
            raise
        except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
            hint = "" if self.path.suffix.lower() in VIDEO_SUFFIXES else " (not a video or a photo)"
            raise ReenactError(f"cannot decode the driver {self.path.name}{hint}: {_short(exc)}") from None

    @property
    def output_fps(self) -> float:
        return self.fps or DEFAULT_FPS

    def frames(self) -> Iterator[np.ndarray]:
        """[H, W, 3] uint8 RGB frames, in order (a new decoding pass per call)."""
        n = 0
        if self.kind != "video":
            for f in self.files:
                if self.max_frames is not None and n >= self.max_frames:
                    return
                yield load_photo(f, "driver frame")
                n += 1
            return
        import av

        try:
            container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise ReenactError(f"cannot decode the driver {self.path.name}: {_short(exc)}") from None
        with container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            try:
                for frame in container.decode(stream):
                    if self.max_frames is not None and n >= self.max_frames:
                        return
                    yield frame.to_ndarray(format="rgb24")
                    n += 1
            except (av.error.FFmpegError, ValueError) as exc:
                raise ReenactError(f"cannot decode the driver {self.path.name} after {n} frames: {_short(exc)}") from None
        if n == 0:
            raise ReenactError(f"the driver {self.path.name} has no decodable frames")


def copy_audio(video_in: Path, audio_src: Path, out: Path, duration_s: float) -> bool:
    """Writes ``out`` = the video stream of ``video_in`` + the first audio stream of ``audio_src``
    (cut at ``duration_s``), copying packets; transcodes the audio to AAC when the container refuses
    the copy.  Returns False (``out`` not written) when there is no audio to add."""
    import av

    with av.open(str(audio_src)) as src:
        if not src.streams.audio:
            return False
    try:
        _mux(video_in, audio_src, out, duration_s, transcode=False)
    except (av.error.FFmpegError, ValueError) as exc:
        log.info("audio copy refused (%s); transcoding to AAC", _short(exc))
        _mux(video_in, audio_src, out, duration_s, transcode=True)
    return True


def _mux(video_in: Path, audio_src: Path, out: Path, duration_s: float, transcode: bool) -> None:
    import av

    with av.open(str(video_in)) as vin, av.open(str(audio_src)) as ain, \
            av.open(str(out), mode="w", format="mp4", options={"movflags": "+faststart"}) as dst:
        vs = vin.streams.video[0]
        a_s = ain.streams.audio[0]
        v_out = dst.add_stream_from_template(vs)
        if transcode:
            a_out = dst.add_stream("aac", rate=a_s.rate or 48000)
        else:
            a_out = dst.add_stream_from_template(a_s)
        for pkt in vin.demux(vs):
            if pkt.dts is None:
                continue
            pkt.stream = v_out
            dst.mux(pkt)
        if transcode:
            for frame in ain.decode(a_s):
                if frame.time is not None and frame.time >= duration_s:
                    break
                frame.pts = None
                for pkt in a_out.encode(frame):
                    dst.mux(pkt)
            for pkt in a_out.encode(None):
                dst.mux(pkt)
        else:
            for pkt in ain.demux(a_s):
                if pkt.dts is None:
                    continue
                if pkt.pts is not None and pkt.time_base is not None and float(pkt.pts * pkt.time_base) >= duration_s:
                    break
                pkt.stream = a_out
                dst.mux(pkt)
