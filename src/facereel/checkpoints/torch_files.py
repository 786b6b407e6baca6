"""``torch.save`` checkpoints: rosinality StyleGAN2 ``.pt`` and pSp / e4e / ReStyle ``.pt``.

Everything goes through ``torch.load(weights_only=True)`` first.  Training checkpoints keep an
``argparse.Namespace`` (rosinality ``args``) or a pathlib path in ``opts``, which the
weights-only loader refuses; those files are re-read with our restricted unpickler
(:class:`facereel.checkpoints.nvidia_pickle.OptsUnpickler`), which turns a Namespace into a dict
and refuses every other unknown global.

Layouts (README "Checkpoint formats"):

* rosinality: ``{'g_ema': state_dict, 'latent_avg': [512]}`` (``convert_weight.py``) or a training
  checkpoint ``{'g', 'd', 'g_ema', 'g_optim', 'd_optim', 'args', 'ada_aug_p'}``.
* pSp / e4e / ReStyle: ``{'state_dict': {encoder.*, decoder.*}, 'opts': dict, 'latent_avg': ...}``.
* stylegan3-editing generator ``.pt``: a bare SG3 ``Generator.state_dict()`` (``mapping.*``, ``synthesis.*``).
"""

from __future__ import annotations

import logging
import math
import pickle
import types
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .nvidia_pickle import NetworkSpec, OptsUnpickler, to_jsonable

log = logging.getLogger(__name__)


def _opts_pickle_module() -> types.ModuleType:
    # torch.load(pickle_module=...) subclasses ``pickle_module.Unpickler``; its wrapper resolves
    # storage classes itself and defers every other global to our find_class (the allow-list).
    mod = types.ModuleType("facereel_restricted_pickle")
    mod.Unpickler = OptsUnpickler
    mod.load = lambda f, **kw: OptsUnpickler(f, **kw).load()
    mod.__dict__["UnpicklingError"] = pickle.UnpicklingError
    return mod


def torch_load(path: str | Path) -> Any:
    """``torch.load(weights_only=True)``, falling back to the restricted unpickler for opts objects."""
    path = str(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, RuntimeError) and not _is_torch_file(path):
            raise CheckpointError(f"{Path(path).name} is not a torch checkpoint ({first})") from None
        log.debug("weights_only load refused (%s); retrying with the restricted unpickler", first)
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_opts_pickle_module())
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed file
        raise CheckpointError(f"{Path(path).name}: unreadable torch checkpoint ({type(exc).__name__}: {exc})") from None


def _is_torch_file(path: str) -> bool:
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as f:
        head = f.read(2)
    return head[:1] == b"\x80"  # a legacy torch.save starts with a pickle protocol opcode


# --------------------------------------------------------------------------------------------
# rosinality


