"""One evaluation report for a face video: identity curve, ghosting, smoothness.

:func:`evaluate_frames` works on arrays (frames streamed once); :func:`evaluate_video` reads a
video file, finds its keyframes (given crops, or every N frames) and calls it; turning a manifest
into crops is :mod:`facereel.pipelines.evaluate`'s job.
:func:`save_plot` draws the identity curve (the seed's Fig. 5.6) and the ghost curve (matplotlib,
Agg backend, imported lazily).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from facereel.core.atomic import atomic_path
from facereel.core.errors import FacereelError
from facereel.core.progress import Progress
from facereel.metrics.accumulate import run
from facereel.metrics.ghosting import GhostingCurve, face_region
from facereel.metrics.identity import FaceTrack, identity_curve, observe_face
from facereel.metrics.smoothness import FrameDifferences, acd, landmark_jitter

log = logging.getLogger(__name__)

THUMB = 64
#: a keyframe whose best frame is below this PSNR (dB, on 64 px thumbnails) is reported as a poor match
MATCH_PSNR = 22.0


class EvaluateError(FacereelError, ValueError):
    """An evaluation request that cannot be done (no keyframes, video and manifest disagree, …)."""


def _thumb(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(np.ascontiguousarray(img), (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)


def locate_keyframes(frames: Iterable[np.ndarray], crops: Sequence[np.ndarray],
                     progress: Progress | None = None, total: int | None = None) -> dict:
    """For each crop the frame that matches it best (smallest MSE on 64 px thumbnails), in one pass.

    Returns ``{"indices": [...], "psnr": [...] (dB), "images": [the matched frames], "frames": n}``.
    """
    if not crops:
        raise EvaluateError("no keyframes to look for")
    thumbs = np.stack([_thumb(c) for c in crops])               # [K, T, T, 3]
    best = np.full(len(crops), np.inf)
    idx = np.full(len(crops), -1, np.int64)
    images: list[np.ndarray | None] = [None] * len(crops)
    n = 0
    for i, f in enumerate(frames):
        mse = np.mean((thumbs - _thumb(f)[None]) ** 2, axis=(1, 2, 3))  # [K]
        for k in np.nonzero(mse < best)[0]:
            best[k], idx[k], images[k] = mse[k], i, f
        n = i + 1
        if progress:
            progress(n, total or n)
    if n == 0:
        raise EvaluateError("the video has no frames")
    psnr = [float(10 * math.log10(255.0 ** 2 / max(m, 1e-10))) for m in best]
    return {"indices": [int(i) for i in idx], "psnr": psnr, "images": images, "frames": n}


def evaluate_frames(
    frames: Iterable[np.ndarray],
    keyframe_indices: Sequence[int],
    keyframe_images: Sequence[np.ndarray] | None = None,
    *,
    landmarks: str | None = "mediapipe",
    identity: bool = True,
    progress: Progress | None = None,
    total: int | None = None,
) -> dict:
    """All metrics of a face video in one pass over ``frames`` ([H, W, 3] uint8).

    ``keyframe_indices``: the frames that are the real photos (sorted, distinct).
    ``keyframe_images``: those frames (lets ``frames`` be a stream); without them ``frames`` is
    collected into a list first.  ``landmarks`` (``"mediapipe"``, ``"dlib5"`` or None) feeds the
    jitter figure; ``identity=False`` skips the dlib descriptors (identity curve and ACD), the
    slow part (~0.1-0.4 s a frame on one core).
    """
    kidx = [int(k) for k in keyframe_indices]
    if len(kidx) < 2:
        raise EvaluateError(f"need at least 2 keyframes, got {len(kidx)}")
    if kidx != sorted(set(kidx)):
        raise EvaluateError(f"keyframe indices must be increasing and distinct, got {kidx}")
    if keyframe_images is None:
        frames = list(frames)
        if kidx[-1] >= len(frames):
            raise EvaluateError(f"keyframe index {kidx[-1]} outside the {len(frames)} frames")
        keyframe_images = [frames[k] for k in kidx]
    if len(keyframe_images) != len(kidx):
        raise EvaluateError("one image per keyframe index is needed")
    shape = keyframe_images[0].shape
    if any(k.shape != shape for k in keyframe_images):
        raise EvaluateError("keyframe images differ in size")

    key_obs = [observe_face(k, descriptor=identity, landmarks=None) for k in keyframe_images]
    region = face_region([o.box for o in key_obs], shape)

    ghosting = GhostingCurve(kidx, keyframe_images, region)
    ghosting_head = GhostingCurve(kidx, keyframe_images, region, part="head")
    ghosting_neck = GhostingCurve(kidx, keyframe_images, region, part="neck")
    diffs = FrameDifferences(region)
    faces = FaceTrack(descriptor=identity, landmarks=landmarks) if (identity or landmarks) else None
    accumulators = [_SameShape(shape), diffs, ghosting, ghosting_head, ghosting_neck] + ([faces] if faces is not None else [])
    n = run(frames, accumulators, progress, total)
    if kidx[-1] >= n:
        raise EvaluateError(f"keyframe index {kidx[-1]} outside the {n} frames")

    fd = diffs.result()
    descriptors = faces.descriptors if faces is not None else []
    marks = faces.marks if faces is not None else []
    report: dict = {
        "frames": n,
        "size": [int(shape[1]), int(shape[0])],
        "keyframe_indices": kidx,
        "face_region": [int(v) for v in region],
        "ghosting": ghosting.result(),
        "ghosting_head": ghosting_head.result(),
        "ghosting_neck": ghosting_neck.result(),
        "smoothness": {
            "frame_diff": fd["diffs"],
            "frame_diff_mean": fd["mean"],
            "frame_diff_p95": fd["p95"],
            "acd": acd(descriptors) if identity else None,
            "landmark_jitter": landmark_jitter(marks, float(min(shape[:2]))) if landmarks else None,
            "landmarks": landmarks,
        },
    }
    if identity:
        report["identity"] = identity_curve(descriptors, kidx, [o.descriptor for o in key_obs])
    return report


class _SameShape:
    """Accumulator that only checks every frame has the keyframes' size."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def update(self, i: int, frame: np.ndarray) -> None:
        if frame.shape != self.shape:
            h, w = self.shape[:2]
            raise EvaluateError(f"frame {i} is {frame.shape[1]}x{frame.shape[0]}, the keyframes {w}x{h}")

    def result(self) -> None:
        return None


