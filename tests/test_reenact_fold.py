"""The warp's fold guard (facereel.reenact.fold) on small synthetic meshes."""

from __future__ import annotations

import numpy as np

from facereel.reenact.fold import FoldGuard, local_scales, outline_follow
from facereel.render.engines.morph import triangulate


def _grid(n=6, step=10.0):
    ys, xs = np.mgrid[0:n, 0:n]
    p = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64) * step
    fixed = (p[:, 0] == 0) | (p[:, 1] == 0) | (p[:, 0] == p[:, 0].max()) | (p[:, 1] == p[:, 1].max())
    return p, triangulate(p), fixed


def test_a_warp_that_offends_nowhere_is_returned_as_it_is():
    p, tri, fixed = _grid()
    g = FoldGuard(p, tri, fixed)
    want = p.copy()
    want[~fixed] += [1.5, -1.0]                       # a small shift of the inside points
    assert np.array_equal(g(want, p), want)
    assert g.last == {"smoothed": 0, "shrunk": 0}


def test_a_point_pushed_across_its_neighbours_is_brought_back_unfolded_and_unsmeared():
    p, tri, fixed = _grid()
    g = FoldGuard(p, tri, fixed, lo=0.2, hi=4.0)
    want = p.copy()
    k = 14                                            # an inside point (2, 2)
    assert not fixed[k]
    want[k] += [25.0, 18.0]                           # past two rows and columns of its neighbours
    lo, hi, det = local_scales(p, want, tri)
    assert (det <= 0).any()                           # folded as asked for
    out = g(want, p)
    lo, hi, det = local_scales(p, out, tri)
    assert (det > 0).all() and lo.min() >= 0.2 and hi.max() <= 4.0
    assert np.array_equal(out[fixed], p[fixed])       # the border never moves
    moved = out[k] - p[k]
    assert moved @ [25.0, 18.0] > 0 and np.linalg.norm(moved) > 3.0   # it still moves that way


def test_the_rigid_motion_is_made_fold_free_against_the_fixed_border():
    p, tri, fixed = _grid()
    g = FoldGuard(p, tri, fixed)
    moved = p.copy()
    moved[~fixed] += [-16.0, 0.0]                     # the inside shifted through the left border
    assert (local_scales(p, moved, tri)[2] <= 0).any()
    rigid = g.rigid(moved)
    assert (local_scales(p, rigid, tri)[2] > 0).all()
    assert (rigid[~fixed, 0] < p[~fixed, 0]).all()    # still shifted left, only less


def test_openings_scale_freely_but_never_fold():
    p, tri, fixed = _grid()
    k = 14
    opening = tuple(int(i) for i in np.unique(tri[(tri == k).any(1)]))      # k and its neighbours
    g = FoldGuard(p, tri, fixed, openings=(opening,), lo=0.5, hi=2.0)
    want = p.copy()
    want[k] += [0.0, 6.0]                             # squashes the triangles above k past 0.5, not folding
    lo, hi, det = local_scales(p, want, tri)
    assert (det > 0).all() and lo.min() < 0.5
    assert np.array_equal(g(want, p), want)           # inside the opening: left as it is
    g2 = FoldGuard(p, tri, fixed, lo=0.5, hi=2.0)
    assert local_scales(p, g2(want, p), tri)[0].min() >= 0.5


def test_outline_points_follow_their_nearest_hull_edge():
    hull = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])   # in order
    pts = np.array([[5.0, -2.0], [12.0, 7.5], [5.0, -40.0]])
    pair, frac, w = outline_follow(pts, hull, reach=8.0)
    assert pair.tolist()[:2] == [[0, 1], [1, 2]]
    assert np.allclose(frac[:2], [0.5, 0.75]) and np.allclose(w, [0.75, 0.75, 0.0])
