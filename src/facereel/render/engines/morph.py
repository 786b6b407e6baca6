"""Automatic landmark morph: dense landmarks → Delaunay → piecewise-affine warp → cross-dissolve.

For the frame at fraction λ of gap j (Beier–Neely style, Wolberg's "Image morphing: a survey"):

1. shape S_λ = (1−λ)·S_j + λ·S_{j+1} over MediaPipe's 478 landmarks plus fixed points on the
   image border (so the background and the hair between the face and the border move smoothly
   and the frame edge stays put);
2. Delaunay triangulation of S_λ (it tiles the whole frame, border points include the corners);
3. per-pixel triangle index from a vectorised scan-line rasteriser (:func:`triangle_id_map`),
   per-triangle affine maps S_λ → S_j and S_λ → S_{j+1} solved in one batched call, and dense
   maps built by gathering those coefficients — one ``cv2.remap`` per keyframe, no Python loop
   over triangles;
4. cross-dissolve (1−λ)·warp_j + λ·warp_{j+1}.

``residual`` (default on): per gap, a smooth optical-flow field below the chin moves what the
landmarks do not reach there — shirt collar, lapels, the inside of the shoulders — so they do
not show twice mid-gap (:mod:`facereel.render.residual`).

With ``head`` on (the default where the person segmentation model is available), every keyframe
also gets a :class:`facereel.render.head.HeadLayer`: points on the head and hair outline, ears,
neck and shoulders join the correspondences, the outline is warped with the image (a fourth
channel) and :func:`facereel.render.head.composite` shows one feathered silhouette between the
two over the two cross-dissolving background plates, instead of two translucent ones.

The map is a backward map from a triangulation of the *target* shape, so it is continuous
everywhere: folds in the source shapes can squeeze texture but never open holes or tears.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from facereel.core.progress import Progress
from facereel.render.engines.base import Engine, Keyframe

log = logging.getLogger(__name__)


def border_points(width: int, height: int, per_side: int = 8) -> np.ndarray:
    """[4·per_side, 2] points on the frame's outer pixel edges (x = −½ … W−½), corners included.

    On the pixel *edges* rather than the outermost pixel centres so that every pixel centre lies
    strictly inside the triangulated area.
    """
    xs = np.linspace(-0.5, width - 0.5, per_side + 1)
    ys = np.linspace(-0.5, height - 0.5, per_side + 1)
    top = np.stack([xs[:-1], np.full(per_side, -0.5)], 1)
    right = np.stack([np.full(per_side, width - 0.5), ys[:-1]], 1)
    bottom = np.stack([xs[::-1][:-1], np.full(per_side, height - 0.5)], 1)
    left = np.stack([np.full(per_side, -0.5), ys[::-1][:-1]], 1)
    return np.concatenate([top, right, bottom, left]).astype(np.float64)


def triangulate(points: np.ndarray) -> np.ndarray:
    """[T, 3] int32 vertex indices of the Delaunay triangulation of [N, 2] points."""
    from scipy.spatial import Delaunay

    return Delaunay(points).simplices.astype(np.int32)


def scanline_spans(points: np.ndarray, triangles: np.ndarray, width: int, height: int):
    """Run-length cover of the [H, W] pixel grid by the triangles of ``points``.

    Returns (tri, row, start, length): span k covers the flat pixels start[k] … start[k]+length[k]−1
    of row ``row[k]`` and lies in triangle ``tri[k]``; spans are sorted and tile the grid.

    Scan-line rasterisation vectorised over every (triangle, row) pair: a triangle covers the
    rows ⌈y_top⌉ … ⌈y_bottom⌉−1 and, on a row, the pixel centres ⌈x_left⌉ … ⌈x_right⌉−1
    (half-open, so triangles sharing an edge neither overlap nor leave a gap: the shared edge's x
    is computed from the same two vertices in the same order in both).  Sorting the spans by
    their first pixel gives the run-length encoding; a pixel no span covers (only possible outside
    the triangulated hull) joins the span to its left.
    """
    pts = np.asarray(points, dtype=np.float64)
    tri = np.asarray(triangles)
    v = pts[tri]                                         # [T, 3, 2]
    order = np.argsort(v[..., 1], axis=1, kind="stable")
    v = np.take_along_axis(v, order[..., None], axis=1)  # vertices sorted by y: top, mid, bottom
    top, mid, bot = v[:, 0], v[:, 1], v[:, 2]
    y0 = np.clip(np.ceil(top[:, 1]), 0, height).astype(np.int64)
    y1 = np.clip(np.ceil(bot[:, 1]), 0, height).astype(np.int64)
    counts = np.maximum(y1 - y0, 0)
    total = int(counts.sum())
    if total == 0:
        z = np.zeros(1, np.int64)
        return z, z, z, np.array([width * height])
    t = np.repeat(np.arange(len(tri)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    y = (np.repeat(y0, counts) + (np.arange(total) - first)).astype(np.float64)

    def edge_x(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        # x where row y crosses edge p→q (p above q); same float ops for both triangles of an edge
        dy = q[t, 1] - p[t, 1]
        return p[t, 0] + (y - p[t, 1]) * (q[t, 0] - p[t, 0]) / np.where(dy == 0, 1.0, dy)

    x_long = edge_x(top, bot)
    upper = y < mid[t, 1]
    x_short = np.where(upper, edge_x(top, mid), edge_x(mid, bot))
    s = np.clip(np.ceil(np.minimum(x_long, x_short)), 0, width).astype(np.int64)
    e = np.clip(np.ceil(np.maximum(x_long, x_short)), 0, width).astype(np.int64)
    keep = e > s
    row = y[keep].astype(np.int64)
    start = row * width + s[keep]
    ids = t[keep]
    o = np.argsort(start, kind="stable")
    start, ids, row = start[o], ids[o], row[o]
    start[0] = 0  # pixels before the first span (outside the hull) join it
    length = np.diff(np.append(start, height * width))
    return ids, row, start, length


def triangle_id_map(points: np.ndarray, triangles: np.ndarray, width: int, height: int) -> np.ndarray:
    """[H, W] int32 index of the triangle containing each pixel centre (x, y integer)."""
    ids, _, _, length = scanline_spans(points, triangles, width, height)
    return np.repeat(ids.astype(np.int32), length).reshape(height, width)


def affine_coefficients(dst: np.ndarray, src: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """[T, 3, 2] per-triangle affine M with [x, y, 1] @ M = source point, for target points ``dst``.

    Solves all triangles in one batched call; degenerate (zero-area) target triangles cover no
    pixel centre and get the identity.
    """
    d = np.asarray(dst, np.float64)[triangles]           # [T, 3, 2]
    s = np.asarray(src, np.float64)[triangles]           # [T, 3, 2]
    a = np.concatenate([d, np.ones(d.shape[:2] + (1,))], axis=2)  # [T, 3, 3] rows [x y 1]
    det = np.linalg.det(a)
    bad = np.abs(det) < 1e-9
    if bad.any():
        a[bad] = np.eye(3)
        s = s.copy()
        s[bad] = np.eye(3)[:, :2]
    return np.linalg.solve(a, s)


@lru_cache(maxsize=4)
def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs.setflags(write=False)
    ys.setflags(write=False)
    return xs, ys


def dense_maps(
    dst: np.ndarray, sources: Sequence[np.ndarray], width: int, height: int, triangles: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Backward maps (map_x, map_y) [H, W] float32 of the piecewise-affine warps dst ← each source.

    Along a span the map is affine in x: map(x, y) = a_t·x + (b_t·y + c_t).  Expanding the
    per-span intercept and slope with ``np.repeat`` (a sequential fill, no random gather) and one
    multiply-add per pixel builds each map.
    """
    if triangles is None:
        triangles = triangulate(dst)
    ids, row, _, length = scanline_spans(dst, triangles, width, height)
    xs, _ = _grid(width, height)
    xf = xs.reshape(-1)
    yr = row.astype(np.float64)
    out = []
    for src in sources:
        m = affine_coefficients(dst, src, triangles)[ids]  # [K, 3, 2] per span
        maps = []
        for c in (0, 1):
            slope = np.repeat(m[:, 0, c].astype(np.float32), length)
            icpt = np.repeat((m[:, 1, c] * yr + m[:, 2, c]).astype(np.float32), length)
            slope *= xf
            slope += icpt
            maps.append(slope.reshape(height, width))
        out.append((maps[0], maps[1]))
    return out


