"""Writers: decode what was written (PyAV / Pillow), atomic rename, streaming, bad outputs."""

import os

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from facereel.render.video import VideoError, check_output, format_from_path, in_background, open_writer


def _frames(n=12, h=64, w=80):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(n):
        r = 128 + 100 * np.sin((xx + 3 * i) / 9.0)
        g = 128 + 100 * np.cos((yy - 2 * i) / 11.0)
        b = np.full_like(xx, 40 + 15 * i)
        out.append(np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8))
    return out


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _decode(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        codec = s.codec_context.name
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        rate = s.average_rate
    return frames, codec, rate


@pytest.mark.parametrize("ext,codec,min_psnr", [("mp4", "h264", 35.0), ("webm", "vp9", 30.0)])
def test_av_writers_roundtrip(tmp_path, ext, codec, min_psnr):
    frames = _frames()
    path = tmp_path / f"v.{ext}"
    with open_writer(path, fps=24) as w:
        for f in frames:
            w.write(f)
    assert w.count == len(frames)
    dec, name, rate = _decode(path)
    assert name in (codec, "libvpx-vp9", "libdav1d") if codec == "vp9" else name == codec
    assert len(dec) == len(frames)
    assert dec[0].shape == frames[0].shape
    assert float(rate) == pytest.approx(24.0)
    assert min(_psnr(a, b) for a, b in zip(dec, frames)) > min_psnr
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_mp4_pads_odd_sizes(tmp_path):
    frames = _frames(3, h=33, w=47)
    with open_writer(tmp_path / "odd.mp4", fps=10) as w:
        for f in frames:
            w.write(f)
    assert w.padded
    dec, _, _ = _decode(tmp_path / "odd.mp4")
    assert dec[0].shape == (34, 48, 3)
    assert _psnr(dec[1][:33, :47], frames[1]) > 30


@pytest.mark.parametrize("dither", [True, False, "ordered", "auto"])
def test_gif_writer(tmp_path, dither):
    frames = _frames(9)
    path = tmp_path / "v.gif"
    with open_writer(path, fps=12.5, dither=dither, fuzz=0) as w:
        for f in frames:
            w.write(f)
    with Image.open(path) as im:
        assert im.n_frames == len(frames)
        assert im.size == (80, 64)
        assert im.info.get("loop") == 0
        got, durations = [], []
        for i in range(im.n_frames):
            im.seek(i)
            got.append(np.asarray(im.convert("RGB")))
            durations.append(im.info["duration"])
    assert sum(durations) == pytest.approx(1000 * len(frames) / 12.5, abs=10)
    assert min(_psnr(a, b) for a, b in zip(got, frames)) > 28   # 256-colour adaptive palette
    # also decodable by FFmpeg
    dec, _, _ = _decode(path)
    assert len(dec) == len(frames)


def test_gif_frame_differencing(tmp_path):
    """After the first frame only the changed box is written (unchanged pixels transparent), and
    the decoded frames are still the frames; a still video costs almost nothing per frame."""
    frames = _frames(2, 64, 80)
    moving = [frames[0].copy() for _ in range(6)]
    for i, f in enumerate(moving):
        f[10:20, 5 + 5 * i:15 + 5 * i] = (250, 20, 20)   # a small square moves, the rest stays
    for name, seq in (("moving", moving), ("still", [frames[1]] * 6), ("one", moving[:1])):
        with open_writer(tmp_path / f"{name}.gif", fps=10, dither="none", fuzz=0) as w:
            for f in seq:
                w.write(f)
    sizes = {n: (tmp_path / f"{n}.gif").stat().st_size for n in ("moving", "still", "one")}
    assert sizes["moving"] < 1.5 * sizes["one"] and sizes["still"] < 1.2 * sizes["one"]
    with Image.open(tmp_path / "moving.gif") as im:
        assert im.n_frames == 6
        for i in range(6):
            im.seek(i)
            assert _psnr(np.asarray(im.convert("RGB")), moving[i]) > 28


def test_gif_fuzz_bounds_the_error(tmp_path):
    """Lossy differencing: a kept pixel is at most ``fuzz`` worse than the frame's own palette
    colour, so the decoded frames stay within the exact GIF's error + fuzz, and the file shrinks."""
    frames = [np.clip(f.astype(np.int16) + i, 0, 255).astype(np.uint8) for i, f in enumerate(_frames(1) * 8)]
    got = {}
    for fuzz in (0, 6):
        path = tmp_path / f"f{fuzz}.gif"
        with open_writer(path, fps=10, dither="none", fuzz=fuzz, palette_images=frames) as w:
            for f in frames:
                w.write(f)
        with Image.open(path) as im:
            got[fuzz] = [np.asarray((im.seek(i), im.convert("RGB"))[1]).astype(np.int16) for i in range(8)]
        got[f"size{fuzz}"] = path.stat().st_size
    for exact, lossy, f in zip(got[0], got[6], frames):
        assert (np.abs(lossy - f).max(2) <= np.abs(exact - f).max(2) + 6).all()
    assert got["size6"] < got["size0"]


def test_frames_folder(tmp_path):
    frames = _frames(5)
    out = tmp_path / "frames"
    with open_writer(out, fps=24) as w:
        for f in frames:
            w.write(f)
    files = sorted(out.iterdir())
    assert [p.name for p in files] == [f"frame_{i:06d}.png" for i in range(5)]
    for p, f in zip(files, frames):
        assert np.array_equal(np.asarray(Image.open(p).convert("RGB")), f)   # lossless
    assert format_from_path(out) == "frames"


@pytest.mark.parametrize("fmt", ["mp4", "webm", "gif", "frames"])
@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_atomic_on_exception(tmp_path, fmt, exc):
    final = tmp_path / ("out" if fmt == "frames" else f"out.{fmt}")
    with pytest.raises(exc):
        with open_writer(final, fmt, fps=24) as w:
            for i, f in enumerate(_frames(6)):
                w.write(f)
                if i == 3:
                    raise exc("stop")
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []       # the temporary is gone too


def test_overwrites_existing_file_only_at_the_end(tmp_path):
    final = tmp_path / "out.mp4"
    final.write_bytes(b"old")
    with open_writer(final, fps=24) as w:
        w.write(_frames(1)[0])
        assert final.read_bytes() == b"old"     # still the old file while writing
    assert final.stat().st_size > 3
    assert oct(final.stat().st_mode & 0o777) != oct(0o600)


def test_streaming_memory_is_constant(tmp_path):
    """Python-side allocations do not grow with the number of frames (GIF included)."""
    import tracemalloc

    f = _frames(1, 96, 96)[0]
    for fmt in ("gif", "mp4"):
        peaks = []
        with open_writer(tmp_path / f"warm.{fmt}", fps=24) as w:  # imports and codec set-up
            w.write(f)
        for n in (15, 120):
            tracemalloc.start()
            with open_writer(tmp_path / f"m{n}.{fmt}", fps=24) as w:
                for i in range(n):
                    w.write(np.roll(f, i, axis=1))
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        assert peaks[1] < peaks[0] * 1.5 + 200_000, (fmt, peaks)


def test_bad_outputs(tmp_path):
    with pytest.raises(VideoError, match="format"):
        format_from_path(tmp_path / "x.avi")
    with pytest.raises(VideoError, match="unknown format"):
        check_output(tmp_path / "x.mp4", "mkv")
    with pytest.raises(VideoError, match="does not match"):
        check_output(tmp_path / "x.mp4", "gif")
    assert check_output(tmp_path / "x.m4v", "mp4")[1] == "mp4"
    with pytest.raises(VideoError, match="does not exist"):
        check_output(tmp_path / "missing" / "x.mp4")
    full = tmp_path / "full"
    full.mkdir()
    (full / "a.png").write_bytes(b"")
    with pytest.raises(VideoError, match="not empty"):
        check_output(full, "frames")
    with pytest.raises(VideoError, match="folder"):
        check_output(full, "mp4")
    with pytest.raises(VideoError, match="uint8"):
        with open_writer(tmp_path / "f.mp4") as w:
            w.write(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(VideoError, match="size"):
        with open_writer(tmp_path / "g.mp4") as w:
            w.write(np.zeros((8, 8, 3), np.uint8))
            w.write(np.zeros((8, 10, 3), np.uint8))
    assert not (tmp_path / "f.mp4").exists() and not (tmp_path / "g.mp4").exists()
    if os.geteuid() != 0:  # root can write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(VideoError, match="not writable"):
            check_output(ro / "x.mp4")


def test_background_writes_every_frame_and_raises_its_errors(tmp_path):
    out = tmp_path / "bg.mp4"
    frames = [np.full((32, 48, 3), 10 * i, np.uint8) for i in range(12)]
    with open_writer(out, fps=10) as w, in_background(w, depth=2) as bw:
        for f in frames:
            bw.write(f)
    with av.open(str(out)) as c:
        got = [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]
    assert len(got) == 12 and all(abs(int(g.mean()) - int(f.mean())) <= 2 for g, f in zip(got, frames))
    # a frame the encoder refuses: the error reaches the caller, no output is left
    bad = tmp_path / "bad.mp4"
    with pytest.raises(VideoError):
        with open_writer(bad, fps=10) as w, in_background(w) as bw:
            bw.write(frames[0])
            bw.write(np.zeros((16, 16, 3), np.uint8))     # another size
            for f in frames:
                bw.write(f)
    assert not bad.exists()
def test_write_batches_in_a_background_thread(tmp_path):
    """Batches encoded by the background writer come out in order; an error on either
    side leaves no file."""
    from facereel.metrics.video_io import read_frames
    from facereel.render.video import write_batches

    batches = [np.full((3, 32, 32, 3), 20 * i, np.float32) for i in range(5)]
    out = tmp_path / "a.mp4"
    n = write_batches(out, iter(batches), fps=10, convert=lambda b: b.astype(np.uint8))
    frames = list(read_frames(out))
    assert n == len(frames) == 15
    assert [round(float(f.mean()) / 20) for f in frames] == [i // 3 for i in range(15)]

    def broken():
        yield batches[0]
        raise RuntimeError("synthesis failed")

    with pytest.raises(RuntimeError, match="synthesis failed"):
        write_batches(tmp_path / "b.mp4", broken(), fps=10, convert=lambda b: b.astype(np.uint8))

    def bad(b):
        raise ValueError("cannot convert")

    with pytest.raises(ValueError, match="cannot convert"):
        write_batches(tmp_path / "c.mp4", iter(batches * 4), fps=10, convert=bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]


def test_write_batches_transforms_frames_in_the_encoding_thread(tmp_path):
    import threading

    from facereel.metrics.video_io import read_frames
    from facereel.render.video import write_batches

    where = set()

    def double(f):
        where.add(threading.current_thread().name)
        return np.repeat(np.repeat(f, 2, 0), 2, 1)

    batches = [np.full((2, 16, 24, 3), 40 * i, np.uint8) for i in range(3)]
    n = write_batches(tmp_path / "t.mp4", iter(batches), fps=10, transform=double)
    frames = list(read_frames(tmp_path / "t.mp4"))
    assert n == len(frames) == 6 and frames[0].shape == (32, 48, 3)
    assert [round(float(f.mean()) / 40) for f in frames] == [0, 0, 1, 1, 2, 2]
    assert where == {"video-writer"}


@pytest.mark.parametrize("h,w,sigma", [(64, 64, 0.7), (64, 64, 2.0), (34, 48, 1.0), (2, 2, 0.0)])
def test_rgb_to_i420_is_as_good_as_libswscale(h, w, sigma):
    """Our RGB → I420 (the MP4/WebM writers' conversion) against libswscale's rgb24 → yuv420p:
    the same layout, Y within 1 level, and a round trip (back to RGB by libswscale) at least as
    close to the picture, from fine detail to smooth."""
    from facereel.render.video import rgb_to_i420

    rng = np.random.default_rng(h * w)
    a = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    if sigma:
        a = cv2.GaussianBlur(a, (0, 0), sigma)
    ours = rgb_to_i420(a)
    ref = av.VideoFrame.from_ndarray(a, format="rgb24").reformat(format="yuv420p").to_ndarray()
    assert ours.shape == ref.shape == (h * 3 // 2, w) and ours.dtype == np.uint8
    assert np.abs(ours[:h].astype(int) - ref[:h].astype(int)).max() <= 1

    def back(i420):
        return av.VideoFrame.from_ndarray(i420, format="yuv420p").to_ndarray(format="rgb24")

    assert _psnr(back(ours), a) >= _psnr(back(ref), a) - 0.05
    assert np.array_equal(rgb_to_i420(a), ours)
