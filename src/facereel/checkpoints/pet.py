"""The pose-and-expression transfer checkpoint (``best_model.pt`` of JahodaPetr/Pose-and-Expression-Transfer).

Layout, as its training Coach saves it: ``{'state_dict': {encoder.*, mapping_net.*, decoder.*},
'opts': vars(opts)}`` (no ``latent_avg``).  Read through :func:`facereel.checkpoints.torch_files.torch_load`
(``weights_only=True``, then the restricted unpickler for an opts Namespace).  The official loader
keeps the keys whose first ``len(prefix)`` characters equal the prefix and strips prefix + one
character; :func:`read_pet_checkpoint` does the same and refuses files that lack a part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

__all__ = ["PARTS", "read_pet_checkpoint", "pet_dict"]

PARTS = ("encoder", "mapping_net", "decoder")


def _get_keys(sd: dict, name: str) -> dict[str, torch.Tensor]:
    return {k[len(name) + 1:]: v for k, v in sd.items() if k[:len(name)] == name}


def pet_dict(ckpt: Any, name: str = "checkpoint") -> dict:
    """A loaded ``best_model.pt`` object -> ``dict(encoder=, mapping_net=, decoder=, opts=, latent_avg=)``."""
    sd = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict):
        raise CheckpointError(f"{name}: not a pose-and-expression-transfer checkpoint (no state_dict)")
    parts = {p: _get_keys(sd, p) for p in PARTS}
    missing = [p for p in PARTS if not parts[p]]
    if missing:
        have = sorted({k.split(".", 1)[0] for k in sd})
        raise CheckpointError(f"{name}: not a pose-and-expression-transfer checkpoint (no {', '.join(p + '.*' for p in missing)} "
                              f"tensors; it holds {', '.join(have) or 'nothing'})")
    opts = ckpt.get("opts") if isinstance(ckpt, dict) else None
    if opts is not None and not isinstance(opts, dict):
        opts = dict(vars(opts)) if hasattr(opts, "__dict__") else {}
    latent_avg = ckpt.get("latent_avg") if isinstance(ckpt, dict) else None
    return {**parts, "opts": dict(opts or {}),
            "latent_avg": latent_avg if isinstance(latent_avg, torch.Tensor) else None}


def read_pet_checkpoint(path: str | Path) -> dict:
    """``best_model.pt`` (or a facereel ``.safetensors`` conversion with the same prefixes) -> :func:`pet_dict`."""
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        return pet_dict({"state_dict": load_file(str(path))}, Path(path).name)
    from .torch_files import torch_load

    return pet_dict(torch_load(path), Path(path).name)
