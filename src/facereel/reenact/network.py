"""Loading the thesis' transfer network and its identity encoder (ReStyle-pSp FFHQ).

:func:`load_transfer_network` builds :class:`facereel.nets.pet.PoseExpressionTransfer` from a
``best_model.pt`` (path or weights name ``pet_best_model``) read by the safe reader
(:mod:`facereel.checkpoints.pet`), every part loaded with ``strict=True`` as the official
``MypSp.load_weights`` does.  A checkpoint of another kind (a pSp/e4e/ReStyle file, a bare
generator) is refused with one line naming what it holds.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from .base import ReenactError

log = logging.getLogger(__name__)

__all__ = ["load_transfer_network", "resolve_checkpoint"]


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    """A file path, or an installed weights name of :mod:`facereel.weights`."""
    p = Path(str(name_or_path)).expanduser()
    if p.is_file():
        return p
    if p.suffix in (".pt", ".pth", ".ckpt", ".safetensors") or "/" in str(name_or_path):
        raise ReenactError(f"no such checkpoint: {name_or_path}")
    from facereel import weights

    try:
        path = weights.local_path(str(name_or_path))
    except weights.WeightsError as exc:
        raise ReenactError(str(exc)) from None
    if path is None:
        raise ReenactError(f"the {name_or_path} weights are not installed (facereel weights download {name_or_path})")
    return Path(path)


def load_transfer_network(name_or_path: str | Path, device: str | torch.device = "cpu", *, fuse: bool = True):
    """``best_model.pt`` -> eval-mode :class:`~facereel.nets.pet.PoseExpressionTransfer` on ``device``."""
    from facereel.checkpoints.errors import CheckpointError
    from facereel.checkpoints.pet import read_pet_checkpoint
    from facereel.checkpoints.torch_files import rosinality_config
    from facereel.nets.pet import PoseExpressionTransfer
    from facereel.nets.rosinality import Generator

    path = resolve_checkpoint(name_or_path)
    try:
        ck = read_pet_checkpoint(path)
        cfg = rosinality_config(ck["decoder"])
    except CheckpointError as exc:
        raise ReenactError(str(exc)) from None
    opts = ck["opts"]
    size = int(cfg["size"])
    if opts.get("output_size") and int(opts["output_size"]) != size:
        raise ReenactError(f"{path.name}: opts say output size {opts['output_size']} but the decoder is {size}px")
    decoder = Generator(size, cfg.get("style_dim", 512), cfg.get("n_mlp", 8),
                        channel_multiplier=cfg.get("channel_multiplier", 2))
    from facereel.nets.pet import MotionEncoder

    n_styles = 2 * (size.bit_length() - 1) - 2
    # stage_units: only in the small networks facereel's own tests train (the thesis' body is IR-SE50)
    encoder = MotionEncoder(50, "ir_se", int(opts.get("input_nc", 3)), n_styles, stage_units=opts.get("stage_units"))
    net = PoseExpressionTransfer(size, decoder=decoder, encoder=encoder, mapping_init="none")
    for part in ("encoder", "mapping_net", "decoder"):
        try:
            getattr(net, part).load_state_dict(ck[part], strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise ReenactError(f"{path.name}: its {part} does not match the thesis' network ({first})") from None
    del ck
    net = net.to(device).eval().requires_grad_(False)
    return net.fuse() if fuse else net
