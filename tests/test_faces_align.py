"""FFHQ alignment against the golden fixture of the two official functions.

``../shared/golden/align_ffhq.npz`` (README section "FFHQ alignment fixture") holds, for six
cases, the quads and aligned images that pSp's ``align_face`` (256) and ffhq-dataset's
``recreate_aligned_images`` (4096 -> 1024) produced from stored dlib 68-point landmarks.
Quads must match to 1e-9 and images bit for bit.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from facereel.faces.align import (
    _quad_and_qsize,
    _warp,
    align_face,
    align_from_quad,
    eye_mouth_points,
    ffhq_quad,
    photo_to_crop,
)
from facereel.faces.io import load_image
from facereel.faces.types import Landmarks
from tests.helpers.golden import GOLDEN_DIR

# beside the repository (../shared/golden); a missing fixture fails, never skips
GOLDEN = GOLDEN_DIR / "align_ffhq.npz"
NAMES = ["astronaut", "obama", "obama2", "biden", "astronaut_edge", "obama_x3"]



@pytest.fixture(scope="module")
def golden():
    z = np.load(GOLDEN)
    return z, json.loads(z["meta"].item())


@pytest.fixture(scope="module")
def photos(samples):
    files = {"astronaut": "astronaut.png", "obama": "obama.jpg", "obama2": "obama2.jpg", "biden": "biden.jpg"}
    out = {name: load_image(samples / f).rgb for name, f in files.items()}
    # The two extras exactly as the fixture README builds them.
    out["astronaut_edge"] = np.ascontiguousarray(out["astronaut"][50:320, 160:420])
    out["obama_x3"] = np.repeat(np.repeat(out["obama"], 3, axis=0), 3, axis=1)
    return out


def test_photos_match_fixture(golden, photos):
    _, meta = golden
    for name in NAMES:
        assert hashlib.sha256(photos[name].tobytes()).hexdigest() == meta["photos"][name]["pil_decoded_rgb_sha256"]


@pytest.mark.parametrize("name", NAMES)
def test_quads_and_intermediate_steps(golden, photos, name):
    z, meta = golden
    lm = z[f"in/{name}/landmarks68"]
    quad = ffhq_quad(*eye_mouth_points(lm))
    np.testing.assert_allclose(quad, z[f"out/{name}/psp256_quad"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(quad, z[f"out/{name}/ffhq1024_quad"], rtol=0, atol=1e-9)
    # Same landmarks as a Landmarks object and as int64 give the same quad.
    np.testing.assert_array_equal(ffhq_quad(*eye_mouth_points(Landmarks(points=lm, kind="dlib68"))), quad)
    np.testing.assert_array_equal(ffhq_quad(*eye_mouth_points(lm.astype(np.int64))), quad)

    q, qsize = _quad_and_qsize(*eye_mouth_points(lm))
    img = Image.fromarray(photos[name], "RGB")
    for key, out_size, _t_size in [("psp256", 256, 256), ("ffhq1024", 1024, 4096)]:
        ref = meta["photos"][name][key]
        # Only the cheap geometry here: a tiny transform size would change nothing before the warp,
        # but the crop/pad/shrink arithmetic is what we compare.
        _, quad_final, info = _warp(img, q, qsize, out_size, 8)
        np.testing.assert_allclose(quad_final, z[f"out/{name}/{key}_quad_final"], rtol=0, atol=1e-9)
        assert info["qsize"] == pytest.approx(ref["qsize"], abs=1e-9)
        assert info["shrink"] == ref["shrink"] and info["shrink_size"] == ref["shrink_size"]
        assert info["border"] == ref["border"] and info["crop"] == ref["crop"] and info["pad"] == ref["pad"]


@pytest.mark.parametrize("name", NAMES)
def test_psp_recipe_bit_exact(golden, photos, name):
    z, _ = golden
    al = align_face(photos[name], z[f"in/{name}/landmarks68"], size=256, recipe="psp")
    assert al.image.shape == (256, 256, 3) and al.image.dtype == np.uint8
    np.testing.assert_array_equal(al.image, z[f"out/{name}/psp256_image"])
    np.testing.assert_allclose(al.quad, z[f"out/{name}/psp256_quad"], rtol=0, atol=1e-9)
    assert al.recipe == "psp" and al.size == 256


@pytest.mark.parametrize("name", NAMES)
def test_ffhq_recipe_bit_exact(golden, photos, name):
    z, _ = golden
    lm = z[f"in/{name}/landmarks68"]
    if name == "astronaut":
        full = align_face(photos[name], lm, size=1024, recipe="ffhq")
        np.testing.assert_array_equal(full.image, z["out/astronaut/ffhq1024_image"])
        small = Image.fromarray(full.image, "RGB").resize((256, 256), Image.LANCZOS)
        np.testing.assert_array_equal(np.asarray(small), z["out/astronaut/ffhq1024_lanczos256"])
    # size=256 with the ffhq recipe is the dataset image Lanczos-resized, as the fixture stores it.
    al = align_face(photos[name], lm, size=256, recipe="ffhq")
    np.testing.assert_array_equal(al.image, z[f"out/{name}/ffhq1024_lanczos256"])
    np.testing.assert_allclose(al.quad, z[f"out/{name}/ffhq1024_quad"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_align_from_stored_quad(golden, photos, name):
    # A manifest keeps only the quad: re-aligning from it gives the official pixels.
    z, _ = golden
    al = align_from_quad(photos[name], z[f"out/{name}/psp256_quad"], size=256, recipe="psp")
    np.testing.assert_array_equal(al.image, z[f"out/{name}/psp256_image"])


def test_recipes_differ_as_documented(golden):
    # Not interchangeable: the README's psp-vs-ffhq table (mean 0.3-1.9 levels).
    z, meta = golden
    for name in NAMES:
        d = np.abs(z[f"out/{name}/psp256_image"].astype(int) - z[f"out/{name}/ffhq1024_lanczos256"].astype(int))
        ref = meta["compare_psp256_vs_ffhq1024"][name]
        assert d.mean() == pytest.approx(ref["psp256_vs_ffhq1024_lanczos256_mean_abs"], abs=1e-9)
        assert d.max() == ref["psp256_vs_ffhq1024_lanczos256_max_abs"]


def test_crop_maps_back_onto_photo(golden, photos):
    z, _ = golden
    lm = z["in/obama/landmarks68"]
    al = align_face(photos["obama"], lm, size=256, recipe="psp")
    # Landmarks -> crop -> photo is the identity.
    crop_pts = photo_to_crop(al, lm)
    np.testing.assert_allclose(al.crop_to_photo(crop_pts), lm, atol=1e-6)
    # Eyes land where FFHQ puts them: level, symmetric about the centre, in the upper half.
    el, er, ml, mr = (photo_to_crop(al, p[None])[0] for p in eye_mouth_points(lm))
    assert abs(el[1] - er[1]) < 0.02 * 256
    assert abs((el[0] + er[0]) / 2 - 128) < 0.03 * 256
    assert 0.3 * 256 < el[1] < 0.5 * 256 and 0.6 * 256 < ml[1] < 0.85 * 256
    # Pixel convention: crop pixel (i, j) is the photo sampled bilinearly at
    # crop_to_photo((i + 0.5, j + 0.5)), photo pixel (x, y) having its centre at (x, y).
    from scipy.ndimage import map_coordinates

    ij = np.stack(np.meshgrid(np.arange(20, 236, 7), np.arange(20, 236, 7)), -1).reshape(-1, 2)
    xy = al.crop_to_photo(ij + 0.5)
    rgb = photos["obama"].astype(np.float64)
    sampled = np.stack([map_coordinates(rgb[..., c], [xy[:, 1], xy[:, 0]], order=1) for c in range(3)], -1)
    assert np.abs(sampled - al.image[ij[:, 1], ij[:, 0]]).max() <= 1.0  # only Pillow's rounding


def test_bad_arguments():
    rgb = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="recipe"):
        align_face(rgb, np.zeros((68, 2)), recipe="arcface")
    with pytest.raises(ValueError, match="68 or MediaPipe 478"):
        align_face(rgb, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="degenerate"):
        align_face(rgb, np.zeros((68, 2)))


@pytest.mark.slow
def test_fast_warp_is_close_to_the_official_recipe():
    """align_from_quad(fast=True) (2x-size warp + one Lanczos) against the official 4096 path."""
    from facereel.faces.align import align_from_quad
    from facereel.faces.detect import detect_faces
    from facereel.faces.io import load_image
    from facereel.faces.landmarks import landmarks_mediapipe
    from facereel.samples import sample_path

    for name in ("obama.jpg", "obama_partial_face.jpg", "astronaut.png"):
        rgb = load_image(sample_path(name)).rgb
        lm = landmarks_mediapipe(rgb, detect_faces(rgb)[0].box)
        quad = align_face(rgb, lm, size=256).quad
        for size in (256, 512, 1024):
            ref = align_from_quad(rgb, quad, size=size).image.astype(np.float64)
            fast = align_from_quad(rgb, quad, size=size, fast=True).image.astype(np.float64)
            mse = np.mean((ref - fast) ** 2)
            assert 10 * np.log10(255.0**2 / mse) > 50, (name, size)
            assert np.abs(ref - fast).mean() < 0.35 and np.abs(ref - fast).max() <= 8, (name, size)
