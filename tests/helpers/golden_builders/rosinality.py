"""Golden builder: rosinality's StyleGAN2 generator (the pSp/e4e/ReStyle decoder)."""

from __future__ import annotations


def build(meta, state, npz):
    from facereel.nets.rosinality import Generator

    G = Generator(*meta.get("init_args", []), **meta.get("init_kwargs", {}))
    G.load_state_dict(state, strict=True)  # every official name consumed, shapes equal
    return G


BUILDERS = {"models.stylegan2.model.Generator": build}
