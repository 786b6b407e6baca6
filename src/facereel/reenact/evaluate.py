"""Evaluation of reenactment methods with the thesis' columns, measured offline.

Per method, the driver's frames and the outputs are observed with MediaPipe (and dlib for identity):

* **pose MAE** (yaw, pitch; degrees): |yaw(driver) - yaw(output)| and the same for pitch, from
  MediaPipe's facial transformation matrix (the thesis used HopeNet), averaged over frames;
* **landmark aspect-ratio correlation**: Pearson r over the video between driver and output of
  three ratios (the thesis' eyes, eyebrows–eyes and mouth; the thesis measured them on dlib's 68
  points, here on MediaPipe's mesh):
  eyes = (|upper1 - lower1| + |upper2 - lower2|) / (2 |outer - inner corner|), both eyes averaged;
  eyebrows–eyes = distance from the brow's middle point to the eye's centre / eye width, both sides;
  mouth = inner-lip opening / mouth-corner distance;
  the column is their mean;
* **blendshape correlation** (in place of the thesis' OpenGraphAU action units): Pearson r over the
  video per MediaPipe blendshape that moves in the driver (std > 0.02), averaged;
* **identity CSIM**: output vs target; dlib (``1 - ||d_a - d_b||``, the project's similarity) and
  IR-SE50 ArcFace cosine when ``model_ir_se50`` is installed (the thesis' metric); the same
  against the driver shows whether the driver's identity leaks in;
* a **self-reenactment** row per method (the target is the driver's own first frame with a face),
  which must score near the ceiling, and the ceiling itself (output = driver frame).

Correlations need at least 3 frames with a face on both sides; else NaN.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np

from facereel.core.errors import FacereelError
from facereel.core.progress import Progress, report

from .base import ReenactError, create_method

log = logging.getLogger(__name__)

__all__ = ["FrameObservation", "observe", "aspect_ratios", "score", "evaluate_methods", "COLUMNS"]

# MediaPipe face-mesh indices (subject's right eye = image left)
_EYES = (((33, 133), ((160, 144), (158, 153))), ((362, 263), ((385, 380), (387, 373))))
_BROW_MID = (105, 334)            # middle of the right / left eyebrow
_MOUTH = ((61, 291), ((13, 14), (81, 178), (311, 402)))

COLUMNS = ("pose_mae", "yaw_mae", "pitch_mae", "ratio_corr", "eyes_corr", "brows_corr", "mouth_corr",
           "blendshape_corr", "csim_dlib", "csim_arcface", "csim_driver_dlib", "frames", "no_face")


def aspect_ratios(points: np.ndarray) -> tuple[float, float, float]:
    """(eyes, eyebrows–eyes, mouth) ratios of one MediaPipe mesh [478, 2]."""
    p = np.asarray(points, np.float64)

    def d(a, b):
        return float(np.hypot(*(p[a] - p[b])))

    eyes, brows = [], []
    for ((o, i), lids), brow in zip(_EYES, _BROW_MID):
        width = max(d(o, i), 1e-6)
        eyes.append(sum(d(u, lo) for u, lo in lids) / (2 * width))
        centre = 0.5 * (p[o] + p[i])
        brows.append(float(np.hypot(*(p[brow] - centre))) / width)
    (l, r), lips = _MOUTH
    mouth = float(np.mean([d(u, lo) for u, lo in lips])) / max(d(l, r), 1e-6)
    return float(np.mean(eyes)), float(np.mean(brows)), mouth


@dataclasses.dataclass
class FrameObservation:
    yaw: float
    pitch: float
    ratios: tuple[float, float, float]
    blendshapes: dict
    descriptor: np.ndarray | None
    arcface: np.ndarray | None = None


_arcface_net = None


def _arcface(crop256: np.ndarray):
    """IR-SE50 ArcFace embedding of an aligned 256 crop (pSp's crop), or None without the weights."""
    global _arcface_net
    import torch

    from facereel import weights

    if _arcface_net is None:
        path = weights.local_path("model_ir_se50")
        if path is None:
            _arcface_net = False
        else:
            from facereel.nets.encoders import Backbone

            net = Backbone(112, 50, "ir_se", drop_ratio=0.6)
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
            _arcface_net = net.eval().fuse()
    if _arcface_net is False:
        return None
    from facereel.inversion.encoders import arcface_crop, preprocess

    with torch.no_grad():
        return _arcface_net(arcface_crop(preprocess(crop256))).numpy()[0]


def observe(rgb: np.ndarray, arcface: bool = True) -> FrameObservation | None:
    from facereel.faces.align import align_face
    from facereel.faces.identity import face_descriptor

    from .target import face_landmarks

    lm = face_landmarks(rgb)
    if lm is None or lm.yaw is None:
        return None
    lo, hi = lm.points.min(axis=0), lm.points.max(axis=0)
    h, w = rgb.shape[:2]
    box = (int(max(0, lo[0])), int(max(0, lo[1])), int(min(w - 1, hi[0])), int(min(h - 1, hi[1])))
    try:
        desc = face_descriptor(rgb, box=box)
    except Exception:  # dlib refuses degenerate boxes
        desc = None
    emb = _arcface(align_face(rgb, lm, size=256).image) if arcface else None
    return FrameObservation(lm.yaw, lm.pitch, aspect_ratios(lm.points), dict(lm.blendshapes), desc, emb)


def _corr(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _nanmean(v) -> float:
    v = [x for x in v if x is not None and not math.isnan(x)]
    return float(np.mean(v)) if v else float("nan")


def _cos(a, b) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def score(driver: list[FrameObservation | None], output: list[FrameObservation | None],
          target: FrameObservation, driver_identity: FrameObservation | None = None) -> dict:
    from facereel.metrics.identity import similarity

    pairs = [(d, o) for d, o in zip(driver, output) if d is not None and o is not None]
    row: dict = {"frames": len(output), "no_face": sum(o is None for o in output)}
    if not pairs:
        return row | {c: float("nan") for c in COLUMNS if c not in row}
    yaw = [abs(d.yaw - o.yaw) for d, o in pairs]
    pitch = [abs(d.pitch - o.pitch) for d, o in pairs]
    row["yaw_mae"], row["pitch_mae"] = float(np.mean(yaw)), float(np.mean(pitch))
    row["pose_mae"] = 0.5 * (row["yaw_mae"] + row["pitch_mae"])
    for k, name in enumerate(("eyes_corr", "brows_corr", "mouth_corr")):
        row[name] = _corr([d.ratios[k] for d, _ in pairs], [o.ratios[k] for _, o in pairs])
    row["ratio_corr"] = _nanmean([row["eyes_corr"], row["brows_corr"], row["mouth_corr"]])
    keys = sorted(set(pairs[0][0].blendshapes) & set(pairs[0][1].blendshapes))
    moving = [k for k in keys if np.std([d.blendshapes.get(k, 0.0) for d, _ in pairs]) > 0.02]
    row["blendshape_corr"] = _nanmean([_corr([d.blendshapes.get(k, 0.0) for d, _ in pairs],
                                             [o.blendshapes.get(k, 0.0) for _, o in pairs]) for k in moving])
    outs = [o for o in output if o is not None]
    row["csim_dlib"] = _nanmean([similarity(o.descriptor, target.descriptor) for o in outs])
    row["csim_arcface"] = _nanmean([_cos(o.arcface, target.arcface) for o in outs
                                    if o.arcface is not None and target.arcface is not None])
    ref = driver_identity
    row["csim_driver_dlib"] = _nanmean([similarity(o.descriptor, ref.descriptor) for o in outs]) if ref else float("nan")
    return row


def _run_method(name: str, frames: list[np.ndarray], target_rgb: np.ndarray, options, method=None):
    from .target import select_target_face

    options = options.replace(method=name)
    m = method if method is not None else create_method(name)
    face = select_target_face(target_rgb, options)
    outputs = []
    try:
        m.configure(options)
        if m.needs_driver_pass:
            for f in frames:
                m.observe(f)
        m.prepare(target_rgb, options)
        last = None
        for f in frames:
            out = m.drive(f)
            outputs.append(out if out is not None else last)
            last = outputs[-1]
    finally:
        m.close()
    return outputs, face


def evaluate_methods(driver: str | Path, target: str | Path, methods: list[str], options,
                     self_reenactment: bool = True, progress: Progress | None = None, factories=None) -> dict:
    """Rows ``{"name", **score}`` for each method on (driver -> target) and, with ``self_reenactment``,
    on (driver -> the driver's first face frame), plus the ceiling.  ``factories``: name -> callable
    returning a method instance (tests).  A method that cannot run (weights missing) gets an
    ``error`` row instead of stopping the others."""
    from .io import DriverSource, load_photo

    options = options.validate()
    target_rgb = load_photo(target)
    src = DriverSource(driver, options.max_frames)
    frames = list(src.frames())          # evaluation sequences are short: held once, observed once
    d_obs = [observe(f) for f in frames]
    if all(o is None for o in d_obs):
        raise ReenactError("no face found in any driver frame")
    first = next(i for i, o in enumerate(d_obs) if o is not None)
    t_obs = observe(target_rgb)
    if t_obs is None:
        raise ReenactError("no face found in the target photo")
    rows = [{"name": "ceiling (output = driver)", **score(d_obs, d_obs, d_obs[first], d_obs[first])}]
    jobs = [(m, target_rgb, t_obs, m) for m in methods]
    if self_reenactment:
        jobs += [(m, frames[first], d_obs[first], f"{m} (self)") for m in methods]
    for n, (m, tgt, tobs, label) in enumerate(jobs):
        try:
            method = factories[m]() if factories and m in factories else None
            outs, _ = _run_method(m, frames, tgt, options.replace(paste_back=False), method)
            o_obs = [observe(o) if o is not None else None for o in outs]
            rows.append({"name": label, **score(d_obs, o_obs, tobs, d_obs[first])})
        except (FacereelError, FileNotFoundError) as exc:     # weights missing, ...: this row only
            rows.append({"name": label, "error": str(exc)})
        report(progress, n + 1, len(jobs))
    return {"driver": str(driver), "target": str(target), "frames": len(frames), "rows": rows,
            "columns": list(COLUMNS)}
