"""``--method warp``: the target photo driven by the driver's motion, offline, no generator.

Per driver frame (MediaPipe 478 landmarks D_t; D_0 = the driver's neutral frame, the first one
with a face):

1. N, a similarity fitted once from D_0 onto the target's crop landmarks T, carries the driver's
   motion into the target's frame: Δ_t = N(D_t) − N(D_0) (head pose and expression together);
2. Δ_t is smoothed over time (exponential, ``options.smoothing``) against landmark jitter;
3. the target's inner face moves to T + Δ_t; its head outline, hair, ears and neck (the points of
   :class:`facereel.render.head.HeadLayer`) follow the similarity that best maps N(D_0) onto
   N(D_t) (the rigid head motion);
4. one piecewise-affine warp (:mod:`facereel.render.engines.morph`) moves the target crop and its
   person outline, composited over the target's own background plate with a feathered edge;
5. the mouth: where the driver's inner-lip polygon opens wider than the target's, the inner
   mouth of the warped face is darkened by the opening (a stretched lip is not a mouth interior);
   the eyes close with the eyelid landmarks, which the warp carries.
"""

from __future__ import annotations

import logging

import numpy as np

from facereel.reenact.base import NoFaceError, ReenactMethod

log = logging.getLogger(__name__)

#: MediaPipe inner-lip contour (upper then lower), for the mouth interior
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)


class WarpMethod(ReenactMethod):
    name = "warp"

    def prepare(self, target_rgb: np.ndarray, options) -> None:
        from scipy.spatial import ConvexHull

        from facereel.faces.align import photo_to_crop
        from facereel.reenact.target import select_target_face
        from facereel.render.engines.morph import border_points
        from facereel.render.head import build_layer

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
        self._mouth_t = _polygon_area(self.target_lm[list(INNER_LIPS)])

    def drive(self, frame_rgb: np.ndarray) -> np.ndarray | None:
        from facereel.faces.landmarks import landmarks_mediapipe
        from facereel.render.stabilize import fit_similarity

        self.frames += 1
        lm = landmarks_mediapipe(np.ascontiguousarray(frame_rgb, dtype=np.uint8))
        if lm is None:
            self.missing += 1
            return None
        d = np.asarray(lm.points, np.float64)
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

    def render(self, delta: np.ndarray, moved: np.ndarray, rest: np.ndarray) -> np.ndarray:
        """The target with its landmarks moved by ``delta`` (crop pixels) and its head outline by
        the similarity ``rest`` → ``moved``."""
        import cv2

        from facereel.render.engines.morph import dense_maps
        from facereel.render.head import _ramp_lut
        from facereel.render.stabilize import fit_similarity

        s = self.size
        lm = np.clip(self.target_lm + delta, 0, s - 1)
        rig = fit_similarity(rest, moved)
        head = np.clip(self.head_pts @ rig[:, :2].T + rig[:, 2], 0, s - 1)
        dst = np.concatenate([lm, head, self.border])
        ((mx, my),) = dense_maps(dst, [self.src], s, s)
        if self.layer is None:
            out = cv2.remap(self.crop, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        else:
            w = cv2.remap(self.layer.rgba, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            m = _ramp_lut(self.layer.sdf_scale, self.layer.feather)[w[..., 3]]
            out = cv2.blendLinear(np.ascontiguousarray(w[..., :3]), self.layer.background, m, 1.0 - m)
        out = self._mouth(out, lm)
        if getattr(self.options, "paste_back", False):
            from facereel.reenact.paste import paste_back

            return paste_back(out, self.photo, self.face.alignment)
        return out

    def _mouth(self, out: np.ndarray, lm: np.ndarray) -> np.ndarray:
        import cv2

        poly = lm[list(INNER_LIPS)]
        area = _polygon_area(poly)
        opening = (area - self._mouth_t) / max(area, 1e-6)
        if opening <= 0.05:
            return out
        mask = np.zeros(out.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.rint(poly).astype(np.int32)], 255)
        k = max(1, round(self.size / 256))
        mask = cv2.GaussianBlur(mask, (0, 0), 1.5 * k).astype(np.float32) / 255.0 * min(1.0, opening) * 0.85
        dark = np.array([40, 18, 20], np.float32)
        return np.clip(out * (1 - mask[..., None]) + dark * mask[..., None] + 0.5, 0, 255).astype(np.uint8)

    def close(self) -> None:
        self.neutral = self.delta = None

    def report(self) -> dict:
        return {"frames": self.frames, "frames_without_face": self.missing,
                "head_outline": self.layer is not None}


def _polygon_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


__all__ = ["NoFaceError", "WarpMethod"]
