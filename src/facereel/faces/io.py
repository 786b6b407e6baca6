"""Reading photos: any common format to an upright 8-bit RGB array, refusing what is unsafe.

Order of the checks matters: file size first (before reading), then the header (format and
pixel count, before any pixel is decoded), then the decode itself (truncated data).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np

from facereel.faces.types import ImageLoadError, LoadedImage
from facereel.options.choices import IMAGE_FORMATS

log = logging.getLogger(__name__)

#: Pillow format names we decode (the one list: facereel.options.choices.IMAGE_FORMATS).
SUPPORTED_FORMATS = frozenset(IMAGE_FORMATS)

_TAG_ORIENTATION = 0x0112
_TAG_EXIF_IFD = 0x8769
_TAG_DATETIME_ORIGINAL = 0x9003
_TAG_DATETIME_DIGITIZED = 0x9004

_heif_registered: bool | None = None


def _register_heif() -> bool:
    """Lets Pillow open HEIC/HEIF when the optional ``pillow-heif`` is installed."""
    global _heif_registered
    if _heif_registered is None:
        try:
            import pillow_heif  # type: ignore[import-not-found]

            pillow_heif.register_heif_opener()
            _heif_registered = True
        except ImportError:
            _heif_registered = False
    return _heif_registered


def _read_source(source: str | Path | bytes, max_bytes: int) -> tuple[bytes, str | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        path = None
    else:
        path = str(source)
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            raise ImageLoadError(f"{path}: file not found") from None
        except OSError as exc:
            raise ImageLoadError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if os.path.isdir(path):
            raise ImageLoadError(f"{path}: is a directory, not an image")
        if size > max_bytes:
            raise ImageLoadError(f"{path}: file is {size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit")
        try:
            with open(path, "rb") as f:
                data = f.read(max_bytes + 1)
        except OSError as exc:
            raise ImageLoadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    name = path or "image"
    if len(data) > max_bytes:
        raise ImageLoadError(f"{name}: {len(data) / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit")
    if not data:
        raise ImageLoadError(f"{name}: empty file")
    return data, path


def _parse_exif_date(value: object) -> datetime | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    if not isinstance(value, str):
        return None
    text = value.strip().strip("\x00").strip()
    for fmt, n in (("%Y:%m:%d %H:%M:%S", 19), ("%Y-%m-%d %H:%M:%S", 19), ("%Y-%m-%dT%H:%M:%S", 19), ("%Y:%m:%d %H:%M", 16)):
        try:
            date = datetime.strptime(text[:n], fmt)
        except ValueError:
            continue
        return None if date.year < 1800 else date  # "0000:00:00 00:00:00" and friends mean unknown
    return None


def _exif_info(img) -> tuple[int, datetime | None]:
    """(orientation tag, DateTimeOriginal) of a Pillow image; bad EXIF reads as absent."""
    try:
        exif = img.getexif()
    except Exception:  # malformed EXIF must not make the photo unreadable
        return 1, None
    try:
        orientation = int(exif.get(_TAG_ORIENTATION, 1) or 1)
    except (TypeError, ValueError):
        orientation = 1
    if not 1 <= orientation <= 8:
        orientation = 1
    date = None
    try:
        sub = exif.get_ifd(_TAG_EXIF_IFD)
        date = _parse_exif_date(sub.get(_TAG_DATETIME_ORIGINAL)) or _parse_exif_date(sub.get(_TAG_DATETIME_DIGITIZED))
    except Exception:
        date = None
    return orientation, date


def _to_rgb8(img) -> np.ndarray:
    """Any Pillow mode to [H, W, 3] uint8 RGB; alpha is composited on white."""
    from PIL import Image

    mode = img.mode
    if mode == "RGB":
        return np.asarray(img)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # High bit depth grey: 16-bit maps 0..65535 -> 0..255 (the PNG/TIFF meaning of the samples).
        a = np.asarray(img)
        if mode == "F":
            a = a.astype(np.float64)
            top = 1.0 if np.nanmax(a, initial=0.0) <= 1.0 else 255.0
            g = np.clip(np.rint(np.nan_to_num(a) * (255.0 / top)), 0, 255).astype(np.uint8)
        else:
            a = a.astype(np.int64)
            top = 255 if (mode == "I" and a.max(initial=0) <= 255) else 65535
            g = np.clip((a * 255 + top // 2) // top, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info) or (
        mode in ("L", "RGB", "1") and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    # CMYK, YCbCr, LAB, HSV, P, L, 1: Pillow's own conversions.
    return np.asarray(img.convert("RGB"))


def _apply_orientation(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF orientation 1..8 -> upright pixels (TIFF 6.0 / EXIF 2.3 table)."""
    if orientation == 2:
        out = rgb[:, ::-1]
    elif orientation == 3:
        out = rgb[::-1, ::-1]
    elif orientation == 4:
        out = rgb[::-1]
    elif orientation == 5:  # transpose
        out = rgb.transpose(1, 0, 2)
    elif orientation == 6:  # rotate 90 clockwise
        out = np.rot90(rgb, k=-1)
    elif orientation == 7:  # transverse
        out = np.rot90(rgb, k=2).transpose(1, 0, 2)
    elif orientation == 8:  # rotate 90 counter-clockwise
        out = np.rot90(rgb, k=1)
    else:
        return rgb
    return np.ascontiguousarray(out)


