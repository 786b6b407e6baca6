"""Latent directions: fitters, the direction file, and the public e4e direction files.

A :class:`Direction` is one or more unit vectors in a generator's fit space (z for Z
generators, the mapped w for StyleGAN), optionally per layer ([num_ws, dim], like e4e's pose),
with ``scale``: the standard deviation of the sampled codes' projections onto the direction, so
a strength of 1 moves a face by one standard deviation of the generator's own spread along it
(public files keep scale 1: their strengths are raw latent units, as e4e applies them).

Fitters (``X`` [N, dim] codes, ``y`` [N] labels; NaN labels dropped):

* ``linear``: least-squares regression y ≈ X·β + c (continuous labels); direction β/‖β‖;
* ``logistic`` / ``svm``: the normal of a logistic-regression / linear-SVM boundary (binary
  labels; continuous ones are split at the median, as InterFaceGAN does);
* ``pairwise``: the mean over random pairs of (x_p − x_q)/(y_p − y_q) (pairs with a label gap
  above a quarter of the label's standard deviation);
* ``pca`` (GANSpace, Härkönen et al. 2020): principal components of mapped w;
* ``sefa`` (Shen & Zhou 2021): eigenvectors of AᵀA where A stacks the weights that project the
  latent into the first layers' styles (StyleGAN: the style affines; DCGAN: the first
  transposed convolution, which is linear in z);
* conditional (InterFaceGAN, Shen et al. 2020): the primary normal with its components along
  the chosen other attributes' normals projected out (Gram–Schmidt), so editing it leaves those
  attributes' linear read-outs unchanged.

File: safetensors, tensors ``vectors`` [k, dim] or [k, num_ws, dim] (and ``mean`` [dim] /
``std`` [k] for PCA); the JSON header under the metadata key ``facereel.direction`` carries the
format version, generator id, latent space, dim, num_ws, layers, label, method, scale and the
fit metrics.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facereel.core.atomic import atomic_path
from facereel.core.errors import FacereelError
from facereel.latent.space import LatentSpaceError, Space

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
META_KEY = "facereel.direction"


class DirectionError(FacereelError):
    pass


@dataclasses.dataclass
class Direction:
    vectors: np.ndarray            # [k, dim] or [k, num_ws, dim]
    generator: str
    latent_space: str              # "z" | "w"
    dim: int
    num_ws: int = 1
    label: str = ""
    method: str = ""
    scale: float | list[float] = 1.0   # one per vector (PCA: the component std)
    layers: list[int] | None = None    # layers the direction was made for (None: all)
    metrics: dict = dataclasses.field(default_factory=dict)
    conditioned_on: list[str] = dataclasses.field(default_factory=list)
    mean: np.ndarray | None = None     # PCA mean [dim]
    source: str = "fitted"
    version: int = FORMAT_VERSION

    @property
    def k(self) -> int:
        return int(self.vectors.shape[0])

    def vector(self, index: int = 0) -> np.ndarray:
        """Component ``index`` times its scale: the latent step of strength 1."""
        if not 0 <= index < self.k:
            raise DirectionError(f"direction {self.label or self.method!r} has {self.k} component(s), not {index + 1}")
        scales = self.scale if isinstance(self.scale, list) else [self.scale] * self.k
        return self.vectors[index] * float(scales[index])

    def check(self, space: Space) -> None:
        """Refuses a direction made for another generator or latent space."""
        if self.latent_space != space.kind or self.dim != space.dim:
            raise LatentSpaceError(
                f"direction {self.label!r} is for a {self.latent_space} space of width {self.dim} "
                f"(generator {self.generator}), not the {space.kind} space of width {space.dim} of {space.generator}")
        if self.generator not in ("*", space.generator):
            raise LatentSpaceError(
                f"direction {self.label!r} was made for generator {self.generator}, not {space.generator}")
        if self.vectors.ndim == 3 and self.vectors.shape[1] != space.num_ws:
            raise LatentSpaceError(
                f"direction {self.label!r} has {self.vectors.shape[1]} layers, {space.generator} has {space.num_ws}")

    def header(self) -> dict:
        return {"version": self.version, "generator": self.generator, "latent_space": self.latent_space,
                "dim": self.dim, "num_ws": self.num_ws, "label": self.label, "method": self.method,
                "scale": self.scale, "layers": self.layers, "metrics": self.metrics,
                "conditioned_on": self.conditioned_on, "source": self.source, "k": self.k,
                "layerwise": self.vectors.ndim == 3}


def save_direction(direction: Direction, path: str | Path) -> Path:
    from safetensors.numpy import save_file

    path = Path(path)
    tensors = {"vectors": np.ascontiguousarray(direction.vectors, dtype=np.float32)}
    if direction.mean is not None:
        tensors["mean"] = np.ascontiguousarray(direction.mean, dtype=np.float32)
    meta = {META_KEY: json.dumps(direction.header(), sort_keys=True, default=_json_default)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def _json_default(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def load_direction(path: str | Path) -> Direction:
    """A direction file (ours), or a public e4e ``.pt`` direction / GANSpace PCA read safely."""
    path = Path(path)
    if not path.is_file():
        raise DirectionError(f"no such direction file: {path}")
    if path.suffix == ".pt":
        return read_e4e_file(path)
    from safetensors import SafetensorError
    from safetensors.numpy import safe_open

    try:
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
            if META_KEY not in meta:
                raise DirectionError(f"{path.name} is a safetensors file but not a facereel direction")
            head = json.loads(meta[META_KEY])
            vectors = f.get_tensor("vectors").astype(np.float64)
            mean = f.get_tensor("mean").astype(np.float64) if "mean" in f.keys() else None
    except SafetensorError as exc:
        raise DirectionError(f"{path.name} is not a readable direction file ({exc})") from None
    if int(head.get("version", 0)) > FORMAT_VERSION:
        raise DirectionError(f"{path.name} has direction format version {head['version']}; this facereel "
                             f"reads up to {FORMAT_VERSION}")
    return Direction(vectors=vectors, generator=head["generator"], latent_space=head["latent_space"],
                     dim=int(head["dim"]), num_ws=int(head.get("num_ws", 1)), label=head.get("label", ""),
                     method=head.get("method", ""), scale=head.get("scale", 1.0), layers=head.get("layers"),
                     metrics=head.get("metrics", {}), conditioned_on=head.get("conditioned_on", []), mean=mean,
                     source=head.get("source", "fitted"), version=int(head.get("version", 1)))


#: the generator the e4e files were computed on (FFHQ StyleGAN2 1024, rosinality layout: 18 ws)
E4E_GENERATOR = "*"


def read_e4e_file(path: str | Path, label: str | None = None) -> Direction:
    """e4e's ``editings/interfacegan_directions/*.pt`` ([1, 512] or [1, 18, 512] tensors) or
    ``editings/ganspace_pca/ffhq_pca.pt`` ({mean [1, 512], comp [80, 1, 512], std [80]}), read
    with ``torch.load(weights_only=True)`` (no code runs)."""
    import torch

    path = Path(path)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one clear line
        raise DirectionError(f"{path.name} is not a readable e4e direction file ({type(exc).__name__})") from None
    label = label or path.stem
    if isinstance(obj, dict) and {"mean", "comp", "std"} <= set(obj):
        comp = obj["comp"].double().numpy().reshape(obj["comp"].shape[0], -1)
        return Direction(vectors=comp, generator=E4E_GENERATOR, latent_space="w", dim=comp.shape[1], num_ws=18,
                         label=label, method="pca", scale=[float(s) for s in obj["std"].double().numpy()],
                         mean=obj["mean"].double().numpy().reshape(-1), source=f"e4e:{path.name}")
    if isinstance(obj, torch.Tensor):
        v = obj.double().numpy()
        if v.ndim == 2 and v.shape[0] == 1:
            return Direction(vectors=v, generator=E4E_GENERATOR, latent_space="w", dim=v.shape[1], num_ws=18,
                             label=label, method="svm", source=f"e4e:{path.name}")
        if v.ndim == 3 and v.shape[0] == 1:
            return Direction(vectors=v, generator=E4E_GENERATOR, latent_space="w", dim=v.shape[2], num_ws=v.shape[1],
                             label=label, method="svm", source=f"e4e:{path.name}")
    raise DirectionError(f"{path.name} does not hold an e4e direction ([1, 512] / [1, 18, 512] tensor or a PCA dict)")


# ---------------------------------------------------------------------------------------------
# fitters


def _clean(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise DirectionError(f"codes must be [N, dim] and labels [N], got {X.shape} and {y.shape}")
    keep = np.isfinite(y)
    X, y = X[keep], y[keep]
    if len(y) < 4:
        raise DirectionError(f"only {len(y)} sample(s) have this label; need at least 4")
    if np.ptp(y) == 0:
        raise DirectionError("every sample has the same label; nothing to fit")
    return X, y


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n == 0:
        raise DirectionError("the fitted direction is zero")
    return v / n


def binarise(y: np.ndarray, binary: bool) -> tuple[np.ndarray, float]:
    """(labels in {0, 1}, threshold): probabilities at 0.5, other labels at their median."""
    thr = 0.5 if binary else float(np.median(y))
    return (y > thr).astype(np.int64), thr


def fit_linear(X, y, *, ridge: float = 0.1) -> tuple[np.ndarray, dict]:
    """Ridge regression on centred codes: β = (XᵀX + α·I)⁻¹ Xᵀy with α = ridge · tr(XᵀX)/dim
    (scale-free; with ~1,000 noisy labels in 100 dimensions the plain least squares overfits)."""
    X, y = _clean(X, y)
    mx, my = X.mean(0), y.mean()
    Xc, yc = X - mx, y - my
    gram = Xc.T @ Xc
    alpha = ridge * float(np.trace(gram)) / X.shape[1]
    beta = np.linalg.solve(gram + alpha * np.eye(X.shape[1]), Xc.T @ yc)
    pred = Xc @ beta
    r2 = 1 - float(np.sum((yc - pred) ** 2) / np.sum(yc ** 2))
    return _unit(beta), {"r2": r2, "n": int(len(y)), "slope_per_unit": float(np.linalg.norm(beta)), "ridge": ridge}


def _classifier_metrics(clf, X, yb) -> dict:
    return {"accuracy": float((clf.predict(X) == yb).mean()), "n": int(len(yb)), "positives": int(yb.sum())}


def fit_logistic(X, y, *, binary: bool = False, C: float = 1.0) -> tuple[np.ndarray, dict]:
    from sklearn.linear_model import LogisticRegression

    X, y = _clean(X, y)
    yb, thr = binarise(y, binary)
    if yb.min() == yb.max():
        raise DirectionError("all samples fall on one side of the threshold; nothing to separate")
    clf = LogisticRegression(C=C, max_iter=2000).fit(X, yb)
    return _unit(clf.coef_[0]), {**_classifier_metrics(clf, X, yb), "threshold": thr}


def fit_svm(X, y, *, binary: bool = False, C: float = 1.0) -> tuple[np.ndarray, dict]:
    from sklearn.svm import LinearSVC

    X, y = _clean(X, y)
    yb, thr = binarise(y, binary)
    if yb.min() == yb.max():
        raise DirectionError("all samples fall on one side of the threshold; nothing to separate")
    clf = LinearSVC(C=C, max_iter=20000).fit(X, yb)
    return _unit(clf.coef_[0]), {**_classifier_metrics(clf, X, yb), "threshold": thr}


def fit_pairwise(X, y, *, pairs: int = 20000, seed: int = 0) -> tuple[np.ndarray, dict]:
    """mean over random pairs (p, q) with |y_p − y_q| > σ_y/4 of (x_p − x_q)/(y_p − y_q)."""
    X, y = _clean(X, y)
    rng = np.random.default_rng(seed)
    p, q = rng.integers(0, len(y), pairs), rng.integers(0, len(y), pairs)
    dy = y[p] - y[q]
    keep = np.abs(dy) > 0.25 * y.std()
    if keep.sum() < 2:
        raise DirectionError("too few pairs with distinct labels")
    d = ((X[p[keep]] - X[q[keep]]) / dy[keep, None]).mean(0)
    return _unit(d), {"pairs": int(keep.sum()), "n": int(len(y))}


def fit_pca(W: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """GANSpace: (components [k, dim], std [k], mean [dim], metrics) of mapped codes W [N, dim]."""
    W = np.asarray(W, np.float64)
    mean = W.mean(0)
    _, s, vt = np.linalg.svd(W - mean, full_matrices=False)
    k = min(k, vt.shape[0])
    std = s[:k] / np.sqrt(max(len(W) - 1, 1))
    var = s ** 2
    return vt[:k], std, mean, {"explained_variance_ratio": [float(v) for v in (var[:k] / var.sum())], "n": len(W)}


def sefa_weight(G, layers: Sequence[int] | None = None) -> np.ndarray:
    """A [rows, dim]: the linear maps from the latent to the styles of ``layers`` (StyleGAN) or to
    the first transposed convolution's output (DCGAN)."""
    import torch

    if G.latent_kind == "z":
        net = getattr(G, "net", None)
        first = net.main[0] if net is not None else None
        if not isinstance(first, torch.nn.ConvTranspose2d):
            raise DirectionError(f"SeFa needs a generator whose first layer is linear in z; {G.name} is not")
        w = first.weight.detach().double().cpu().numpy()          # [nz, C, 4, 4]
        return w.reshape(w.shape[0], -1).T                         # [C·16, nz]
    mats = style_affines(G)
    idx = range(len(mats)) if layers is None else layers
    chosen = []
    for i in idx:
        if not 0 <= i < len(mats):
            raise DirectionError(f"layer {i} is out of range 0..{len(mats) - 1}")
        chosen.extend(mats[i])
    return np.concatenate(chosen, 0)


