"""Video in, video out: drive a target photo by every frame of a driver and stream the result.

:func:`reenact_video` checks everything that can be checked before the long work (target photo
readable and showing a face, driver decodable, output writable), then streams: one driver frame
decoded, driven and encoded at a time (the encoder in a thread of its own, a few frames behind), so
memory stays flat however long the driver is.  Frames
without a face hold the last output (the undriven target before the first face) and are counted.
The output is written under a temporary name and renamed only when complete; the driver's audio is
copied in (MP4) when it has some.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from facereel.core.progress import Progress, report
from facereel.options.reenact import ReenactOptions

from .base import ReenactError, create_method
from .io import DriverSource, copy_audio, load_photo
from .target import select_target_face

log = logging.getLogger(__name__)

__all__ = ["ReenactReport", "reenact_video", "still_frame"]


@dataclasses.dataclass
class ReenactReport:
    output: str
    method: str
    frames: int                 # frames written
    no_face_frames: int         # driver frames without a face (the last output was held)
    target_face: str            # which face of the target photo was driven
    fps: float
    audio: bool                 # the driver's audio was copied in
    seconds: float
    method_report: dict = dataclasses.field(default_factory=dict)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"frames_per_second": self.frames_per_second}


def still_frame(target_rgb: np.ndarray, face, options: ReenactOptions) -> np.ndarray:
    """The undriven target in the output's shape (aligned crop, or the photo with paste-back)."""
    return target_rgb if options.paste_back else face.alignment.image


def reenact_video(driver: str | Path, target: str | Path, output: str | Path, options: ReenactOptions,
                  progress: Progress | None = None, method=None) -> ReenactReport:
    """Animates the ``target`` photo by the ``driver`` (video, photo or folder of frames) into ``output``.

    ``method``: a ready :class:`~facereel.reenact.base.ReenactMethod` instance (tests); default
    ``create_method(options.method)``.
    """
    from facereel.render.video import check_output, in_background, open_writer

    options = options.validate()
    t0 = time.perf_counter()
    final, fmt = check_output(output)
    target_rgb = load_photo(target)
    source = DriverSource(driver, options.max_frames)
    face = select_target_face(target_rgb, options)
    log.info("driving %s", face.describe())
    # the methods re-select through the cache; pin the choice so they drive the same face
    options = options.replace(face_index=face.index) if face.count > 1 else options
    method = method if method is not None else create_method(options.method)
    total = source.declared_frames or 0
    fps = float(options.fps or source.output_fps)
    with_audio = bool(options.keep_audio and source.has_audio and fmt == "mp4")
    written = missing = 0
    try:
        method.configure(options)
        if method.needs_driver_pass:
            for i, frame in enumerate(source.frames()):
                method.observe(frame)
                report(progress, i + 1, 2 * total if total else 0)
        method.prepare(target_rgb, options)
        still = still_frame(target_rgb, face, options)

        def frames():
            nonlocal written, missing
            last = still
            for out in method.drive_frames(source.frames()):
                if out is None:
                    missing += 1
                    out = last
                last = out
                written += 1
                done = written + (total if method.needs_driver_pass else 0)
                report(progress, done, (2 * total if method.needs_driver_pass else total) if total else 0)
                yield out
            if written == 0:
                raise ReenactError(f"the driver {Path(driver).name} has no frames")
            if missing == written:
                raise ReenactError(f"no face found in any of the driver's {written} frame(s)")

        if with_audio:
            from facereel.core.atomic import atomic_path

            with atomic_path(final) as tmp:
                video_only = tmp.with_name(tmp.name + ".video.mp4")
                try:
                    with open_writer(video_only, format="mp4", fps=fps) as w, in_background(w) as bw:
                        for out in frames():
                            bw.write(out)
                    with_audio = copy_audio(video_only, source.path, tmp, written / fps)
                    if not with_audio:
                        video_only.replace(tmp)
                finally:
                    video_only.unlink(missing_ok=True)
        else:
            with open_writer(final, format=fmt, fps=fps) as w, in_background(w) as bw:
                for out in frames():
                    bw.write(out)
    finally:
        method.close()
    if missing:
        log.warning("%d of %d driver frames showed no face; the last output was held", missing, written)
    return ReenactReport(str(final), options.method, written, missing, face.describe(), fps, with_audio,
                         time.perf_counter() - t0, method.report())
