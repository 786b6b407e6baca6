"""Golden builder: NVIDIA StyleGAN2 generator (``training.networks_stylegan2.Generator``)."""

from __future__ import annotations


def build(meta, state, npz):
    from facereel.nets.stylegan2 import Generator

    G = Generator(*meta.get("init_args", []), **meta.get("init_kwargs", {}))
    assert list(G.state_dict()) == list(state), "state_dict names/order differ from the official module"
    G.load_state_dict(state, strict=True)  # every official name consumed, shapes equal
    return G


BUILDERS = {"training.networks_stylegan2.Generator": build}
