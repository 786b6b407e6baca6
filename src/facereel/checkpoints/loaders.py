"""One entry point from a file (or a weights-table name) to a ready :class:`FaceGenerator`.

``read_generator_spec(path)`` recognises the format by content, not by name:

* facereel safetensors (``weights convert`` output) → no pickle at all;
* official NVIDIA ``.pkl`` → restricted unpickler (``G_ema``);
* ``torch.save`` files: rosinality (``g_ema``), pSp/e4e/ReStyle (their decoder), the DCGAN
  ``weights.tar`` of gan-face-generate, a bare SG3 / rosinality state dict.

``build_generator(spec)`` constructs our network with the official constructor arguments and loads
the official names strictly.
"""

from __future__ import annotations

import functools
import logging
import warnings
import zipfile
from pathlib import Path

import torch

from facereel.core.device import resolve_device

from .canonical import is_canonical, load_canonical, save_generator, save_psp
from .errors import CheckpointError
from .nvidia_pickle import NetworkSpec, read_nvidia_generator
from .torch_files import (
    psp_decoder_kind,
    psp_decoder_spec,
    psp_dict,
    read_psp_checkpoint,
    read_torch_generator,
    torch_load,
)

log = logging.getLogger(__name__)


def sniff_format(path: str | Path) -> str:
    """``canonical`` | ``torch`` (zip or legacy torch.save) | ``pickle`` (plain pickle) | ``html`` | ``unknown``."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(512)
    if head.lstrip()[:1] == b"<" and b"html" in head.lower():
        return "html"
    if zipfile.is_zipfile(path):
        return "torch"
    if len(head) >= 8 and head[8:9] == b"{" and is_canonical(path):
        return "canonical"
    if head[:1] == b"\x80":
        # legacy torch.save starts with the pickled magic number 0x1950a86a20f9469cfc6c
        if head[2:3] == b"\x8a" and head[3:4] == b"\x0a" and head[4:14] == (0x1950A86A20F9469CFC6C).to_bytes(10, "little"):
            return "torch"
        return "pickle"
    return "unknown"


def read_generator_spec(path: str | Path) -> NetworkSpec:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no such file: {path}")
    fmt = sniff_format(path)
    if fmt == "canonical":
        return load_canonical(path).generator_spec()
    if fmt == "pickle":
        return read_nvidia_generator(path)
    if fmt == "torch":
        return read_torch_generator(path)
    if fmt == "html":
        raise CheckpointError(f"{path.name} is an HTML page, not weights (a failed download?)")
    raise CheckpointError(f"{path.name}: unrecognised checkpoint format")


#: what each weights-table format is, for messages
FORMAT_NAMES = {"nvidia-pkl": "an NVIDIA StyleGAN pickle", "rosinality-pt": "a rosinality StyleGAN2 .pt",
                "psp-pt": "a pSp/e4e/ReStyle .pt", "torch-state-dict": "a PyTorch state dict"}


def _state_dict_of_tensors(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(v, torch.Tensor) or _state_dict_of_tensors(v) for v in obj.values())


def check_weights_file(path: str | Path, format: str, kind: str) -> None:
    """Proves ``path`` parses as the weights-table ``format`` (and holds a ``kind`` network where
    the format says which), with the safe readers only: NVIDIA pickles through the restricted
    unpickler, ``.pt`` files through ``torch.load(weights_only=True)``, safetensors.  A facereel
    safetensors conversion of the same kind is accepted for any format.  Formats without a reader
    here (``dcgan-tar`` ships inside a package) pass.  Raises :class:`CheckpointError` (one line).
    """
    path = Path(path)
    if format not in FORMAT_NAMES:
        return
    what = FORMAT_NAMES[format]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.load's chatter about protocols of random bytes
            _check_weights_file(path, format, kind)
    except CheckpointError as exc:
        why = str(exc).removeprefix(f"{path.name}: ")
        raise CheckpointError(f"{path.name} is not {what}: {why}") from None
    except Exception as exc:  # noqa: BLE001 - random bytes make the readers fail in many ways
        raise CheckpointError(f"{path.name} is not {what} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200] if str(exc) else 'unreadable'})") from None


def _check_weights_file(path: Path, format: str, kind: str) -> None:
    sniffed = sniff_format(path)
    if sniffed == "html":
        raise CheckpointError("it is an HTML page (a failed download?)")
    if sniffed == "canonical":
        got = load_canonical(path).kind
        want = "psp" if format == "psp-pt" else kind
        if format != "torch-state-dict" and got != want:
            raise CheckpointError(f"it is a facereel {got} checkpoint, not {want}")
        return
    if format == "nvidia-pkl":
        if sniffed != "pickle":
            raise CheckpointError(f"it is not a pickle ({sniffed} file)")
        got = read_nvidia_generator(path).kind
        if got != kind:
            raise CheckpointError(f"it holds a {got} generator, not {kind}")
    elif format == "rosinality-pt":
        got = read_torch_generator(path).kind
        if got != "rosinality":
            raise CheckpointError(f"it holds a {got} network, not a rosinality StyleGAN2")
    elif format == "psp-pt":
        psp_decoder_spec(read_psp_checkpoint(path))
    elif format == "sam-pt":
        from .sam import read_sam_checkpoint

        read_sam_checkpoint(path)
    elif not _state_dict_of_tensors(torch_load(path)):
        raise CheckpointError("it is not a dict of tensors")


def build_network(spec: NetworkSpec) -> torch.nn.Module:
    """Our network for ``spec`` with its tensors loaded by the official names (strict)."""
    if spec.kind == "stylegan2":
        from facereel.nets.stylegan2 import Generator
    elif spec.kind == "stylegan3":
        from facereel.nets.stylegan3 import Generator  # type: ignore[no-redef]
    elif spec.kind == "rosinality":
        from facereel.nets.rosinality import Generator  # type: ignore[no-redef]
    elif spec.kind == "dcgan":
        from facereel.nets.dcgan import build_dcgan

        return build_dcgan(spec.state_dict)
    else:
        raise CheckpointError(f"unknown generator kind {spec.kind!r}")
    try:
        G = Generator(*spec.init_args, **spec.init_kwargs)
    except (TypeError, ValueError, AssertionError) as exc:
        raise CheckpointError(f"unsupported {spec.kind} constructor arguments ({exc})") from None
    try:
        missing, unexpected = G.load_state_dict(spec.state_dict, strict=False)
    except RuntimeError as exc:  # shape mismatch
        first = str(exc).strip().splitlines()[-1].strip()
        raise CheckpointError(f"{spec.kind} checkpoint does not match the network: {first}") from None
    # stylegan3-editing decoders drop the user transform buffer (it is reset to identity anyway)
    missing = [k for k in missing if not (spec.kind == "stylegan3" and k == "synthesis.input.transform")]
    if missing or unexpected:
        raise CheckpointError(
            f"{spec.kind} checkpoint does not match the network: {len(missing)} missing "
            f"({', '.join(missing[:3])}), {len(unexpected)} unexpected ({', '.join(unexpected[:3])})"
        )
    return G.eval().requires_grad_(False)


def wrap_generator(spec: NetworkSpec, G: torch.nn.Module, name: str, device=None):
    """The :class:`FaceGenerator` adapter for a built network."""
    if spec.kind == "dcgan":
        from facereel.nets.dcgan import DCGANFaceGenerator

        return DCGANFaceGenerator(G, name=name, device=device)
    if spec.kind == "rosinality":
        from facereel.nets.rosinality import RosinalityFaceGenerator

        return RosinalityFaceGenerator(G, latent_avg=spec.extras.get("latent_avg"), name=name, device=device)
    from facereel.nets.adapters import NVFaceGenerator

    return NVFaceGenerator(G, name=name, device=device)


def load_generator(name_or_path: str | Path, device: str | torch.device | None = None):
    """A :class:`facereel.nets.base.FaceGenerator` from a weights-table name or a file.

    Names resolve through :mod:`facereel.weights` (``dcgan-digiface`` is always available
    offline; the others must have been downloaded or imported first).
    """
    device = resolve_device(device)
    from facereel import weights as W

    key = str(name_or_path)
    if key in W.TABLE:
        if key == "dcgan-digiface":
            return load_dcgan_digiface(device)
        if W.TABLE[key].kind == "arcface":
            raise CheckpointError(f"{key} is a face-recognition network, not a generator")
        if W.TABLE[key].kind == "direction":
            raise CheckpointError(f"{key} is a latent direction, not a generator")
        path = W.local_path(key)
        if path is None:
            raise CheckpointError(
                f"weights {key!r} are not in the cache: run `facereel weights download {key}` "
                f"(or `facereel weights import {key} FILE`)"
            )
        name = key
    else:
        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise CheckpointError(f"{key!r} is neither a known weights name ({', '.join(W.TABLE)}) nor a file")
        name = path.stem
    spec = read_generator_spec(path)
    G = build_network(spec)
    return wrap_generator(spec, G, name=name, device=device)


def convert(src: str | Path, dst: str | Path) -> dict:
    """Any supported checkpoint → facereel safetensors (config in the header). Returns the config.

    pSp/e4e/ReStyle checkpoints keep their encoder (``encoder.*``), decoder (``decoder.*``),
    ``latent_avg`` and ``opts``; the other formats keep the generator and its extras.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise CheckpointError(f"no such file: {src}")
    if dst.suffix != ".safetensors":
        raise CheckpointError(f"the output must be a .safetensors file (got {dst.name})")
    fmt = sniff_format(src)
    if fmt == "torch":
        ck = torch_load(src)
        if isinstance(ck, dict) and isinstance(ck.get("state_dict"), dict):
            psp = psp_dict(ck, src.name)
            dec = psp_decoder_spec(psp)
            save_psp(dst, psp, dec, source={"format": "psp-pt", "file": src.name})
            return load_canonical_config(dst)
        spec = read_torch_generator(src, ck)
    else:
        spec = read_generator_spec(src)
    spec.source = {**spec.source, "file": src.name}
    save_generator(dst, spec)
    return load_canonical_config(dst)


