"""Strength search of ageing by direction, on a stand-in generator whose 'age' is readable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facereel.latent.directions import Direction
from facereel.latent.lifespan import extend_by_direction, extension_ages, lifespan_by_direction


class Toy:
    """z [N, 4] → 8×8 images whose mean brightness encodes a saturating 'age' of z[0]."""
    name, latent_kind, z_dim, w_dim, num_ws, resolution = "toy", "z", 4, 4, 1, 8
    device = torch.device("cpu")

    def synthesize(self, z):
        age = 40 + 35 * torch.tanh(z[:, 0] / 3)                      # 5..75 years
        v = (age / 100 * 2 - 1)[:, None, None, None]
        return v.expand(z.shape[0], 3, 8, 8) + 0 * z[:, 1, None, None, None]


def age_of(images):
    return images.astype(np.float64).mean(axis=(1, 2, 3)) / 255 * 100


def ident_of(images):      # "identity" drifts with the age itself
    return np.repeat(images.astype(np.float64).mean(axis=(1, 2, 3))[:, None] / 255, 128, axis=1) / np.sqrt(128) * 4


def direction():
    return Direction(vectors=np.array([[1.0, 0, 0, 0]]), generator="toy", latent_space="z", dim=4, label="age")


def test_strengths_follow_the_read_out_not_a_coefficient():
    G = Toy()
    r = lifespan_by_direction(G, torch.zeros(1, 4), direction(), [10, 30, 40, 60, 90], age_of=age_of,
                              max_strength=8, grid=9, refine=3, tolerance=0.5)
    est = np.array(r.estimated)
    assert np.all(np.abs(est[:4] - [10, 30, 40, 60]) < 1.0), est
    assert r.strengths == sorted(r.strengths)
    assert r.flags[-1] == "out_of_reach" and r.flags[:4] == [""] * 4
    assert r.latents.shape == (5, 4) and r.images.shape == (5, 8, 8, 3)


def test_identity_guard_clamps_and_flags():
    G = Toy()
    r = lifespan_by_direction(G, torch.zeros(1, 4), direction(), [20, 40, 70], age_of=age_of, identity_of=ident_of,
                              identity_guard=0.5, max_strength=8, grid=17)
    assert r.flags[0] == "guarded" and r.flags[2] == "guarded" and r.flags[1] == ""
    assert all(d <= 0.5 + 1e-9 for d in r.identity_distance)
    lo, hi = r.curve["allowed"]
    assert lo > -8 and hi < 8


def test_extension_of_a_timelapse():
    before, after = extension_ages(20, 45, (5, 80), step=10)
    assert before[0] == 5 and before[-1] < 20 and after[-1] == 80 and after[0] > 45
    G = Toy()
    keys = torch.tensor([[-0.7, 0, 0, 0], [0.4, 0, 0, 0]])
    ages = [float(age_of(G_img(G, keys[i:i + 1]))[0]) for i in range(2)]
    lat, out_ages, kinds = extend_by_direction(G, keys, ages, direction(), (8, 72), age_of=age_of, max_strength=8)
    assert kinds[0] == "extended" and kinds[-1] == "extended" and kinds.count("photo") == 2
    assert out_ages == sorted(out_ages)
    assert lat.shape[0] == len(out_ages)
    torch.testing.assert_close(lat[kinds.index("photo")], keys[0])
    with pytest.raises(Exception, match="earlier age"):
        extend_by_direction(G, keys, ages, direction(), (80, 5))


def G_img(G, z):
    from facereel.latent.space import to_uint8

    return to_uint8(G.synthesize(z))
