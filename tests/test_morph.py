"""Morph engine: rasteriser, piecewise-affine warp, engine behaviour and crossfade."""

import cv2
import numpy as np
import pytest
from scipy.spatial import Delaunay

from facereel.render.engines import get_engine
from facereel.render.engines.base import Keyframe
from facereel.render.engines.morph import (
    MorphEngine,
    border_points,
    dense_maps,
    triangle_id_map,
    triangulate,
    warp_piecewise_affine,
    warp_to_landmarks,
)


def _image(size, seed=0):
    rng = np.random.default_rng(seed)
    img = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (0, 0), 2.0)  # smooth texture: bilinear sampling is meaningful


def _landmarks(size, n=120, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.25 * size, 0.75 * size, (n, 2))


def test_triangle_id_map_matches_point_location():
    s = 96
    pts = np.concatenate([_landmarks(s, 60), border_points(s, s, 6)])
    tri = triangulate(pts)
    ids = triangle_id_map(pts, tri, s, s)
    ys, xs = np.mgrid[0:s, 0:s]
    xy = np.stack([xs.ravel(), ys.ravel()], 1).astype(float)
    # barycentric coordinates of every pixel centre in its assigned triangle: all ≥ 0 (inside)
    v = pts[tri[ids.ravel()]]
    t = np.stack([v[:, 0] - v[:, 2], v[:, 1] - v[:, 2]], axis=2)           # [P, 2, 2] columns
    lam = np.linalg.solve(t, (xy - v[:, 2])[..., None])[..., 0]
    bary = np.concatenate([lam, 1 - lam.sum(1, keepdims=True)], 1)
    assert bary.min() > -1e-9
    # and it agrees with scipy's point location wherever a pixel is not on a shared edge
    ref = Delaunay(pts).find_simplex(xy).reshape(s, s)
    assert (ref >= 0).all()
    assert np.mean(ref == ids) > 0.99


def test_warp_onto_own_landmarks_is_identity():
    s = 128
    img = _image(s)
    pts = np.concatenate([_landmarks(s), border_points(s, s)])
    out = warp_piecewise_affine(img, pts, pts)
    assert np.array_equal(out, img)