def load_canonical_config(path: str | Path) -> dict:
    from .canonical import read_config

    return read_config(path)


__all__ = [
    "build_network", "convert", "load_generator", "psp_decoder_kind", "read_generator_spec", "read_psp_checkpoint",
    "sniff_format",
    "wrap_generator", "load_canonical",
]


def check_entry_file(path: Path, entry) -> None:
    """``check`` hook of :func:`facereel.weights.import_file`/``download``: the file is the kind
    its table entry names."""
    check_weights_file(path, entry.format, entry.kind)


def import_weights(name: str, src: str | Path, *, move: bool = False) -> Path:
    """:func:`facereel.weights.import_file` that first proves the file parses as its entry's format."""
    from facereel import weights as W

    return W.import_file(name, src, move=move, check=check_entry_file)


def download_weights(name: str, **kwargs) -> Path:
    """:func:`facereel.weights.download` whose first (pinning) download must parse as its entry's format."""
    from facereel import weights as W

    return W.download(name, check=check_entry_file, **kwargs)
@functools.lru_cache(maxsize=2)
def _cached_digiface(device: str):
    from facereel.nets.dcgan import DCGANFaceGenerator, build_dcgan, read_dcgan_state
    from facereel.weights import digiface_weights_path

    net = build_dcgan(read_dcgan_state(digiface_weights_path()))
    log.debug("loaded DCGAN DigiFace weights (non-commercial) on %s", device)
    return DCGANFaceGenerator(net, name="dcgan-digiface", device=device)


def load_dcgan_digiface(device: str | torch.device | None = None):
    """The real-weights DCGAN (DigiFace-1M, NON-COMMERCIAL) from the installed package, cached."""
    return _cached_digiface(str(resolve_device(device)))
