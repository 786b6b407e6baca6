"""Latent walks: seeded, reproducible paths through a generator's latent space.

* ``random``: a C¹ Catmull-Rom spline through K seeded keypoints (z for Z generators, mapped w
  for StyleGAN), speed-normalised so the image changes evenly from frame to frame;
* ``coarse`` / ``fine``: style mixing with a fixed source face (seed S): the coarse (0–3) or
  fine (8–) styles come from the walk, the others stay the source's;
* ``loop``: a closed path that ends where it starts — a great circle in Z through the seed's z
  (z(θ) = cos θ·z₀ + sin θ·v, v ⟂ z₀ of the same norm; mapped for StyleGAN), or a closed spline
  through K keypoints in W — with the per-frame change evened out the same way.

Speed normalisation ("search"): the path is first re-parametrised by latent arc length (dense,
cheap), then P pilot images along it are rendered (P ≈ frames/16, at least 2 per segment) and
the mean absolute pixel change between neighbours measured; frame k is placed where the
cumulative image change reaches k/(N−1) of the total (inverse interpolation), so every frame
moves the picture by about the same amount.  The pilot images are 64 px: StyleGAN2 renders
them with its blocks up to 64 px only (its skip image there, see :func:`pilot_images`), other
generators in full, pooled.  On a loop the
rate of change is interpolated periodically between pilot segments so the wrap is an ordinary step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from facereel.core.errors import FacereelError
from facereel.core.progress import Progress, report
from facereel.latent import edit as E
from facereel.latent.space import fit_to_native, native_to_fit, space_of
from facereel.options.choices import WALK_MODES

log = logging.getLogger(__name__)

MODES = WALK_MODES


class WalkError(FacereelError):
    pass


@dataclass
class WalkResult:
    times: np.ndarray                   # [frames] path parameter of each frame
    pilot_change: list[float] = field(default_factory=list)   # image change between pilot images
    info: dict = field(default_factory=dict)


def keypoint_seeds(seed: int, count: int) -> list[int]:
    """``count`` generator seeds derived from ``seed`` (the first is ``seed`` itself)."""
    rng = np.random.default_rng(int(seed))
    return [int(seed)] + [int(s) for s in rng.integers(0, 2 ** 31 - 1, max(0, count - 1))]


def catmull_rom(keys: np.ndarray, t: np.ndarray, closed: bool = False) -> np.ndarray:
    """Uniform Catmull-Rom spline through ``keys`` [K, d] at parameters ``t`` ∈ [0, K−1] (open)
    or [0, K) (closed, wrapping): C¹, passing through every key.  Returns [len(t), d]."""
    keys = np.asarray(keys, np.float64)
    K = len(keys)
    t = np.asarray(t, np.float64)
    if closed:
        ext = np.concatenate([keys[-1:], keys, keys[:2]])        # p_{-1}, p_0 … p_{K-1}, p_0, p_1
        t = np.mod(t, K)
        j = np.minimum(np.floor(t).astype(int), K - 1)
        p0, p1, p2, p3 = ext[j], ext[j + 1], ext[j + 2], ext[j + 3]
    else:
        if K == 1:
            return np.repeat(keys, len(t), 0)
        ext = np.concatenate([2 * keys[:1] - keys[1:2], keys, 2 * keys[-1:] - keys[-2:-1]])
        t = np.clip(t, 0, K - 1)
        j = np.minimum(np.floor(t).astype(int), K - 2)
        p0, p1, p2, p3 = ext[j], ext[j + 1], ext[j + 2], ext[j + 3]
    u = (t - j)[:, None]
    # Hermite form with tangents m1 = (p2 − p0)/2, m2 = (p3 − p1)/2
    m1, m2 = (p2 - p0) / 2, (p3 - p1) / 2
    u2, u3 = u * u, u * u * u
    return (2 * u3 - 3 * u2 + 1) * p1 + (u3 - 2 * u2 + u) * m1 + (-2 * u3 + 3 * u2) * p2 + (u3 - u2) * m2


def _invert_cumulative(cum: np.ndarray, grid: np.ndarray, n: int, closed: bool) -> np.ndarray:
    total = cum[-1]
    if total <= 0:
        return np.linspace(grid[0], grid[-1], n, endpoint=not closed)
    targets = np.linspace(0, total, n, endpoint=not closed)
    return np.interp(targets, cum, grid)


def arclength_times(path: Callable[[np.ndarray], np.ndarray], t0: float, t1: float, n: int, closed: bool,
                    dense: int = 2048) -> np.ndarray:
    """``n`` parameters evenly spaced in latent arc length along ``path`` on [t0, t1]."""
    grid = np.linspace(t0, t1, dense + 1)
    pts = path(grid)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    return _invert_cumulative(cum, grid, n, closed)


def image_change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


#: side of the pilot images (the image change is measured at this size)
PILOT_SIZE = 64


def _small(images) -> np.ndarray:
    import torch.nn.functional as F

    x = images.float()
    if x.shape[-1] > PILOT_SIZE:
        x = F.adaptive_avg_pool2d(x, PILOT_SIZE)
    return ((x.clamp(-1, 1) + 1) * 127.5).cpu().numpy()


def pilot_images(G, latents, preview: bool = True) -> np.ndarray:
    """[N, 3, s, s] pixel values (0..255, float) of ``latents`` at s ≤ PILOT_SIZE: the
    generator's low-resolution preview where it has one (StyleGAN2's skip image after the
    PILOT_SIZE block: the cost of the blocks up to there), else (or with ``preview`` False) its
    full images average-pooled."""
    fn = getattr(G, "preview", None) if preview else None
    if fn is not None and G.resolution > PILOT_SIZE:
        img = fn(latents, PILOT_SIZE)
        if img is not None:
            return _small(img)
    return _small(G.synthesize(latents))


def even_times(G, to_native: Callable[[np.ndarray], object], path: Callable[[np.ndarray], np.ndarray],
               t0: float, t1: float, frames: int, *, closed: bool, pilot: int, batch: int = 8,
               preview: bool = True, progress: Progress | None = None) -> tuple[np.ndarray, list[float]]:
    """Frame parameters with even image change (module docstring); also the pilot's changes."""
    import torch

    from facereel.nets import concurrent

    pilot = max(2, int(pilot))
    u = arclength_times(path, t0, t1, pilot + 1, closed=False)  # pilot samples incl. both ends
    # the pilot in as many chunks as there are synthesis streams (each at most ``batch``), side by side
    streams = E.synthesis_streams(G)
    step = max(1, min(batch, -(-len(u) // streams)))
    imgs = []
    with torch.inference_mode():
        parts = concurrent.map_ordered(lambda c: pilot_images(G, to_native(path(c)), preview),
                                       (u[i:i + step] for i in range(0, len(u), step)), streams)
        for part in parts:
            imgs.append(part)
            report(progress, min(len(u), len(imgs) * step), len(u))
    small = np.concatenate(imgs)
    change = [image_change(small[i], small[i + 1]) for i in range(len(small) - 1)]
    cum = np.concatenate([[0.0], np.cumsum(change)])
    dense = arclength_times(path, t0, t1, 4 * pilot * 8 + 1, closed=False)
    s = np.linspace(0, pilot, len(dense))                  # pilot units of latent arc length
    if closed:
        # The rate of image change per unit arc length, change_j at the middle of pilot segment j,
        # interpolated periodically and integrated: the rate is continuous across the wrap, so the
        # last->first step is an ordinary step (with a per-segment rate the seam, always a pilot
        # boundary, jumped from one segment's rate to the other's).
        rate = np.interp(s, np.arange(pilot) + 0.5, np.asarray(change, np.float64), period=pilot)
        cum_dense = np.concatenate([[0.0], np.cumsum((rate[1:] + rate[:-1]) / 2 * np.diff(s))])
    else:
        # Between pilot samples the change is taken as proportional to latent arc length.
        cum_dense = np.interp(s, np.arange(pilot + 1), cum)
    return _invert_cumulative(cum_dense, dense, frames, closed), change


@dataclass(frozen=True)
class WalkPlan:
    """Everything a walk renders: native latents per frame come from ``latents(times)``."""
    mode: str
    times: np.ndarray
    latents: Callable[[np.ndarray], object]
    info: dict


def plan_walk(G, mode: str, *, seed: int = 0, frames: int = 120, keypoints: int = 6, loop_space: str = "z",
              even: bool = True, pilot: int | None = None, truncation_psi: float = 1.0, batch: int = 8,
              pilot_preview: bool = True, progress: Progress | None = None) -> WalkPlan:
    """The frame parameters and latent function of a walk (nothing rendered but the pilot;
    ``pilot_preview`` False renders the pilot in full, see :func:`pilot_images`)."""
    import torch

    if mode not in MODES:
        raise WalkError(f"unknown walk {mode!r}; choose one of {', '.join(MODES)}")
    if frames < 2:
        raise WalkError(f"a walk needs at least 2 frames, got {frames}")
    space = space_of(G)
    if mode in ("coarse", "fine") and space.kind == "z":
        raise WalkError(f"a {mode} walk mixes per-layer styles; {G.name} has a z space without layers "
                        "(use random or loop)")
    dev = G.device
    seeds = keypoint_seeds(seed, max(2, keypoints))
    closed = mode == "loop"
    info: dict = {"mode": mode, "seed": seed, "keypoints": len(seeds), "generator": space.generator}

    if mode == "loop" and loop_space == "z":
        z0 = _z_of(G, seed)
        rng = np.random.default_rng(int(seed) + 1)
        v = rng.standard_normal(z0.shape)
        v -= (v @ z0) / (z0 @ z0) * z0
        v *= np.linalg.norm(z0) / np.linalg.norm(v)

        def path(t):  # θ = 2π·t, t ∈ [0, 1)
            th = 2 * np.pi * np.asarray(t, np.float64)[:, None]
            return np.cos(th) * z0 + np.sin(th) * v

        def to_native(codes):
            z = torch.from_numpy(np.asarray(codes, np.float32)).to(dev)
            return G.mapping(z, truncation_psi)

        t0, t1 = 0.0, 1.0
        info["loop_space"] = "z"
    else:
        if mode == "loop" and loop_space != "w":
            raise WalkError(f"unknown loop space {loop_space!r}; choose z or w")
        with torch.inference_mode():
            keys = native_to_fit(G, G.sample(seeds, truncation_psi=truncation_psi)).double().cpu().numpy()

        def path(t):
            return catmull_rom(keys, t, closed=closed)

        base = None
        if mode in ("coarse", "fine"):
            with torch.inference_mode():
                base = G.sample([int(seed) + 10_000_019], truncation_psi=truncation_psi)   # the fixed source face
            info["source_seed"] = int(seed) + 10_000_019
            layers = E.parse_layers(mode, space.num_ws)
            info["layers"] = layers

        def to_native(codes):
            c = torch.from_numpy(np.asarray(codes, np.float32)).to(dev)
            lat = fit_to_native(G, c)
            if base is not None:
                lat = E.mix(base.expand(lat.shape[0], -1, -1), lat, layers)
            return lat

        t0, t1 = 0.0, float(len(keys) if closed else len(keys) - 1)
        if mode == "loop":
            info["loop_space"] = "w"

    if even:
        p = pilot if pilot is not None else max(2 * len(seeds), frames // 16)
        times, change = even_times(G, to_native, path, t0, t1, frames, closed=closed, pilot=p, batch=batch,
                                   preview=pilot_preview, progress=progress)
        info["pilot"] = p
        info["pilot_change"] = change
    else:
        times = np.linspace(t0, t1, frames, endpoint=not closed)

    def latents(ts):
        return to_native(path(ts))

    return WalkPlan(mode=mode, times=times, latents=latents, info=info)


def _z_of(G, seed: int) -> np.ndarray:
    """The z a generator draws for ``seed`` (its own seeding rule), float64 [z_dim]."""
    import torch

    if hasattr(G, "_z"):
        z = G._z([seed]) if G.__class__.__name__.startswith("Rosinality") else G._z(seed)
        return z.reshape(-1).double().cpu().numpy()
    return torch.randn(G.z_dim, generator=torch.Generator().manual_seed(int(seed))).double().numpy()


def render_frames(G, plan: WalkPlan, *, batch: int = 8, progress: Progress | None = None, convert=None,
                  streams: int | None = None):
    """Yields image batches [b, 3, R, R] in [-1, 1] along ``plan`` (inference mode), or ``convert``
    of them (computed in the synthesis streams, see :func:`facereel.latent.edit.synthesize_stream`)."""
    n = len(plan.times)
    step = max(1, batch)
    chunks = (plan.times[i:i + step] for i in range(0, n, step))
    done = 0
    for imgs in E.synthesize_stream(G, chunks, plan.latents, convert, streams):
        done = min(n, done + len(imgs))
        yield imgs
        report(progress, done, n)