def style_affines(G) -> list[list[np.ndarray]]:
    """For each w+ index, the weights [out, w_dim] of the style affines that read it."""
    import torch

    net = getattr(G, "G", None)
    out: list[list[np.ndarray]] = [[] for _ in range(G.num_ws)]
    if net is not None and hasattr(net, "synthesis") and hasattr(net.synthesis, "block_resolutions"):
        from facereel.latent.edit import nv_style_indices

        for module_name, index in nv_style_indices(net.synthesis).items():
            m = net.synthesis.get_submodule(module_name).affine
            w = m.weight.detach().double().cpu().numpy() * float(getattr(m, "weight_gain", 1.0))
            out[index].append(w)
        return out
    if net is not None and hasattr(net, "to_rgb1"):  # rosinality
        from facereel.latent.edit import rosinality_style_indices

        for module_name, index in rosinality_style_indices(net).items():
            m = net.get_submodule(module_name).conv.modulation
            out[index].append(m.weight.detach().double().cpu().numpy() * float(m.scale))
        return out
    if isinstance(net, torch.nn.Module) and hasattr(net, "synthesis"):  # StyleGAN3
        for name, mod in net.synthesis.named_modules():
            if hasattr(mod, "affine") and hasattr(mod, "w_dim") and name.startswith("L"):
                idx = int(name[1:].split("_")[0])
                a = mod.affine
                out[min(idx, G.num_ws - 1)].append(a.weight.detach().double().cpu().numpy() * float(a.weight_gain))
        return out
    raise DirectionError(f"SeFa does not know the style layers of {G.name}")


