"""Ghosting: how much of both neighbouring keyframes shows, each at its own place, in a frame.

The seed found that identity loss cannot see the "ghosts" of the previous or next face that make
pixel interpolation look bad: a cross-dissolve of two faces that do not line up shows *double
edges* — the eyebrow, jaw line or hair outline of keyframe A where A had it and, fainter, of B
where B had it.  A morph moves the edges to an in-between place instead, so neither keyframe's
own edges stay put.

Score of an in-between frame F between keyframes A and B (double-edge energy):

1. gradient fields ∇A, ∇B, ∇F of the grey images after a Gaussian blur of σ = size/256 px
   (structure, not JPEG noise);
2. A's *distinctive* edges M_A: pixels of the face region where |∇A| is in A's top quartile and
   B has no comparable edge (max of |∇B| within r = 2·size/256 px is below |∇A|/2) — the places
   where a ghost of A can be told apart from B; M_B likewise;
3. c_A = Σ_{M_A} ∇F·∇A / Σ_{M_A} |∇A|²: the fraction of A's distinctive edges present in F at
   A's own position (least-squares projection); c_B likewise;
4. ghost(F) = max(0, min(c_A, c_B)).

For a cross-dissolve F = (1−λ)A + λB, c_A ≈ 1−λ and c_B ≈ λ, so ghost ≈ min(λ, 1−λ), 0.5 at
mid-gap.  A hard cut scores 0 (one face at a time: that is a smoothness problem, not a ghost);
a morph scores low because its edges sit between A's and B's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from facereel.core.progress import Progress
from facereel.metrics.accumulate import run

Box = tuple[int, int, int, int]


def _scale(shape: tuple[int, ...]) -> float:
    return min(shape[0], shape[1]) / 256.0


def gradient_field(image: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """[H, W, 2] float32 (d/dx, d/dy) of the blurred grey image in [0, 1] units per pixel."""
    import cv2

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an [H, W, 3] image, got {img.shape}")
    if sigma is None:
        sigma = max(0.5, _scale(img.shape))
    g = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    g = cv2.GaussianBlur(g, (0, 0), sigma)
    # Sobel 3x3 sums 8x the central difference; /8 gives per-pixel units.
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    return np.stack([gx, gy], axis=-1)


def face_region(boxes: Iterable[Box | None], shape: tuple[int, ...], margin: float = 0.25) -> Box:
    """Union of face boxes grown by ``margin`` × their size (jaw, hair line), clipped to the frame.

    Without any box: the central 70 % of the frame (where an aligned crop keeps the face)."""
    h, w = shape[:2]
    bs = [b for b in boxes if b is not None]
    if not bs:
        return (round(0.15 * w), round(0.15 * h), round(0.85 * w), round(0.85 * h))
    a = np.asarray(bs, np.float64)
    l, t, r, b = a[:, 0].min(), a[:, 1].min(), a[:, 2].max(), a[:, 3].max()
    mx, my = margin * (r - l), margin * (b - t)
    return (int(max(0, l - mx)), int(max(0, t - my)), int(min(w, r + mx + 1)), int(min(h, b + my + 1)))


@dataclass
class GhostReference:
    """Precomputed distinctive-edge masks of one keyframe pair (A, B) inside ``region``."""

    grad_a: np.ndarray        # [h, w, 2] in the region
    grad_b: np.ndarray
    mask_a: np.ndarray        # [h, w] bool, A's distinctive edges
    mask_b: np.ndarray
    region: Box
    sigma: float

    @classmethod
    def build(cls, key_a: np.ndarray, key_b: np.ndarray, region: Box | None = None, *,
              sigma: float | None = None, quantile: float = 75.0, radius: int | None = None,
              ratio: float = 0.5, within: np.ndarray | None = None) -> GhostReference:
        """``within``: an [H, W] bool mask of the frame (e.g. :func:`head_mask`); edges are
        counted only there, and ``region`` becomes its bounding box."""
        import cv2

        if key_a.shape != key_b.shape:
            raise ValueError(f"keyframes differ in size: {key_a.shape} vs {key_b.shape}")
        s = _scale(key_a.shape)
        sigma = max(0.5, s) if sigma is None else sigma
        r = max(1, round(2 * s)) if radius is None else radius
        if within is not None:
            ys, xs = np.nonzero(within)
            if not len(ys):
                raise ValueError("empty mask")
            region = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        l, t, rr, b = region if region is not None else (0, 0, key_a.shape[1], key_a.shape[0])
        ga = gradient_field(key_a, sigma)[t:b, l:rr]
        gb = gradient_field(key_b, sigma)[t:b, l:rr]
        ma, mb = np.linalg.norm(ga, axis=-1), np.linalg.norm(gb, axis=-1)
        kernel = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
        da, db = cv2.dilate(ma, kernel), cv2.dilate(mb, kernel)  # strongest edge within r px
        inside = np.ones(ma.shape, bool) if within is None else within[t:b, l:rr]
        mask_a = (ma > np.percentile(ma[inside], quantile)) & (db < ratio * ma) & inside
        mask_b = (mb > np.percentile(mb[inside], quantile)) & (da < ratio * mb) & inside
        return cls(ga, gb, mask_a, mask_b, (l, t, rr, b), sigma)

    def presence(self, frame: np.ndarray) -> tuple[float, float]:
        """(c_A, c_B): fractions of A's and B's distinctive edges present in ``frame`` at their place."""
        l, t, r, b = self.region
        gf = gradient_field(frame, self.sigma)[t:b, l:r]
        return _project(gf, self.grad_a, self.mask_a), _project(gf, self.grad_b, self.mask_b)

    def ghost(self, frame: np.ndarray) -> float:
        ca, cb = self.presence(frame)
        if not (np.isfinite(ca) and np.isfinite(cb)):
            return 0.0  # no distinctive edges: the keyframes line up, nothing can ghost
        return max(0.0, min(ca, cb))


def _project(gf: np.ndarray, gk: np.ndarray, mask: np.ndarray) -> float:
    if not mask.any():
        return float("nan")
    k = gk[mask].astype(np.float64)
    den = float(np.sum(k * k))
    if den <= 1e-12:
        return float("nan")
    return float(np.sum(gf[mask].astype(np.float64) * k) / den)


def ghost_score(frame: np.ndarray, key_a: np.ndarray, key_b: np.ndarray, region: Box | None = None) -> float:
    """ghost(F) of one frame between keyframes A and B (see the module docstring); 0 … ~0.5."""
    return GhostReference.build(key_a, key_b, region).ghost(frame)


def _person_union(key_a: np.ndarray, key_b: np.ndarray) -> np.ndarray | None:
    """[H, W] bool union of both keyframes' person segmentations grown by 4·size/256 px (both
    sides of each outline count: a second silhouette is an edge *on* the outline)."""
    import cv2

    from facereel.faces.segmentation import person_mask

    s = _scale(key_a.shape)
    m = (person_mask(key_a) > 0.5) | (person_mask(key_b) > 0.5)
    if not m.any():
        return None
    r = max(1, round(4 * s))
    return cv2.dilate(m.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(bool)


def _face_boxes(key_a: np.ndarray, key_b: np.ndarray) -> list[Box]:
    from facereel.metrics.identity import observe_face

    boxes = [observe_face(k, descriptor=False, landmarks=None).box for k in (key_a, key_b)]
    return [b for b in boxes if b is not None]


def head_mask(key_a: np.ndarray, key_b: np.ndarray) -> np.ndarray | None:
    """[H, W] bool: the whole head region of a keyframe pair — face, hair, ears, neck.

    The union of both keyframes' person segmentations (:mod:`facereel.faces.segmentation`),
    grown by 4·size/256 px so both sides of each outline count (a second hair silhouette is an
    edge *on* the outline), cut below the neck: rows down to 0.6 face heights under the lower
    face box edge.  None when no person is found.
    """
    m = _person_union(key_a, key_b)
    if m is None:
        return None
    boxes = _face_boxes(key_a, key_b)
    if boxes:
        bottom = max(b[3] for b in boxes)
        height = max(b[3] - b[1] for b in boxes)
        m[int(min(m.shape[0], bottom + 0.6 * height)):] = False
    return m if m.any() else None


def neck_mask(key_a: np.ndarray, key_b: np.ndarray) -> np.ndarray | None:
    """[H, W] bool: neck, collar and shoulders of a keyframe pair — the person segmentations'
    union (as :func:`head_mask`) on the rows from the higher of the two face boxes' lower edges
    (about the chin) to the bottom of the frame.  There a shirt collar or a lapel that the face
    landmarks do not move shows twice under a dissolve; the head measure dilutes it among hair
    and ears.  None when no person or no face is found, or nothing of the person is below it."""
    m = _person_union(key_a, key_b)
    boxes = _face_boxes(key_a, key_b)
    if m is None or not boxes:
        return None
    m[:int(max(0, min(b[3] for b in boxes)))] = False
    return m if m.any() else None


#: the regions a ghosting curve can measure: the inner face (a box), :func:`head_mask`, :func:`neck_mask`
PARTS = ("face", "head", "neck")


#: the middle half of a gap (λ in [0.25, 0.75]), where a dissolve's ghosts are strongest
MID_GAP = (0.25, 0.75)
DEFINITION = ("min(c_A, c_B): fraction of each neighbouring keyframe's distinctive edges present at its own "
              "place (pixel cross-dissolve ~ min(lambda, 1 - lambda)); lower is better")


class GhostingCurve:
    """Accumulator (:mod:`facereel.metrics.accumulate`) of ghost(F) for every frame strictly
    between two keyframes (None at keyframes and outside); one keyframe pair's masks in memory
    at a time.  ``keyframe_images``: one per index, in the order of ``keyframe_indices``."""

    def __init__(self, keyframe_indices: Sequence[int], keyframe_images: Sequence[np.ndarray],
                 region: Box | None = None, head: bool = False, part: str | None = None) -> None:
        """``part`` (:data:`PARTS`): ``"face"`` (default) measures in ``region`` (the inner face),
        ``"head"`` inside :func:`head_mask` of each pair (face, hair, ears, neck), ``"neck"``
        inside :func:`neck_mask` (neck, collar, shoulders).  ``head=True`` is ``part="head"``."""
        part = part or ("head" if head else "face")
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}; choose one of {', '.join(PARTS)}")
        self.part = part
        if len(keyframe_images) != len(keyframe_indices):
            raise ValueError("one image per keyframe index is needed")
        order = np.argsort(list(keyframe_indices), kind="stable")
        self.kidx = [int(keyframe_indices[o]) for o in order]
        if len(self.kidx) != len(set(self.kidx)):
            raise ValueError(f"repeated keyframe indices {self.kidx}")
        self.images = [keyframe_images[o] for o in order]
        self.region = region
        self.ghosts: list[float | None] = []
        self.mid: list[float] = []
        self._gap = 0
        self._ref: GhostReference | bool | None = None  # False: nothing to measure in this gap

    def update(self, i: int, frame: np.ndarray) -> None:
        k = self.kidx
        while self._gap < len(k) - 1 and i >= k[self._gap + 1]:
            self._gap, self._ref = self._gap + 1, None
        g = self._gap
        if g < len(k) - 1 and k[g] < i < k[g + 1]:
            if self._ref is None:
                a, b = self.images[g], self.images[g + 1]
                within = {"face": lambda a, b: None, "head": head_mask, "neck": neck_mask}[self.part](a, b)
                if within is None and self.part == "neck":
                    self._ref = False  # nothing of the person below the face: nothing to measure
                else:
                    self._ref = GhostReference.build(a, b, None if within is not None else self.region,
                                                     within=within)
            if self._ref is False:
                self.ghosts.append(None)
                return
            ghost = self._ref.ghost(frame)
            self.ghosts.append(ghost)
            if MID_GAP[0] <= (i - k[g]) / (k[g + 1] - k[g]) <= MID_GAP[1]:
                self.mid.append(ghost)
        else:
            self.ghosts.append(None)

    def result(self) -> dict:
        vals = [g for g in self.ghosts if g is not None]
        return {
            "ghost": list(self.ghosts),
            "mean": float(np.mean(vals)) if vals else None,
            "max": float(np.max(vals)) if vals else None,
            "mid_gap_mean": float(np.mean(self.mid)) if self.mid else None,
            "definition": DEFINITION,
        }


def ghosting_curve(frames: Iterable[np.ndarray], keyframe_indices: Sequence[int],
                   keyframe_images: Sequence[np.ndarray] | None = None, region: Box | None = None,
                   progress: Progress | None = None, total: int | None = None, head: bool = False,
                   part: str | None = None) -> dict:
    """ghost(F) of every frame strictly between two keyframes (None at keyframes and outside).

    ``keyframe_images`` (one per index) lets ``frames`` stream; without them the frames are
    collected first to find the keyframes.  Returns ``{"ghost": [...], "mean", "max",
    "mid_gap_mean"}`` where ``mid_gap_mean`` averages the frames in the middle half of each gap
    (λ in [0.25, 0.75], where a dissolve's ghosts are strongest).
    """
    if keyframe_images is None:
        frames = list(frames)
        keyframe_images = [frames[int(k)] for k in keyframe_indices]
    acc = GhostingCurve(keyframe_indices, keyframe_images, region, head=head, part=part)
    run(frames, [acc], progress, total)
    return acc.result()
