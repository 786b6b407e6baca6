"""Our DCGAN module against the gan-face-generate package's own generator (same weights, same z)."""

from __future__ import annotations

import importlib

import pytest
import torch

from facereel.checkpoints.loaders import load_dcgan_digiface
from facereel.nets.base import FaceGenerator
from facereel.nets.dcgan import DCGANFaceGenerator, DCGANGenerator, build_dcgan, read_dcgan_state
from facereel.weights import digiface_weights_path


@pytest.fixture(scope="module")
def package_generator():
    models = importlib.import_module("gan_face_generate.models")  # the package's own architecture
    state = read_dcgan_state(digiface_weights_path())
    net = models.Generator(0, 3, 100, 64)
    net.load_state_dict(state)
    return net.eval(), state


def test_state_dict_names_match_package(package_generator):
    theirs, state = package_generator
    ours = DCGANGenerator()
    assert list(ours.state_dict().keys()) == list(theirs.state_dict().keys())
    for k, v in ours.state_dict().items():
        assert v.shape == state[k].shape, k


def test_reproduces_package_output(package_generator, torch_threads):
    theirs, state = package_generator
    ours = build_dcgan(state)
    z = torch.randn(3, 100, 1, 1, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        want = theirs(z)
        got = ours(z)
        got_flat = ours(z[:, :, 0, 0])
    assert got.shape == (3, 3, 64, 64)
    assert torch.equal(got, want)
    assert torch.equal(got_flat, want)
    # real weights give an image, not a constant
    assert want.std() > 0.1


def test_face_generator_protocol_and_seeds(torch_threads):
    G = load_dcgan_digiface()
    assert isinstance(G, FaceGenerator)
    assert isinstance(G, DCGANFaceGenerator)
    assert (G.latent_kind, G.z_dim, G.num_ws, G.resolution) == ("z", 100, 1, 64)
    z = G.sample([3, 5])
    assert z.shape == (2, 100)
    # per-seed sampling: the same seed gives the same latent whatever the batch
    assert torch.equal(G.sample([5])[0], z[1])
    assert not torch.equal(z[0], z[1])
    img = G.synthesize(z)
    assert img.shape == (2, 3, 64, 64)
    assert img.min() >= -1 and img.max() <= 1
    # truncation pulls z to the mean (0) in z space
    assert torch.allclose(G.sample([3], truncation_psi=0.5)[0], 0.5 * z[0])
    assert torch.count_nonzero(G.w_avg) == 0
    assert load_dcgan_digiface() is G  # cached