def test_known_affine_matches_warpaffine_inside_hull():
    s = 128
    img = _image(s, seed=3)
    c = s / 2
    ang, sc = np.deg2rad(7.0), 1.06
    r = sc * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    a = np.concatenate([r, (np.array([c, c]) - r @ [c, c] + [3.0, -2.0])[:, None]], 1)  # [2, 3] target → source
    dst = _landmarks(s, 150, seed=4)
    src = dst @ a[:, :2].T + a[:, 2]
    out = warp_piecewise_affine(img, src, dst)
    ref = cv2.warpAffine(img, a, (s, s), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    hull = np.zeros((s, s), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(dst.astype(np.float32)).astype(np.int32), 1)
    hull = cv2.erode(hull, np.ones((3, 3), np.uint8)).astype(bool)
    diff = np.abs(out.astype(int) - ref.astype(int))[hull]
    assert hull.sum() > 0.2 * s * s
    assert diff.max() <= 2 and diff.mean() < 0.3   # same map up to float32 / fixed-point rounding


def test_maps_are_continuous_no_tears():
    """Shapes that move a lot (even folding the source mesh) still give a continuous backward map."""
    s = 96
    rng = np.random.default_rng(7)
    a = np.concatenate([_landmarks(s, 80), border_points(s, s)])
    b = a.copy()
    b[:80] += rng.normal(0, 8, (80, 2))                  # large, incoherent motion → folds
    t = 0.5 * (a + b)
    (ax, ay), (bx, by) = dense_maps(t, [a, b], s, s)
    for mx, my in ((ax, ay), (bx, by)):
        jump = max(np.abs(np.diff(mx, axis=1)).max(), np.abs(np.diff(my, axis=0)).max(),
                   np.abs(np.diff(mx, axis=0)).max(), np.abs(np.diff(my, axis=1)).max())
        assert jump < 8  # piecewise affine with bounded gradient: no discontinuity
    # the frame border is fixed (border points do not move)
    assert np.allclose(ax[:, 0], 0, atol=0.6) and np.allclose(ay[0, :], 0, atol=0.6)


def _keyframes(s=96):
    a = _image(s, 10)
    b = _image(s, 11)
    la = _landmarks(s, 50, seed=12)
    lb = la + np.random.default_rng(13).normal(0, 3, la.shape)
    return [Keyframe(a, la, label="a"), Keyframe(b, lb, label="b")]


def test_morph_engine_ends_and_blend_source():
    kfs = _keyframes()
    e = get_engine("morph", head=False)  # synthetic texture: no person to segment
    assert isinstance(e, MorphEngine)
    e.prepare(kfs)
    assert np.array_equal(e.frame(0, 0.0), kfs[0].image)          # λ = 0: undistorted keyframe
    mid = e.frame(0, 0.5)
    wa, wb = e.warps(0, 0.5)
    assert np.abs(mid.astype(int) - (wa.astype(int) + wb.astype(int)) / 2).max() <= 1
    # blend_source of the frame just rendered is the *warped* keyframe, aligned with the frame
    fr = e.frames([(0, 0.25)])[0]
    ws = e.warps(0, 0.25)
    assert np.array_equal(e.blend_source(0, fr), ws[0])
    assert np.array_equal(e.blend_source(1, fr), ws[1])
    # any other array: the raw crop
    assert e.blend_source(1, fr.copy()) is kfs[1].image


def test_morph_without_landmarks_cross_dissolves():
    kfs = _keyframes()
    kfs[1].landmarks = None
    e = MorphEngine(detect=False)
    e.prepare(kfs)
    c = get_engine("crossfade")
    c.prepare(kfs)
    assert np.array_equal(e.frame(0, 0.3), c.frame(0, 0.3))


def test_spline_path_passes_through_keyframes():
    kfs = _keyframes() + _keyframes()[::-1]
    e = MorphEngine(path="spline", head=False)
    e.prepare(kfs)
    a, b, t = e.shapes(1, 0.0)
    assert np.allclose(t, a)
    assert np.array_equal(e.frame(1, 0.0), kfs[1].image)


def test_crossfade_engine():
    kfs = _keyframes()
    c = get_engine("crossfade")
    c.prepare(kfs)
    f = c.frame(0, 0.25)
    ref = 0.75 * kfs[0].image.astype(float) + 0.25 * kfs[1].image.astype(float)
    assert np.abs(f - ref).max() <= 0.5 + 1e-9


def test_engine_rejects_bad_keyframes():
    kfs = _keyframes()
    with pytest.raises(ValueError):
        MorphEngine().prepare(kfs[:1])
    kfs[1] = Keyframe(np.zeros((32, 32, 3), np.uint8), kfs[1].landmarks)
    with pytest.raises(ValueError):
        MorphEngine().prepare(kfs)
    with pytest.raises(ValueError):
        get_engine("nope")


def test_warp_to_landmarks():
    s = 96
    img = _image(s, 21)
    lm = _landmarks(s, 60, seed=22)
    assert np.array_equal(warp_to_landmarks(img, lm, lm), img)            # own landmarks: unchanged
    out = warp_to_landmarks(img, lm, lm + [4.0, -3.0])                    # the face moves by (4, −3)
    ref = np.roll(img, (-3, 4), axis=(0, 1))
    hull = np.zeros((s, s), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull((lm + [4.0, -3.0]).astype(np.float32)).astype(np.int32), 1)
    inside = cv2.erode(hull, np.ones((3, 3), np.uint8)).astype(bool)
    assert np.abs(out.astype(int) - ref.astype(int))[inside].max() <= 1
    with pytest.raises(ValueError):
        warp_to_landmarks(img, lm, lm[:10])


@pytest.mark.slow
def test_head_layers_on_sample_photos():
    """Real photos: the whole head moves (one outline, between the two), exact at λ = 0, and the
    full-head ghosting at mid-gap is far below the pixel dissolve's."""
    from facereel.metrics.ghosting import GhostReference
    from facereel.pipelines.timelapse import keyframe_landmarks, load_keyframes
    from facereel.samples import SAME_PERSON, sample_path

    kfs, _, _ = load_keyframes([str(sample_path(n)) for n in SAME_PERSON[:2]], size=256, keep_flagged=True)
    keyframe_landmarks(kfs)
    e = MorphEngine()
    e.prepare(kfs)
    assert e.layers is not None and all(la is not None for la in e.layers)
    assert set(e.flows) == {0}  # the residual flow below the chin (exactness at λ → 0 checked below)
    n = len(e.marks[0])
    assert all(len(m) == n for m in e.marks)
    a = kfs[0].image.astype(int)
    near = e.frame(0, 1e-6).astype(int)
    assert np.abs(near - a).mean() < 1.0
    c = get_engine("crossfade")
    c.prepare(kfs)
    ref = GhostReference.build(kfs[0].image, kfs[1].image)
    assert ref.ghost(e.frame(0, 0.5)) < 0.5 * ref.ghost(c.frame(0, 0.5))
    fr = e.frames([(0, 0.25)])[0]
    assert e.blend_source(0, fr).shape == fr.shape


def test_residual_flow_aligns_what_lies_below_the_face():
    """band_flow on a pair whose texture below the face moved by 6 px: D ≈ the move there, 0 on
    and above the face; applied at λ = ½ both images show the texture at the same place."""
    from facereel.render.residual import apply, band_flow

    s = 256
    a = _image(s, seed=5)
    a = cv2.GaussianBlur(a, (0, 0), 2.0)
    b = np.roll(a, 6, axis=0)                           # everything 6 px lower in B
    ang = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    face = np.stack([128 + 50 * np.cos(ang), 90 + 50 * np.sin(ang)], 1)   # rows 40..140, "mouth" at 110
    flow = band_flow(a, b, face)
    assert flow is not None
    y0 = flow.y0
    assert y0 <= 110
    dy = flow.dy
    inner = dy[200 - y0:240 - y0, 40:216]              # well below the mouth, away from the face and edges
    assert abs(float(np.median(inner)) - 6.0) < 1.0 and abs(float(np.median(flow.dx[200 - y0:240 - y0, 40:216]))) < 0.5
    assert np.abs(dy[:max(0, 100 - y0)]).max(initial=0.0) < 0.5      # above the mouth: nothing
    ys, xs = np.mgrid[0:s, 0:s].astype(np.float32)
    inside = ((xs - 128) ** 2 + (ys - 90) ** 2) < 45 ** 2
    assert np.abs(flow.dy[inside[y0:]]).max() < 0.5                   # on the face: nothing
    ma = apply(flow, (xs.copy(), ys.copy()), -0.5)
    mb = apply(flow, (xs.copy(), ys.copy()), 0.5)
    wa = cv2.remap(a, *ma, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(int)
    wb = cv2.remap(b, *mb, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(int)
    band = (slice(200, 240), slice(40, 216))
    plain = np.abs(a.astype(int) - b.astype(int))[band].mean()
    assert np.abs(wa - wb)[band].mean() < 0.25 * plain
    # the identity maps at λ = 0 for A are untouched: t = 0 moves nothing
    m0 = apply(flow, (xs.copy(), ys.copy()), 0.0)
    assert np.array_equal(m0[0], xs) and np.array_equal(m0[1], ys)


def test_residual_flow_can_be_turned_off():
    from facereel.pipelines.timelapse import load_keyframes

    kfs = [Keyframe(image=_image(64, seed=i), landmarks=_landmarks(64, seed=1) + i, label=str(i)) for i in range(2)]
    kfs, _, _ = load_keyframes(kfs)
    e = MorphEngine(residual=False, head=False)
    e.prepare(kfs)
    assert e.flows == {}
