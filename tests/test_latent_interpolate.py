import numpy as np
import pytest
import torch

from facereel.latent.interpolate import interpolate, linear, path, slerp, spline


@pytest.fixture
def keys():
    return np.random.RandomState(0).standard_normal((5, 3, 8))


@pytest.mark.parametrize("method", ["linear", "slerp", "spline"])
def test_passes_through_keyframes(keys, method):
    for j in range(4):
        np.testing.assert_allclose(interpolate(keys, j, 0.0, method), keys[j], atol=1e-9)
        np.testing.assert_allclose(interpolate(keys, j, 1.0, method), keys[j + 1], atol=1e-9)
    np.testing.assert_allclose(interpolate(keys, 4, 0.0, method), keys[4])


def test_linear_is_seed_eq2(keys):
    np.testing.assert_allclose(linear(keys, 1, 0.25), 0.75 * keys[1] + 0.25 * keys[2])


def test_spline_has_no_velocity_kink_but_linear_does(keys):
    h = 1e-5
    for j in range(1, 4):
        # one-sided derivatives at keyframe j
        left = (spline(keys, j - 1, 1.0) - spline(keys, j - 1, 1.0 - h)) / h
        right = (spline(keys, j, h) - spline(keys, j, 0.0)) / h
        np.testing.assert_allclose(left, right, atol=1e-3)
        lin_left = (linear(keys, j - 1, 1.0) - linear(keys, j - 1, 1.0 - h)) / h
        lin_right = (linear(keys, j, h) - linear(keys, j, 0.0)) / h
        assert np.abs(lin_left - lin_right).max() > 1e-2


def test_slerp_keeps_gaussian_norm():
    rng = np.random.RandomState(1)
    z = rng.standard_normal((2, 512))
    mid_lin = linear(z, 0, 0.5)
    mid_slerp = slerp(z, 0, 0.5)
    norms = np.linalg.norm(z, axis=-1)
    assert np.linalg.norm(mid_slerp) == pytest.approx(norms.mean(), rel=1e-6)
    assert np.linalg.norm(mid_lin) < 0.8 * norms.mean()  # linear shrinks towards the origin


def test_torch_and_numpy_agree(keys):
    t = torch.from_numpy(keys)
    for method in ("linear", "slerp", "spline"):
        np.testing.assert_allclose(interpolate(t, 2, 0.3, method).numpy(), interpolate(keys, 2, 0.3, method), atol=1e-9)
    assert path(t, [(0, 0.0), (1, 0.5)], "spline").shape == (2, 3, 8)


def test_unknown_method(keys):
    with pytest.raises(ValueError, match="unknown interpolation"):
        interpolate(keys, 0, 0.5, "cubic")
