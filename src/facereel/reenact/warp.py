"""``--method warp``: the target photo driven by the driver's motion, offline, no generator.

Per driver frame (MediaPipe 478 landmarks D_t; D_0 = the driver's neutral frame, the first one
with a face):

1. N, a similarity fitted once from D_0 onto the target's crop landmarks T, carries the driver's
   motion into the target's frame: Δ_t = N(D_t) − N(D_0) (head pose and expression together);
2. Δ_t is smoothed over time (exponential, ``options.smoothing``) against landmark jitter;
3. the target's inner face moves to T + Δ_t; its head outline, hair, ears and neck (the points of
   :class:`facereel.render.head.HeadLayer`) follow the similarity that best maps N(D_0) onto
   N(D_t) (the rigid head motion) plus, near the face, a share of the face oval's own motion
   (``OUTLINE_REACH``, ``OUTLINE_FOLLOW``: the band between oval and ear moves with the face
   instead of being stretched when the head turns);
4. the fold guard (:class:`facereel.reenact.fold.FoldGuard`) keeps the warp one-to-one and
   unsmeared: no triangle of the target's triangulation turns over, none outside the eye and
   mouth openings scales past ``STRETCH`` (a turning driver's face oval crosses the outline and
   its own points, a smiling neutral frame pushes the target's closed lips through each other);
   the motion is smoothed, then damped, only where it would;
5. one piecewise-affine warp (:mod:`facereel.render.engines.morph`) moves the target crop and its
   person outline, composited over the target's own background plate with a feathered edge;
6. the mouth: where the driver's inner-lip polygon opens wider than the target's, the inner
   mouth of the warped face is darkened by the opening (a stretched lip is not a mouth interior);
   the eyes close with the eyelid landmarks, which the warp carries;
7. ``--paste-back``: the crop blended into the target photo by a
   :class:`facereel.reenact.paste.PhotoPaste` prepared once (the mask's box only, ``--feather``).

Two implementations of the same picture (``WarpMethod.impl``):

* ``fast`` (the default): everything about the target computed once in :meth:`WarpMethod.prepare`
  (triangulation, ramp table); the driver's landmarks from a landmarker of the method's own (one
  face, no blendshapes: the same points as the shared one), on the frame downscaled to at most
  ``LANDMARK_MAX`` px (as :func:`facereel.faces.landmarks.landmarks_mediapipe` does), in a worker
  thread fed by another that decodes the driver (MediaPipe and libav release the GIL), both
  running ahead of the warp (:meth:`WarpMethod.drive_frames`); ``track`` True: MediaPipe's VIDEO mode, which
  follows the face from the previous frame's mesh instead of detecting it in every frame (a
  little cheaper, but its points differ from the detector's by about a pixel, so it is off by
  default); the target's own triangulation used in every frame (the fold guard keeps all its
  triangles' orientations, so with the fixed border it still tiles the crop; were one to fold,
  the frame would be triangulated anew); the backward map built at 1/``MAP_STEP`` of the crop side and
  bilinearly upsampled (a piecewise-affine map is reproduced exactly inside every triangle; only
  its kinks along the edges are rounded); the composite in uint8; the mouth only in its box.
* ``reference``: the first implementation (a full-resolution map per frame over the target's
  triangulation, the float composite, the shared IMAGE-mode landmarker), kept to test the fast one against and as the
  bench's baseline.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from facereel.options.choices import IMPLEMENTATIONS
from facereel.reenact.base import NoFaceError, ReenactMethod

log = logging.getLogger(__name__)

#: MediaPipe inner-lip contour (upper then lower), for the mouth interior
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
#: fast path: driver frames larger than this (px, longer side) are downscaled for the landmarker
#: (the shared landmarker's limit for whole images, so both find the same points)
LANDMARK_MAX = 1280
#: fast path: the warp's backward map is built on a grid MAP_STEP times coarser than the crop
MAP_STEP = 2
#: fast path: driver frames the landmark thread may run ahead of the warp
LOOKAHEAD = 4
#: fold guard (:class:`facereel.reenact.fold.FoldGuard`): the local scale of every triangle
#: relative to the rigid head motion kept in [lo, hi] (outside the eye and mouth openings)
STRETCH = (0.2, 4.0)
#: head outline points within OUTLINE_REACH × the crop side of the face hull follow the hull's
#: non-rigid motion, fading linearly with the distance; the person outline's own points (the
#: outer ring) take OUTLINE_FOLLOW of that, so the background plate behind them is hardly uncovered
OUTLINE_REACH = 0.25
OUTLINE_FOLLOW = 0.3
#: the mouth interior's colour (RGB) where the driver's mouth opens
MOUTH_DARK = (40, 18, 20)

_END = object()


class WarpMethod(ReenactMethod):
    name = "warp"
    #: ``fast`` | ``reference`` (see the module docstring)
    impl = "fast"
    #: fast path: MediaPipe's VIDEO mode (face tracking) for the driver
    track = False
    #: fast path: the driver decoded in a thread of its own (else in the landmarks' thread)
    decode_thread = True

    def __init__(self, impl: str | None = None, track: bool | None = None):
        if track is not None:
            self.track = bool(track)
        if impl is not None:
            if impl not in IMPLEMENTATIONS:
                raise ValueError(f"impl must be 'fast' or 'reference', got {impl!r}")
            self.impl = impl
        self._landmarker = None

    def prepare(self, target_rgb: np.ndarray, options) -> None:
        from scipy.spatial import ConvexHull

        from facereel.faces.align import photo_to_crop
        from facereel.reenact.target import select_target_face
        from facereel.render.engines.morph import _signed_areas, border_points, triangulate
        from facereel.render.head import _ramp_lut, build_layer

        self.options = options
        face = select_target_face(target_rgb, options)
        self.face = face
        self.photo = np.ascontiguousarray(target_rgb, dtype=np.uint8)
        crop = face.alignment.image
        s = crop.shape[0]
        self.size = s
        self.target_lm = np.clip(photo_to_crop(face.alignment, face.landmarks.points), 0, s - 1)
        hull = ConvexHull(self.target_lm).vertices
        try:
            self.layer = build_layer(crop, self.target_lm, hull)
        except Exception as exc:  # noqa: BLE001 - no segmentation model: inner face + frame border only
            log.warning("person segmentation unavailable (%s): the head outline will not move", exc)
            self.layer = None
        self.crop = crop
        self.head_pts = self.layer.points if self.layer is not None else np.zeros((0, 2))
        self.border = border_points(s, s, 8)
        self.src = np.concatenate([self.target_lm, self.head_pts, self.border])
        self.neutral = None
        self.norm = None
        self.delta = None
        self.missing = 0
        self.frames = 0
        self.retriangulated = 0
        self._mouth_t = _polygon_area(self.target_lm[list(INNER_LIPS)])
        # fast path: the target's triangulation (and each triangle's orientation), the ramp of
        # the outline channel as uint8 tables (weight of the person, of the background)
        tri = triangulate(self.src)
        self._tri = (tri, np.sign(_signed_areas(self.src, tri)))
        # the fold guard over the target's triangulation (frame border fixed; eyes and inner
        # lips scale freely, never fold) and the outline points' share of the face oval's motion
        from facereel.reenact.fold import EYE_CONTOURS, LIPS, FoldGuard, outline_follow
        from facereel.render.head import ray_directions

        fixed = np.zeros(len(self.src), bool)
        fixed[len(self.src) - len(self.border):] = True
        self._guard = FoldGuard(self.src, tri, fixed, (LIPS, *EYE_CONTOURS), *STRETCH,
                                min_area=0.5 * (s / 256.0) ** 2)
        edge, frac, w = outline_follow(self.head_pts, self.target_lm[hull], OUTLINE_REACH * s)
        w[:len(ray_directions())] *= OUTLINE_FOLLOW       # the person outline's own points
        self._follow = (hull[edge], frac[:, None], w[:, None])
        if self.layer is not None:
            ramp = _ramp_lut(self.layer.sdf_scale, self.layer.feather)
            self._lut8 = np.rint(ramp * 255.0).astype(np.uint8).reshape(1, 256)
        # --paste-back: the photo, the mask's box and its maps prepared once; per frame the box only
        self._paste = None
        if getattr(options, "paste_back", False):
            from facereel.reenact.paste import PhotoPaste

            self._paste = PhotoPaste(self.photo, face.alignment, s, float(getattr(options, "feather", 0.08)))

    # -- landmarks --------------------------------------------------------------------------
    def _new_landmarker(self):
        from facereel.faces.landmarks import FaceLandmarker

        return FaceLandmarker(num_faces=1, video=self.track, blendshapes=False)

    def landmarks(self, frame_rgb: np.ndarray, landmarker=None) -> np.ndarray | None:
        """[478, 2] float64 MediaPipe points of the driver frame's face (frame pixels), or None."""
        frame_rgb = np.ascontiguousarray(frame_rgb, dtype=np.uint8)
        if self.impl == "reference":
            from facereel.faces.landmarks import landmarks_mediapipe

            lm = landmarks_mediapipe(frame_rgb)
            return None if lm is None else np.asarray(lm.points, np.float64)
        import cv2

        if landmarker is None:
            if self._landmarker is None:
                self._landmarker = self._new_landmarker()
            landmarker = self._landmarker
        h, w = frame_rgb.shape[:2]
        scale = min(1.0, LANDMARK_MAX / max(h, w))
        small = frame_rgb
        if scale < 1.0:
            small = cv2.resize(frame_rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                               interpolation=cv2.INTER_AREA)
        lm = landmarker.largest(small)
        if lm is None:
            return None
        return np.asarray(lm.points, np.float64) / scale

    # -- driving ----------------------------------------------------------------------------
    def drive(self, frame_rgb: np.ndarray) -> np.ndarray | None:
        return self.drive_points(self.landmarks(frame_rgb))

    def drive_frames(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray | None]:
        """Fast path: the driver's landmarks found in a worker thread (with a landmarker of its
        own) up to ``LOOKAHEAD`` frames ahead of the warp in this one; the driver decoded in a
        thread of its own ahead of that (``decode_thread``) or in the landmarks' thread."""
        if self.impl == "reference":
            yield from super().drive_frames(frames)
            return
        decoded = _run_ahead(lambda: iter(frames), "warp-decode") if self.decode_thread else frames

        def landmarks_of() -> Iterator[np.ndarray | None]:
            landmarker = self._new_landmarker()
            try:
                for frame in decoded:
                    yield self.landmarks(frame, landmarker)
            finally:
                landmarker.close()

        for d in _run_ahead(landmarks_of, "warp-landmarks"):
            yield self.drive_points(d)

    def drive_points(self, d: np.ndarray | None) -> np.ndarray | None:
        """The output frame for a driver frame's landmarks ``d`` ([478, 2], frame pixels; None:
        no face in the frame, counted)."""
        from facereel.render.stabilize import fit_similarity

        self.frames += 1
        if d is None:
            self.missing += 1
            return None
        if self.neutral is None:
            self.neutral = d
            self.norm = fit_similarity(d, self.target_lm)          # driver → target crop frame
        n = self.norm
        d0 = self.neutral @ n[:, :2].T + n[:, 2]
        # the frame's own position and size in the driver video are not motion of the head:
        # normalise each frame onto the target, then put back the roll relative to the neutral
        nt = fit_similarity(d, self.target_lm)
        dn = d @ nt[:, :2].T + nt[:, 2]
        r = fit_similarity(self.neutral, d)
        ang = float(np.arctan2(r[1, 0], r[0, 0]))
        c = dn.mean(0)
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        dn = (dn - c) @ rot.T + c
        delta = dn - d0
        a = float(getattr(self.options, "smoothing", 0.5))
        self.delta = delta if self.delta is None else a * self.delta + (1.0 - a) * delta
        return self.render(self.delta, d0 + self.delta, d0)

    # -- rendering --------------------------------------------------------------------------
    def render(self, delta: np.ndarray, moved: np.ndarray, rest: np.ndarray) -> np.ndarray:
        """The target with its landmarks moved by ``delta`` (crop pixels) and its head outline by
        the similarity ``rest`` → ``moved``."""
        from facereel.render.stabilize import fit_similarity

        s, nl, nb = self.size, len(self.target_lm), len(self.border)
        rig = fit_similarity(rest, moved)
        rigid = np.concatenate([np.clip(self.src[:-nb] @ rig[:, :2].T + rig[:, 2], 0, s - 1), self.border])
        rigid = self._guard.rigid(rigid)
        lm = np.clip(self.target_lm + delta, 0, s - 1)
        # the outline points near the face follow the face oval's non-rigid motion (interpolated
        # at their nearest hull edge), fading to the rigid motion at OUTLINE_REACH
        pair, f, w = self._follow
        res = lm - rigid[:nl]
        head = np.clip(rigid[nl:-nb] + w * ((1.0 - f) * res[pair[:, 0]] + f * res[pair[:, 1]]), 0, s - 1)
        dst = self._guard(np.concatenate([lm, head, self.border]), rigid)
        lm = dst[:nl]
        out = self._render_reference(dst, lm) if self.impl == "reference" else self._render_fast(dst, lm)
        return out if self._paste is None else self._paste(out)

    def _render_reference(self, dst: np.ndarray, lm: np.ndarray) -> np.ndarray:
        import cv2

        from facereel.render.engines.morph import dense_maps
        from facereel.render.head import _ramp_lut

        s = self.size
        # the target's triangulation, which the fold guard keeps unfolded (a Delaunay triangulation
        # of the moved points can hold triangles that are turned over in the target)
        ((mx, my),) = dense_maps(dst, [self.src], s, s, self._tri[0])
        if self.layer is None:
            out = cv2.remap(self.crop, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        else:
            w = cv2.remap(self.layer.rgba, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            m = _ramp_lut(self.layer.sdf_scale, self.layer.feather)[w[..., 3]]
            out = cv2.blendLinear(np.ascontiguousarray(w[..., :3]), self.layer.background, m, 1.0 - m)
        return self._mouth_reference(out, lm)

    def _render_fast(self, dst: np.ndarray, lm: np.ndarray) -> np.ndarray:
        import cv2

        mx, my = self._maps(dst)
        if self.layer is None:
            out = cv2.remap(self.crop, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        else:
            w = cv2.remap(self.layer.rgba, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            # M·person + (1 − M)·background with M = ramp(outline channel), in uint8 (±1 of the
            # float blend): the tables give M and 1 − M as 0..255
            m = cv2.LUT(cv2.extractChannel(w, 3), self._lut8)
            m3 = cv2.merge([m, m, m])
            out = cv2.add(cv2.multiply(cv2.cvtColor(w, cv2.COLOR_RGBA2RGB), m3, scale=1.0 / 255.0),
                          cv2.multiply(self.layer.background, cv2.bitwise_not(m3), scale=1.0 / 255.0))
        return self._mouth_fast(out, lm)

    def _triangles(self, dst: np.ndarray) -> np.ndarray:
        """The last triangulation while every triangle keeps its orientation at ``dst``, else a
        Delaunay triangulation of ``dst`` (kept for the next frames)."""
        from facereel.render.engines.morph import _signed_areas, triangulate

        tri, sign = self._tri
        if np.all(_signed_areas(dst, tri) * sign > 1e-6):
            return tri
        tri = triangulate(dst)
        self._tri = (tri, np.sign(_signed_areas(dst, tri)))
        self.retriangulated += 1
        return tri

    def _maps(self, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Backward maps [S, S] float32 (x, y) of the warp dst ← src, built on the coarse grid."""
        import cv2

        from facereel.render.engines.morph import dense_maps

        s, f = self.size, MAP_STEP
        tri = self._triangles(dst)
        if f == 1:
            ((mx, my),) = dense_maps(dst, [self.src], s, s, tri)
            return mx, my
        # coarse pixel j sits at crop coordinate (j − 1 + ½)·f − ½: one coarse pixel of margin on
        # every side, so upsampling interpolates (never clamps) up to the crop's outer pixels; the
        # margin lies outside the triangulation and takes the affine of the nearest span
        n = -(-s // f) + 2
        low = (dst + 0.5) / f + 0.5
        big = cv2.resize(_span_map(low, self.src, tri, n), (n * f, n * f), interpolation=cv2.INTER_LINEAR)
        big = big[f:f + s, f:f + s]
        return big[..., 0], big[..., 1]

    def _mouth_opening(self, lm: np.ndarray) -> tuple[np.ndarray, float]:
        poly = lm[list(INNER_LIPS)]
        area = _polygon_area(poly)
        return poly, (area - self._mouth_t) / max(area, 1e-6)

    def _mouth_reference(self, out: np.ndarray, lm: np.ndarray) -> np.ndarray:
        import cv2

        poly, opening = self._mouth_opening(lm)
        if opening <= 0.05:
            return out
        mask = np.zeros(out.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.rint(poly).astype(np.int32)], 255)
        k = max(1, round(self.size / 256))
        mask = cv2.GaussianBlur(mask, (0, 0), 1.5 * k).astype(np.float32) / 255.0 * min(1.0, opening) * 0.85
        dark = np.array(MOUTH_DARK, np.float32)
        return np.clip(out * (1 - mask[..., None]) + dark * mask[..., None] + 0.5, 0, 255).astype(np.uint8)

    def _mouth_fast(self, out: np.ndarray, lm: np.ndarray) -> np.ndarray:
        """As :meth:`_mouth_reference`, in the inner lips' box grown by the blur's radius (the
        blurred mask is exactly 0 outside it, so the result is the same)."""
        import cv2

        poly, opening = self._mouth_opening(lm)
        if opening <= 0.05:
            return out
        k = max(1, round(self.size / 256))
        sigma = 1.5 * k
        radius = (int(round(sigma * 3 * 2 + 1)) | 1) // 2      # OpenCV's uint8 Gaussian kernel
        ipoly = np.rint(poly).astype(np.int32)
        h, w = out.shape[:2]
        x0, y0 = np.maximum(ipoly.min(0) - radius - 1, 0)
        x1, y1 = np.minimum(ipoly.max(0) + radius + 2, (w, h))
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [ipoly - (x0, y0)], 255)
        mask = cv2.GaussianBlur(mask, (0, 0), sigma).astype(np.float32) / 255.0 * min(1.0, opening) * 0.85
        dark = np.array(MOUTH_DARK, np.float32)
        box = out[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = np.clip(box * (1 - mask[..., None]) + dark * mask[..., None] + 0.5, 0, 255)
        return out

    def close(self) -> None:
        self.neutral = self.delta = None
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def report(self) -> dict:
        return {"frames": self.frames, "frames_without_face": self.missing,
                "head_outline": self.layer is not None}


def _run_ahead(make: Callable[[], Iterator], name: str, depth: int = LOOKAHEAD) -> Iterator:
    """The items of the iterator ``make()`` (called in the thread), produced by a thread of their
    own up to ``depth`` ahead of the consumer; its error raised in the consumer; closing this
    generator stops the thread and closes the iterator (in the thread)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def work() -> None:
        end: object = _END
        it = None
        try:
            it = make()
            for item in it:
                if stop.is_set():
                    break
                put((item,))
        except BaseException as exc:  # noqa: BLE001 - raised again in the consumer
            end = exc
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
        put(end)

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item[0]
    finally:
        stop.set()
        worker.join()


def _affines(dst: np.ndarray, src: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """[T, 3, 2] per-triangle affine M with [x, y, 1] @ M = source point, as
    :func:`facereel.render.engines.morph.affine_coefficients` solves it, in closed form: with
    barycentric λ1, λ2 of (x, y) in the dst triangle, source = s0 + λ1 (s1 − s0) + λ2 (s2 − s0)."""
    d = dst[tri]                                           # [T, 3, 2]
    sv = src[tri]
    e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]          # [T, 2]
    det = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
    bad = np.abs(det) < 1e-9                               # zero-area: covers no pixel centre
    inv = 1.0 / np.where(bad, 1.0, det)
    f1, f2 = sv[:, 1] - sv[:, 0], sv[:, 2] - sv[:, 0]      # [T, 2]
    ax = (e2[:, 1, None] * f1 - e1[:, 1, None] * f2) * inv[:, None]    # ∂source/∂x
    ay = (e1[:, 0, None] * f2 - e2[:, 0, None] * f1) * inv[:, None]    # ∂source/∂y
    c = sv[:, 0] - d[:, 0, 0, None] * ax - d[:, 0, 1, None] * ay
    m = np.stack([ax, ay, c], axis=1)
    m[bad] = np.eye(3)[:, :2]
    return m


def _span_map(dst: np.ndarray, src: np.ndarray, tri: np.ndarray, n: int) -> np.ndarray:
    """[n, n, 2] float32 backward map (x, y) of the piecewise-affine warp dst ← src over an n × n
    grid, as :func:`facereel.render.engines.morph.dense_maps` builds it (per scan-line span: slope
    and intercept expanded with ``np.repeat``, one multiply-add per pixel)."""
    from facereel.render.engines.morph import _grid, scanline_spans

    ids, row, _, length = scanline_spans(dst, tri, n, n)
    m = _affines(dst, src, tri)[ids]                       # [K, 3, 2] per span
    slope = np.repeat(m[:, 0].astype(np.float32), length, axis=0)                     # [n², 2]
    icpt = np.repeat((m[:, 1] * row[:, None] + m[:, 2]).astype(np.float32), length, axis=0)
    xs, _ = _grid(n, n)
    slope *= xs.reshape(-1, 1)
    slope += icpt
    return slope.reshape(n, n, 2)


def _polygon_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


__all__ = ["LANDMARK_MAX", "MAP_STEP", "NoFaceError", "WarpMethod"]
