"""The warp method's guard against folds and smears: a piecewise-affine warp that stays one-to-one.

The warp moves the target's points P (inner-face landmarks, head outline points, frame border) to
Q and maps every triangle of the target's triangulation affinely.  Its local affine in triangle t,
relative to the rigid head motion R (the similarity the whole head follows, P → R(P)),

    J_t = ∂Q/∂R(P) over t   (2 × 2),   singular values σ_min(J_t) ≤ σ_max(J_t),

is a fold where det J_t ≤ 0 (the triangle turned over: it covers pixels another triangle covers
too, so the backward map is not a function — mirrored shards of skin and background) and a smear
where σ_max ≫ 1 (a sliver of the photo stretched over a wide band, e.g. the strip between a
turning face oval and an ear that follows only R).  Both happen on real drivers: MediaPipe's face
oval is the silhouette of a 3-D mesh, so when the driver's head turns its 2-D points cross each
other and the head outline; a mouth that closes further than the target's closed mouth pushes the
lips through each other.

:class:`FoldGuard` returns Q' close to Q with, for every triangle, det J_t > 0 and (triangles of
some area outside the eye and mouth openings, which open and close for real)
``lo ≤ σ_min``, ``σ_max ≤ hi``:

1. the rigid motion itself is made fold-free first, shrinking it toward the identity at the
   vertices of folded triangles (the frame border is fixed, so head points clipped to the frame
   edge can fold against it under R alone);
2. the non-rigid part r = Q − R'(P) is smoothed at the vertices of offending triangles — each
   moves half-way to its neighbours' mean (Jacobi steps) — which removes a crossing without
   losing the motion around it;
3. what smoothing leaves, shrinking r toward 0 at the offending vertices settles: at r = 0 every
   J_t = I, so the loop ends within its rounds.

:func:`outline_follow` gives the head outline points a share of the face oval's non-rigid motion
(so the band between them moves with the face instead of being stretched).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FoldGuard", "local_scales", "outline_follow"]

#: step 3's factor on the non-rigid motion of an offending triangle's points, per round
SHRINK = 0.7

#: MediaPipe eye contours (left, right): the lid opening closes for real in a blink
EYE_CONTOURS = ((33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
                (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466))


#: MediaPipe lips, outer and inner contours: the lips stretch and squash for real
LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185,
        78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)


def _signed2(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """[T] twice the signed area of each triangle of ``p``."""
    v = p[tri]
    e1, e2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
    return e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]


def _edges_inverse(p: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([T, 2, 2] inverse of each triangle's edge matrix E = [v1 − v0, v2 − v0] (columns), [T]
    det E); degenerate triangles get the identity (they are never tested for scale)."""
    v = p[tri]
    e1, e2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
    det = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
    safe = np.where(np.abs(det) > 1e-12, det, 1.0)
    inv = np.empty((len(tri), 2, 2))
    inv[:, 0, 0], inv[:, 0, 1] = e2[:, 1] / safe, -e2[:, 0] / safe
    inv[:, 1, 0], inv[:, 1, 1] = -e1[:, 1] / safe, e1[:, 0] / safe
    return inv, det


