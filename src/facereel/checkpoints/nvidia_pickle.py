"""Official NVIDIA StyleGAN2-ADA / StyleGAN3 ``.pkl`` files, read WITHOUT running their code.

An official network pickle is a plain ``pickle.dump`` of ``{'G', 'D', 'G_ema', 'augment_pipe',
'training_set_kwargs'}``.  Each network is a ``torch_utils.persistence`` object: unpickling it
normally calls ``_reconstruct_persistent_obj(meta)``, which *executes* ``meta['module_src']`` (the
full source of the defining module).  That is arbitrary code from the file, so we never do it.

:class:`RestrictedUnpickler` resolves only an allow-list of globals, each to a safe stand-in:

* ``torch_utils.persistence._reconstruct_persistent_obj`` → :class:`PersistentObject` (keeps
  ``class_name``, ``state`` and a sha256 of ``module_src``; the source itself is dropped unread);
* ``dnnlib.util.EasyDict`` → a plain ``dict`` subclass;
* ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter`` and ``torch.storage._load_from_bytes``
  (each storage is a legacy, non-zip ``torch.save`` byte string; it is read back with
  ``torch.load(weights_only=True)``) → plain CPU tensors;
* ``collections.OrderedDict``, ``_codecs.encode``, and numpy's ``scalar``/``dtype``/``ndarray``/
  ``_reconstruct`` under both ``numpy.core.multiarray`` (numpy 1.x pickles) and
  ``numpy._core.multiarray`` (numpy 2.x pickles).

Every other global is refused with :class:`CheckpointError` naming it — before anything of it runs.
"""

from __future__ import annotations

import codecs
import collections
import hashlib
import io
import logging
import pickle
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from .errors import CheckpointError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# safe stand-ins


@dataclass
class PersistentObject:
    """What a ``torch_utils.persistence`` object becomes: its class name and ``__dict__``."""

    class_name: str
    state: dict
    version: int | None = None
    module_src_sha256: str = ""
    module_src_chars: int = 0

    def __setstate__(self, state):  # a BUILD opcode on a stand-in would be a malformed file
        raise CheckpointError("malformed persistent object (unexpected BUILD state)")

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args", ()) or ())

    @property
    def init_kwargs(self) -> dict:
        return dict(self.state.get("_init_kwargs", {}) or {})

    @property
    def modules(self) -> dict:
        return dict(self.state.get("_modules", {}) or {})

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers, in ``nn.Module.state_dict()`` order and names."""
        return dict(_walk(self, prefix))


def _walk(obj: PersistentObject, prefix: str) -> Iterator[tuple[str, torch.Tensor]]:
    st = obj.state
    non_persistent = set(st.get("_non_persistent_buffers_set", ()) or ())
    for name, t in (st.get("_parameters") or {}).items():
        if t is not None:
            yield prefix + name, _as_tensor(t, prefix + name)
    for name, t in (st.get("_buffers") or {}).items():
        if t is not None and name not in non_persistent:
            yield prefix + name, _as_tensor(t, prefix + name)
    for name, child in (st.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentObject):
            raise CheckpointError(f"sub-module {prefix + name!r} is not a persistent network object")
        yield from _walk(child, f"{prefix}{name}.")


def _as_tensor(t: Any, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise CheckpointError(f"{name!r} is not a tensor ({type(t).__name__})")
    return t


def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    # Mirrors only the *data* half of torch_utils.persistence: module_src is hashed, never run.
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise CheckpointError("malformed persistent object: meta is not a {'type': 'class', ...} dict")
    class_name, state, src = meta.get("class_name"), meta.get("state"), meta.get("module_src", "")
    if not isinstance(class_name, str) or not isinstance(state, dict):
        raise CheckpointError("malformed persistent object: class_name/state missing")
    src_bytes = src.encode("utf-8", "replace") if isinstance(src, str) else b""
    return PersistentObject(
        class_name=class_name,
        state=state,
        version=meta.get("version"),
        module_src_sha256=hashlib.sha256(src_bytes).hexdigest(),
        module_src_chars=len(src) if isinstance(src, str) else 0,
    )


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a dict (attribute access kept for convenience)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


class Namespace(dict):
    """Stand-in for ``argparse.Namespace`` (pSp/rosinality ``opts``/``args``): a dict of its fields."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _path_from_parts(*parts) -> str:
    # pathlib.PosixPath/WindowsPath pickle as (cls, parts); a string is all a config needs
    if not all(isinstance(p, str) for p in parts):
        raise CheckpointError("malformed pathlib path in checkpoint")
    import posixpath

    return posixpath.join(*parts) if parts else ""


