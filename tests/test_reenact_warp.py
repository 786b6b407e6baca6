"""``--method warp`` on the real sample photos: the target driven by another person's frames; the
fast implementation against the reference one it replaced."""

import numpy as np
import pytest
from PIL import Image

from facereel.options.reenact import ReenactOptions
from facereel.reenact.base import create_method
from facereel.reenact.paste import paste_back_full
from facereel.reenact.warp import INNER_LIPS, WarpMethod
from facereel.samples import sample_path
from tests.helpers.reenact import sample_driver_frames


def _rgb(name):
    with Image.open(sample_path(name)) as im:
        return np.asarray(im.convert("RGB"))


def _prepared(impl, size=256, **options):
    opts = ReenactOptions(method="warp", size=size, **options).validate()
    m = WarpMethod(impl)
    m.configure(opts)
    m.prepare(_rgb("biden.jpg"), opts)
    return m


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_warp_drives_the_target(impl):
    m = _prepared(impl)
    assert create_method("warp").impl == "fast"
    first = m.drive(_rgb("obama.jpg"))              # the neutral frame: the target itself, up to resampling
    assert first.shape == (256, 256, 3) and first.dtype == np.uint8
    assert np.abs(first.astype(int) - m.crop.astype(int)).mean() < 3.0
    moved = m.drive(_rgb("obama2.jpg"))
    assert moved.shape == first.shape
    assert np.abs(moved.astype(int) - first.astype(int)).mean() > 0.5   # the driver's motion shows
    assert m.drive(np.zeros((64, 64, 3), np.uint8)) is None            # no face: None, counted
    assert m.report()["frames_without_face"] == 1
    m.close()


@pytest.mark.slow
def test_fast_warp_matches_the_reference_on_a_real_sequence(samples):
    frames = sample_driver_frames(samples, per_photo=3)
    frames.insert(4, np.zeros((360, 480, 3), np.uint8))                # a frame without a face
    ref, fast = _prepared("reference"), _prepared("fast")
    # the same driver points: the fast path's own landmarker finds what the shared one finds
    for f in frames[:3]:
        assert np.allclose(fast.landmarks(f), ref.landmarks(f), atol=1e-3)
    a = [ref.drive(f) for f in frames]
    b = list(fast.drive_frames(iter(frames)))      # streamed: landmarks in the worker thread
    assert len(b) == len(frames) and a[4] is None and b[4] is None
    assert fast.report() == ref.report()
    diffs = [np.abs(x.astype(np.int16) - y.astype(np.int16)) for x, y in zip(a, b) if x is not None]
    # the same points over the same (unfolded) triangulation: what differs is the fast path's
    # coarse map (kinks rounded along triangle edges) and uint8 composite — on these frames a
    # mean under 0.25 grey levels, 99 % of the pixels within 4
    assert max(d.mean() for d in diffs) < 0.5, [round(float(d.mean()), 2) for d in diffs]
    assert max(np.percentile(d, 99) for d in diffs) <= 8
    assert diffs[1].mean() > 0 or diffs[2].mean() > 0        # not trivially equal: the target moved
    assert np.abs(b[5].astype(int) - b[0].astype(int)).mean() > 0.5
    ref.close()
    fast.close()


@pytest.mark.slow
def test_fast_mouth_equals_the_reference_mouth():
    m = _prepared("fast")
    lm = m.target_lm.copy()
    lips = list(INNER_LIPS)
    c = lm[lips].mean(0)
    lm[lips] = c + (lm[lips] - c) * [1.0, 4.0]                     # the mouth opened wide
    frame = m.crop.copy()
    want = m._mouth_reference(frame.copy(), lm)
    assert np.abs(want.astype(int) - frame.astype(int)).max() > 20   # darkened
    assert np.array_equal(m._mouth_fast(frame.copy(), lm), want)
    assert np.array_equal(m._mouth_fast(frame.copy(), m.target_lm), frame)    # closed: unchanged
    m.close()


def test_unknown_impl_is_refused():
    with pytest.raises(ValueError):
        WarpMethod("magic")


@pytest.mark.slow
def test_paste_back_frames_are_the_full_photo_blend_of_the_crops():
    # --paste-back blends the mask's box only (PhotoPaste); the frame is the full-photo blend of
    # the crop the same landmarks give, with the run's --feather
    crop, pasted = _prepared("fast"), _prepared("fast", paste_back=True, feather=0.12)
    photo = _rgb("biden.jpg")
    for name in ("obama.jpg", "obama2.jpg"):
        f = _rgb(name)
        a, b = crop.drive(f), pasted.drive(f)
        assert b.shape == photo.shape
        assert np.array_equal(b, paste_back_full(a, photo, crop.face.alignment, 0.12))
    crop.close()
    pasted.close()


def _map_jacobian(mx, my):
    """Per pixel of a backward map (x, y ← mx, my): det of its Jacobian and the forward map's
    largest stretch 1 / σ_min (central differences)."""
    mx_r, mx_c = np.gradient(mx.astype(np.float64))
    my_r, my_c = np.gradient(my.astype(np.float64))
    det = mx_c * my_r - mx_r * my_c
    f2 = mx_c ** 2 + mx_r ** 2 + my_c ** 2 + my_r ** 2
    smin = np.sqrt(np.maximum(f2 - np.sqrt(np.maximum(f2 * f2 - 4 * det * det, 0)), 0) / 2)
    return det, 1.0 / np.maximum(smin, 1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("size", [256, 512])
def test_turning_drivers_neither_fold_nor_smear_the_target(size):
    # obama2 and obama3 turn the head and close the smiling mouth of obama.jpg (the neutral frame):
    # moved additively, the face oval crossed the head outline and the lips each other (triangles
    # turned over: mirrored shards of skin at the jaw and ear), and the band between the face
    # oval and the rigid ear was stretched up to ~50x (smeared skin).  The backward map the frame
    # is sampled with must be one-to-one (det > 0) and stretch nothing past a few times
    m = _prepared("fast", size)
    maps = []
    make = m._maps
    m._maps = lambda dst: maps.append(make(dst)) or maps[-1]
    first = m.drive(_rgb("obama.jpg"))
    k = size // 32                                     # the crop's outer pixels: clamped points
    for name in ("obama2.jpg", "obama3.jpg"):
        out = m.drive(_rgb(name))
        det, stretch = _map_jacobian(*maps[-1])
        det, stretch = det[k:-k, k:-k], stretch[k:-k, k:-k]
        assert (det > 0).all(), f"{name}: {(det <= 0).sum()} pixels folded"
        assert stretch.max() < 8.0 and np.percentile(stretch, 99.9) < 3.5, (name, stretch.max())
        assert np.abs(out.astype(int) - first.astype(int)).mean() > 2.0     # and the target still moves
    assert m.retriangulated == 0
    m.close()


def test_run_ahead_keeps_order_raises_the_producers_error_and_stops_when_closed():
    import threading

    from facereel.reenact.warp import _run_ahead

    assert list(_run_ahead(lambda: iter(range(20)), "t", depth=2)) == list(range(20))

    def failing():
        yield 1
        raise ValueError("undecodable")

    it = _run_ahead(failing, "t")
    assert next(it) == 1
    with pytest.raises(ValueError, match="undecodable"):
        next(it)

    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    it = _run_ahead(endless, "t", depth=2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()                                       # the consumer stops early: the thread ends
    assert closed.wait(2.0)
    assert not any(t.name == "t" for t in threading.enumerate())
