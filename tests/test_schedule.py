"""Schedule of the time-lapse (seed timing without duplicated keyframes), age timing, hold, blend."""

import math

import numpy as np
import pytest

from facereel.render.blend import blend_keyframe, blend_weight, nearest_keyframe
from facereel.render.schedule import ScheduleError, age_gaps, build_schedule, frame_count, make_schedule


@pytest.mark.parametrize("n,d", [(2, 1), (2, 24), (3, 5), (7, 12)])
def test_uniform_follows_seed_formula(n, d):
    s = make_schedule(n, frames_per_gap=d)
    m = (n - 1) * d + 1
    assert len(s) == m == frame_count(n, d)
    for i, f in enumerate(s):
        alpha = i / d
        j = math.floor(alpha)
        assert f.alpha == pytest.approx(alpha)
        assert f.j == j and f.lam == pytest.approx(alpha - j)
        assert 0.0 <= f.lam < 1.0


@pytest.mark.parametrize("n,d", [(2, 3), (4, 6), (5, 1)])
def test_each_keyframe_exactly_once_no_duplicates(n, d):
    s = make_schedule(n, frames_per_gap=d)
    shown = [f.keyframe for f in s if f.keyframe is not None]
    assert shown == list(range(n))                       # each keyframe once, in order
    assert s.keyframe_indices == [k * d for k in range(n)]
    alphas = [f.alpha for f in s]
    assert len(set(alphas)) == len(alphas)               # no repeated position anywhere (joins, first frame)
    assert all(b > a for a, b in zip(alphas, alphas[1:]))
    assert s[0].keyframe == 0 and s[-1].keyframe == n - 1 and s[-1].lam == 0.0


def test_hold_adds_still_copies_of_every_keyframe():
    n, d, k = 3, 4, 2
    s = make_schedule(n, frames_per_gap=d, hold=k)
    assert len(s) == frame_count(n, d, k) == (n - 1) * d + 1 + n * k
    holds = [f for f in s if f.hold]
    assert [f.keyframe for f in holds] == [0, 0, 1, 1, 2, 2]
    # the hold copies follow their keyframe directly
    for idx in s.keyframe_indices:
        assert all(s[idx + h].hold and s[idx + h].keyframe == s[idx].keyframe for h in range(1, k + 1))
    assert [f.alpha for f in s if not f.hold] == [f.alpha for f in make_schedule(n, frames_per_gap=d)]


def test_age_timing_is_proportional_with_limits():
    # ages 20, 21, 25, 25, 45: differences 1, 4, 0, 20 (mean 6.25)
    gaps = age_gaps([20, 21, 25, 25, 45], frames_per_gap=8, min_gap=2, max_gap=20)
    assert gaps == [2, 5, 2, 20]  # 1.28 → min 2, 5.12 → 5, 0 → min 2, 25.6 → max 20
    # without clipping the ratios follow the age differences
    g = age_gaps([0, 2, 8], frames_per_gap=10, min_gap=1, max_gap=1000)
    assert g == [5, 15] and g[1] / g[0] == pytest.approx(3)
    s = make_schedule(3, frames_per_gap=10, timing="age", times=[0, 2, 8], min_gap=1, max_gap=1000)
    assert len(s) == 5 + 15 + 1
    assert s.keyframe_indices == [0, 5, 20]
    lams = [f.lam for f in s if f.j == 1]
    assert lams == pytest.approx([k / 15 for k in range(15)])


def test_age_timing_with_dates_and_missing_values():
    gaps = age_gaps(["2000-01-01", "2001-01-01", "2003-01-01"], frames_per_gap=6, min_gap=1, max_gap=100)
    assert gaps == [4, 8]
    with pytest.raises(ScheduleError, match="missing"):
        age_gaps([30, None, 40], frames_per_gap=6)
    assert age_gaps([30, 30, 30], frames_per_gap=6) == [6, 6]  # no difference: uniform


@pytest.mark.parametrize("bad", [dict(n=1), dict(n=3, frames_per_gap=0), dict(n=3, hold=-1), dict(n=3, timing="speed")])
def test_bad_schedules(bad):
    kw = dict(n=3, frames_per_gap=4)
    kw.update(bad)
    with pytest.raises(ScheduleError):
        make_schedule(kw.pop("n"), **kw)
    with pytest.raises(ScheduleError):
        build_schedule([3, 0])


def test_blend_weight_seed_eq4():
    assert blend_weight(0.0, 0.5) == pytest.approx(0.5)       # γ at the keyframe
    assert blend_weight(0.5, 0.5) == pytest.approx(0.0)       # none half-way
    assert blend_weight(0.25, 1.0) == pytest.approx(0.5)
    assert blend_weight(3.1, 0.8) == pytest.approx(blend_weight(0.1, 0.8))
    assert nearest_keyframe(2, 0.2) == 2 and nearest_keyframe(2, 0.7) == 3
    a = np.full((4, 4, 3), 200, np.uint8)
    b = np.full((4, 4, 3), 100, np.uint8)
    assert (blend_keyframe(b, a, 0.25) == 125).all()           # 0.25·200 + 0.75·100
    assert blend_keyframe(b, a, 0.0) is b
