"""Validation and storage of uploaded (or crawled) photos.

The type of a file is decided by its content (magic bytes, then a full decode), never by its
name or the client's Content-Type.  Size and pixel count are bounded before decoding, so a
decompression bomb is refused from its header.  The stored copy is re-encoded without any
metadata (EXIF, GPS, XMP, ICC comments) once the EXIF date and orientation have been read.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import datetime

from facereel.core.errors import FacereelError
from facereel.faces.io import load_image, strip_metadata
from facereel.faces.types import ImageLoadError
from facereel.options.choices import IMAGE_FORMATS

log = logging.getLogger(__name__)

#: formats we accept, by the PIL name that their magic bytes map to (the one list)
ACCEPTED = tuple(IMAGE_FORMATS)
#: extension of the stored copy (metadata stripped: JPEG stays JPEG, the rest becomes PNG)
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".png", "TIFF": ".png", "HEIF": ".jpg"}


class UploadError(FacereelError):
    """A refused file: ``status`` (= ``http_status``) is the HTTP status, the message is shown to the user."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = self.http_status = status


@dataclass
class ValidatedImage:
    data: bytes              # the stored copy: metadata stripped, orientation applied
    ext: str                 # extension of the stored copy
    format: str              # format of the original
    width: int
    height: int
    sha256: str              # of the original bytes (duplicate uploads are recognised)
    exif_date: datetime | None


def sniff(data: bytes) -> str | None:
    """Image format from the first bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:2] == b"BM":
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"avif"):
        return "HEIF"
    return None


def _header_size(data: bytes, name: str = "") -> tuple[int, int]:
    """(width, height) from the header only, without decoding pixels."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Image.DecompressionBombError as exc:
        raise UploadError(f"{name}image has too many pixels, above the limit", 413) from exc
    except Exception as exc:   # the library's text may hold reprs: say what it means, not what it printed
        what = "truncated or corrupt image" if "truncat" in str(exc).lower() else "not a readable image"
        raise UploadError(f"{name}{what}", 422) from exc


def validate_image(data: bytes, *, max_bytes: int, max_pixels: int, filename: str = "") -> ValidatedImage:
    """Checks one file and returns its metadata-free copy; raises :class:`UploadError`."""
    name = f"{filename}: " if filename else ""
    if len(data) == 0:
        raise UploadError(f"{name}empty file", 400)
    if len(data) > max_bytes:
        raise UploadError(f"{name}file is larger than the {max_bytes // (1024 * 1024)} MiB limit", 413)
    fmt = sniff(data)
    if fmt not in ACCEPTED:
        what = "not an image" if fmt is None else f"{fmt} images are not accepted"
        raise UploadError(f"{name}{what} (accepted: {', '.join(f for f in ACCEPTED if IMAGE_FORMATS[f])})", 415)
    if fmt == "HEIF":
        try:
            import pillow_heif  # noqa: F401

            pillow_heif.register_heif_opener()
        except ImportError as exc:
            raise UploadError(f"{name}HEIC/AVIF photos need the optional pillow-heif package", 415) from exc
    w, h = _header_size(data, name)
    if w <= 0 or h <= 0:
        raise UploadError(f"{name}image has no pixels", 422)
    if w * h > max_pixels:
        raise UploadError(f"{name}image is {w}x{h} = {w * h / 1e6:.0f} MP, above the {max_pixels / 1e6:.0f} MP limit", 413)

    loaded = _load(data, max_bytes=max_bytes, max_pixels=max_pixels, name=name)
    rgb, exif_date = loaded
    stored, ext = _strip(data, rgb, fmt)
    return ValidatedImage(data=stored, ext=ext, format=fmt, width=int(rgb.shape[1]), height=int(rgb.shape[0]),
                          sha256=hashlib.sha256(data).hexdigest(), exif_date=exif_date)


def _load(data: bytes, *, max_bytes: int, max_pixels: int, name: str):
    """Full decode through the analysis' own loader (same rules as the CLI)."""
    try:
        img = load_image(data, max_pixels=max_pixels, max_bytes=max_bytes)
    except ImageLoadError as exc:
        msg = str(exc)
        if msg.startswith("image: "):
            msg = msg[len("image: "):]
        raise UploadError(f"{name}{msg}", 422) from exc
    except Exception as exc:
        raise UploadError(f"{name}not a readable image", 422) from exc
    return img.rgb, img.exif_date


def _strip(data: bytes, rgb, fmt: str) -> tuple[bytes, str]:
    """Metadata-free copy with the orientation applied."""
    try:
        out = strip_metadata(data)
        kind = sniff(out)
        if kind in ("JPEG", "PNG", "WEBP"):
            return out, EXTENSIONS[kind]
    except Exception:
        log.debug("strip_metadata failed; re-encoding from pixels", exc_info=True)
    # Re-encode from decoded pixels: nothing but pixels survives.
    from PIL import Image

    buf = io.BytesIO()
    im = Image.fromarray(rgb)
    if fmt == "JPEG" or fmt == "HEIF":
        im.save(buf, format="JPEG", quality=95)
        return buf.getvalue(), ".jpg"
    im.save(buf, format="PNG")
    return buf.getvalue(), ".png"
