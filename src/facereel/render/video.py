"""Streaming, atomic video writers: MP4 (H.264), WebM (VP9), GIF and a PNG frame folder.

``open_writer(path, format, fps, size)`` is a context manager yielding an object with
``.write(frame)`` for uint8 [H, W, 3] RGB frames.  Properties every writer keeps:

* streamed — a frame is encoded (or written) as soon as it arrives, so memory does not grow with
  the number of frames (GIF included: frames are quantised and LZW-encoded one at a time with
  Pillow's GIF encoder, each with its own adaptive palette);
* atomic — output goes to a hidden temporary name in the destination folder and is renamed onto
  the final name only after the last frame is flushed; an exception or Ctrl-C removes it, so a
  half-written file never sits under the final name.

MP4 is H.264 (libx264), yuv420p; yuv420p needs even sizes, so odd frames are padded by one
replicated row/column (``Writer.padded`` says so).  WebM is VP9 (libvpx-vp9), yuv420p.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from facereel.core.atomic import atomic_path
from facereel.core.errors import FacereelError
from facereel.options.choices import VIDEO_FORMATS

log = logging.getLogger(__name__)

FORMATS = VIDEO_FORMATS
_SUFFIX = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mp4", ".webm": "webm", ".gif": "gif"}


class VideoError(FacereelError, ValueError):
    """Unknown format, unwritable destination, or a frame that does not fit the video."""


def format_from_path(path: str | os.PathLike, format: str | None = None) -> str:
    """The output format: ``format`` if given, else from the suffix (no suffix → PNG frame folder)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if format is not None:
        fmt = format.lower().lstrip(".")
        if fmt == "png":
            fmt = "frames"
        if fmt not in FORMATS:
            raise VideoError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
        if suffix in _SUFFIX and _SUFFIX[suffix] != fmt:
            raise VideoError(f"format {fmt} does not match the file name {p.name!r} ({_SUFFIX[suffix]})")
        return fmt
    if suffix in _SUFFIX:
        return _SUFFIX[suffix]
    if suffix == "" or (p.exists() and p.is_dir()):
        return "frames"
    raise VideoError(
        f"cannot tell the video format from {p.name!r}; use a .mp4, .webm or .gif name, "
        f"a folder name for PNG frames, or pass a format ({', '.join(FORMATS)})"
    )