def summary(report: dict) -> list[tuple[str, str, str]]:
    """(metric, value, note) rows for a table."""

    def fmt(v, spec=".3f"):
        return "n/a" if v is None else format(v, spec)

    rows = [("frames", str(report["frames"]), f"{len(report['keyframe_indices'])} keyframes")]
    ident = report.get("identity")
    if ident:
        rows += [
            ("identity mean", fmt(ident["mean"]), "1 - dlib distance to the nearest keyframe"),
            ("identity in-between mean", fmt(ident["in_between_mean"]), "frames that are not keyframes"),
            ("identity min", fmt(ident["min"]), f"{ident['below_same_person']} frame(s) below 0.4 (dlib threshold)"),
        ]
    g = report["ghosting"]
    rows += [
        ("ghosting mean", fmt(g["mean"]), "double edges of both keyframes; lower is better"),
        ("ghosting mid-gap", fmt(g["mid_gap_mean"]), "middle half of each gap (a dissolve reaches 0.5)"),
        ("ghosting head mid-gap", fmt(report.get("ghosting_head", {}).get("mid_gap_mean")),
         "whole head region (face, hair, ears, neck), middle half of each gap"),
        ("ghosting neck mid-gap", fmt(report.get("ghosting_neck", {}).get("mid_gap_mean")),
         "neck, collar and shoulders (below the chin), middle half of each gap"),
    ]
    s = report["smoothness"]
    rows += [
        ("frame diff mean", fmt(s["frame_diff_mean"], ".2f"), "grey levels, face region"),
        ("frame diff p95", fmt(s["frame_diff_p95"], ".2f"), "grey levels, face region"),
    ]
    if ident:
        rows.append(("ACD", fmt(s["acd"], ".4f"), "mean dlib distance of consecutive frames"))
    jit = s.get("landmark_jitter")
    if jit:
        rows.append(("landmark jitter", fmt(jit["px"], ".2f") + (" px" if jit["px"] is not None else ""),
                     f"{s['landmarks']} landmarks, std of consecutive displacements"))
    return rows


