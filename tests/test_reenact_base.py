"""The reenactment method interface, its registry, options and paste-back."""

from __future__ import annotations

import numpy as np
import pytest

from facereel.core.errors import OptionsError
from facereel.faces.types import Alignment
from facereel.options.reenact import ReenactOptions
from facereel.reenact import METHODS, ReenactMethod, get_method
from facereel.reenact.base import ReenactError
from facereel.reenact.paste import PhotoPaste, face_mask, paste_back, paste_back_full


def test_options_defaults_validate():
    o = ReenactOptions().validate()
    assert o.method == "warp" and o.size == 256 and not o.paste_back


@pytest.mark.parametrize("field,value", [("method", "magic"), ("size", 8), ("smoothing", 1.0),
                                         ("feather", -0.1), ("encoder", "nope"), ("fps", 0.0)])
def test_options_errors_name_the_field(field, value):
    with pytest.raises(OptionsError) as e:
        ReenactOptions(**{field: value}).validate()
    assert e.value.field == field


def test_registry_names_and_unknown():
    assert set(METHODS) == {"warp", "baseline", "learned"}
    with pytest.raises(ReenactError):
        get_method("nope")


def test_interface_is_abstract():
    with pytest.raises(TypeError):
        ReenactMethod()

    class Echo(ReenactMethod):
        name = "echo"

        def prepare(self, target_rgb, options):
            self.t = target_rgb

        def drive(self, frame_rgb):
            return frame_rgb

    m = Echo()
    m.observe(np.zeros((2, 2, 3), np.uint8))
    m.prepare(np.zeros((2, 2, 3), np.uint8), ReenactOptions())
    assert m.drive(np.ones((2, 2, 3), np.uint8)).sum() == 12 and m.report() == {}
    # drive_frames: drive() of each frame, in order
    outs = list(m.drive_frames(np.full((2, 2, 3), v, np.uint8) for v in (1, 2, 3)))
    assert [int(o[0, 0, 0]) for o in outs] == [1, 2, 3]
    m.close()


def test_registry_gives_the_three_method_classes():
    for name in ("warp", "baseline", "learned"):
        klass = get_method(name)
        assert issubclass(klass, ReenactMethod) and klass.name == name


def test_paste_back_puts_the_face_where_the_quad_is():
    photo = np.zeros((300, 400, 3), np.uint8)
    # axis-aligned quad: crop (u, v) -> photo (100 + u, 50 + v) for a 200-pixel crop
    quad = np.array([[100, 50], [100, 250], [300, 250], [300, 50]], float)
    al = Alignment(image=np.zeros((200, 200, 3), np.uint8), quad=quad, recipe="ffhq", size=200)
    face = np.full((100, 100, 3), 200, np.uint8)   # half resolution: scale 2
    out = paste_back(face, photo, al, feather=0.05)
    assert out.shape == photo.shape
    assert out[158, 200].min() >= 199            # face centre (crop 0.5, 0.54)
    assert out[5, 5].max() == 0 and out[290, 390].max() == 0
    m = face_mask(64, 0.1)
    assert m.shape == (64, 64) and m.max() <= 1 and m[0, 0] == 0 and m[34, 32] > 0.99


def _quad_alignment(quad, size):
    return Alignment(image=np.zeros((size, size, 3), np.uint8), quad=np.asarray(quad, float), recipe="ffhq", size=size)


@pytest.mark.parametrize(("quad", "size", "feather"), [
    ([[396.4, 69.4], [310.1, 546.5], [787.2, 632.8], [873.5, 155.7]], 256, 0.08),   # biden.jpg's, rotated
    ([[396.4, 69.4], [310.1, 546.5], [787.2, 632.8], [873.5, 155.7]], 512, 0.0),
    ([[-150.0, -80.0], [-150.0, 330.0], [260.0, 330.0], [260.0, -80.0]], 100, 0.3),  # past the top-left corner
    ([[700.0, 900.0], [700.0, 1400.0], [1200.0, 1400.0], [1200.0, 900.0]], 128, 0.08),  # past the bottom-right
    ([[2000.0, 10.0], [2000.0, 50.0], [2040.0, 50.0], [2040.0, 10.0]], 64, 0.08),    # off the photo
])
def test_box_paste_equals_the_full_photo_blend_bit_for_bit(quad, size, feather):
    # PhotoPaste blends only the mask's box; its maps are slices of the full photo's (the same
    # float64 expression of each absolute pixel position) and its blend the same float32 products
    # summed in the same order, so the result is identical, not merely close
    rng = np.random.default_rng(size)
    photo = rng.integers(0, 256, (1000, 900, 3), dtype=np.uint8)
    al = _quad_alignment(quad, size)
    paste = PhotoPaste(photo, al, size, feather)
    x0, y0, x1, y1 = paste.box
    for _ in range(2):                                     # one prepared paste, several faces
        face = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)   # sharp edges everywhere
        out, want = paste(face), paste_back_full(face, photo, al, feather)
        assert out.dtype == np.uint8 and out.shape == photo.shape
        assert np.array_equal(out, want)
    outside = np.ones(photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], photo[outside])
    if x1 > x0:
        assert (out[y0:y1, x0:x1] != photo[y0:y1, x0:x1]).any()
        assert (x1 - x0) * (y1 - y0) < 0.5 * photo.shape[0] * photo.shape[1]
    else:
        assert paste.box == (0, 0, 0, 0) and np.array_equal(out, photo)


def test_box_paste_returns_a_new_frame_each_time():
    photo = np.zeros((300, 400, 3), np.uint8)
    al = _quad_alignment([[100, 50], [100, 250], [300, 250], [300, 50]], 200)
    paste = PhotoPaste(photo, al, 100, 0.05)
    a = paste(np.full((100, 100, 3), 200, np.uint8))
    b = paste(np.full((100, 100, 3), 50, np.uint8))
    assert a[158, 200].min() >= 199 and b[158, 200].max() <= 51        # the first is not overwritten
    assert not np.shares_memory(a, photo) and photo.max() == 0
    with pytest.raises(ValueError):
        paste(np.zeros((64, 64, 3), np.uint8))