def local_scales(a: np.ndarray, b: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per triangle of the affine a → b over it: (σ_min, σ_max, det) of its 2 × 2 linear part J."""
    inv, _ = _edges_inverse(a, tri)
    return _scales(inv, b, tri)


def _scales(inv: np.ndarray, b: np.ndarray, tri: np.ndarray):
    v = b[tri]
    e1, e2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
    # J = E_b · E_a⁻¹, rows x and y
    j00 = e1[:, 0] * inv[:, 0, 0] + e2[:, 0] * inv[:, 1, 0]
    j01 = e1[:, 0] * inv[:, 0, 1] + e2[:, 0] * inv[:, 1, 1]
    j10 = e1[:, 1] * inv[:, 0, 0] + e2[:, 1] * inv[:, 1, 0]
    j11 = e1[:, 1] * inv[:, 0, 1] + e2[:, 1] * inv[:, 1, 1]
    f2 = j00 * j00 + j01 * j01 + j10 * j10 + j11 * j11          # σ_min² + σ_max²
    det = j00 * j11 - j01 * j10                                  # σ_min · σ_max (signed)
    disc = np.sqrt(np.maximum(f2 * f2 - 4.0 * det * det, 0.0))
    return np.sqrt(np.maximum(f2 - disc, 0.0) * 0.5), np.sqrt((f2 + disc) * 0.5), det


class FoldGuard:
    """Keeps a warp of the points ``src`` ([N, 2]) over the triangulation ``tri`` ([T, 3]) one-to-one
    and unsmeared (see the module docstring).  ``fixed``: [N] bool, points that never move (the
    frame border); ``openings``: index groups whose triangles may scale freely (eyes, mouth);
    ``min_area``: twice-area (px²) below which a triangle is too thin for a meaningful scale."""

    def __init__(self, src: np.ndarray, tri: np.ndarray, fixed: np.ndarray, openings=(),
                 lo: float = 0.2, hi: float = 4.0, min_area: float = 0.5, rounds: int = 30,
                 smooth_rounds: int = 6):
        self.src = np.asarray(src, np.float64)
        self.tri = np.asarray(tri)
        self.fixed = np.asarray(fixed, bool)
        self.lo, self.hi, self.rounds, self.smooth_rounds = float(lo), float(hi), int(rounds), int(smooth_rounds)
        a0 = _signed2(self.src, self.tri)
        self.sign = np.sign(a0)
        inside = np.zeros((len(openings), len(self.src)), bool)
        for k, group in enumerate(openings):
            inside[k, list(group)] = True
        opening = inside[:, self.tri].all(2).any(0) if len(openings) else np.zeros(len(self.tri), bool)
        self.scaled = (np.abs(a0) >= min_area) & ~opening        # triangles held to [lo, hi]
        # each point's neighbours along triangle edges, padded with the point itself: [N, K]
        e = np.concatenate([self.tri[:, [0, 1]], self.tri[:, [1, 2]], self.tri[:, [2, 0]]])
        e = np.unique(np.concatenate([e, e[:, ::-1]]), axis=0)
        deg = np.bincount(e[:, 0], minlength=len(self.src))
        nbr = np.repeat(np.arange(len(self.src))[:, None], max(1, deg.max()), 1)
        col = np.arange(len(e)) - np.repeat(np.cumsum(deg) - deg, deg)
        nbr[e[:, 0], col] = e[:, 1]
        self._nbr, self._deg = nbr, np.maximum(deg, 1).astype(np.float64)
        # each point's triangles, padded with T (a sentinel past the last): [N, K']
        flat = self.tri.ravel()
        order = np.argsort(flat, kind="stable")
        cnt = np.bincount(flat, minlength=len(self.src))
        inc = np.full((len(self.src), max(1, cnt.max())), len(self.tri))
        inc[flat[order], np.arange(len(flat)) - np.repeat(np.cumsum(cnt) - cnt, cnt)] = order // 3
        self._inc = inc
        self.last = {"smoothed": 0, "shrunk": 0}

    def _folded(self, p: np.ndarray) -> np.ndarray:
        return _signed2(p, self.tri) * self.sign <= 0

    def _offending(self, inv: np.ndarray, p: np.ndarray, tris: np.ndarray | None = None) -> np.ndarray:
        """[T] or [len(tris)] bool: folded (relative to a fold-free rigid motion, det J ≤ 0 is
        exactly a fold) or scaled outside [lo, hi].  Without square roots: σ_min², σ_max² are the
        roots of q(x) = x² − f·x + det², f = ‖J‖², so σ_min ≥ lo ⇔ q(lo²) ≥ 0 and 2·lo² ≤ f, and
        σ_max ≤ hi ⇔ q(hi²) ≥ 0 and 2·hi² ≥ f."""
        tri, scaled = (self.tri, self.scaled) if tris is None else (self.tri[tris], self.scaled[tris])
        if tris is not None:
            inv = inv[tris]
        v = p[tri]
        eb = (v[:, 1:] - v[:, :1]).transpose(0, 2, 1)         # [k, 2 (x, y), 2 (edges)]
        j = eb @ inv                                          # J = E_b · E_a⁻¹
        f = (j * j).sum((1, 2))
        det = j[:, 0, 0] * j[:, 1, 1] - j[:, 0, 1] * j[:, 1, 0]
        d2 = det * det
        a, b = self.lo * self.lo, self.hi * self.hi
        inside = (a * a - f * a + d2 >= 0) & (2 * a <= f) & (b * b - f * b + d2 >= 0) & (2 * b >= f)
        return (det <= 0) | (scaled & ~inside)

    def _update(self, bad: np.ndarray, inv: np.ndarray, p: np.ndarray, v: np.ndarray) -> None:
        """``bad`` re-evaluated on the triangles of the points ``v`` (the only ones that moved)."""
        hit = np.zeros(len(self.tri) + 1, bool)
        hit[self._inc[v]] = True
        tris = np.flatnonzero(hit[:-1])
        bad[tris] = self._offending(inv, p, tris)

    def _vertices(self, bad: np.ndarray) -> np.ndarray:
        hit = np.zeros(len(self.src), bool)
        hit[self.tri[bad]] = True
        hit &= ~self.fixed
        return np.flatnonzero(hit)

    def _neighbour_mean(self, r: np.ndarray, v: np.ndarray) -> np.ndarray:
        # the padding repeats the point itself: take those copies off again
        n = self._nbr[v]
        pad = self._nbr.shape[1] - self._deg[v, None]
        return (r[n].sum(1) - pad * r[v]) / self._deg[v, None]

    def rigid(self, moved: np.ndarray) -> np.ndarray:
        """``moved`` (the rigid motion of ``src``; fixed points at rest) shrunk toward ``src`` at the
        vertices of folded triangles until none folds."""
        t = np.ones(len(self.src))
        r = moved - self.src
        p = moved
        for _ in range(self.rounds):
            bad = self._folded(p)
            if not bad.any():
                return p
            t[self._vertices(bad)] *= 0.5
            p = self.src + t[:, None] * r
        return self.src.copy()

    def __call__(self, dst: np.ndarray, rigid: np.ndarray) -> np.ndarray:
        """``dst`` ([N, 2], the warp's wanted points) made one-to-one and unsmeared around the
        fold-free rigid motion ``rigid`` (from :meth:`rigid`)."""
        inv, _ = _edges_inverse(rigid, self.tri)
        r = np.where(self.fixed[:, None], 0.0, dst - rigid)
        self.last = {"smoothed": 0, "shrunk": 0}
        bad = self._offending(inv, rigid + r)
        for _ in range(self.smooth_rounds):                # 2. Jacobi steps where it offends
            if not bad.any():
                return rigid + r
            v = self._vertices(bad)
            r[v] = 0.5 * r[v] + 0.5 * self._neighbour_mean(r, v)
            self.last["smoothed"] += 1
            self._update(bad, inv, rigid + r, v)
        for _ in range(self.rounds):                       # 3. shrink what is left toward R
            if not bad.any():
                return rigid + r
            v = self._vertices(bad)
            r[v] *= SHRINK
            self.last["shrunk"] += 1
            self._update(bad, inv, rigid + r, v)
        return rigid + r if not bad.any() else rigid.copy()


def outline_follow(points: np.ndarray, hull: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For outline points ([M, 2]) around the face hull polygon ``hull`` ([H, 2], in order): the
    two hull vertices (indices into ``hull``) of the nearest hull edge, the fraction along it and
    a weight 1 − d / reach (0 beyond ``reach``, d the distance to the edge).  A point then moves by
    weight × the hull's non-rigid motion interpolated at that edge point."""
    a, b = hull, np.roll(hull, -1, axis=0)
    ab = b - a
    rel = points[:, None] - a[None]                                          # [M, H, 2]
    f = np.clip((rel * ab[None]).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12)[None], 0.0, 1.0)
    dist = np.linalg.norm(rel - f[..., None] * ab[None], axis=-1)             # [M, H]
    e = dist.argmin(1)
    m = np.arange(len(points))
    w = np.clip(1.0 - dist[m, e] / max(reach, 1e-9), 0.0, 1.0)
    return np.stack([e, (e + 1) % len(hull)], 1), f[m, e], w