def save_plot(report: dict, path: str | os.PathLike, title: str | None = None) -> Path:
    """PNG with the identity curve (seed Fig. 5.6) and the ghost curve; keyframes as vertical lines."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    del plt  # the object-oriented Figure API needs no global state
    n = report["frames"]
    x = np.arange(n)
    ident = report.get("identity")
    fig = Figure(figsize=(9, 5.5 if ident else 3.2), dpi=110)
    axes = fig.subplots(2 if ident else 1, 1, sharex=True, squeeze=False)[:, 0]
    if ident:
        ax = axes[0]
        y = np.array([np.nan if v is None else v for v in ident["similarity"]], np.float64)
        ax.plot(x, y, color="tab:blue", lw=1.5, label="similarity to nearest keyframe")
        ax.axhline(0.4, color="tab:red", ls="--", lw=1, label="dlib same-person threshold")
        ax.set_ylabel("1 − dlib distance")
        ax.set_ylim(min(0.0, np.nanmin(y) - 0.05) if np.isfinite(y).any() else 0.0, 1.02)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title(title or "Identity along the video")
    ax = axes[-1]
    g = np.array([np.nan if v is None else v for v in report["ghosting"]["ghost"]], np.float64)
    ax.plot(x, g, color="tab:orange", lw=1.5, label="ghosting")
    ax.set_ylabel("ghosting")
    ax.set_xlabel("frame")
    ax.set_ylim(0, max(0.55, float(np.nanmax(g)) + 0.05) if np.isfinite(g).any() else 0.55)
    ax.legend(loc="upper right", fontsize=8)
    for a in axes:
        for k in report["keyframe_indices"]:
            a.axvline(k, color="0.6", lw=0.8, ls=":")
    fig.tight_layout()
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out


def evaluate_video(
    video: str | os.PathLike,
    *,
    keyframes: tuple[Sequence[np.ndarray], Sequence[str]] | None = None,
    keyframes_every: int | None = None,
    keep_flagged: bool = False,
    landmarks: str | None = "mediapipe",
    identity: bool = True,
    locate_progress: Progress | None = None,
    progress: Progress | None = None,
) -> dict:
    """Reads ``video`` (file or PNG folder) and evaluates it.

    Keyframes: with ``keyframes`` = (crops at the video's frame size, names) the frame nearest to
    each crop (:func:`facereel.pipelines.evaluate.evaluate_video` makes them from a manifest);
    with ``keyframes_every`` N the frames 0, N, 2N, … (a peer tool that inserts N−1 blended
    frames between photos).  ``keep_flagged`` only words the mismatch message.
    """
    from facereel.metrics.video_io import probe_video, read_frames

    info = probe_video(video)
    if (keyframes is None) == (keyframes_every is None):
        raise EvaluateError("give either keyframe crops or keyframes_every")
    located: dict = {}
    if keyframes is not None:
        crops, names = list(keyframes[0]), list(keyframes[1])
        located = locate_keyframes(read_frames(video), crops, locate_progress, info.frames)
        n = located["frames"]
        idx = located["indices"]
        if len(set(idx)) != len(idx) or idx != sorted(idx):
            raise EvaluateError(
                "the video does not show the manifest's photos in order (was it made from this manifest"
                + ("" if keep_flagged else ", or with --keep-flagged") + "?)")
        images = located["images"]
        poor = [f"{nm} ({p:.1f} dB)" for nm, p in zip(names, located["psnr"]) if p < MATCH_PSNR]
        if poor:
            log.warning("keyframes matched poorly: %s", ", ".join(poor))
    else:
        if keyframes_every < 1:
            raise EvaluateError("keyframes_every must be >= 1")
        n = info.frames if info.frames else sum(1 for _ in read_frames(video))
        idx = list(range(0, n, keyframes_every))
        want = set(idx)
        images = [f for i, f in enumerate(read_frames(video)) if i in want]
        idx = idx[:len(images)]
        names = [f"frame {i}" for i in idx]
    report = evaluate_frames(read_frames(video), idx, images, landmarks=landmarks, identity=identity,
                             progress=progress, total=n)
    report["video"] = {"path": str(video), "width": info.width, "height": info.height, "fps": info.fps,
                       "codec": info.codec}
    report["keyframes"] = [{"name": nm, "index": int(i), **({"psnr_db": round(p, 2)} if located else {})}
                           for nm, i, p in zip(names, idx, located.get("psnr", [None] * len(idx)))]
    return report


def to_json(report: dict) -> dict:
    """The report with NaN/inf replaced by None (strict JSON)."""

    def clean(v):
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, np.generic):
            return clean(v.item())
        return v

    return clean(report)
