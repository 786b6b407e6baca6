"""Temporal smoothness of a face video.

* frame-to-frame difference: mean absolute difference of consecutive frames inside the face
  region, in grey levels (0-255); its mean and 95th percentile over the video (a jump between
  two photos shows up in the p95);
* ACD (average content distance, the metric of the video-synthesis seed): mean L2 distance
  between consecutive frames' identity descriptors (dlib 128-D here), frames without a face
  skipped;
* landmark jitter: consecutive displacements D_t = L_{t+1} − L_t ([N, 2] per step); jitter is the
  standard deviation of D_t over t, per point (root of the summed x/y variances), averaged over
  the points, in pixels and as a fraction of the frame side.  A steady drift has no jitter; a
  point that shakes back and forth has a lot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from facereel.core.progress import Progress
from facereel.metrics.accumulate import run

Box = tuple[int, int, int, int]


class FrameDifferences:
    """Accumulator (:mod:`facereel.metrics.accumulate`) of the consecutive-frame differences."""

    def __init__(self, region: Box | None = None) -> None:
        self.region = region
        self.diffs: list[float] = []
        self._prev: np.ndarray | None = None

    def update(self, i: int, frame: np.ndarray) -> None:
        a = np.asarray(frame)
        if self.region is not None:
            l, t, r, b = self.region
            a = a[t:b, l:r]
        a = a.astype(np.int16)
        if self._prev is not None:
            if self._prev.shape != a.shape:
                raise ValueError(f"frame {i} has size {a.shape}, frame {i - 1} {self._prev.shape}")
            self.diffs.append(float(np.mean(np.abs(a - self._prev))))
        self._prev = a

    def result(self) -> dict:
        d = np.asarray(self.diffs, np.float64)
        return {
            "diffs": list(self.diffs),
            "mean": float(d.mean()) if d.size else None,
            "p95": float(np.percentile(d, 95)) if d.size else None,
            "max": float(d.max()) if d.size else None,
        }


def frame_differences(frames: Iterable[np.ndarray], region: Box | None = None,
                      progress: Progress | None = None, total: int | None = None) -> dict:
    """Mean absolute grey-level difference of each consecutive pair inside ``region`` (l, t, r, b).

    Returns ``{"diffs": [...] (len = frames − 1), "mean", "p95", "max"}``."""
    acc = FrameDifferences(region)
    run(frames, [acc], progress, total)
    return acc.result()


def acd(descriptors: Sequence[np.ndarray | None]) -> float | None:
    """Mean L2 distance between the descriptors of consecutive frames (pairs with a missing face skipped)."""
    dists = [float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))
             for a, b in zip(descriptors[:-1], descriptors[1:]) if a is not None and b is not None]
    return float(np.mean(dists)) if dists else None


def landmark_jitter(landmarks: Sequence[np.ndarray | None], frame_side: float | None = None) -> dict:
    """Jitter of landmark tracks (see the module docstring).

    ``landmarks``: one [N, 2] array per frame (None where none was found; runs are split there).
    Returns ``{"px": ..., "relative": ... (px / frame_side), "steps": number of displacements used}``.
    """
    steps: list[np.ndarray] = []
    for a, b in zip(landmarks[:-1], landmarks[1:]):
        if a is None or b is None:
            continue
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            continue  # e.g. MediaPipe on one frame, none on the next
        steps.append(b - a)  # [N, 2]
    if len(steps) < 2:
        return {"px": None, "relative": None, "steps": len(steps)}
    d = np.stack(steps)                                    # [T-1, N, 2]
    per_point = np.sqrt(d.var(axis=0).sum(axis=-1))        # [N]
    px = float(per_point.mean())
    return {"px": px, "relative": px / frame_side if frame_side else None, "steps": len(steps)}
