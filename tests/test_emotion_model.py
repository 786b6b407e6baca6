"""The fer emotion model read without TensorFlow."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from facereel.faces import emotion as E


def test_tf_same_padding():
    assert E._same_pad(60, 3, 2) == (0, 1)     # TF puts the odd pixel after
    assert E._same_pad(61, 3, 2) == (1, 1)
    assert E._same_pad(64, 3, 1) == (1, 1)
    assert E._same_pad(60, 1, 2) == (0, 0)


def test_reads_real_photos():
    from facereel.faces.detect import detect_faces
    from facereel.faces.io import load_image
    from facereel.samples import sample_dir

    path = E.model_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == E.SHA256
    got = {}
    for name in ("obama.jpg", "astronaut.png", "biden.jpg"):
        rgb = load_image(sample_dir() / name).rgb
        p = E.emotion_probabilities(rgb, detect_faces(rgb)[0].box)
        assert p.shape == (7,) and p.sum() == pytest.approx(1, abs=1e-5)
        got[name] = E.EMOTIONS[int(np.argmax(p))]
    assert got["obama.jpg"] == "happy" and got["astronaut.png"] == "happy" and got["biden.jpg"] != "happy"
    crops = np.random.default_rng(0).integers(0, 255, (3, 64, 64), dtype=np.uint8)
    batched = E.emotion_probabilities_crops(crops)
    np.testing.assert_allclose(batched[1], E.emotion_probabilities_crops(crops[1])[0], atol=1e-6)
    with pytest.raises(Exception, match="unknown emotion"):
        E.check_emotion("joy")
