"""Golden builder: the SAM age-transformation wrapper (yuval-alaluf/SAM ``models.psp.pSp``).

The fixture's module name is pSp's, so :func:`tests.helpers.golden_builders.encoders.build_wrapper`
hands files of ``source_repo`` yuval-alaluf/SAM to :func:`build_sam`.  It writes the checkpoint as
``training/coach_aging.py`` saves it (``{'state_dict', 'opts', 'latent_avg'}``) and loads it like a
user's file through :func:`facereel.checkpoints.sam.load_sam` (strict, fused inference path).
"""

from __future__ import annotations

import os
import tempfile

SOURCE_REPO = "yuval-alaluf/SAM"


def build_sam(meta, state, npz):
    import torch

    from facereel.checkpoints.sam import load_sam
    from tests.helpers.golden import golden_tensor

    w = meta["wrapper"]
    la = w["latent_avg"]
    ckpt = {"state_dict": state, "opts": dict(w["checkpoint"]["opts"]),
            "latent_avg": torch.from_numpy(golden_tensor("latent_avg", la["shape"], la["rule"], npz))}
    assert sorted(ckpt) == sorted(w["checkpoint"]["keys"])
    fd, path = tempfile.mkstemp(suffix=".pt")
    os.close(fd)
    try:
        torch.save(ckpt, path)
        del ckpt
        net = load_sam(path, "cpu")
    finally:
        os.unlink(path)
    assert net.start_from_encoded_w_plus and not net.start_from_latent_avg and net.input_nc == 4
    return net


BUILDERS: dict = {}
