"""``--method warp`` on the real sample photos: the target driven by another person's frames."""

import numpy as np
import pytest
from PIL import Image

from facereel.options.reenact import ReenactOptions
from facereel.reenact.base import create_method
from facereel.samples import sample_path


def _rgb(name):
    with Image.open(sample_path(name)) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.slow
def test_warp_drives_the_target():
    opts = ReenactOptions(method="warp", size=256).validate()
    m = create_method("warp")
    m.configure(opts)
    m.prepare(_rgb("biden.jpg"), opts)
    first = m.drive(_rgb("obama.jpg"))              # the neutral frame: the target itself, up to resampling
    assert first.shape == (256, 256, 3) and first.dtype == np.uint8
    assert np.abs(first.astype(int) - m.crop.astype(int)).mean() < 3.0
    moved = m.drive(_rgb("obama2.jpg"))
    assert moved.shape == first.shape
    assert np.abs(moved.astype(int) - first.astype(int)).mean() > 0.5   # the driver's motion shows
    assert m.drive(np.zeros((64, 64, 3), np.uint8)) is None            # no face: None, counted
    assert m.report()["frames_without_face"] == 1
    m.close()
