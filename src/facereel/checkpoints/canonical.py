"""facereel's own checkpoint format: one ``.safetensors`` file with a JSON config in its header.

Loading it needs no pickle at all: safetensors stores raw tensors plus a ``str → str`` metadata
map, and the config lives under the metadata key ``"facereel"`` as JSON::

    {"format": "facereel", "version": 1,
     "kind": "stylegan2" | "stylegan3" | "rosinality" | "dcgan" | "psp",
     "init_args": [...], "init_kwargs": {...},          # the network's constructor arguments
     "extras": ["latent_avg"],                          # tensors stored as "extra.<name>"
     "decoder_kind": ..., "opts": {...},               # kind "psp" only
     "source": {...}}                                   # where it was converted from

Tensor names: ``net.<official name>`` for a generator, ``encoder.*`` / ``decoder.*`` for pSp-family
checkpoints (the checkpoint's own prefixes), ``extra.<name>`` for extras such as ``latent_avg``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from facereel.core.atomic import atomic_path

from .errors import CheckpointError
from .nvidia_pickle import NetworkSpec

META_KEY = "facereel"
FORMAT_VERSION = 1


@dataclass
class CanonicalCheckpoint:
    config: dict
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.config["kind"]

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in self.tensors.items() if k.startswith(prefix)}

    @property
    def extras(self) -> dict[str, torch.Tensor]:
        return self.group("extra.")

    def generator_spec(self) -> NetworkSpec:
        """The generator inside (for kind ``psp``: its decoder, with latent_avg as an extra)."""
        cfg = self.config
        if cfg["kind"] == "psp":
            return NetworkSpec(kind=cfg["decoder_kind"], init_kwargs=cfg.get("decoder_init_kwargs", {}),
                               state_dict=self.group("decoder."), extras=self.extras, source=cfg.get("source", {}))
        return NetworkSpec(kind=cfg["kind"], init_args=list(cfg.get("init_args", [])),
                           init_kwargs=dict(cfg.get("init_kwargs", {})), state_dict=self.group("net."),
                           extras=self.extras, source=cfg.get("source", {}))


def _safe_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses non-contiguous and storage-sharing tensors: give each its own memory
    out, seen = {}, set()
    for k, v in tensors.items():
        v = v.detach().to("cpu").contiguous()
        ptr = (v.untyped_storage().data_ptr(), v.storage_offset()) if v.numel() else None
        if ptr is not None and ptr in seen or v.untyped_storage().nbytes() != v.numel() * v.element_size():
            v = v.clone()
        if ptr is not None:
            seen.add(ptr)
        out[k] = v
    return out


def save_canonical(path: str | Path, config: dict, tensors: dict[str, torch.Tensor]) -> Path:
    from safetensors.torch import save_file

    cfg = {"format": "facereel", "version": FORMAT_VERSION, **config}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(_safe_tensors(tensors), str(tmp), metadata={META_KEY: json.dumps(cfg, sort_keys=True)})
    return path


def save_generator(path: str | Path, spec: NetworkSpec) -> Path:
    tensors = {f"net.{k}": v for k, v in spec.state_dict.items()}
    tensors.update({f"extra.{k}": v for k, v in spec.extras.items()})
    config = {"kind": spec.kind, "init_args": spec.init_args, "init_kwargs": spec.init_kwargs,
              "extras": sorted(spec.extras), "source": spec.source}
    return save_canonical(path, config, tensors)


def save_psp(path: str | Path, ck: dict, decoder: NetworkSpec, source: dict | None = None) -> Path:
    """A pSp/e4e/ReStyle checkpoint (``read_psp_checkpoint`` dict) with its decoder's config."""
    tensors = {f"encoder.{k}": v for k, v in ck["encoder"].items()}
    tensors.update({f"decoder.{k}": v for k, v in decoder.state_dict.items()})
    extras = []
    if ck.get("latent_avg") is not None:
        tensors["extra.latent_avg"] = ck["latent_avg"]
        extras.append("latent_avg")
    config = {"kind": "psp", "decoder_kind": decoder.kind, "decoder_init_kwargs": decoder.init_kwargs,
              "opts": ck.get("opts", {}), "extras": extras, "source": source or {}}
    return save_canonical(path, config, tensors)


def is_canonical(path: str | Path) -> bool:
    path = Path(path)
    if not path.is_file():
        return False
    try:
        read_config(path)
    except CheckpointError:
        return False
    return True


def read_config(path: str | Path) -> dict:
    """The JSON config alone (reads only the safetensors header)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - not a safetensors file
        raise CheckpointError(f"{Path(path).name}: not a safetensors file ({exc})") from None
    if META_KEY not in meta:
        raise CheckpointError(f"{Path(path).name}: a safetensors file without a facereel config")
    try:
        cfg = json.loads(meta[META_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{Path(path).name}: corrupt facereel config ({exc})") from None
    if cfg.get("format") != "facereel" or "kind" not in cfg:
        raise CheckpointError(f"{Path(path).name}: not a facereel checkpoint config")
    if int(cfg.get("version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{Path(path).name}: format version {cfg['version']} is newer than this facereel")
    return cfg


def load_canonical(path: str | Path, device: str | torch.device = "cpu") -> CanonicalCheckpoint:
    from safetensors.torch import load_file

    cfg = read_config(path)
    return CanonicalCheckpoint(config=cfg, tensors=load_file(str(path), device=str(device)))