def load_image(
    source: str | Path | bytes,
    *,
    max_pixels: int = 80_000_000,
    max_bytes: int = 100 * 2**20,
) -> LoadedImage:
    """Decodes a photo (JPEG, PNG, WebP, TIFF, BMP; HEIC with ``pillow-heif``) to upright RGB.

    Raises :class:`ImageLoadError` with a one-line reason for a missing, empty, oversized,
    truncated or non-image file, an unsupported format, or a header announcing more than
    ``max_pixels`` pixels (checked before decoding, so decompression bombs cost nothing).
    """
    from PIL import Image, UnidentifiedImageError

    data, path = _read_source(source, max_bytes)
    name = path or "image"
    digest = hashlib.sha256(data).hexdigest()
    _register_heif()
    with warnings.catch_warnings():
        # Our own max_pixels check replaces Pillow's DecompressionBombWarning.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            hint = " (HEIC needs the optional pillow-heif package)" if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1") else ""
            raise ImageLoadError(f"{name}: not a recognised image file{hint}") from None
        except Image.DecompressionBombError as exc:
            # Pillow refuses > 2 x MAX_IMAGE_PIXELS while parsing the header.
            m = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{int(m.group(1)) / 1e6:.0f} MP" if m else "its size"
            raise ImageLoadError(
                f"{name}: header announces {size}, over the {max_pixels / 1e6:.0f} MP limit "
                "(refused before decoding: possible decompression bomb)"
            ) from None
        except Exception as exc:  # corrupt headers raise all sorts (SyntaxError, struct.error, ...)
            raise ImageLoadError(f"{name}: unreadable image header ({exc})") from None
        fmt = img.format
        if fmt not in SUPPORTED_FORMATS:
            raise ImageLoadError(f"{name}: unsupported image format {fmt}")
        w, h = img.size
        if w <= 0 or h <= 0:
            raise ImageLoadError(f"{name}: image has no pixels ({w}x{h})")
        if w * h > max_pixels:
            raise ImageLoadError(
                f"{name}: {w}x{h} = {w * h / 1e6:.0f} MP is over the {max_pixels / 1e6:.0f} MP limit "
                "(refused before decoding)"
            )
        orientation, date = _exif_info(img)
        try:
            img.load()
            rgb = _to_rgb8(img)
        except Image.DecompressionBombError as exc:
            raise ImageLoadError(f"{name}: refused, possible decompression bomb ({exc})") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
            msg = str(exc) or type(exc).__name__
            if "truncated" in msg or "broken data stream" in msg or isinstance(exc, EOFError):
                raise ImageLoadError(f"{name}: truncated or corrupt image data ({msg})") from None
            raise ImageLoadError(f"{name}: cannot decode image ({msg})") from None
        except MemoryError:
            raise ImageLoadError(f"{name}: not enough memory to decode {w}x{h}") from None
    rgb = _apply_orientation(np.ascontiguousarray(rgb, dtype=np.uint8), orientation)
    if not rgb.flags.writeable:
        rgb = rgb.copy()
    return LoadedImage(rgb=rgb, path=path, format=fmt, exif_date=date, orientation=orientation, sha256=digest)


def strip_metadata(src_bytes: bytes, *, quality: int = 92, max_pixels: int = 80_000_000) -> bytes:
    """Re-encodes a photo without EXIF/GPS/XMP/ICC metadata, orientation applied.

    JPEG stays JPEG (``quality``), everything else becomes PNG (lossless).  Alpha is
    composited on white, as :func:`load_image` does.
    """
    from PIL import Image

    loaded = load_image(src_bytes, max_pixels=max_pixels, max_bytes=max(len(src_bytes), 1))
    out = io.BytesIO()
    img = Image.fromarray(loaded.rgb, "RGB")
    if loaded.format in ("JPEG", "MPO"):
        img.save(out, format="JPEG", quality=quality, optimize=True)
    else:
        img.save(out, format="PNG", optimize=False)
    return out.getvalue()