def fit_sefa(G, k: int = 10, layers: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """(eigenvectors [k, dim] of AᵀA by decreasing eigenvalue, eigenvalues [k], metrics)."""
    A = sefa_weight(G, layers)
    A = A / np.linalg.norm(A, axis=1, keepdims=True).clip(1e-12)  # SeFa normalises each row
    vals, vecs = np.linalg.eigh(A.T @ A)
    order = np.argsort(vals)[::-1][:k]
    return vecs[:, order].T, vals[order], {"eigenvalues": [float(v) for v in vals[order]]}


def condition(primary: np.ndarray, others: Sequence[np.ndarray]) -> np.ndarray:
    """InterFaceGAN's conditional direction: ``primary`` minus its projection on span(others)."""
    basis: list[np.ndarray] = []
    for o in others:
        v = np.asarray(o, np.float64).reshape(-1).copy()
        for b in basis:
            v -= (v @ b) * b
        n = np.linalg.norm(v)
        if n > 1e-9:
            basis.append(v / n)
    d = np.asarray(primary, np.float64).reshape(-1).copy()
    for b in basis:
        d -= (d @ b) * b
    return _unit(d)


def projection_scale(X: np.ndarray, d: np.ndarray) -> float:
    """Standard deviation of the codes' projections onto the unit direction ``d``."""
    return float(np.std(np.asarray(X, np.float64) @ d))


def identity_normals(X: np.ndarray, labels: dict[str, np.ndarray], k: int = 32) -> list[np.ndarray]:
    """Ridge-regression normals in code space of the top-``k`` principal components of the
    identity descriptors: the code directions along which the face's identity moves most."""
    cols = [f"identity_{i}" for i in range(128)]
    if not all(c in labels for c in cols):
        raise DirectionError("no identity descriptors to condition on (label the samples with the identity source)")
    desc = np.stack([labels[c] for c in cols], 1)
    keep = np.isfinite(desc).all(1)
    desc, Xk = desc[keep], np.asarray(X, np.float64)[keep]
    _, _, vt = np.linalg.svd(desc - desc.mean(0), full_matrices=False)
    comps = (desc - desc.mean(0)) @ vt[:k].T
    return [fit_linear(Xk, comps[:, j])[0] for j in range(min(k, comps.shape[1]))]


def default_method(label: str) -> str:
    from facereel.latent.labels import BINARY

    return "logistic" if label in BINARY else "linear"


def fit_direction(X: np.ndarray, labels: dict[str, np.ndarray], label: str, space: Space, *,
                  method: str = "auto", condition_on: Sequence[str] = (), seed: int = 0,
                  identity_components: int = 32) -> Direction:
    """A :class:`Direction` for ``label`` from codes ``X`` [N, dim] and their ``labels``.

    ``condition_on``: other labels whose (same-method) normals are projected out; ``"identity"``
    projects out the regression normals of the top ``identity_components`` principal components
    of the dlib identity descriptors (labels ``identity_0 … identity_127``)."""
    from facereel.latent.labels import BINARY

    if label not in labels:
        raise DirectionError(f"no {label!r} labels to fit (have: {', '.join(sorted(labels)) or 'none'})")
    method = default_method(label) if method == "auto" else method

    def one(name: str) -> tuple[np.ndarray, dict]:
        y = labels[name]
        if method == "linear":
            return fit_linear(X, y)
        if method == "logistic":
            return fit_logistic(X, y, binary=name in BINARY)
        if method == "svm":
            return fit_svm(X, y, binary=name in BINARY)
        if method == "pairwise":
            return fit_pairwise(X, y, seed=seed)
        raise DirectionError(f"method {method!r} does not fit a label; choose linear, logistic, svm or pairwise")

    d, metrics = one(label)
    others = []
    for o in condition_on:
        if o == label:
            raise DirectionError(f"cannot condition {label!r} on itself")
        if o == "identity":
            others.extend(identity_normals(X, labels, identity_components))
            continue
        if o not in labels:
            raise DirectionError(f"no {o!r} labels to condition on")
        others.append(one(o)[0])
    if others:
        plain = d
        d = condition(d, others)
        metrics["cosine_to_unconditioned"] = float(plain @ d)
    # orient so that +strength raises the label
    y = labels[label]
    keep = np.isfinite(y)
    corr = np.corrcoef(X[keep] @ d, y[keep])[0, 1]
    if np.isfinite(corr) and corr < 0:
        d = -d
    metrics["correlation"] = float(abs(corr)) if np.isfinite(corr) else None
    return Direction(vectors=d[None], generator=space.generator, latent_space=space.kind, dim=space.dim,
                     num_ws=space.num_ws, label=label, method=method, scale=projection_scale(X, d),
                     metrics=metrics, conditioned_on=list(condition_on))