def warp_piecewise_affine(image: np.ndarray, src: np.ndarray, dst: np.ndarray, triangles: np.ndarray | None = None) -> np.ndarray:
    """Warps ``image`` so that its points ``src`` land on ``dst`` (triangulation of ``dst``)."""
    import cv2

    h, w = image.shape[:2]
    ((mx, my),) = dense_maps(dst, [src], w, h, triangles)
    return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def face_rings(shapes: Sequence[np.ndarray], width: int, height: int,
               scales: Sequence[float] = (1.35, 1.8)) -> list[np.ndarray]:
    """Each [N, 2] shape with rings around the face appended: [N + R·H, 2].

    A ring is the face outline (the hull of the *mean* shape, so every shape uses the same
    landmark indices) scaled about its centre by one of ``scales``.  Built from each shape's own
    landmarks, the rings carry ears, hair and shoulders along with the face instead of leaving
    them to the large triangles that reach the frame border.  Clipped to the pixel centres,
    strictly inside the border points' rectangle, so the triangulated area is always the frame.
    """
    shapes = [np.asarray(m, np.float64) for m in shapes]
    if not shapes or not scales:
        return shapes
    from scipy.spatial import ConvexHull

    hull = ConvexHull(np.mean(shapes, axis=0)).vertices
    lo, hi = np.array([0.0, 0.0]), np.array([width - 1.0, height - 1.0])
    out = []
    for m in shapes:
        c = m[hull].mean(0)
        out.append(np.concatenate([m, *(np.clip(c + r * (m[hull] - c), lo, hi) for r in scales)]))
    return out


