"""Golden-fixture harness: the README's fill rule and a generic replay of ``meta.forward_kwargs.calls``.

A fixture is replayed by the builder registered for its ``meta.module`` in any module of
``tests/helpers/golden_builders`` (a dict ``BUILDERS = {official_module_path: build}``, where
``build(meta, state, npz) -> torch.nn.Module`` constructs *our* implementation, loads ``state``
(official names, strict) and returns the object whose attributes the calls name).
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import zlib
from pathlib import Path

import numpy as np

#: the repository root; the fixtures live beside it, in ``../shared/golden`` (the harness's
#: layout), never at an absolute machine path
REPO = Path(__file__).resolve().parents[2]
GOLDEN_DIR = REPO.parent / "shared" / "golden"


#: subfolders whose models are implemented (their fixtures are replayed too)
GOLDEN_SUBDIRS = ("pet", "sam")


def golden_dirs() -> list[Path]:
    """``../shared/golden`` (and its implemented subfolders) plus every folder of
    ``$FACEREEL_GOLDEN_DIRS`` (colon-separated)."""
    dirs = [GOLDEN_DIR] + [GOLDEN_DIR / sub for sub in GOLDEN_SUBDIRS]
    extra = os.environ.get("FACEREEL_GOLDEN_DIRS", "")
    dirs += [Path(p) for p in extra.split(":") if p.strip()]
    return dirs


def missing_golden_dirs() -> list[Path]:
    """Fixture folders that should exist and do not: the suite fails on them, never skips."""
    return [d for d in golden_dirs() if not d.is_dir()]


def golden_fixture(name: str) -> Path:
    """``GOLDEN_DIR / name``, failing (not skipping) the test that needs it when it is absent."""
    path = GOLDEN_DIR / name
    if not path.is_file():
        import pytest

        pytest.fail(f"golden fixture {name} not found in {GOLDEN_DIR} (expected beside the repository, "
                    f"in ../shared/golden)", pytrace=False)
    return path


def golden_files(with_calls: bool = True) -> list[Path]:
    files: list[Path] = []
    for d in golden_dirs():
        if d.is_dir():
            files += sorted(d.glob("*.npz"))
    if with_calls:
        files = [f for f in files if "forward_kwargs" in load_meta(f)]
    return files


def load_meta(path: Path) -> dict:
    with np.load(path) as z:
        return json.loads(z["meta"].item())


def golden_tensor(name: str, shape, rule, npz) -> np.ndarray:
    """The README's fill rule: seed = crc32(official name), legacy MT19937 normals, float32 arithmetic."""
    mode, scale, offset = rule
    if mode == "keep":
        return np.array(npz["keep/" + name])
    seed = zlib.crc32(name.encode("utf-8")) & 0xFFFFFFFF
    draws = np.random.RandomState(seed).standard_normal(tuple(shape))
    x = np.asarray(draws).astype(np.float32)
    if mode == "absnormal":
        x = np.abs(x)
    return np.float32(offset) + np.float32(scale) * x


def golden_state(npz) -> dict[str, np.ndarray]:
    names = json.loads(npz["names"].item())
    shapes = json.loads(npz["shapes"].item())
    rules = json.loads(npz["rules"].item())
    return {n: golden_tensor(n, shapes[n], rules[n], npz) for n in names}


def golden_state_torch(npz) -> dict:
    import torch

    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in golden_state(npz).items()}


def builders() -> dict:
    from tests.helpers import golden_builders

    table: dict = {}
    for info in pkgutil.iter_modules(golden_builders.__path__):
        mod = importlib.import_module(f"{golden_builders.__name__}.{info.name}")
        table.update(getattr(mod, "BUILDERS", {}))
    return table


def tolerance(ref: np.ndarray) -> float:
    return 1e-4 * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)


def _resolve_attr(obj, path: str):
    for part in filter(None, path.split(".")):
        obj = getattr(obj, part)
    return obj


def replay(model, meta: dict, npz) -> list[tuple[str, float, float]]:
    """Runs every call; returns ``(key, max_abs_err, tol)`` per compared output (all outputs)."""
    import torch

    values: dict[str, torch.Tensor] = {}

    def ref(key):
        if isinstance(key, list):
            return [ref(k) for k in key]
        if key in values:
            return values[key]
        if key.startswith("in/"):
            values[key] = torch.from_numpy(np.array(npz[key]))
            return values[key]
        raise KeyError(f"reference {key!r} used before it was produced")

    def kwarg(v):
        if isinstance(v, dict) and "ref" in v:
            return ref(v["ref"])
        if isinstance(v, dict) and v.get("none"):
            return None
        return v

    results = []
    with torch.no_grad():
        for call in meta["forward_kwargs"]["calls"]:
            args = [ref(a) for a in call.get("args", [])]
            if "op" in call:
                if call["op"] == "cat":
                    out = torch.cat(args, dim=call["dim"])
                elif call["op"] == "repeat":
                    out = args[0].repeat(*call["sizes"])
                else:
                    raise ValueError(f"unknown op {call['op']}")
            else:
                kwargs = {k: kwarg(v) for k, v in call.get("kwargs", {}).items()}
                saved = {}
                for buf, key in call.get("set_buffers", {}).items():
                    owner, _, attr = buf.rpartition(".")
                    mod = _resolve_attr(model, owner)
                    saved[buf] = getattr(mod, attr).clone()
                    getattr(mod, attr).copy_(ref(key))
                try:
                    out = _resolve_attr(model, call["fn"])(*args, **kwargs)
                finally:
                    for buf, val in saved.items():
                        owner, _, attr = buf.rpartition(".")
                        getattr(_resolve_attr(model, owner), attr).copy_(val)
            outputs = call["outputs"]
            if isinstance(outputs, list):
                outs = list(out)
                assert len(outs) == len(outputs), f"{call}: expected {len(outputs)} outputs, got {len(outs)}"
            else:
                outs, outputs = [out], [outputs]
            for key, val in zip(outputs, outs):
                if key is None:
                    continue
                values[key] = val
                if key.startswith("out/"):
                    got = val.detach().float().cpu().numpy()
                    want = np.asarray(npz[key])
                    assert got.shape == want.shape, f"{key}: shape {got.shape} != reference {want.shape}"
                    results.append((key, float(np.max(np.abs(got - want))), tolerance(want)))
    return results
