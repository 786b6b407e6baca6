"""The ageing-linearity lab's numbers against latent paths whose answer is known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from facereel.lab.linearity import (
    LabError,
    direction_errors,
    layer_errors,
    layer_groups,
    line_errors,
    line_positions,
    pair_errors,
    principal_path,
    span_errors,
    window_average,
)
from facereel.lab.regression import AgeRegressor, evaluate_heldout, leave_one_person_out


def _orthonormal(rng, d, k):
    q, _ = np.linalg.qr(rng.standard_normal((d, k)))
    return q.T  # [k, d] orthonormal rows


def test_points_on_the_line_have_zero_error():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(64), rng.standard_normal(64)
    t = np.linspace(-0.5, 1.5, 21)
    pts = a[None] + t[:, None] * (b - a)[None]
    err = line_errors(a, b, pts)
    assert np.max(err) <= 1e-12 * np.linalg.norm(b - a) * 10
    assert np.allclose(line_positions(a, b, pts), t, rtol=0, atol=1e-12)


def test_offsets_orthogonal_to_the_line_come_back_exactly():
    rng = np.random.default_rng(1)
    basis = _orthonormal(rng, 128, 6)
    n, others = basis[0], basis[1:]
    a = rng.standard_normal(128)
    b = a + 3.7 * n
    radii = rng.uniform(0.05, 2.0, 40)
    mix = rng.standard_normal((40, 5))
    mix /= np.linalg.norm(mix, axis=1, keepdims=True)
    offsets = radii[:, None] * (mix @ others)                 # orthogonal to n, norm = radius
    t = rng.uniform(0, 1, 40)
    pts = a[None] + t[:, None] * (b - a)[None] + offsets
    err = line_errors(a, b, pts)
    np.testing.assert_allclose(err, radii, rtol=1e-6)
    np.testing.assert_allclose(line_positions(a, b, pts), t, rtol=1e-6)


def test_arc_errors_follow_the_sagitta():
    rng = np.random.default_rng(2)
    u, v = _orthonormal(rng, 32, 2)
    centre = rng.standard_normal(32)
    radius, half = 5.0, 0.6
    phi = np.linspace(-half, half, 31)                        # points on the arc
    pts = centre[None] + radius * (np.cos(phi)[:, None] * u[None] + np.sin(phi)[:, None] * v[None])
    err = line_errors(pts[0], pts[-1], pts)
    expected = radius * (np.cos(phi) - np.cos(half))          # distance to the chord
    np.testing.assert_allclose(err, expected, rtol=1e-6, atol=1e-9)
    assert err[15] == pytest.approx(radius * (1 - np.cos(half)), rel=1e-6)  # the sagitta


def test_direction_interpolator_equals_line_when_parallel_and_differs_otherwise():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(16), rng.standard_normal(16)
    pts = rng.standard_normal((10, 16))
    np.testing.assert_allclose(direction_errors(a, 2.5 * (b - a), pts), line_errors(a, b, pts), rtol=1e-12)
    assert not np.allclose(direction_errors(a, rng.standard_normal(16), pts), line_errors(a, b, pts))
    with pytest.raises(LabError):
        direction_errors(a, np.zeros(16), pts)


def test_layer_groups_and_layer_errors_isolate_the_non_linear_layers():
    assert layer_groups(18) == {"coarse": slice(0, 4), "middle": slice(4, 8), "fine": slice(8, 18)}
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((18, 8)), rng.standard_normal((18, 8))
    t = np.linspace(0, 1, 9)
    pts = a[None] + t[:, None, None] * (b - a)[None]
    bump = np.zeros((9, 18, 8))
    # fine layers bow out orthogonally to their own chord by a known amount
    fine_dir = rng.standard_normal(10 * 8)
    chord = (b - a)[8:].ravel()
    fine_dir -= fine_dir @ chord / (chord @ chord) * chord
    fine_dir /= np.linalg.norm(fine_dir)
    bow = 0.3 * np.sin(np.pi * t)
    bump[:, 8:] = (bow[:, None] * fine_dir[None]).reshape(9, 10, 8)
    errs = layer_errors(a, b, pts + bump)
    assert np.max(errs["coarse"]) < 1e-9 and np.max(errs["middle"]) < 1e-9
    np.testing.assert_allclose(errs["fine"], bow, rtol=1e-6, atol=1e-9)


def test_pair_errors_pick_the_nearest_ages_and_report_per_layer():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((14, 4)), rng.standard_normal((14, 4))
    ages = np.linspace(10, 30, 21)
    t = (ages - 10) / 20
    lat = a[None] + t[:, None, None] * (b - a)[None]
    perm = rng.permutation(21)                                # order must not matter
    res = pair_errors(lat[perm], ages[perm], 12.1, 27.9)
    assert res.start_age == pytest.approx(12.0) and res.end_age == pytest.approx(28.0)
    assert len(res.errors) == 17 and np.max(res.errors) < 1e-9
    assert set(res.layer_errors) == {"coarse", "middle", "fine"}
    with pytest.raises(LabError, match="start age < end age"):
        pair_errors(lat, ages, 20, 20)
    with pytest.raises(LabError, match="no latent near age"):
        pair_errors(lat, ages, 12, 80, tolerance=2)
    with pytest.raises(LabError, match="no age"):
        pair_errors(lat, np.where(ages > 20, np.nan, ages), 12, 18)


def test_span_errors_zero_on_a_line_positive_on_an_arc():
    rng = np.random.default_rng(6)
    u, v = _orthonormal(rng, 24, 2)
    ages = np.linspace(0, 20, 81)
    line = ages[:, None] * u[None]
    res = span_errors(line, ages, [2.0, 5.0], tolerance=0.01)
    assert all(r.pairs > 0 and r.mean_error < 1e-9 for r in res)
    phi = ages / 20 * 1.2
    arc = 10 * (np.cos(phi)[:, None] * u[None] + np.sin(phi)[:, None] * v[None])
    r2, r5 = span_errors(arc, ages, [2.0, 5.0], tolerance=0.01)
    assert 0 < r2.mean_error < r5.mean_error                 # longer chords sag more
    # span 5 years = 0.3 rad on radius 10: interior points sit below the sagitta 10 (1 - cos 0.15)
    assert r5.mean_error < 10 * (1 - np.cos(0.15))


def test_window_average_and_principal_path():
    lat = np.arange(10, dtype=float)[:, None] * np.ones((10, 3))
    ages = np.arange(10, dtype=float)[::-1]
    w, a = window_average(lat, ages, 4)
    np.testing.assert_allclose(a, [1.5, 5.5, 8.5])
    np.testing.assert_allclose(w[:, 0], [7.5, 3.5, 0.5])
    path, line, var = principal_path(np.random.default_rng(0).standard_normal((12, 5)), np.zeros(5), np.ones(5))
    assert path.shape == (12, 2) and line.shape == (2, 2) and var.shape == (2,)


def _planted(rng, people=1, n=40, d=24, noise=0.01):
    v = rng.standard_normal(d)
    lats, ages, who = [], [], []
    for p in range(people):
        w0 = rng.standard_normal(d) * 3
        ag = np.sort(rng.uniform(5, 60, n))
        lats.append(w0[None] + ag[:, None] / 10 * v[None] + noise * rng.standard_normal((n, d)))
        ages.append(ag)
        who += [f"p{p}"] * n
    return np.concatenate(lats), np.concatenate(ages), np.array(who)


@pytest.mark.parametrize("kind,alpha", [("ridge", 1e-3), ("lasso", 1e-4)])
def test_regression_recovers_a_planted_linear_ageing(kind, alpha):
    rng = np.random.default_rng(7)
    lat, ages, _ = _planted(rng)
    model = AgeRegressor(kind=kind, alpha=alpha, components=16)
    model.fit(lat, ages)
    pred = model.predict(lat[:5], ages[:5], ages[:5] + 20)
    truth = lat[:5] + 2.0 * (lat[-1] - lat[0]) / ((ages[-1] - ages[0]) / 10)
    assert np.max(np.abs(pred - truth)) < 0.1
    res = evaluate_heldout(lat, ages, ages > 45, AgeRegressor(kind=kind, alpha=alpha, components=16))
    assert res["ratio"] < 0.1


def test_leave_one_person_out_generalises_a_shared_direction():
    rng = np.random.default_rng(8)
    lat, ages, who = _planted(rng, people=3, n=25)
    rows = leave_one_person_out(lat, ages, who, AgeRegressor(alpha=10.0, components=23))
    assert len(rows) == 3 and all(r["ratio"] < 0.5 for r in rows)
    with pytest.raises(LabError, match="at least 2 people"):
        leave_one_person_out(lat, ages, ["x"] * len(lat), AgeRegressor())