def warp_to_landmarks(image: np.ndarray, src_landmarks: np.ndarray, dst_landmarks: np.ndarray,
                      border_per_side: int = 8, ring_scales: Sequence[float] = (1.35, 1.8)) -> np.ndarray:
    """Warps ``image`` (its face has ``src_landmarks``) so that the face lands on ``dst_landmarks``.

    The morph engine's warp for one image: dense landmarks + face rings + fixed border points,
    Delaunay of the target shape, one ``cv2.remap``.  Used by the latent engine to align the real
    keyframe with a generated frame before the seed's keyframe blend.
    """
    h, w = image.shape[:2]
    src = np.clip(np.asarray(src_landmarks, np.float64), 0, [w - 1, h - 1])
    dst = np.clip(np.asarray(dst_landmarks, np.float64), 0, [w - 1, h - 1])
    if src.shape != dst.shape:
        raise ValueError(f"landmark sets differ in shape: {src.shape} vs {dst.shape}")
    src, dst = face_rings([src, dst], w, h, ring_scales)
    border = border_points(w, h, border_per_side)
    return warp_piecewise_affine(image, np.concatenate([src, border]), np.concatenate([dst, border]))


def _signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """[T] twice the signed area of each triangle."""
    v = points[triangles]
    e1, e2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
    return e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]


def _catmull_rom(p0, p1, p2, p3, t: float) -> np.ndarray:
    """Uniform Catmull-Rom between p1 (t=0) and p2 (t=1): C1 through every keyframe shape."""
    t2, t3 = t * t, t * t * t
    return 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (3 * p1 - p0 - 3 * p2 + p3) * t3)


