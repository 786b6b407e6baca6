"""Golden builders: the pose-and-expression transfer network (JahodaPetr/Pose-and-Expression-Transfer).

The part fixtures load the fill-rule state by official names (strict).  The composition fixture
goes through the user path: the builder writes ``{'state_dict', 'opts'}`` as the thesis' Coach saves
``best_model.pt`` and :func:`facereel.reenact.network.load_transfer_network` reads it.
"""

from __future__ import annotations

import os
import tempfile


def build_motion_encoder(meta, state, npz):
    from facereel.nets.pet import MotionEncoder

    o = dict(meta.get("opts") or {})
    m = MotionEncoder(*meta["init_args"], input_nc=o.get("input_nc", 3), n_styles=o.get("n_styles", 18))
    m.load_state_dict(state, strict=True)
    return m.eval().fuse()


def build_mapping(meta, state, npz):
    from facereel.nets.pet import MappingNetwork

    m = MappingNetwork(meta["opts"]["n_styles"], init="none")
    m.load_state_dict(state, strict=True)
    return m.eval()


def build_composition(meta, state, npz):
    import torch

    from facereel.reenact.network import load_transfer_network

    ckpt = {"state_dict": state, "opts": dict(meta["wrapper"]["checkpoint"]["opts"])}
    fd, path = tempfile.mkstemp(suffix=".pt")
    os.close(fd)
    try:
        torch.save(ckpt, path)
        del ckpt
        return load_transfer_network(path, "cpu")
    finally:
        os.unlink(path)


BUILDERS = {
    "psp_encoders.BackboneEncoderUsingLastLayerIntoWPlus": build_motion_encoder,
    "psp_encoders.MappingNetowrk": build_mapping,
    "psp.MypSp": build_composition,
}
