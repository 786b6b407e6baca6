"""Layer masks, direction edits and style mixing on small seeded generators of the real classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facereel.latent import edit as E
from facereel.latent.directions import Direction
from facereel.latent.space import LatentSpaceError, space_of
from facereel.nets.plan import REFERENCE
from tests.helpers.latent import tiny_nv, tiny_ros


def test_parse_layers():
    assert E.parse_layers("all", 18) == list(range(18))
    assert E.parse_layers("coarse", 18) == [0, 1, 2, 3]
    assert E.parse_layers("middle", 18) == [4, 5, 6, 7]
    assert E.parse_layers("fine", 18) == list(range(8, 18))
    assert E.parse_layers("vs", 18) == list(range(8)) == E.parse_layers("first 8 of 18", 18)
    assert E.parse_layers("first 8 of 18", 14) == list(range(6))
    assert E.parse_layers("0-2,5,9-", 12) == [0, 1, 2, 5, 9, 10, 11]
    assert E.parse_layers("all", 1) == [0]
    for bad, msg in [("0-40", "out of range"), ("banana", "bad layer mask"), ("5-2", "empty")]:
        with pytest.raises(LatentSpaceError, match=msg):
            E.parse_layers(bad, 18)
    with pytest.raises(LatentSpaceError, match="no layers"):
        E.parse_layers("coarse", 1)


def test_parse_strengths():
    assert E.parse_strengths("2") == [2.0]
    assert E.parse_strengths("-3..3", 7) == [-3, -2, -1, 0, 1, 2, 3]
    assert E.parse_strengths("1,-2.5") == [1.0, -2.5]
    with pytest.raises(LatentSpaceError):
        E.parse_strengths("x..y")


def _styles_nv(G, ws):
    """module name → the style its affine computed, by forward hooks."""
    styles = {}
    hooks = []
    for name in E.nv_style_indices(G.G.synthesis):
        mod = G.G.synthesis.get_submodule(name).affine
        hooks.append(mod.register_forward_hook(lambda m, i, o, name=name: styles.__setitem__(name, o.detach().clone())))
    with torch.no_grad():
        G.synthesize(ws)
    for h in hooks:
        h.remove()
    return styles


def _styles_ros(G, ws):
    styles = {}
    hooks = []
    for name in E.rosinality_style_indices(G.G):
        mod = G.G.get_submodule(name).conv.modulation
        hooks.append(mod.register_forward_hook(lambda m, i, o, name=name: styles.__setitem__(name, o.detach().clone())))
    G.G.plan = REFERENCE
    with torch.no_grad():
        G.synthesize(ws)
    for h in hooks:
        h.remove()
    return styles


@pytest.mark.parametrize("kind", ["nv", "ros"])
@pytest.mark.parametrize("mask", ["coarse", "middle", "6-", "0,3"])
def test_layer_masks_change_only_the_masked_styles(kind, mask):
    G = tiny_nv() if kind == "nv" else tiny_ros()
    space = space_of(G)
    idx_of = E.nv_style_indices(G.G.synthesis) if kind == "nv" else E.rosinality_style_indices(G.G)
    assert sorted(set(idx_of.values())) == list(range(G.num_ws))
    styles = _styles_nv if kind == "nv" else _styles_ros
    ws = G.sample([3])
    d = Direction(vectors=np.random.default_rng(0).standard_normal((1, space.dim)), generator=G.name,
                  latent_space="w", dim=space.dim, num_ws=space.num_ws)
    layers = E.parse_layers(mask, G.num_ws)
    edited = E.apply(ws, E.step(d, space), [2.0], layers, space)
    assert edited.shape == ws.shape
    a, b = styles(G, ws), styles(G, edited)
    for name, i in idx_of.items():
        if i in layers:
            assert (a[name] - b[name]).abs().max() > 1e-3, name
        else:
            assert torch.equal(a[name], b[name]), name          # exactly unchanged


def test_style_mixing_matches_rosinality_inject_index():
    G = tiny_ros()
    z1 = torch.randn(2, 24, generator=torch.Generator().manual_seed(1))
    z2 = torch.randn(2, 24, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for k in (1, 3, 5):
            ref, lat = G.G([z1, z2], inject_index=k, randomize_noise=False, return_latents=True)
            mixed = E.mix_like_inject_index(G.mapping(z1), G.mapping(z2), k, G.num_ws)
            torch.testing.assert_close(mixed, lat, rtol=0, atol=0)
            torch.testing.assert_close(G.synthesize(mixed), ref, rtol=0, atol=0)


def test_apply_z_and_layerwise_directions():
    from facereel.latent.space import Space

    space = Space("g", "z", 4, 1)
    lat = torch.zeros(2, 4)
    out = E.apply(lat, torch.tensor([1.0, 0, 0, 0]), [-1, 2], None, space)
    assert out.shape == (4, 4) and out[0, 0] == -1 and out[3, 0] == 2
    with pytest.raises(LatentSpaceError):
        E.apply(lat, torch.ones(4), [1], [0, 1], space)
    sw = Space("g", "w", 3, 5)
    lw = torch.zeros(1, 5, 3)
    delta = torch.arange(15, dtype=torch.float32).reshape(5, 3)
    out = E.apply(lw, delta, [1.0], [1, 2], sw)
    assert torch.equal(out[0, [0, 3, 4]], torch.zeros(3, 3)) and torch.equal(out[0, 1:3], delta[1:3])


def test_sefa_on_stylegan_layers():
    from facereel.latent.directions import fit_sefa

    for G in (tiny_nv(), tiny_ros()):
        vecs, vals, _ = fit_sefa(G, 4, layers=[0, 1, 2])
        assert vecs.shape == (4, 24)
        np.testing.assert_allclose(vecs @ vecs.T, np.eye(4), atol=1e-8)
