"""How far a straight line in latent space stays from the real latent path of a person ageing.

For a start latent ``a``, an end latent ``b`` and a real latent ``p`` ("A photo a day"):

    n = (b - a) / ||b - a||                      unit direction of the line a -> b
    d = (a - p) - ((a - p) . n) n               component of a - p orthogonal to the line
    error(p) = ||d||_2

``t(p) = (p - a) . n / ||b - a||`` is where p projects onto the segment (0 at a, 1 at b).
With an age direction as the interpolator the line is ``a + s v`` and ``n = v / ||v||``.
W+ latents [num_ws, w_dim] are flattened to one vector; :func:`layer_groups` splits them into
the coarse / middle / fine layers of StyleGAN (Karras et al. 2019, Sec. 3.1: 4²–8², 16²–32²,
64²–1024² at 1024 px) so the same analysis runs inside each group's own subspace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from facereel.core.errors import FacereelError


class LabError(FacereelError, ValueError):
    """An analysis that cannot run on the given latents/ages (one clear line)."""


def _flat(latents: np.ndarray) -> np.ndarray:
    x = np.asarray(latents, np.float64)
    return x.reshape(x.shape[0], -1) if x.ndim > 1 else x[None]


def line_errors(a: np.ndarray, b: np.ndarray, points: np.ndarray) -> np.ndarray:
    """||d|| of every point [N, ...] to the line through a and b (same shapes as one point)."""
    a, b = np.ravel(np.asarray(a, np.float64)), np.ravel(np.asarray(b, np.float64))
    return direction_errors(a, b - a, points)


def direction_errors(a: np.ndarray, direction: np.ndarray, points: np.ndarray) -> np.ndarray:
    """||d|| of every point to the line ``a + s * direction``."""
    a = np.ravel(np.asarray(a, np.float64))
    v = np.ravel(np.asarray(direction, np.float64))
    norm = np.linalg.norm(v)
    if not np.isfinite(norm) or norm == 0:
        raise LabError("the start and end latents are identical (or the direction is zero): no line to measure")
    n = v / norm
    diff = a[None] - _flat(points)                      # [N, D]  a - p
    d = diff - (diff @ n)[:, None] * n[None]            # remove the component along n
    return np.linalg.norm(d, axis=1)


def line_positions(a: np.ndarray, b: np.ndarray, points: np.ndarray) -> np.ndarray:
    """t(p) = (p - a) . n / ||b - a||: 0 at a, 1 at b."""
    a, b = np.ravel(np.asarray(a, np.float64)), np.ravel(np.asarray(b, np.float64))
    v = b - a
    return (_flat(points) - a[None]) @ v / float(v @ v)


def layer_groups(num_ws: int) -> dict[str, slice]:
    """Coarse / middle / fine layer ranges of a W+ code with ``num_ws`` layers.

    StyleGAN's split at 1024 px (18 layers): coarse 0–3 (4²–8²), middle 4–7 (16²–32²), fine 8–17.
    Smaller generators keep coarse = the first 4 and middle = the next 4 when they have them.
    """
    if num_ws < 3:
        raise LabError(f"per-layer errors need W+ latents with at least 3 layers, got {num_ws}")
    c = min(4, num_ws // 3)
    m = min(8, c + max(1, (num_ws - c) // 2)) if num_ws < 12 else 8
    return {"coarse": slice(0, c), "middle": slice(c, m), "fine": slice(m, num_ws)}


def layer_errors(a: np.ndarray, b: np.ndarray, points: np.ndarray,
                 groups: dict[str, slice] | None = None) -> dict[str, np.ndarray]:
    """Per layer group, the line error computed inside that group's own subspace.

    ``a``, ``b`` [num_ws, w_dim], ``points`` [N, num_ws, w_dim].
    """
    a, b, pts = np.asarray(a), np.asarray(b), np.asarray(points)
    if a.ndim != 2 or pts.ndim != 3:
        raise LabError("per-layer errors need W+ latents [num_ws, w_dim]")
    groups = groups or layer_groups(a.shape[0])
    out = {}
    for name, sl in groups.items():
        if np.allclose(a[sl], b[sl]):
            out[name] = np.linalg.norm((pts[:, sl] - a[None, sl]).reshape(len(pts), -1), axis=1)
        else:
            out[name] = line_errors(a[sl], b[sl], pts[:, sl])
    return out


# ----------------------------------------------------------------------------- ordering, windows


def order_by_age(latents: np.ndarray, ages: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(latents, ages, index) sorted by age (stable); missing/NaN ages are an error."""
    ages = np.asarray(ages, np.float64)
    if len(ages) != len(latents):
        raise LabError(f"{len(latents)} latents but {len(ages)} ages")
    if not np.all(np.isfinite(ages)):
        bad = int(np.sum(~np.isfinite(ages)))
        raise LabError(f"{bad} of {len(ages)} latents have no age; give a birth date and dated photos, or ages")
    idx = np.argsort(ages, kind="stable")
    return np.asarray(latents)[idx], ages[idx], idx


