"""Writers of checkpoint files in the *official* layouts, from a flat state dict (tests, demos).

The official files cannot be downloaded on every machine, so the readers are proven on files built
here with the same structure (README "Checkpoint formats"):

* :func:`write_nvidia_pickle`: a plain pickle of ``{'G', 'D', 'G_ema', 'augment_pipe',
  'training_set_kwargs'}`` whose networks reduce to ``torch_utils.persistence.
  _reconstruct_persistent_obj(meta)`` with a meta dict (type, version 6, module_src, class_name,
  state = ``__dict__`` with ``_parameters``/``_buffers``/``_modules`` OrderedDicts,
  ``_init_args``/``_init_kwargs``), ``dnnlib.util.EasyDict`` kwargs, numpy scalars and arrays
  under the numpy 1.x or 2.x module names, and tensors through ``torch._utils._rebuild_tensor_v2``
  / ``_rebuild_parameter`` with legacy ``torch.storage._load_from_bytes`` storages.  The stream
  names exactly these globals, without the official modules being importable here.
* :func:`write_rosinality_pt` / :func:`write_psp_pt`: ``torch.save`` dicts as those repos write them.

``module_src`` is a Python source that raises (and first touches ``marker_path`` if given) when
executed: a reader that ever runs it is caught.
"""

from __future__ import annotations

import collections
import io
import pickle
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: buffers (not parameters) of the official StyleGAN modules, by attribute name.
SG2_BUFFERS = {"resample_filter", "noise_const", "w_avg"}
SG3_BUFFERS = {"w_avg", "transform", "freqs", "phases", "magnitude_ema", "up_filter", "down_filter"}


class _Persistent:
    """A network object as the official pickler sees it (class name, module source, __dict__)."""

    def __init__(self, class_name: str, state: dict, module_src: str):
        self.class_name, self.state, self.module_src = class_name, state, module_src


class _EasyDict(dict):
    """Pickled under the name ``dnnlib.util.EasyDict`` (see :class:`_OfficialPickler`)."""


def _reconstruct_stub(meta):  # pragma: no cover - only its name is written to the stream
    raise RuntimeError("the fake persistence reconstructor must never be called")


def module_src_trap(marker_path: str | Path | None = None) -> str:
    """Module source that, if a reader ever executed it, would create ``marker_path`` and raise."""
    touch = f"open({str(marker_path)!r}, 'w').write('executed')\n" if marker_path else ""
    return (
        "# facereel test module_src: executing this is a security bug\n"
        + touch
        + "raise RuntimeError('module_src was executed')\n"
    )


class _OfficialPickler(pickle._Pickler):
    """Pure-Python pickler that writes chosen objects under the official global names."""

    def __init__(self, file, numpy_major: int = 2, protocol: int = 4):
        super().__init__(file, protocol=protocol)
        ma = "numpy.core.multiarray" if numpy_major == 1 else "numpy._core.multiarray"
        try:
            from numpy._core import multiarray as real_ma
        except ImportError:  # pragma: no cover
            from numpy.core import multiarray as real_ma
        self.names: dict[int, tuple[str, str]] = {
            id(_reconstruct_stub): ("torch_utils.persistence", "_reconstruct_persistent_obj"),
            id(_EasyDict): ("dnnlib.util", "EasyDict"),
            id(real_ma.scalar): (ma, "scalar"),
            id(real_ma._reconstruct): (ma, "_reconstruct"),
        }

    def reducer_override(self, obj):
        if isinstance(obj, _Persistent):
            meta = dict(type="class", version=6, module_src=obj.module_src, class_name=obj.class_name,
                        state=obj.state)
            return (_reconstruct_stub, (meta,))
        return NotImplemented

    def save_global(self, obj, name=None):
        key = self.names.get(id(obj))
        if key is None:
            return super().save_global(obj, name)
        module, qualname = key
        if self.proto >= 4:
            self.save(module)
            self.save(qualname)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode())
        self.memoize(obj)

    dispatch = pickle._Pickler.dispatch.copy()
    dispatch[types.FunctionType] = save_global


def _class_name(path: list[str], kind: str) -> str:
    leaf = path[-1] if path else ""
    if not path:
        return "Generator"
    if leaf == "mapping":
        return "MappingNetwork"
    if leaf == "synthesis":
        return "SynthesisNetwork"
    if leaf.startswith("fc") or leaf in ("affine", "embed"):
        return "FullyConnectedLayer"
    if kind == "stylegan3":
        return "SynthesisInput" if leaf == "input" else "SynthesisLayer"
    if leaf.startswith("b") and leaf[1:].isdigit():
        return "SynthesisBlock"
    if leaf == "torgb":
        return "ToRGBLayer"
    if leaf == "skip":
        return "Conv2dLayer"
    return "SynthesisLayer"