class MorphEngine(Engine):
    """Landmark morph between aligned crops (see the module docstring).

    ``path="linear"`` interpolates landmark shapes linearly per gap; ``"spline"`` (used by
    ``--stabilize``) follows a C1 Catmull-Rom path through all keyframe shapes, removing the
    velocity jumps at keyframes.  Keyframes without landmarks (none given, detection failed)
    make their gaps a plain cross-dissolve, with a warning.
    """

    name = "morph"
    batch_size = 1

    def __init__(self, border_per_side: int = 8, path: str = "linear", detect: bool = True,
                 ring_scales: Sequence[float] = (1.35, 1.8), head: bool | str = "auto", residual: bool = True):
        if path not in ("linear", "spline"):
            raise ValueError(f"unknown landmark path {path!r}; use 'linear' or 'spline'")
        if head not in (True, False, "auto"):
            raise ValueError(f"head must be True, False or 'auto', got {head!r}")
        self.head = head
        self.residual = bool(residual)
        self.flows: dict = {}  # gap j -> facereel.render.residual.BandFlow
        self.layers: list | None = None
        self.border_per_side = int(border_per_side)
        self.ring_scales = tuple(float(r) for r in ring_scales)
        self.path = path
        self.detect = detect
        self._recent: dict[int, tuple] = {}
        self._tri: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def prepare(self, keyframes: Sequence[Keyframe], progress: Progress | None = None) -> None:
        super().prepare(keyframes, progress)
        if len(self.keyframes) < 2:
            raise ValueError("the morph engine needs at least 2 keyframes")
        h, w = self.keyframes[0].image.shape[:2]
        if any(k.image.shape[:2] != (h, w) for k in self.keyframes):
            raise ValueError("all keyframes must have the same size")
        self.size = (w, h)
        self.border = border_points(w, h, self.border_per_side)
        marks: list[np.ndarray | None] = []
        for i, k in enumerate(self.keyframes):
            lm = k.landmarks
            if lm is None and self.detect:
                lm = _detect(k.image)
                if lm is not None:
                    k.landmarks = lm
            if lm is None:
                log.warning("no landmarks for keyframe %d (%s): its gaps cross-dissolve without warping", i, k.label or "?")
            marks.append(None if lm is None else np.clip(np.asarray(lm, np.float64), 0, [w - 1, h - 1]))
            if progress:
                progress(i + 1, len(self.keyframes))
        counts = {m.shape[0] for m in marks if m is not None}
        if len(counts) > 1:
            raise ValueError(f"keyframe landmark sets differ in size: {sorted(counts)}")
        have = [i for i, m in enumerate(marks) if m is not None]
        n_face = marks[have[0]].shape[0] if have else 0
        self.layers = self._head_layers(marks, have) if self.head and len(have) >= 2 else None
        if self.layers is not None:
            for i in have:
                marks[i] = np.concatenate([marks[i], self.layers[i].points])
        # otherwise rings around the face (see face_rings) for every keyframe that has landmarks
        elif have and self.ring_scales:
            ringed = face_rings([marks[i] for i in have], w, h, self.ring_scales)
            for i, m in zip(have, ringed, strict=True):
                marks[i] = m
        self.marks = marks
        self._recent = {}
        self._tri = {}
        self.flows = self._band_flows(n_face) if self.residual else {}

    def _band_flows(self, n_face: int) -> dict:
        """The residual flow below the chin of every gap whose keyframes both have landmarks
        (:mod:`facereel.render.residual`), two gaps at a time (OpenCV releases the GIL)."""
        from concurrent.futures import ThreadPoolExecutor

        import cv2

        from facereel.render.residual import band_flow

        gaps = [j for j in range(len(self.marks) - 1) if self.marks[j] is not None and self.marks[j + 1] is not None]
        w, h = self.size

        def one(j: int):
            a, b, t = self.shapes(j, 0.5)
            (ax, ay), (bx, by) = dense_maps(t, [a, b], w, h, self._triangles(j, t))
            layered = self.layers is not None and self.layers[j] is not None and self.layers[j + 1] is not None
            src_a = self.layers[j].rgba if layered else self.keyframes[j].image
            src_b = self.layers[j + 1].rgba if layered else self.keyframes[j + 1].image
            wa = cv2.remap(src_a, ax, ay, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            wb = cv2.remap(src_b, bx, by, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            support = None
            if layered:  # where either warped layer has person (its SDF channel's ramp)
                from facereel.render.head import _ramp_lut

                lut = _ramp_lut(self.layers[j].sdf_scale, self.layers[j].feather)
                support = cv2.max(cv2.LUT(cv2.extractChannel(wa, 3), lut), cv2.LUT(cv2.extractChannel(wb, 3), lut))
            return band_flow(wa, wb, t[:n_face], support)

        if not gaps:
            return {}
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="morph-flow") as pool:
            flows = dict(zip(gaps, pool.map(one, gaps)))
        return {j: f for j, f in flows.items() if f is not None}

    def _residual_maps(self, j: int, lam: float, maps_a, maps_b):
        """The morph's maps of gap j with its residual flow applied (see :mod:`facereel.render.residual`)."""
        flow = self.flows.get(j)
        if flow is None:
            return maps_a, maps_b
        from facereel.render.residual import apply

        return apply(flow, maps_a, -float(lam)), apply(flow, maps_b, 1.0 - float(lam))

    def _head_layers(self, marks: list, have: list[int]) -> list | None:
        """One HeadLayer per keyframe with landmarks, or None (then the face rings are used)."""
        from concurrent.futures import ThreadPoolExecutor

        from scipy.spatial import ConvexHull

        from facereel.render.head import build_layer

        hull = ConvexHull(np.mean([marks[i] for i in have], axis=0)).vertices
        layers: list = [None] * len(marks)

        def build(i: int):
            k = self.keyframes[i]
            return build_layer(k.image, marks[i], hull, k.meta.get("person_mask"))

        # two keyframes at a time: the segmenter runs one image at a time (its lock), but the
        # distance transforms and the background fill of one layer (OpenCV, GIL released)
        # overlap with the next one's segmentation
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {i: pool.submit(build, i) for i in have}
        for i in have:
            k = self.keyframes[i]
            try:
                layers[i] = futures[i].result()
            except Exception as exc:  # noqa: BLE001 - no segmentation model: the face-only morph
                if self.head is True:
                    raise
                log.warning("person segmentation unavailable (%s): hair and shoulders may ghost", exc)
                return None
            if layers[i] is None:
                log.warning("no person outline found on keyframe %d (%s): using the face-only morph",
                            i, k.label or "?")
                return None
        return layers

    # -- shapes -------------------------------------------------------------------------------
    def _full(self, k: int) -> np.ndarray | None:
        m = self.marks[k]
        return None if m is None else np.concatenate([m, self.border])

    def shapes(self, j: int, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(S_j, S_{j+1}, S_λ): source shapes and the interpolated target shape, [N+B, 2] each."""
        a, b = self._full(j), self._full(j + 1)
        if a is None or b is None:  # no correspondence: identity warp (plain cross-dissolve)
            return self.border, self.border, self.border
        if self.path == "spline":
            n = len(self.marks)
            prev = self._full(j - 1) if j - 1 >= 0 else None
            nxt = self._full(j + 2) if j + 2 < n else None
            p0 = a if prev is None else prev
            p3 = b if nxt is None else nxt
            t = _catmull_rom(p0, a, b, p3, lam)
            w, h = self.size
            t = np.clip(t, 0.0, [w - 1.0, h - 1.0])     # the spline may overshoot the frame
            t[-len(self.border):] = self.border
            return a, b, t
        return a, b, (1.0 - lam) * a + lam * b

    def warps(self, j: int, lam: float) -> tuple[np.ndarray, np.ndarray]:
        """Keyframes j and j+1 warped onto S_λ ([S, S, 3] uint8 each)."""
        import cv2

        a, b, t = self.shapes(j, lam)
        w, h = self.size
        ia, ib = self.keyframes[j].image, self.keyframes[j + 1].image
        if t is self.border:
            return ia, ib
        ma, mb = dense_maps(t, [a, b], w, h, self._triangles(j, t))
        (ax, ay), (bx, by) = self._residual_maps(j, lam, ma, mb)
        return (
            cv2.remap(ia, ax, ay, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
            cv2.remap(ib, bx, by, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
        )

    def _triangles(self, j: int, t: np.ndarray) -> np.ndarray:
        """Delaunay triangulation of gap j's middle shape, reused while no triangle folds at ``t``.

        A triangulation whose triangles all keep their orientation (and fixed border) still tiles
        the frame, so reusing it is exact; it saves a Delaunay per frame and, with no edge flips
        inside a gap, keeps the warp temporally smooth.  Any fold → Delaunay of ``t`` itself.
        """
        cached = self._tri.get(j)
        if cached is None:
            mid = self.shapes(j, 0.5)[2]
            tri = triangulate(mid)
            cached = self._tri[j] = (tri, np.sign(_signed_areas(mid, tri)))
        tri, sign = cached
        area = _signed_areas(t, tri)
        if np.all(area * sign > 1e-6):
            return tri
        return triangulate(t)

    # -- Engine API ---------------------------------------------------------------------------
    concurrent = True  # _render keeps its parts in its return value, not in the engine

    def _render(self, j: int, lam: float) -> tuple[np.ndarray, tuple]:
        """(frame, parts): ``parts`` is what :meth:`_source` needs for seed Eq. 5 on aligned geometry."""
        import cv2

        if self.layers is not None and self.layers[j] is not None and self.layers[j + 1] is not None:
            return self._render_head(j, lam)
        wa, wb = self.warps(j, lam)
        out = cv2.addWeighted(wa, 1.0 - float(lam), wb, float(lam), 0.0)
        return out, (out, j, wa, wb)

    def _render_head(self, j: int, lam: float) -> tuple[np.ndarray, tuple]:
        import cv2

        from facereel.render.head import composite

        la, lb = self.layers[j], self.layers[j + 1]
        a, b, t = self.shapes(j, lam)
        w, h = self.size
        ma, mb = dense_maps(t, [a, b], w, h, self._triangles(j, t))
        (ax, ay), (bx, by) = self._residual_maps(j, lam, ma, mb)
        wa = cv2.remap(la.rgba, ax, ay, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        wb = cv2.remap(lb.rgba, bx, by, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out, person, m, alpha_a, alpha_b, ra, rb = composite(wa, wb, la.background, lb.background, lam,
                                                             la.sdf_scale, la.feather, parts=True)
        return out, (out, j, (ra, alpha_a), (rb, alpha_b), person, m)

    def frame(self, j: int, lam: float) -> np.ndarray:
        self._recent = {}
        out, parts = self._render(j, lam)
        self._recent[id(out)] = parts
        return out

    def frames(self, positions: Sequence[tuple[int, float]]) -> list[np.ndarray]:
        self._recent = {}
        outs = []
        for j, lam in positions:
            out, parts = self._render(j, lam)
            self._recent[id(out)] = parts
            outs.append(out)
        return outs

    def blended_frame(self, j: int, lam: float, opacity: float) -> np.ndarray:
        from facereel.render.blend import blend_keyframe, blend_weight, nearest_keyframe

        out, parts = self._render(j, lam)
        w = blend_weight(lam, opacity)
        if w > 0:
            out = blend_keyframe(out, self._source(nearest_keyframe(j, lam), parts), w)
        return out

    def blend_source(self, k: int, frame: np.ndarray) -> np.ndarray:
        """Keyframe k warped onto ``frame``'s interpolated shape (the frames of the last call).

        Mixing the warped keyframe instead of the raw crop keeps seed Eq. 5 from adding a ghost
        of the un-warped face; for frames this engine did not just render it is the crop itself.
        """
        rec = self._recent.get(id(frame))
        if rec is None or rec[0] is not frame:
            return self.keyframes[k].image
        return self._source(k, rec)

    def _source(self, k: int, rec: tuple) -> np.ndarray:
        if len(rec) == 6:
            # head layers: keyframe k's colour inside the one outline, its own background plate
            _, j, la, lb, person, m = rec
            if k in (j, j + 1):
                from facereel.render.head import layer_over

                wk, ak = la if k == j else lb
                return layer_over(wk, ak, person, m, self.layers[k].background)
            return self.keyframes[k].image
        _, j, wa, wb = rec
        if k == j:
            return wa
        if k == j + 1:
            return wb
        return self.keyframes[k].image


def _detect(image: np.ndarray) -> np.ndarray | None:
    from facereel.faces.landmarks import landmarks_mediapipe

    res = landmarks_mediapipe(image)
    return None if res is None else np.asarray(res.points, np.float64)
