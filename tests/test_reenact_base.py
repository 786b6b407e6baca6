"""The reenactment method interface, its registry, options and paste-back."""

from __future__ import annotations

import numpy as np
import pytest

from facereel.core.errors import OptionsError
from facereel.faces.types import Alignment
from facereel.options.reenact import ReenactOptions
from facereel.reenact import METHODS, ReenactMethod, get_method
from facereel.reenact.base import ReenactError
from facereel.reenact.paste import face_mask, paste_back


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
