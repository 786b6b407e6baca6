"""facereel.faces.io: formats, modes, EXIF orientation/date, and refusal of bad input."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from datetime import datetime

import numpy as np
import pytest
from PIL import Image, ImageOps

from facereel.faces.io import load_image, strip_metadata
from facereel.faces.types import ImageLoadError
from tests.helpers.golden import GOLDEN_DIR

# beside the repository (../shared/golden); a missing fixture fails, never skips
GOLDEN = GOLDEN_DIR / "align_ffhq.npz"


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _pattern(h: int = 24, w: int = 36, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_sample_photos_decode_like_pillow(samples):
    # The golden alignment fixture records sha256 of the file and of PIL's RGB decode.
    meta = json.loads(np.load(GOLDEN)["meta"].item())["photos"]
    for name, fname in [("astronaut", "astronaut.png"), ("obama", "obama.jpg"), ("obama2", "obama2.jpg"),
                        ("biden", "biden.jpg")]:
        loaded = load_image(samples / fname)
        assert loaded.sha256 == meta[name]["sha256"]
        assert hashlib.sha256(loaded.rgb.tobytes()).hexdigest() == meta[name]["pil_decoded_rgb_sha256"]
        assert list(loaded.rgb.shape[1::-1]) == meta[name]["size_wh"]
    loaded = load_image(str(samples / "obama.jpg"))
    assert loaded.format == "JPEG" and loaded.rgb.dtype == np.uint8 and loaded.rgb.shape[2] == 3
    assert loaded.path == str(samples / "obama.jpg") and loaded.orientation == 1


def test_rgba_sample_composited_on_white(samples):
    src = Image.open(samples / "32bit.png")
    assert src.mode == "RGBA"
    rgba = np.asarray(src).astype(np.float64)
    loaded = load_image(samples / "32bit.png").rgb.astype(np.float64)
    a = rgba[..., 3:4] / 255.0
    expected = rgba[..., :3] * a + 255.0 * (1 - a)
    assert np.abs(loaded - expected).max() <= 1.0


@pytest.mark.parametrize("fmt,kw", [("PNG", {}), ("BMP", {}), ("TIFF", {}), ("WEBP", {"lossless": True})])
def test_lossless_formats_roundtrip(fmt, kw):
    rgb = _pattern()
    loaded = load_image(_encode(Image.fromarray(rgb), fmt, **kw))
    assert loaded.format == fmt
    np.testing.assert_array_equal(loaded.rgb, rgb)
    assert loaded.path is None and loaded.sha256 is not None


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_transpose(orientation):
    stored = Image.fromarray(_pattern(20, 32, seed=orientation))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(stored, "PNG", exif=exif)
    loaded = load_image(data)
    reference = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert loaded.orientation == orientation
    np.testing.assert_array_equal(loaded.rgb, reference)
    assert loaded.rgb.shape[:2] == ((20, 32) if orientation <= 4 else (32, 20))


def test_exif_rotated_jpeg_of_a_real_photo_comes_back_upright(samples):
    original = load_image(samples / "obama2.jpg").rgb
    # Stored sideways (90 deg counter-clockwise), tag 6 says "rotate 90 clockwise to display".
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(original, k=1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8769)[0x9003] = "2011:03:02 10:20:30"
    loaded = load_image(_encode(stored, "JPEG", exif=exif, quality=95))
    assert loaded.orientation == 6
    assert loaded.exif_date == datetime(2011, 3, 2, 10, 20, 30)
    assert loaded.rgb.shape == original.shape
    assert np.abs(loaded.rgb.astype(int) - original.astype(int)).mean() < 3.0


def test_exif_date_absent_or_blank():
    assert load_image(_encode(Image.fromarray(_pattern()), "JPEG")).exif_date is None
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "0000:00:00 00:00:00"
    assert load_image(_encode(Image.fromarray(_pattern()), "JPEG", exif=exif)).exif_date is None


def test_modes_to_rgb8():
    rgb = _pattern()
    # L
    grey = Image.fromarray(rgb[..., 0], "L")
    out = load_image(_encode(grey, "PNG")).rgb
    np.testing.assert_array_equal(out, np.repeat(rgb[..., :1], 3, axis=2))
    # P (palette) with a transparent index -> white
    pal = Image.fromarray(rgb).quantize(colors=16)
    idx = np.asarray(pal)
    pal.info["transparency"] = int(idx[0, 0])
    out = load_image(_encode(pal, "PNG", transparency=int(idx[0, 0]))).rgb
    np.testing.assert_array_equal(out[idx == idx[0, 0]], 255)
    opaque = idx != idx[0, 0]
    np.testing.assert_array_equal(out[opaque], np.asarray(pal.convert("RGB"))[opaque])
    # CMYK (TIFF keeps it lossless; Pillow's CMYK<->RGB is exact for K = 0)
    out = load_image(_encode(Image.fromarray(rgb).convert("CMYK"), "TIFF")).rgb
    np.testing.assert_array_equal(out, rgb)
    # LA: half-transparent grey on white
    la = Image.merge("LA", [grey, Image.new("L", grey.size, 128)])
    out = load_image(_encode(la, "PNG")).rgb.astype(float)
    expected = rgb[..., 0].astype(float) * 128 / 255 + 255 * (127 / 255)
    assert np.abs(out[..., 0] - expected).max() <= 1.0


def test_sixteen_bit_png():
    import cv2

    rng = np.random.default_rng(3)
    g16 = rng.integers(0, 65536, (16, 20), dtype=np.uint16)
    ok, enc = cv2.imencode(".png", g16)
    assert ok
    out = load_image(enc.tobytes()).rgb
    assert out.dtype == np.uint8 and out.shape == (16, 20, 3)
    assert np.abs(out[..., 0].astype(int) - np.rint(g16 / 257.0).astype(int)).max() <= 1
    rgb16 = rng.integers(0, 65536, (16, 20, 3), dtype=np.uint16)
    ok, enc = cv2.imencode(".png", rgb16[..., ::-1])  # OpenCV writes BGR
    assert ok
    out = load_image(enc.tobytes()).rgb
    assert np.abs(out.astype(int) - np.rint(rgb16 / 257.0).astype(int)).max() <= 1


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_refuses_absurd_pixel_count_before_decoding():
    with pytest.raises(ImageLoadError, match="10000 MP, over the 80 MP limit"):
        load_image(_png_header_only(100_000, 100_000))
    # Below Pillow's own bomb threshold, our limit still refuses from the header alone.
    with pytest.raises(ImageLoadError, match="12000x10000 = 120 MP is over the 80 MP limit"):
        load_image(_png_header_only(12_000, 10_000))
    with pytest.raises(ImageLoadError, match="limit"):
        load_image(_encode(Image.fromarray(_pattern(100, 100)), "PNG"), max_pixels=9_999)


def test_refuses_truncated_jpeg(samples):
    data = (samples / "obama.jpg").read_bytes()
    with pytest.raises(ImageLoadError, match="truncated|corrupt"):
        load_image(data[: len(data) // 2])


def test_refuses_non_images_and_empty(tmp_path):
    rand = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(ImageLoadError, match="not a recognised image"):
        load_image(rand)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(empty)
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageLoadError, match="directory"):
        load_image(tmp_path)
    text = tmp_path / "notes.jpg"
    text.write_text("hello, not a photo\n")
    with pytest.raises(ImageLoadError, match=str(text.name)):
        load_image(text)
    big = tmp_path / "big.png"
    big.write_bytes(_encode(Image.fromarray(_pattern(64, 64)), "PNG"))
    with pytest.raises(ImageLoadError, match="MiB limit"):
        load_image(big, max_bytes=100)


def test_refuses_unsupported_format():
    with pytest.raises(ImageLoadError, match="unsupported image format GIF"):
        load_image(_encode(Image.fromarray(_pattern()), "GIF"))


def test_strip_metadata_drops_exif_and_applies_orientation():
    stored = _pattern(20, 32, seed=5)
    exif = Image.Exif()
    exif[0x0112] = 8
    exif[0x010F] = "CameraMaker"
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 24.0)  # GPSLatitude
    src = _encode(Image.fromarray(stored), "PNG", exif=exif)
    out = strip_metadata(src)
    img = Image.open(io.BytesIO(out))
    assert img.format == "PNG"
    assert len(img.getexif()) == 0 and b"CameraMaker" not in out
    np.testing.assert_array_equal(np.asarray(img.convert("RGB")), np.rot90(stored, k=1))
    jpeg = strip_metadata(_encode(Image.fromarray(stored), "JPEG", exif=exif))
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG" and b"CameraMaker" not in jpeg
    assert len(Image.open(io.BytesIO(jpeg)).getexif()) == 0