def _load_from_bytes(b: Any):
    if not isinstance(b, (bytes, bytearray)):
        raise CheckpointError("malformed tensor storage (not bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation chatter
        try:
            storage = torch.load(io.BytesIO(bytes(b)), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a truncated/corrupt storage
            raise CheckpointError(f"unreadable tensor storage: {exc}") from None
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise CheckpointError("malformed tensor storage (not a torch storage)")
    return storage


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise CheckpointError("malformed tensor (storage is not a torch storage)")
    size, stride, offset = tuple(int(s) for s in size), tuple(int(s) for s in stride), int(storage_offset)
    if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size + stride):
        raise CheckpointError("malformed tensor (bad size/stride/offset)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n_storage = storage.size() if isinstance(storage, torch.TypedStorage) else storage.nbytes()
        # set_ would silently *grow* a resizable storage: a view must fit inside what the file holds
        needed = 0 if 0 in size else offset + 1 + sum((n - 1) * st for n, st in zip(size, stride))
        if needed > n_storage:
            raise CheckpointError(f"malformed tensor (a {list(size)} view needs {needed} elements, "
                                  f"its storage holds {n_storage})")
        return torch._utils._rebuild_tensor(storage, offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *state):
    # Parameters become plain tensors: we only want their values
    if not isinstance(data, torch.Tensor):
        raise CheckpointError("malformed parameter (data is not a tensor)")
    return data


def _numpy_multiarray():
    try:
        from numpy._core import multiarray  # numpy >= 2 (and 1.26's forward-compat alias)
    except ImportError:  # pragma: no cover - numpy < 1.26
        from numpy.core import multiarray
    return multiarray


def _safe_globals() -> dict[tuple[str, str], Any]:
    ma = _numpy_multiarray()
    numpy_names = {"scalar": ma.scalar, "_reconstruct": ma._reconstruct, "dtype": np.dtype, "ndarray": np.ndarray}
    table: dict[tuple[str, str], Any] = {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
        ("dnnlib.util", "EasyDict"): EasyDict,
        ("dnnlib", "EasyDict"): EasyDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): _load_from_bytes,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("_codecs", "encode"): codecs.encode,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("numpy", "dtype"): np.dtype,
        ("numpy", "ndarray"): np.ndarray,
    }
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        for name, obj in numpy_names.items():
            table[(mod, name)] = obj
    return table


#: extra stand-ins for the ``opts``/``args`` objects of pSp/e4e/ReStyle/rosinality ``.pt`` files.
_OPTS_GLOBALS: dict[tuple[str, str], Any] = {
    ("argparse", "Namespace"): Namespace,
    ("pathlib", "PosixPath"): _path_from_parts,
    ("pathlib", "WindowsPath"): _path_from_parts,
    ("pathlib", "PurePosixPath"): _path_from_parts,
    ("pathlib", "PureWindowsPath"): _path_from_parts,
    ("pathlib", "Path"): _path_from_parts,
}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only allow-listed globals to safe stand-ins."""

    extra_globals: dict[tuple[str, str], Any] = {}

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        table = _SAFE_GLOBALS_CACHE or _fill_cache()
        obj = table.get((module, name)) or self.extra_globals.get((module, name))
        if obj is None and module.startswith("dnnlib.tflib"):
            raise CheckpointError(
                f"refused to load global '{module}.{name}': this is a TensorFlow-era StyleGAN pickle; convert it "
                "with the official stylegan2-ada-pytorch legacy.py first (nothing was executed)"
            )
        if obj is None:
            raise CheckpointError(
                f"refused to load global '{module}.{name}': not on the allow-list of safe checkpoint globals "
                "(the file may contain code; nothing was executed)"
            )
        return obj

    # No persistent_load here: a plain pickle with persistent ids is refused by pickle itself, and
    # torch.load(pickle_module=...) installs its own for the storages of a .pt file.


class OptsUnpickler(RestrictedUnpickler):
    """The restricted unpickler plus ``argparse.Namespace``/``pathlib`` stand-ins (for ``.pt`` opts)."""

    extra_globals = _OPTS_GLOBALS


_SAFE_GLOBALS_CACHE: dict[tuple[str, str], Any] = {}


def _fill_cache() -> dict[tuple[str, str], Any]:
    _SAFE_GLOBALS_CACHE.update(_safe_globals())
    return _SAFE_GLOBALS_CACHE


def restricted_loads(data: bytes | BinaryIO, unpickler: type[RestrictedUnpickler] = RestrictedUnpickler) -> Any:
    """Unpickle with the allow-list; :class:`CheckpointError` for anything refused or malformed."""
    f = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        return unpickler(f).load()
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            RuntimeError, OverflowError, MemoryError) as exc:  # e.g. a tensor view outside its storage
        raise CheckpointError(f"not a readable pickle ({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------------------------
# the official network pickle


@dataclass
class NetworkSpec:
    """One generator read from a checkpoint: what to build and the tensors to load (official names)."""

    kind: str  # "stylegan2" | "stylegan3" | "rosinality" | "dcgan"
    init_args: list = field(default_factory=list)
    init_kwargs: dict = field(default_factory=dict)
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # e.g. latent_avg
    source: dict = field(default_factory=dict)


def to_jsonable(x: Any) -> Any:
    """Init kwargs → JSON values (EasyDict → dict, numpy scalars/arrays → Python numbers/lists)."""
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise CheckpointError(f"unsupported constructor argument type {type(x).__name__}")


def generator_kind(G: PersistentObject) -> str:
    """``stylegan3`` when the synthesis network has a Fourier ``input`` layer, else ``stylegan2``."""
    synth = G.modules.get("synthesis")
    if not isinstance(synth, PersistentObject):
        raise CheckpointError(f"network {G.class_name!r} has no synthesis network: not a StyleGAN generator")
    sub = synth.modules
    if isinstance(sub.get("input"), PersistentObject) and sub["input"].class_name == "SynthesisInput":
        return "stylegan3"
    if any(k.startswith("b") and k[1:].isdigit() for k in sub):
        return "stylegan2"
    raise CheckpointError(f"unrecognised synthesis network layout ({', '.join(list(sub)[:4])}, ...)")


def read_nvidia_pickle(path_or_bytes: str | Path | bytes) -> dict:
    """The whole official pickle as data (networks become :class:`PersistentObject`)."""
    if isinstance(path_or_bytes, (bytes, bytearray)):
        data = restricted_loads(path_or_bytes)
    else:
        with open(path_or_bytes, "rb") as f:
            data = restricted_loads(f)
    if isinstance(data, tuple) and len(data) == 3:
        raise CheckpointError(
            "this is a TensorFlow-era StyleGAN pickle (3-tuple of network stubs); convert it with the "
            "official stylegan2-ada-pytorch tools first"
        )
    if not isinstance(data, dict):
        raise CheckpointError(f"not an official network pickle (top level is {type(data).__name__}, not a dict)")
    return data


def read_nvidia_generator(path_or_bytes: str | Path | bytes, key: str = "G_ema") -> NetworkSpec:
    """G_ema's constructor arguments and state dict (official names) from an official ``.pkl``."""
    data = read_nvidia_pickle(path_or_bytes)
    G = data.get(key)
    if not isinstance(G, PersistentObject):
        have = ", ".join(sorted(map(str, data))) or "nothing"
        raise CheckpointError(f"no network {key!r} in this pickle (it holds {have})")
    kind = generator_kind(G)
    kwargs = to_jsonable(G.init_kwargs)
    args = to_jsonable(list(G.init_args))
    state = G.state_dict()
    log.debug("read %s %s: %d tensors, module_src sha256 %s", kind, G.class_name, len(state), G.module_src_sha256)
    return NetworkSpec(
        kind=kind,
        init_args=args,
        init_kwargs=kwargs,
        state_dict=state,
        source={"format": "nvidia-pkl", "network": key, "class_name": G.class_name,
                "module_src_sha256": G.module_src_sha256},
    )