def check_output(path: str | os.PathLike, format: str | None = None) -> tuple[Path, str]:
    """Validates the destination before any work starts; returns (absolute path, format)."""
    fmt = format_from_path(path, format)
    p = Path(path).expanduser().absolute()
    parent = p.parent
    if not parent.exists():
        raise VideoError(f"output folder {parent} does not exist")
    if not parent.is_dir():
        raise VideoError(f"{parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VideoError(f"output folder {parent} is not writable")
    if fmt == "frames":
        if p.exists() and not p.is_dir():
            raise VideoError(f"{p} exists and is not a folder (PNG frames go into a folder)")
        if p.is_dir() and any(p.iterdir()):
            raise VideoError(f"frame folder {p} exists and is not empty")
    elif p.is_dir():
        raise VideoError(f"{p} is a folder; give a file name for {fmt} output")
    return p, fmt


def _rate(fps: float) -> Fraction:
    if not fps or fps <= 0:
        raise VideoError(f"fps must be positive, got {fps}")
    return Fraction(fps).limit_denominator(1001)


def _as_frame(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    a = np.asarray(frame)
    if a.ndim != 3 or a.shape[2] != 3:
        raise VideoError(f"frames must be [H, W, 3] RGB, got shape {a.shape}")
    if a.dtype != np.uint8:
        raise VideoError(f"frames must be uint8, got {a.dtype}")
    if size is not None and (a.shape[1], a.shape[0]) != tuple(size):
        raise VideoError(f"frame of size {a.shape[1]}x{a.shape[0]} in a {size[0]}x{size[1]} video")
    return np.ascontiguousarray(a)


#: BT.601 limited-range chroma rows (U, V) for 8-bit RGB: [[r g b offset]] (what libswscale uses
#: for rgb24 → yuv420p)
_CHROMA_601 = np.array([[-0.148223, -0.290993, 0.439216, 128.0], [0.439216, -0.367788, -0.071427, 128.0]],
                       np.float32)


def rgb_to_i420(a: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 RGB (H, W even) → [3H/2, W] uint8 I420 (Y plane, then U, then V), BT.601
    limited range: Y within 1 level of libswscale's rgb24 → yuv420p and a round trip at least as
    close (tests/test_video.py), at a fraction of the cost of a libswscale context per frame, and
    a pure function of the frame (a libswscale context kept for the whole stream is not: the same
    frames came out differently after other work in the process).  Y is OpenCV's I420 conversion;
    its chroma takes one pixel of each 2×2 block (~2.5 dB lost on colour edges), so U and V are
    the block means instead."""
    import cv2

    h, w = a.shape[:2]
    out = cv2.cvtColor(a, cv2.COLOR_RGB2YUV_I420)
    uv = cv2.transform(cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA), _CHROMA_601)
    flat, n = out.reshape(-1), (h // 2) * (w // 2)            # U then V, each [H/2, W/2], packed
    flat[h * w:h * w + n] = uv[..., 0].reshape(-1)
    flat[h * w + n:] = uv[..., 1].reshape(-1)
    return out


class Writer:
    """Base: subclasses implement ``_open`` (on the first frame), ``_write``, ``_finish``, ``_abort``."""

    format = "?"
    padded = False  # MP4/WebM: frames were padded to even sizes

    def __init__(self, tmp: Path, fps: float, size: tuple[int, int] | None):
        self.tmp = tmp
        self.fps = float(fps)
        self.rate = _rate(fps)
        self.size = tuple(size) if size is not None else None  # (width, height)
        self.count = 0
        self._opened = False

    def write(self, frame: np.ndarray) -> None:
        a = _as_frame(frame, self.size)
        if not self._opened:
            self.size = (a.shape[1], a.shape[0])
            self._open()
            self._opened = True
        self._write(a)
        self.count += 1

    def _open(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _write(self, a: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _finish(self) -> None:
        pass

    def _abort(self) -> None:
        pass


class _AVWriter(Writer):
    codec = "libx264"
    container_format = "mp4"
    padded = False

    def __init__(self, tmp, fps, size, crf: int | None = None, preset: str | None = None, **_):
        super().__init__(tmp, fps, size)
        self.crf = crf
        self.preset = preset

    def _options(self) -> tuple[dict, dict]:
        return {}, {}

    def _open(self) -> None:
        import av

        w, h = self.size
        self.padded = bool(w % 2 or h % 2)  # yuv420p subsamples chroma 2×2: sizes must be even
        stream_opts, container_opts = self._options()
        self.container = av.open(str(self.tmp), mode="w", format=self.container_format, options=container_opts)
        self.stream = self.container.add_stream(self.codec, rate=self.rate, options=stream_opts)
        self.stream.width = w + (w % 2)
        self.stream.height = h + (h % 2)
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = 1 / self.rate
        self.stream.codec_context.time_base = 1 / self.rate

    def _write(self, a: np.ndarray) -> None:
        import av

        if self.padded:
            a = np.pad(a, ((0, a.shape[0] % 2), (0, a.shape[1] % 2), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(rgb_to_i420(a), format="yuv420p")
        vf.pts = self.count
        vf.time_base = 1 / self.rate
        for packet in self.stream.encode(vf):
            self.container.mux(packet)

    def _finish(self) -> None:
        if not self._opened:
            raise VideoError("no frames were written")
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()

    def _abort(self) -> None:
        if self._opened:
            with contextlib.suppress(Exception):
                self.container.close()


class Mp4Writer(_AVWriter):
    format = "mp4"
    codec = "libx264"
    container_format = "mp4"

    def _options(self):
        # faststart moves the index to the front so browsers play while downloading; "veryfast"
        # rather than "fast": on smooth morph frames it encodes ~2.5x faster and, at the same
        # CRF, the file is no larger (fewer reference frames/partitions matter little here)
        return ({"crf": str(18 if self.crf is None else self.crf), "preset": self.preset or "veryfast"},
                {"movflags": "+faststart"})


class WebmWriter(_AVWriter):
    format = "webm"
    codec = "libvpx-vp9"
    container_format = "webm"

    def _options(self):
        # constant-quality VP9 (b:v 0 + crf); cpu-used 5 / row-mt keep it usable on 2 cores
        return ({"crf": str(30 if self.crf is None else self.crf), "b": "0", "deadline": "good",
                 "cpu-used": self.preset or "5", "row-mt": "1"}, {})


#: 8x8 Bayer matrix (values 0..63): the threshold map of ordered dithering
_BAYER8 = np.array([[0, 32, 8, 40, 2, 34, 10, 42], [48, 16, 56, 24, 50, 18, 58, 26],
                    [12, 44, 4, 36, 14, 46, 6, 38], [60, 28, 52, 20, 62, 30, 54, 22],
                    [3, 35, 11, 43, 1, 33, 9, 41], [51, 19, 59, 27, 49, 17, 57, 25],
                    [15, 47, 7, 39, 13, 45, 5, 37], [63, 31, 55, 23, 61, 29, 53, 21]], np.float32)
#: the transparent palette entry of frame differencing (the palette proper has the other 255)
_CLEAR = 255


def _channel_max(img: np.ndarray) -> np.ndarray:
    """[H, W] uint8 largest channel of an [H, W, 3] uint8 image."""
    import cv2

    c = cv2.split(img)
    return cv2.max(cv2.max(c[0], c[1]), c[2])


class GifWriter(Writer):
    """Streamed GIF with ONE palette for the whole video (a global colour table), frame differencing.

    The palette (median cut, up to 255 entries; entry 255 is kept for transparency) is chosen
    once, from ``palette_images`` when given (the time-lapse passes its keyframes: every colour
    the video shows is a mix of theirs) or else from the first frame; every frame is then only
    mapped onto it and LZW-encoded as it arrives.

    Frame differencing: after the first frame, only the bounding box of the pixels whose palette
    index changed is written, with the unchanged ones inside it set to the transparent entry and
    "do not dispose", so the decoder keeps the previous frame's pixel.  Exact (every displayed
    frame is the quantised frame), and long runs of the transparent index are what LZW packs well.

    ``dither`` is chosen once per video: ``"ordered"`` (8x8 Bayer threshold map added before the
    nearest-colour mapping; the pattern is fixed per pixel, so a still region keeps its indices
    and differencing still skips it), ``"floyd-steinberg"`` (error diffusion: finest gradients,
    but the noise changes every frame, so nearly every pixel is rewritten), ``"none"``, or
    ``"auto"`` (default: ``"none"`` when the palette reproduces the first frame within 1.5 grey
    levels mean, else ``"ordered"``).  ``True``/``False`` mean Floyd-Steinberg / none.

    ``fuzz`` (grey levels, default 4; 0 = exact): a pixel whose shown colour is at most ``fuzz``
    further (largest channel) from the new frame's than the new frame's own palette colour is not
    rewritten.  A morph moves every pixel a little each
    frame; without it nearly the whole frame is rewritten every time.
    """

    format = "gif"
    DITHERS = ("auto", "ordered", "floyd-steinberg", "none")

    def __init__(self, tmp, fps, size, dither: bool | str = "auto", loop: int = 0, colors: int = 255,
                 palette_images=None, fuzz: int = 4, **_):
        super().__init__(tmp, fps, size)
        self.fuzz = int(fuzz)
        if dither is True:
            dither = "floyd-steinberg"
        elif dither is False:
            dither = "none"
        if dither not in self.DITHERS:
            raise VideoError(f"unknown dither {dither!r}; choose one of {', '.join(self.DITHERS)}")
        self.dither = dither
        self.loop = loop
        self.colors = max(2, min(int(colors), 255))
        self.palette_images = palette_images
        self._palette = None
        self._prev: np.ndarray | None = None   # [H, W] uint8 palette indices on screen
        self._local = False
        self._threshold: np.ndarray | None = None

    def _open(self) -> None:
        import queue
        import threading

        self.fp = open(self.tmp, "wb")  # noqa: SIM115 - closed in _finish/_abort
        # LZW encoding and the file writes in a thread of their own (Pillow's encoder releases
        # the GIL): the next frame's mapping and differencing overlap this one's encoding
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._encoder = threading.Thread(target=self._encode_loop, name="gif-encoder", daemon=True)
        self._encoder.start()

    def _encode_loop(self) -> None:
        from PIL import GifImagePlugin, Image

        n = 0
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue  # drain: the caller raises at its next write
            q, palette, offset, params, header = item
            try:
                im = Image.frombytes("P", (q.shape[1], q.shape[0]), q.tobytes())
                im.putpalette(palette)
                if header is not None:
                    chunks, _ = GifImagePlugin.getheader(im, info=header)
                    for chunk in chunks:
                        self.fp.write(chunk)
                chunks = GifImagePlugin.getdata(im, offset=offset, **params)
                for chunk in chunks:
                    self.fp.write(chunk)
                # getdata collects into a list owned by a throw-away class (a reference cycle only
                # the cyclic GC frees): empty it now, and collect now and then, so memory stays flat
                chunks.clear()
                n += 1
                if n % 64 == 0:
                    import gc

                    gc.collect()
            except BaseException as exc:  # noqa: BLE001 - raised again in the caller
                self._error = exc

    def _check_encoder(self) -> None:
        if self._error is not None:
            raise self._error

    def _stop_encoder(self) -> None:
        if getattr(self, "_encoder", None) is not None and self._encoder.is_alive():
            self._queue.put(None)
            self._encoder.join()

    def _duration_ms(self, i: int) -> int:
        # GIF delays are centiseconds: spread the rounding so the mean rate is exactly fps
        cs = round(100 * (i + 1) / self.fps) - round(100 * i / self.fps)
        return max(cs, 1) * 10

    def _make_palette(self, first: np.ndarray):
        import cv2
        from PIL import Image

        imgs = [np.asarray(i, np.uint8) for i in (self.palette_images or [])] or [first]
        # median cut costs ~linear in pixels: a ~128k-pixel mosaic whatever the keyframe count
        side = int(np.clip(np.sqrt(131072 / len(imgs)), 48, 160))
        tiles = [cv2.resize(np.ascontiguousarray(i[..., :3]), (side, side), interpolation=cv2.INTER_AREA) for i in imgs]
        mosaic = np.concatenate(tiles, axis=1)
        q = Image.fromarray(mosaic, "RGB").quantize(colors=self.colors, method=Image.Quantize.MEDIANCUT,
                                                    dither=Image.Dither.NONE)
        pal = np.asarray(q.getpalette()[:3 * 256], np.uint8).reshape(-1, 3)
        n = min(len(pal), _CLEAR)
        # 256 entries; the unused ones and the transparent one repeat entry 0 (mapped back to 0 below)
        full = np.repeat(pal[:1], 256, axis=0)
        full[:n] = pal[:n]
        img = Image.new("P", (1, 1))
        img.putpalette(full.reshape(-1).tolist())
        return img

    def _map(self, a: np.ndarray, dither: str) -> np.ndarray:
        """[H, W] uint8 palette indices of frame ``a``, never the transparent entry."""
        from PIL import Image

        if dither == "ordered":
            h, w = a.shape[:2]
            if self._threshold is None or self._threshold[0].shape[:2] != (h, w):
                # ±half a palette step (~16 levels for a 255-colour palette of one person's colours),
                # as a positive and a negative uint8 part for OpenCV's saturating add / subtract
                t = np.rint(16.0 * ((_BAYER8 + 0.5) / 64.0 - 0.5)).astype(np.int16)
                t = np.repeat(np.tile(t, (h // 8 + 1, w // 8 + 1))[:h, :w, None], 3, axis=2)
                self._threshold = (np.maximum(t, 0).astype(np.uint8), np.maximum(-t, 0).astype(np.uint8))
            import cv2

            a = cv2.subtract(cv2.add(a, self._threshold[0]), self._threshold[1])
        mode = Image.Dither.FLOYDSTEINBERG if dither == "floyd-steinberg" else Image.Dither.NONE
        q = np.asarray(Image.fromarray(a, "RGB").quantize(palette=self._palette, dither=mode))
        if q.max() >= _CLEAR:
            q = q.copy()
            q[q >= _CLEAR] = 0  # duplicates of entry 0 (see _make_palette)
        return q

    def _rgb(self, q: np.ndarray) -> np.ndarray:
        """[H, W, 3] uint8 colours of palette indices ``q``."""
        if getattr(self, "_lut", None) is None or self._lut[1] is not self._palette:
            pal = np.asarray(self._palette.getpalette()[:768], np.uint8).reshape(1, 256, 3)
            self._lut = (np.ascontiguousarray(pal), self._palette)
        import cv2

        return cv2.LUT(cv2.merge([q, q, q]), self._lut[0])

    def _palette_error(self, a: np.ndarray) -> float:
        """Mean |error| (grey levels) of a 64x64 thumbnail mapped onto the palette."""
        import cv2
        from PIL import Image

        t = cv2.resize(a, (64, 64), interpolation=cv2.INTER_AREA)
        q = np.asarray(Image.fromarray(t, "RGB").quantize(palette=self._palette, dither=Image.Dither.NONE).convert("RGB"))
        return float(np.abs(q.astype(np.int16) - t.astype(np.int16)).mean())

    def _write(self, a: np.ndarray) -> None:
        new_palette = False
        if self._palette is None:
            self._palette = self._make_palette(a)
            self._base_err = self._palette_error(a)
            if self.dither == "auto":
                self.dither = "none" if self._base_err <= 1.5 else "ordered"
        elif self._palette_error(a) > 2.0 * self._base_err + 3.0:
            # a new scene: colours the palette lacks → a new palette from here on (local tables)
            self.palette_images = None
            self._palette = self._make_palette(a)
            self._base_err = self._palette_error(a)
            self._local = new_palette = True
        q = self._map(a, self.dither)
        offset = (0, 0)
        params = {"duration": self._duration_ms(self.count), "include_color_table": self._local}
        if self._prev is not None and not new_palette:
            import cv2

            # uint8 masks (0/255) and OpenCV's saturating SIMD ops: numpy's channel max and
            # fancy-indexed palette look-ups cost more than the quantisation itself
            changed = cv2.compare(q, self._prev, cv2.CMP_NE)
            rgb = None
            if self.fuzz > 0 and self.dither != "floyd-steinberg":  # its noise is no colour to keep
                # lossy differencing: a pixel whose colour on screen is at most ``fuzz`` grey levels
                # (largest channel) worse than the new frame's own palette colour is left as it is;
                # compared with what is shown, never with the last frame, so the error stays bounded
                rgb = self._rgb(q)
                near = cv2.compare(_channel_max(cv2.absdiff(self._shown, a)),
                                   cv2.add(_channel_max(cv2.absdiff(rgb, a)), self.fuzz), cv2.CMP_LE)
                changed = cv2.bitwise_and(changed, cv2.bitwise_not(near))
            x0, y0, w, h = cv2.boundingRect(changed)
            if w == 0 or h == 0:  # nothing changed: one transparent pixel carries the delay
                x0, y0, w, h = 0, 0, 1, 1
            box = (slice(y0, y0 + h), slice(x0, x0 + w))
            tile = np.full((h, w), _CLEAR, np.uint8)
            cv2.copyTo(q[box], changed[box], tile)
            cv2.copyTo(q, changed, self._prev)
            if rgb is not None:
                cv2.copyTo(rgb, changed, self._shown)
            q = tile
            offset = (int(x0), int(y0))
            params.update(transparency=_CLEAR, disposal=1)
        else:
            self._prev = q.copy()
            if self.fuzz > 0 and self.dither != "floyd-steinberg":
                self._shown = self._rgb(q)
        self._check_encoder()
        header = {"loop": self.loop, "duration": self._duration_ms(0)} if self.count == 0 else None
        # q is this frame's own array (never written to again): the encoder thread reads it
        self._queue.put((np.ascontiguousarray(q), self._palette.getpalette(), offset, params, header))

    def _finish(self) -> None:
        if not self._opened:
            raise VideoError("no frames were written")
        self._stop_encoder()
        self._check_encoder()
        self.fp.write(b";")  # GIF trailer
        self.fp.close()

    def _abort(self) -> None:
        if self._opened:
            self._error = self._error or RuntimeError("aborted")  # the thread drops what is queued
            with contextlib.suppress(Exception):
                self._stop_encoder()
            with contextlib.suppress(Exception):
                self.fp.close()


class FramesWriter(Writer):
    """PNG frame folder: ``frame_000000.png`` …"""

    format = "frames"

    def __init__(self, tmp, fps, size, compression: int = 3, **_):
        super().__init__(tmp, fps, size)
        self.compression = compression

    def _open(self) -> None:
        self.tmp.mkdir(exist_ok=True)

    def _write(self, a: np.ndarray) -> None:
        import cv2

        path = self.tmp / f"frame_{self.count:06d}.png"
        if not cv2.imwrite(str(path), np.ascontiguousarray(a[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, self.compression]):
            raise VideoError(f"could not write {path}")

    def _finish(self) -> None:
        if not self._opened:
            raise VideoError("no frames were written")


_WRITERS = {"mp4": Mp4Writer, "webm": WebmWriter, "gif": GifWriter, "frames": FramesWriter}


@contextlib.contextmanager
def open_writer(
    path: str | os.PathLike,
    format: str | None = None,
    fps: float = 24.0,
    size: tuple[int, int] | None = None,
    **options,
) -> Iterator[Writer]:
    """Streams frames to ``path``; renamed into place only when the ``with`` block succeeds.

    ``size`` is (width, height); when None it is taken from the first frame.  Options: ``crf``,
    ``preset`` (MP4/WebM), ``dither``, ``loop``, ``colors`` (GIF), ``compression`` (PNG).
    """
    final, fmt = check_output(path, format)
    # a frame folder replaces ``final`` as a whole (check_output refused a non-empty one)
    with atomic_path(final, directory=fmt == "frames") as tmp:
        writer = _WRITERS[fmt](tmp, fps, size, **options)
        try:
            yield writer
            writer._finish()
        except BaseException:
            writer._abort()
            raise
    log.debug("wrote %d frames to %s", writer.count, final)


class BackgroundWriter:
    """A writer's :meth:`write` handed to a thread: frames queue (at most ``depth``) and are
    encoded while the caller makes the next ones (libx264 and libswscale release the GIL).  An
    error of the encoding thread is raised in the caller at its next :meth:`write` or at
    :meth:`finish`.  The caller must not modify a frame after handing it over."""

    _END = object()

    def __init__(self, writer: Writer, depth: int = 4, transform: Callable[[np.ndarray], np.ndarray] | None = None):
        import queue
        import threading

        self.writer = writer
        self.transform = transform   # applied to each frame in the thread (e.g. a resize)
        self._q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._dropping = False
        self._thread = threading.Thread(target=self._run, name="video-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            frame = self._q.get()
            if frame is self._END:
                return
            if self._error is None and not self._dropping:
                try:
                    self.writer.write(frame if self.transform is None else self.transform(frame))
                except BaseException as exc:  # noqa: BLE001 - raised again in the caller
                    self._error = exc

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, frame: np.ndarray) -> None:
        self._check()
        self._q.put(frame)

    @property
    def count(self) -> int:
        return self.writer.count

    def finish(self) -> None:
        """Waits until every queued frame is written (then raises the thread's error, if any)."""
        if self._thread.is_alive():
            self._q.put(self._END)
            self._thread.join()
        self._check()


@contextlib.contextmanager
def in_background(writer: Writer, depth: int = 4,
                  transform: Callable[[np.ndarray], np.ndarray] | None = None) -> Iterator[BackgroundWriter]:
    """``writer`` (from :func:`open_writer`) written by a thread inside the ``with`` block; every
    frame is written when the block ends (an error in the block stops the thread after the
    frames already queued).  ``transform`` runs on each frame in the thread."""
    bg = BackgroundWriter(writer, depth, transform)
    try:
        yield bg
    except BaseException:
        bg._dropping = True     # the output is discarded: the queued frames need not be encoded
        with contextlib.suppress(BaseException):
            bg.finish()
        raise
    bg.finish()


def write_batches(
    path: str | os.PathLike,
    batches: Iterable,
    *,
    fps: float = 24.0,
    convert: Callable[[object], np.ndarray] | None = None,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    format: str | None = None,
    size: tuple[int, int] | None = None,
    depth: int = 32,
    **options,
) -> int:
    """Streams ``batches`` (each ``convert``-ed to [N, H, W, 3] uint8, or already so) to ``path``
    through :func:`in_background`: the encoder works on batch k while the producer (synthesis)
    makes batch k+1.  ``convert`` runs in the caller's thread (it may use torch), ``transform``
    ([H, W, 3] uint8 → [H', W', 3] uint8, e.g. a resize) on each frame in the encoding thread.
    Returns the frame count; an error on either side leaves no file."""
    with open_writer(path, format, fps=fps, size=size, **options) as w, in_background(w, depth, transform) as bw:
        for b in batches:
            for frame in (convert(b) if convert is not None else b):
                bw.write(frame)
    return w.count
