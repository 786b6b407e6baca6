"""The SAM age-transformation checkpoint (``sam_ffhq_aging.pt`` of yuval-alaluf/SAM) -> a ready
:class:`facereel.nets.sam.SAM`.

Layout, as ``training/coach_aging.py`` saves it: ``{'state_dict': {encoder.*, decoder.*,
pretrained_encoder.*}, 'opts': vars(opts), 'latent_avg': [n_styles, 512]}``.  Read through
:func:`facereel.checkpoints.torch_files.torch_load` (``weights_only=True``, then the restricted
unpickler for an opts Namespace).  The parts are selected as the official ``get_keys`` does (keys
whose first ``len(prefix)`` characters equal the prefix, prefix + one character stripped; so
``pretrained_encoder.*`` is not caught by ``encoder``) and loaded with ``strict=True``, all three
(the official loader loads the encoder with ``strict=False``; a file whose encoder does not match
is refused here instead of running with random layers).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

log = logging.getLogger(__name__)

__all__ = ["PARTS", "WEIGHTS_NAME", "read_sam_checkpoint", "sam_dict", "load_sam", "resolve_sam"]

PARTS = ("encoder", "decoder", "pretrained_encoder")
#: the weights-table name of the official FFHQ model
WEIGHTS_NAME = "sam_ffhq_aging"


def _get_keys(sd: dict, name: str) -> dict[str, torch.Tensor]:
    return {k[len(name) + 1:]: v for k, v in sd.items() if k[:len(name)] == name}


def sam_dict(ckpt: Any, name: str = "checkpoint") -> dict:
    """A loaded SAM ``.pt`` object -> ``dict(encoder=, decoder=, pretrained_encoder=, opts=, latent_avg=)``."""
    sd = ckpt.get("state_dict") if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict):
        raise CheckpointError(f"{name}: not a SAM checkpoint (no state_dict)")
    parts = {p: _get_keys(sd, p) for p in PARTS}
    opts = ckpt.get("opts")
    if opts is not None and not isinstance(opts, dict):
        opts = dict(vars(opts)) if hasattr(opts, "__dict__") else {}
    opts = dict(opts or {})
    have = sorted({k.split(".", 1)[0] for k in sd})
    for p in ("encoder", "decoder"):
        if not parts[p]:
            raise CheckpointError(f"{name}: not a SAM checkpoint (no {p}.* tensors; it holds "
                                  f"{', '.join(have) or 'nothing'})")
    w = parts["encoder"].get("input_layer.0.weight")
    if w is None or w.ndim != 4:
        raise CheckpointError(f"{name}: not a SAM checkpoint (its encoder has no input_layer.0.weight)")
    if int(w.shape[1]) != 4:
        raise CheckpointError(f"{name}: not a SAM checkpoint (its encoder reads {int(w.shape[1])} channels, SAM "
                              f"reads RGB + the age channel: a pSp/e4e/ReStyle file?)")
    if opts.get("start_from_encoded_w_plus") and not parts["pretrained_encoder"]:
        raise CheckpointError(f"{name}: opts say start_from_encoded_w_plus but there are no "
                              f"pretrained_encoder.* tensors")
    latent_avg = ckpt.get("latent_avg")
    if not isinstance(latent_avg, torch.Tensor):
        raise CheckpointError(f"{name}: the SAM checkpoint has no latent_avg")
    return {**parts, "opts": opts, "latent_avg": latent_avg}


def read_sam_checkpoint(path: str | Path) -> dict:
    """``sam_ffhq_aging.pt`` (or a SAM training checkpoint) -> :func:`sam_dict`."""
    from .torch_files import torch_load

    return sam_dict(torch_load(path), Path(path).name)


def resolve_sam(name_or_path: str | Path | None) -> Path:
    """A checkpoint file, or the installed file of a weights name (None: ``sam_ffhq_aging``)."""
    key = WEIGHTS_NAME if name_or_path is None else str(name_or_path)
    p = Path(key).expanduser()
    if p.is_file():
        return p
    from facereel import weights as W

    if key not in W.TABLE:
        raise CheckpointError(f"no such SAM checkpoint: {key}")
    if W.TABLE[key].kind != "sam":
        raise CheckpointError(f"{key} is a {W.TABLE[key].kind} network, not a SAM model")
    path = W.local_path(key)
    if path is None:
        raise CheckpointError(f"the SAM weights are not installed: run `facereel weights download {key}` "
                              f"(non-commercial licence), `facereel weights import {key} FILE`, or pass "
                              f"--weights FILE")
    return Path(path)


def _load(module: torch.nn.Module, state: dict, part: str, name: str) -> None:
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"{name}: its {part} does not match SAM's network ({first})") from None


def load_sam(name_or_path: str | Path | None = None, device: str | torch.device = "cpu", *,
             fuse: bool = True):
    """A SAM checkpoint (file or weights name) -> eval-mode :class:`~facereel.nets.sam.SAM` on ``device``.

    The networks are built on the meta device and take the checkpoint's tensors (``assign=True``),
    so no random initialisation of ~500M parameters is paid for before they are overwritten."""
    from facereel.nets.rosinality import Generator
    from facereel.nets.sam import SAM

    from .torch_files import rosinality_config

    path = resolve_sam(name_or_path)
    ck = read_sam_checkpoint(path)
    opts = ck["opts"]
    cfg = rosinality_config(ck["decoder"])
    size = int(cfg["size"])
    if opts.get("output_size") and int(opts["output_size"]) != size:
        raise CheckpointError(f"{path.name}: opts say output size {opts['output_size']} but the decoder is {size}px")
    # SAM's own flags; a file without opts is taken as the released model's (encoded W+ start)
    from_avg = bool(opts.get("start_from_latent_avg", False))
    from_wplus = bool(opts.get("start_from_encoded_w_plus", bool(ck["pretrained_encoder"])))
    with torch.device("meta"):
        decoder = Generator(size, cfg["style_dim"], cfg["n_mlp"], channel_multiplier=cfg["channel_multiplier"])
        net = SAM(size, input_nc=4, start_from_latent_avg=from_avg, start_from_encoded_w_plus=from_wplus,
                  decoder=decoder)
    _load(net.encoder, ck["encoder"], "encoder", path.name)
    _load(net.decoder, ck["decoder"], "decoder", path.name)
    if net.pretrained_encoder is not None:
        _load(net.pretrained_encoder, ck["pretrained_encoder"], "pretrained_encoder", path.name)
    avg = ck["latent_avg"].detach().float()
    if avg.ndim == 1:
        avg = avg.unsqueeze(0).repeat(net.n_styles, 1)
    if tuple(avg.shape) != (net.n_styles, 512):
        raise CheckpointError(f"{path.name}: latent_avg is {tuple(avg.shape)}, expected ({net.n_styles}, 512)")
    net.latent_avg = avg.clone()
    del ck
    net = net.to(device).eval().requires_grad_(False)
    return net.fuse() if fuse else net
