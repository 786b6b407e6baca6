"""Golden builders: IR-SE50 ArcFace, pSp / e4e / ReStyle encoders, and the official wrappers.

The encoder fixtures load the fill-rule state by official names (strict).  The wrapper fixtures
(``models.psp.pSp``) go through the user path: the builder writes a ``.pt`` in the repos' own
checkpoint format and :func:`facereel.inversion.encoders.load_inverter` reads it.  Every built model
is switched to the fused inference path, so the fixtures cover the code users run.
"""

from __future__ import annotations

import os
import tempfile


def _opts(meta) -> dict:
    return dict(meta.get("opts") or {})


def _load(model, state):
    model.load_state_dict(state, strict=True)  # every official name consumed, shapes equal
    return model.eval().fuse()


def build_arcface(meta, state, npz):
    from facereel.nets.encoders import Backbone

    return _load(Backbone(**meta["init_kwargs"]), state)


def build_gradual(meta, state, npz):
    from facereel.nets.encoders import GradualStyleEncoder

    o = _opts(meta)
    return _load(GradualStyleEncoder(*meta["init_args"], input_nc=o.get("input_nc", 3),
                                     n_styles=o.get("n_styles", 18)), state)


def build_e4e(meta, state, npz):
    from facereel.nets.encoders import Encoder4Editing

    o = _opts(meta)
    return _load(Encoder4Editing(*meta["init_args"], stylegan_size=o.get("stylegan_size", 1024)), state)


def build_restyle(meta, state, npz):
    from facereel.nets.encoders import BackboneEncoder

    o = _opts(meta)
    return _load(BackboneEncoder(*meta["init_args"], n_styles=meta["init_kwargs"].get("n_styles", 18),
                                 input_nc=o.get("input_nc", 6)), state)


def build_restyle_e4e(meta, state, npz):
    from facereel.nets.encoders import ProgressiveBackboneEncoder

    o = _opts(meta)
    return _load(ProgressiveBackboneEncoder(*meta["init_args"], n_styles=meta["init_kwargs"].get("n_styles", 18),
                                            input_nc=o.get("input_nc", 6)), state)


def build_wrapper(meta, state, npz):
    """Writes the checkpoint exactly as pSp/e4e/ReStyle save it and loads it like a user's file."""
    import torch

    from facereel.inversion.encoders import load_inverter
    from tests.helpers.golden import golden_tensor
    from tests.helpers.golden_builders import sam

    if meta["source_repo"] == sam.SOURCE_REPO:     # SAM's wrapper is models.psp.pSp too
        return sam.build_sam(meta, state, npz)
    la = meta["wrapper"]["latent_avg"]
    ckpt = {
        "state_dict": state,
        "latent_avg": torch.from_numpy(golden_tensor("latent_avg", la["shape"], la["rule"], npz)),
        "opts": dict(meta["wrapper"]["opts"]),
    }
    fd, path = tempfile.mkstemp(suffix=".pt")
    os.close(fd)
    try:
        torch.save(ckpt, path)
        del ckpt
        model = load_inverter(path, device="cpu")
    finally:
        os.unlink(path)
    expected = {"eladrich/pixel2style2pixel": "psp", "omertov/encoder4editing": "e4e",
                "yuval-alaluf/restyle-encoder": "restyle_psp"}.get(meta["source_repo"])
    assert model.kind == expected, (model.kind, expected)
    return model


BUILDERS = {
    "models.encoders.model_irse.Backbone": build_arcface,
    "models.encoders.psp_encoders.GradualStyleEncoder": build_gradual,
    "models.encoders.psp_encoders.Encoder4Editing": build_e4e,
    "models.encoders.restyle_psp_encoders.BackboneEncoder": build_restyle,
    "models.encoders.restyle_e4e_encoders.ProgressiveBackboneEncoder": build_restyle_e4e,
    "models.psp.pSp": build_wrapper,
}
