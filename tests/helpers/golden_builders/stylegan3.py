"""Golden builder: NVIDIA StyleGAN3 generator (T and R configurations)."""

from __future__ import annotations


def build(meta, state, npz):
    from facereel.nets.stylegan3 import Generator

    G = Generator(*meta.get("init_args", []), **meta.get("init_kwargs", {}))
    G.load_state_dict(state, strict=True)  # every official name consumed, shapes equal
    return G


BUILDERS = {"training.networks_stylegan3.Generator": build}
