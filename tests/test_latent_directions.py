"""Direction fitters on planted data, the direction file, the e4e readers and the weights entries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facereel.latent import directions as D
from facereel.latent.space import LatentSpaceError, Space

SPACE = Space("gen-a", "z", 16, 1)


def planted(n=600, dim=16, seed=0, noise=0.3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim))
    d = rng.standard_normal(dim)
    d /= np.linalg.norm(d)
    other = rng.standard_normal(dim)
    other -= (other @ d) * d
    other /= np.linalg.norm(other)
    mix = 0.6 * d + 0.8 * other                       # a second label correlated with the first
    y = X @ d * 5 + 30 + noise * rng.standard_normal(n)
    y2 = X @ mix + noise * rng.standard_normal(n)
    return X, {"age": y, "gender": 1 / (1 + np.exp(-3 * y2)), "smile": y2}, d, mix


@pytest.mark.parametrize("method", ["linear", "pairwise", "logistic", "svm"])
def test_fitters_recover_the_planted_direction(method):
    X, labels, d, _ = planted()
    got = D.fit_direction(X, labels, "age", SPACE, method=method)
    cos = float(got.vectors[0] @ d)
    assert cos > (0.97 if method in ("linear", "pairwise") else 0.9), cos
    assert np.isclose(np.linalg.norm(got.vectors[0]), 1)
    assert got.scale == pytest.approx(np.std(X @ got.vectors[0]))


def test_conditional_direction_is_orthogonal_to_the_other_normal():
    X, labels, d, mix = planted()
    plain = D.fit_direction(X, labels, "smile", SPACE, method="linear")
    cond = D.fit_direction(X, labels, "smile", SPACE, method="linear", condition_on=["age"])
    age_n = D.fit_direction(X, labels, "age", SPACE, method="linear").vectors[0]
    assert abs(cond.vectors[0] @ age_n) < 1e-9
    assert abs(plain.vectors[0] @ age_n) > 0.5
    assert cond.conditioned_on == ["age"]
    with pytest.raises(D.DirectionError, match="itself"):
        D.fit_direction(X, labels, "age", SPACE, condition_on=["age"])


def test_nan_labels_dropped_and_degenerate_labels_refused():
    X, labels, d, _ = planted(200)
    y = labels["age"].copy()
    y[::3] = np.nan
    got = D.fit_direction(X, {"age": y}, "age", SPACE, method="linear")
    assert got.metrics["n"] == int(np.isfinite(y).sum())
    with pytest.raises(D.DirectionError, match="same label"):
        D.fit_linear(X, np.ones(len(X)))
    with pytest.raises(D.DirectionError, match="no 'yaw'"):
        D.fit_direction(X, labels, "yaw", SPACE)


def test_pca_components_and_std():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((2000, 8)) * np.array([5, 3, 1, 1, 1, 1, 1, 1]) + 2
    comp, std, mean, m = D.fit_pca(W, 3)
    assert abs(comp[0] @ np.eye(8)[0]) > 0.99 and abs(comp[1] @ np.eye(8)[1]) > 0.99
    assert std[0] == pytest.approx(5, rel=0.05) and mean == pytest.approx(np.full(8, 2), abs=0.3)
    assert m["explained_variance_ratio"][0] > m["explained_variance_ratio"][1]


def test_file_roundtrip_and_space_checks(tmp_path):
    X, labels, _, _ = planted()
    d = D.fit_direction(X, labels, "age", SPACE)
    p = D.save_direction(d, tmp_path / "age.safetensors")
    back = D.load_direction(p)
    np.testing.assert_allclose(back.vectors, d.vectors, rtol=1e-6)
    assert back.header()["metrics"]["r2"] == pytest.approx(d.metrics["r2"])
    assert (back.generator, back.latent_space, back.dim, back.label) == ("gen-a", "z", 16, "age")
    back.check(SPACE)
    with pytest.raises(LatentSpaceError, match="made for generator gen-a"):
        back.check(Space("gen-b", "z", 16, 1))
    with pytest.raises(LatentSpaceError, match="w space"):
        back.check(Space("gen-a", "w", 16, 10))
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(D.DirectionError):
        D.load_direction(tmp_path / "bad.safetensors")


def test_e4e_files_read_safely(tmp_path):
    v = torch.nn.functional.normalize(torch.randn(1, 512), dim=1)
    torch.save(v, tmp_path / "age.pt")
    torch.save(torch.randn(1, 18, 512), tmp_path / "pose.pt")
    torch.save({"mean": torch.randn(1, 512), "comp": torch.randn(80, 1, 512), "std": torch.rand(80)},
               tmp_path / "ffhq_pca.pt")
    age = D.load_direction(tmp_path / "age.pt")
    assert age.vectors.shape == (1, 512) and age.latent_space == "w" and age.scale == 1.0
    age.check(Space("stylegan2-ffhq-1024", "w", 512, 18))
    pose = D.load_direction(tmp_path / "pose.pt")
    assert pose.vectors.shape == (1, 18, 512)
    with pytest.raises(LatentSpaceError, match="18 layers"):
        pose.check(Space("x", "w", 512, 16))
    pca = D.load_direction(tmp_path / "ffhq_pca.pt")
    assert pca.k == 80 and pca.mean.shape == (512,) and len(pca.scale) == 80
    np.testing.assert_allclose(pca.vector(3), pca.vectors[3] * pca.scale[3])

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(D.DirectionError, match="not a readable"):
        D.load_direction(tmp_path / "evil.pt")


def test_e4e_directions_in_the_weights_table():
    from facereel import weights as W

    for name, size in [("e4e-age", 2808), ("e4e-pose", 37624), ("e4e-smile", 2808), ("e4e-ganspace-ffhq", 167562)]:
        e = W.TABLE[name]
        assert e.kind == "direction" and e.size == size and len(e.sha256) == 64 and e.sha256_verified
        assert e.urls[0].startswith("https://raw.githubusercontent.com/omertov/encoder4editing/main/editings/")
        assert not e.commercial_use


def test_sefa_on_the_dcgan_first_layer():
    from facereel.checkpoints.loaders import load_dcgan_digiface
    from facereel.latent.space import space_of

    G = load_dcgan_digiface()
    vecs, vals, m = D.fit_sefa(G, 5)
    assert vecs.shape == (5, space_of(G).dim)
    np.testing.assert_allclose(vecs @ vecs.T, np.eye(5), atol=1e-8)
    assert list(vals) == sorted(vals, reverse=True)