def _module_tree(state_dict: dict[str, torch.Tensor], kind: str, module_src: str,
                 init_kwargs: dict | None) -> _Persistent:
    """Nested persistent objects with ``_parameters``/``_buffers``/``_modules`` from flat names."""
    buffers = SG3_BUFFERS if kind == "stylegan3" else SG2_BUFFERS

    def new(path):
        st = {
            "training": False,
            "_parameters": collections.OrderedDict(),
            "_buffers": collections.OrderedDict(),
            "_non_persistent_buffers_set": set(),
            "_modules": collections.OrderedDict(),
            "_forward_hooks": collections.OrderedDict(),
            "_init_args": (),
            "_init_kwargs": _EasyDict(),
        }
        return _Persistent(_class_name(path, kind), st, module_src)

    root = new([])
    for name, t in state_dict.items():
        *mods, leaf = name.split(".")
        node, path = root, []
        for m in mods:
            path.append(m)
            if m not in node.state["_modules"]:
                node.state["_modules"][m] = new(list(path))
            node = node.state["_modules"][m]
        t = torch.as_tensor(t).detach().clone()
        if leaf in buffers:
            node.state["_buffers"][leaf] = t
        else:
            node.state["_parameters"][leaf] = torch.nn.Parameter(t, requires_grad=False)
    # hyper-parameters as the official layers keep them: numpy scalars and (SG3) numpy arrays
    _decorate(root, kind)
    if init_kwargs is not None:
        kw = _EasyDict({k: (_EasyDict(v) if isinstance(v, dict) else v) for k, v in init_kwargs.items()})
        root.state["_init_kwargs"] = kw
        for k in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"):
            if k in init_kwargs:
                root.state[k] = init_kwargs[k]
    return root


def _decorate(node: _Persistent, kind: str) -> None:
    st = node.state
    w = st["_parameters"].get("weight")
    if w is not None and w.ndim >= 2:
        fan_in = int(np.prod(w.shape[1:]))
        st["weight_gain"] = np.float64(1 / np.sqrt(fan_in))  # official: a numpy float
    if kind == "stylegan3" and node.class_name == "SynthesisLayer":
        st["in_size"] = np.array([36, 36], dtype=np.int64)
        st["out_size"] = np.array([36, 36], dtype=np.int64)
        st["in_sampling_rate"] = np.float32(16.0)
    for child in st["_modules"].values():
        _decorate(child, kind)


def write_nvidia_pickle(path: str | Path | None, g_ema_state: dict, init_kwargs: dict, kind: str = "stylegan2",
                        *, g_state: dict | None = None, numpy_major: int = 2, marker_path: str | Path | None = None,
                        protocol: int = 4) -> bytes:
    """An official-structure network pickle; returns its bytes (and writes ``path`` if given).

    ``g_state`` (defaults to zeros shaped like G_ema) becomes ``G``, so a reader that picks the wrong
    network reproduces nothing.  ``D`` is a small persistent discriminator stub with one tensor.
    """
    src = module_src_trap(marker_path)
    if g_state is None:
        g_state = {k: torch.zeros_like(torch.as_tensor(v)) for k, v in g_ema_state.items()}
    data = {
        "G": _module_tree(g_state, kind, src, init_kwargs),
        "D": _Persistent("Discriminator", {
            "_parameters": collections.OrderedDict(b4=torch.nn.Parameter(torch.ones(2, 2), requires_grad=False)),
            "_buffers": collections.OrderedDict(), "_modules": collections.OrderedDict(),
            "_init_args": (), "_init_kwargs": _EasyDict(c_dim=0, img_resolution=init_kwargs.get("img_resolution")),
        }, src),
        "G_ema": _module_tree(g_ema_state, kind, src, init_kwargs),
        "augment_pipe": None,
        "training_set_kwargs": _EasyDict(path="ffhq.zip", resolution=init_kwargs.get("img_resolution"),
                                         use_labels=False, max_size=np.int64(70000)),
    }
    buf = io.BytesIO()
    _OfficialPickler(buf, numpy_major=numpy_major, protocol=protocol).dump(data)
    raw = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(raw)
    return raw


def pickle_globals(raw: bytes) -> set[str]:
    """``module.name`` of every global a pickle stream references (without unpickling it)."""
    import pickletools

    # a tiny symbolic run: module/name strings may come from the memo (BINGET) after first use
    out: set[str] = set()
    pushed: list = []
    memo: dict = {}
    for op, arg, _pos in pickletools.genops(raw):
        name = op.name
        if name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING"):
            pushed.append(arg)
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            pushed.append(memo.get(arg))
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[arg] = pushed[-1] if pushed else None
        elif name == "STACK_GLOBAL":
            out.add(f"{pushed[-2]}.{pushed[-1]}")
            pushed.append(None)
        elif name in ("GLOBAL", "INST"):
            out.add(arg.replace(" ", "."))
            pushed.append(None)
        elif op.stack_after:
            pushed.append(None)
    return out


def write_rosinality_pt(path: str | Path, g_ema_state: dict, latent_avg: torch.Tensor | None = None,
                        training_args: Any = None) -> Path:
    """``convert_weight.py`` layout ``{'g_ema', 'latent_avg'}``; with ``training_args`` (e.g. an
    ``argparse.Namespace``) the training layout's ``args`` entry is added too."""
    ckpt: dict[str, Any] = {"g_ema": {k: torch.as_tensor(v).clone() for k, v in g_ema_state.items()}}
    if latent_avg is not None:
        ckpt["latent_avg"] = torch.as_tensor(latent_avg).clone()
    if training_args is not None:
        ckpt["args"] = training_args
    torch.save(ckpt, str(path))
    return Path(path)


def write_psp_pt(path: str | Path, state_dict: dict, opts: Any, latent_avg: torch.Tensor | None = None) -> Path:
    """pSp/e4e/ReStyle layout ``{'state_dict': {encoder.*, decoder.*}, 'opts', 'latent_avg'}``."""
    ckpt: dict[str, Any] = {"state_dict": {k: torch.as_tensor(v).clone() for k, v in state_dict.items()},
                            "opts": opts}
    if latent_avg is not None:
        ckpt["latent_avg"] = torch.as_tensor(latent_avg).clone()
    torch.save(ckpt, str(path))
    return Path(path)