def window_average(latents: np.ndarray, ages: Sequence[float], window: int) -> tuple[np.ndarray, np.ndarray]:
    """Means over consecutive windows of ``window`` latents in age order (last window may be shorter)."""
    if int(window) != window or window < 1:
        raise LabError(f"window must be a whole number >= 1, got {window}")
    lat, ag, _ = order_by_age(latents, ages)
    if window == 1:
        return lat, ag
    n = int(np.ceil(len(lat) / window))
    out_l = np.stack([lat[i * window:(i + 1) * window].mean(axis=0) for i in range(n)])
    out_a = np.array([ag[i * window:(i + 1) * window].mean() for i in range(n)])
    return out_l, out_a


def nearest_index(ages: np.ndarray, age: float, tolerance: float | None = None) -> int:
    i = int(np.argmin(np.abs(ages - age)))
    if tolerance is not None and abs(ages[i] - age) > tolerance:
        raise LabError(f"no latent near age {age:g} (nearest {ages[i]:.2f}, ages span {ages.min():.2f}-{ages.max():.2f})")
    return i


# ----------------------------------------------------------------------------- analyses


@dataclass
class PairResult:
    """Errors of the latents between a start and an end age to the line (or direction) through them."""

    start_age: float
    end_age: float
    start_index: int
    end_index: int
    interpolator: str                       # "line" or "direction"
    ages: np.ndarray                        # [K] ages of the evaluated latents (between start and end)
    errors: np.ndarray                      # [K] ||d||
    positions: np.ndarray                   # [K] t along the segment
    chord: float                            # ||b - a||
    layer_errors: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def relative(self) -> np.ndarray:
        """Errors as a fraction of the chord length (comparable between pairs)."""
        return self.errors / self.chord if self.chord > 0 else self.errors

    def summary(self) -> dict:
        row = {"start_age": self.start_age, "end_age": self.end_age, "interpolator": self.interpolator,
               "n": int(len(self.errors)), "chord": self.chord,
               "mean_error": float(np.mean(self.errors)) if len(self.errors) else float("nan"),
               "max_error": float(np.max(self.errors)) if len(self.errors) else float("nan"),
               "mean_relative": float(np.mean(self.relative)) if len(self.errors) else float("nan")}
        for k, v in self.layer_errors.items():
            row[f"mean_error_{k}"] = float(np.mean(v)) if len(v) else float("nan")
        return row


