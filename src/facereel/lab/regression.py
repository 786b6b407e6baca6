"""A learned ageing map: (start age, w_start, target age) -> w_target ("A photo a day").

Latents are flattened and projected on their first ``components`` principal components (a W+
code has 9,216 values; a few hundred photos of one person span far fewer directions), then a
ridge or lasso model predicts the PCA coordinates of ``w_target`` from

    x = [pca(w_start), age_weight * start_age / 10, age_weight * target_age / 10]

``age_weight`` scales the age inputs against the latent ones: a larger weight makes the penalty
on their coefficients relatively smaller, so the model leans on the ages (ages in decades keep the
two kinds of input on similar scales).  Evaluation: held-out ages of the same person, and
leave-one-person-out across people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facereel.lab.linearity import LabError
from facereel.options.choices import LAB_REGRESSIONS as REGRESSIONS


def _pairs(persons: np.ndarray, max_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Ordered pairs (i, j), i != j, of latents of the same person (subsampled, seeded)."""
    same = persons[:, None] == persons[None, :]
    ii, jj = np.nonzero(same & ~np.eye(len(persons), dtype=bool))
    if len(ii) > max_pairs:
        sel = rng.choice(len(ii), max_pairs, replace=False)
        ii, jj = ii[sel], jj[sel]
    return ii, jj


@dataclass
class AgeRegressor:
    kind: str = "ridge"
    alpha: float = 10.0
    age_weight: float = 1.0
    components: int = 64
    max_pairs: int = 4000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in REGRESSIONS:
            raise LabError(f"unknown regression {self.kind!r}; choose one of {', '.join(REGRESSIONS)}")
        self._model = None

    # x: [N, D] flattened latents, ages [N]
    def _features(self, z_start: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        w = self.age_weight / 10.0
        return np.concatenate([z_start, (w * s)[:, None], (w * t)[:, None]], axis=1)

    def fit(self, latents: np.ndarray, ages: Sequence[float], persons: Sequence[str] | None = None) -> AgeRegressor:
        """Fits on every ordered pair of latents of the same person (``persons``: one id per latent;
        None = all one person)."""
        from sklearn.linear_model import Lasso, Ridge

        x = np.asarray(latents, np.float64).reshape(len(latents), -1)
        ages = np.asarray(ages, np.float64)
        if len(x) < 3:
            raise LabError(f"the regression needs at least 3 latents with ages, got {len(x)}")
        self._shape = np.asarray(latents).shape[1:]
        self._mean = x.mean(axis=0)
        k = int(min(self.components, len(x) - 1, x.shape[1]))
        _, _, vt = np.linalg.svd(x - self._mean, full_matrices=False)
        self._basis = vt[:k]                                         # [k, D]
        z = (x - self._mean) @ self._basis.T                         # [N, k]
        who = np.zeros(len(x), int) if persons is None else np.asarray(persons)
        if len(who) != len(x):
            raise LabError(f"{len(x)} latents but {len(who)} person ids")
        ii, jj = _pairs(who, self.max_pairs, np.random.default_rng(self.seed))
        feats = self._features(z[ii], ages[ii], ages[jj])
        # Fit the change z_t - z_s: with no evidence the model falls back to "no change", not to the mean face.
        target = z[jj] - z[ii]
        model = Ridge(alpha=self.alpha) if self.kind == "ridge" else Lasso(alpha=self.alpha, max_iter=5000)
        model.fit(feats, target)
        self._model = model
        return self

    def predict(self, latents: np.ndarray, start_ages: Sequence[float], target_ages: Sequence[float]) -> np.ndarray:
        if self._model is None:
            raise LabError("the regression is not fitted")
        x = np.asarray(latents, np.float64).reshape(len(latents), -1)
        z = (x - self._mean) @ self._basis.T
        dz = self._model.predict(self._features(z, np.asarray(start_ages, float), np.asarray(target_ages, float)))
        residual = x - (self._mean + z @ self._basis)                # what PCA does not model stays as it was
        out = self._mean + (z + dz) @ self._basis + residual
        return out.reshape((len(x), *self._shape))


def _pair_error(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    return np.linalg.norm((pred - true).reshape(len(pred), -1), axis=1)


def evaluate_heldout(latents: np.ndarray, ages: Sequence[float], heldout: np.ndarray, model: AgeRegressor) -> dict:
    """Fits on the latents not in ``heldout`` (bool mask), predicts each held-out latent from every
    training latent; mean error of the model against the "no change" baseline (w_target = w_start)."""
    lat, ages = np.asarray(latents), np.asarray(ages, float)
    train, test = ~heldout, heldout
    if train.sum() < 3 or test.sum() < 1:
        raise LabError("held-out evaluation needs at least 3 training and 1 held-out latent")
    model.fit(lat[train], ages[train])
    ti, hi = np.nonzero(train)[0], np.nonzero(test)[0]
    ii, jj = np.repeat(ti, len(hi)), np.tile(hi, len(ti))
    pred = model.predict(lat[ii], ages[ii], ages[jj])
    err = _pair_error(pred, lat[jj])
    base = _pair_error(lat[ii], lat[jj])
    return {"pairs": int(len(ii)), "mean_error": float(err.mean()), "baseline_error": float(base.mean()),
            "ratio": float(err.mean() / base.mean()) if base.mean() > 0 else float("nan")}


def leave_one_person_out(latents: np.ndarray, ages: Sequence[float], persons: Sequence[str],
                         model: AgeRegressor) -> list[dict]:
    """For each person: fit on everyone else, predict that person's latents at their other ages."""
    lat, ages, persons = np.asarray(latents), np.asarray(ages, float), np.asarray(persons)
    people = list(dict.fromkeys(persons.tolist()))
    if len(people) < 2:
        raise LabError("leave-one-person-out needs latents of at least 2 people")
    rows = []
    for person in people:
        test = persons == person
        if (~test).sum() < 3 or test.sum() < 2:
            continue
        model.fit(lat[~test], ages[~test], persons[~test])
        idx = np.nonzero(test)[0]
        ii, jj = np.nonzero(~np.eye(len(idx), dtype=bool))
        ii, jj = idx[ii], idx[jj]
        pred = model.predict(lat[ii], ages[ii], ages[jj])
        err, base = _pair_error(pred, lat[jj]), _pair_error(lat[ii], lat[jj])
        rows.append({"person": str(person), "pairs": int(len(ii)), "mean_error": float(err.mean()),
                     "baseline_error": float(base.mean()),
                     "ratio": float(err.mean() / base.mean()) if base.mean() > 0 else float("nan")})
    return rows