def rosinality_config(state: dict[str, torch.Tensor]) -> dict:
    """``Generator(size, style_dim, n_mlp, channel_multiplier)`` read off the tensor shapes."""
    if "input.input" not in state or "conv1.conv.weight" not in state:
        raise CheckpointError("not a rosinality StyleGAN2 generator state dict (no input.input / conv1.conv.weight)")
    style_dim = state["conv1.conv.modulation.weight"].shape[1]
    n_mlp = sum(1 for k in state if k.startswith("style.") and k.endswith(".weight"))
    n_convs = sum(1 for k in state if k.startswith("convs.") and k.endswith(".conv.weight"))
    size = 4 * 2 ** (n_convs // 2)
    # channels[64] = 256·cm for cm ∈ {1, 2, ...} (rosinality Generator.channels); 64 px is convs.6/7
    if size >= 64:
        ch64 = state["convs.7.conv.weight"].shape[1]
        cm = ch64 // 256
    else:
        cm = 2
    return {"size": int(size), "style_dim": int(style_dim), "n_mlp": int(n_mlp), "channel_multiplier": int(cm)}


def read_rosinality(path: str | Path, key: str = "g_ema") -> NetworkSpec:
    """rosinality ``.pt`` → ``NetworkSpec(kind="rosinality")`` with ``latent_avg`` when present."""
    return rosinality_spec(torch_load(path), key, Path(path).name)


def rosinality_spec(ckpt: Any, key: str = "g_ema", name: str = "checkpoint") -> NetworkSpec:
    if not isinstance(ckpt, dict) or key not in ckpt:
        have = ", ".join(sorted(map(str, ckpt))) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{name}: no {key!r} generator (holds {have})")
    state = {k: v for k, v in ckpt[key].items()}
    extras = {}
    if isinstance(ckpt.get("latent_avg"), torch.Tensor):
        extras["latent_avg"] = ckpt["latent_avg"]
    return NetworkSpec(kind="rosinality", init_kwargs=rosinality_config(state), state_dict=state, extras=extras,
                       source={"format": "rosinality-pt", "network": key})


# --------------------------------------------------------------------------------------------
# pSp / e4e / ReStyle


def _strip(state: dict, prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def read_psp_checkpoint(path: str | Path) -> dict:
    """pSp / e4e / ReStyle ``.pt`` (or its facereel ``.safetensors`` conversion) →
    ``dict(encoder=, decoder=, latent_avg=, opts=)``.

    ``encoder``/``decoder`` are state dicts with the ``encoder.``/``decoder.`` prefixes stripped
    (what the official wrappers load), ``latent_avg`` a tensor or None, ``opts`` a plain dict
    (JSON values; an ``argparse.Namespace`` becomes a dict).
    """
    if str(path).endswith(".safetensors"):  # converted by `facereel weights convert`: no pickle
        from .canonical import load_canonical

        can = load_canonical(path)
        if can.kind != "psp":
            raise CheckpointError(f"{Path(path).name}: a facereel {can.kind} checkpoint, not a pSp-family one")
        return {"encoder": can.group("encoder."), "decoder": can.group("decoder."),
                "latent_avg": can.extras.get("latent_avg"), "opts": dict(can.config.get("opts", {}))}
    return psp_dict(torch_load(path), Path(path).name)


def psp_dict(ckpt: Any, name: str = "checkpoint") -> dict:
    """The loaded ``torch.save`` object of a pSp-family checkpoint → encoder/decoder/latent_avg/opts."""
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        have = ", ".join(sorted(map(str, ckpt))) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{name}: not a pSp/e4e/ReStyle checkpoint (no 'state_dict'; holds {have})")
    sd = ckpt["state_dict"]
    encoder, decoder = _strip(sd, "encoder."), _strip(sd, "decoder.")
    if not decoder:
        raise CheckpointError(f"{name}: the checkpoint's state_dict has no decoder.* tensors")
    opts = ckpt.get("opts") or {}
    try:
        opts = to_jsonable(dict(vars(opts)) if not isinstance(opts, dict) else dict(opts))
    except (CheckpointError, TypeError):
        opts = {k: v for k, v in dict(opts).items() if isinstance(v, (bool, int, float, str, type(None)))}
    latent_avg = ckpt.get("latent_avg")
    return {
        "encoder": encoder,
        "decoder": decoder,
        "latent_avg": latent_avg if isinstance(latent_avg, torch.Tensor) else None,
        "opts": opts,
    }


def psp_decoder_kind(decoder: dict[str, torch.Tensor]) -> str:
    """rosinality StyleGAN2 (pSp/e4e/ReStyle) or NVIDIA StyleGAN3 (stylegan3-editing) decoder."""
    if "input.input" in decoder:
        return "rosinality"
    if any(k.startswith("synthesis.input.") for k in decoder):
        return "stylegan3"
    if any(k.startswith("synthesis.b") for k in decoder):
        return "stylegan2"
    raise CheckpointError("unrecognised decoder layout in the pSp checkpoint")


def psp_decoder_spec(path_or_dict: str | Path | dict) -> NetworkSpec:
    """The decoder of a pSp/e4e/ReStyle checkpoint (path, or a :func:`read_psp_checkpoint` dict)
    as a generator, ``latent_avg`` kept as an extra."""
    ck = path_or_dict if isinstance(path_or_dict, dict) else read_psp_checkpoint(path_or_dict)
    decoder, opts = ck["decoder"], ck["opts"]
    kind = psp_decoder_kind(decoder)
    extras = {"latent_avg": ck["latent_avg"]} if ck["latent_avg"] is not None else {}
    if kind == "rosinality":
        cfg = rosinality_config(decoder)
        out = opts.get("output_size") or opts.get("stylegan_size")
        if out and int(out) != cfg["size"]:
            raise CheckpointError(f"opts say output size {out} but the decoder is {cfg['size']}px")
        return NetworkSpec(kind="rosinality", init_kwargs=cfg, state_dict=decoder, extras=extras,
                           source={"format": "psp-pt", "opts": opts})
    if kind == "stylegan3":
        # stylegan3-editing builds its decoder with the SG3-R 1024 config and drops the
        # user transform buffer when loading (README "ReStyle for StyleGAN3").
        decoder = {k: v for k, v in decoder.items() if k != "synthesis.input.transform"}
        cfg = stylegan3_config(decoder)
        return NetworkSpec(kind="stylegan3", init_kwargs=cfg, state_dict=decoder, extras=extras,
                           source={"format": "psp-pt", "opts": opts})
    raise CheckpointError("pSp checkpoints with an NVIDIA StyleGAN2 decoder are not supported")


def stylegan3_config(state: dict[str, torch.Tensor]) -> dict:
    """SG3 constructor kwargs for a bare decoder state dict (stylegan3-editing uses SG3-R 1024).

    Layer names are ``L{i}_{size}_{channels}``: the last one gives img_resolution, L0 the widest
    channel count (= channel_max; the official configs have channel_base = 64·channel_max), and
    L1's kernel size tells R (1×1, radial filters) from T (3×3).
    """
    w_dim = state["mapping.w_avg"].shape[0]
    z_dim = state["mapping.fc0.weight"].shape[1]
    n_map = sum(1 for k in state if k.startswith("mapping.fc") and k.endswith(".weight"))
    layers = sorted({k.split(".")[1] for k in state if k.startswith("synthesis.L")},
                    key=lambda n: int(n[1:].split("_")[0]))
    if not layers:
        raise CheckpointError("StyleGAN3 decoder without synthesis layers")
    res = int(layers[-1].split("_")[1])
    chans = [int(n.split("_")[2]) for n in layers]
    kernel = int(state[f"synthesis.{layers[1]}.weight"].shape[-1]) if len(layers) > 1 else 3
    channel_base = _sg3_channel_base(chans, res)
    return {
        "z_dim": int(z_dim), "c_dim": 0, "w_dim": int(w_dim), "img_resolution": res, "img_channels": chans[-1],
        "mapping_kwargs": {"num_layers": n_map},
        "channel_base": channel_base, "channel_max": chans[0], "conv_kernel": kernel,
        "use_radial_filters": kernel == 1, "num_layers": len(layers) - 1,
        "magnitude_ema_beta": 0.5 ** (32 / (20 * 1e3)), "output_scale": 0.25,
    }


def _sg3_channel_base(chans: list[int], img_resolution: int, first_cutoff: float = 2.0,
                      num_critical: int = 2) -> int:
    """The channel_base whose SG3 channel schedule gives the layer widths ``chans``.

    SG3 (Karras et al. 2021, training/networks_stylegan3.py ``SynthesisNetwork``): cutoff_i =
    fc · (res/2 / fc)^min(i / (L − n_crit), 1) and channels_i = rint(min(base / 2 / cutoff_i, cmax)),
    the last layer being img_channels.
    """
    import numpy as np

    num_layers = len(chans) - 1
    exps = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (img_resolution / 2 / first_cutoff) ** exps
    cmax = chans[0]
    for base in [2 ** k for k in range(8, 21)]:
        ch = np.rint(np.minimum((base / 2) / cutoffs, cmax))
        if [int(c) for c in ch[:-1]] == chans[:-1]:
            return base
    raise CheckpointError(f"cannot infer the StyleGAN3 channel_base from layer widths {chans}")


def read_torch_generator(path: str | Path, ckpt: Any = None) -> NetworkSpec:
    """Any supported ``.pt``: rosinality (``g_ema``), pSp/e4e/ReStyle (its decoder), or a bare state dict."""
    ckpt = torch_load(path) if ckpt is None else ckpt
    if isinstance(ckpt, dict) and "g_ema" in ckpt:
        return rosinality_spec(ckpt)
    if isinstance(ckpt, dict) and isinstance(ckpt.get("state_dict"), dict):
        return psp_decoder_spec(psp_dict(ckpt, Path(path).name))
    if isinstance(ckpt, dict) and "netG_state_dict" in ckpt:
        return NetworkSpec(kind="dcgan", state_dict=dict(ckpt["netG_state_dict"]), source={"format": "dcgan-tar"})
    if isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        if "input.input" in ckpt:
            return NetworkSpec(kind="rosinality", init_kwargs=rosinality_config(ckpt), state_dict=dict(ckpt),
                               source={"format": "rosinality-state-dict"})
        if any(k.startswith("synthesis.input.") for k in ckpt):
            sd = {k: v for k, v in ckpt.items() if k != "synthesis.input.transform"}
            return NetworkSpec(kind="stylegan3", init_kwargs=stylegan3_config(sd), state_dict=sd,
                               source={"format": "sg3-state-dict"})
    raise CheckpointError(f"{Path(path).name}: unrecognised torch checkpoint layout")


def n_styles(size: int) -> int:
    """pSp: 2·log2(size) − 2 style vectors (18 at 1024)."""
    return int(math.log2(size)) * 2 - 2