def pair_errors(latents: np.ndarray, ages: Sequence[float], start_age: float, end_age: float, *,
                direction: np.ndarray | None = None, tolerance: float | None = None,
                per_layer: bool = True) -> PairResult:
    """The projection errors of every latent aged between ``start_age`` and ``end_age``.

    The start/end latents are those nearest to the two ages (``tolerance`` in years bounds how far
    the nearest may be).  With ``direction`` the line is ``a + s * direction`` instead of a -> b.
    """
    if not end_age > start_age:
        raise LabError(f"a pair needs start age < end age, got {start_age:g}:{end_age:g}")
    lat, ag, idx = order_by_age(latents, ages)
    i, j = nearest_index(ag, start_age, tolerance), nearest_index(ag, end_age, tolerance)
    if i == j:
        raise LabError(f"ages {start_age:g} and {end_age:g} map to the same latent (age {ag[i]:.2f})")
    a, b = lat[i], lat[j]
    inside = (ag >= ag[i]) & (ag <= ag[j])
    pts = lat[inside]
    if direction is None:
        err = line_errors(a, b, pts)
        interp = "line"
    else:
        dvec = np.asarray(direction, np.float64)
        if dvec.size != a.size:
            if dvec.size * a.shape[0] == a.size and a.ndim == 2:   # one w direction for every layer
                dvec = np.broadcast_to(np.ravel(dvec), a.shape)
            else:
                raise LabError(f"the direction has {dvec.size} values, the latents {a.size}")
        err = direction_errors(a, dvec, pts)
        interp = "direction"
    layers = {}
    if per_layer and lat.ndim == 3 and lat.shape[1] >= 3:
        if direction is None:
            layers = layer_errors(a, b, pts)
        else:
            dv = np.asarray(dvec).reshape(a.shape)
            layers = {k: direction_errors(a[sl], dv[sl], pts[:, sl]) if np.any(dv[sl]) else
                      np.linalg.norm((pts[:, sl] - a[None, sl]).reshape(len(pts), -1), axis=1)
                      for k, sl in layer_groups(a.shape[0]).items()}
    return PairResult(start_age=float(ag[i]), end_age=float(ag[j]), start_index=int(idx[i]), end_index=int(idx[j]),
                      interpolator=interp, ages=ag[inside], errors=err, positions=line_positions(a, b, pts),
                      chord=float(np.linalg.norm(np.ravel(b) - np.ravel(a))), layer_errors=layers)


@dataclass
class SpanResult:
    span: float
    pairs: int
    mean_error: float
    std_error: float
    mean_relative: float
    layer_mean: dict[str, float] = field(default_factory=dict)


def span_errors(latents: np.ndarray, ages: Sequence[float], spans: Sequence[float], *,
                tolerance: float = 0.5, max_pairs: int = 500, seed: int = 0) -> list[SpanResult]:
    """For each span (years), every pair (i, j) with age_j - age_i within ``span ± tolerance``: the
    mean error of the latents between them to the line i -> j, averaged over pairs.

    Pairs are subsampled to ``max_pairs`` per span (seeded) so long videos stay quick.
    """
    lat, ag, _ = order_by_age(latents, ages)
    rng = np.random.default_rng(seed)
    out = []
    for span in spans:
        if not span > 0:
            raise LabError(f"spans must be positive, got {span:g}")
        dif = ag[None, :] - ag[:, None]
        ii, jj = np.nonzero(np.abs(dif - span) <= tolerance)
        keep = jj > ii + 1                           # at least one latent between the ends
        ii, jj = ii[keep], jj[keep]
        if len(ii) > max_pairs:
            sel = rng.choice(len(ii), max_pairs, replace=False)
            ii, jj = ii[sel], jj[sel]
        means, rels, layer_acc = [], [], {}
        for i, j in zip(ii, jj):
            if np.allclose(lat[i], lat[j]):
                continue
            pts = lat[i + 1:j]
            e = line_errors(lat[i], lat[j], pts)
            means.append(e.mean())
            rels.append(e.mean() / np.linalg.norm(np.ravel(lat[j]) - np.ravel(lat[i])))
            if lat.ndim == 3 and lat.shape[1] >= 3:
                for k, v in layer_errors(lat[i], lat[j], pts).items():
                    layer_acc.setdefault(k, []).append(float(v.mean()))
        out.append(SpanResult(span=float(span), pairs=len(means),
                              mean_error=float(np.mean(means)) if means else float("nan"),
                              std_error=float(np.std(means)) if means else float("nan"),
                              mean_relative=float(np.mean(rels)) if rels else float("nan"),
                              layer_mean={k: float(np.mean(v)) for k, v in layer_acc.items()}))
    return out


def principal_path(latents: np.ndarray, a: np.ndarray | None = None, b: np.ndarray | None = None):
    """The latent path projected on its first two principal components: (path [N, 2], line [2, 2]
    (a and b projected, or None), explained variance ratio [2])."""
    x = _flat(latents)
    mean = x.mean(axis=0)
    xc = x - mean
    if len(x) < 2:
        raise LabError("the principal-component plot needs at least 2 latents")
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    comps = vt[:2]
    var = (s ** 2) / max(1e-300, float((s ** 2).sum()))
    line = None
    if a is not None and b is not None:
        line = (np.stack([np.ravel(a), np.ravel(b)]) - mean) @ comps.T
    return xc @ comps.T, line, var[:2]
