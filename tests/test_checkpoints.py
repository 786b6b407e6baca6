"""Official checkpoint formats: restricted NVIDIA pickle reader, pSp/rosinality .pt, safetensors.

The pickles are built in the official structure (facereel.checkpoints.fakes) from the golden
fill-rule weights; done-when: converted files reproduce the golden fixtures' outputs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import pickle

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from facereel.checkpoints import CheckpointError
from facereel.checkpoints.canonical import load_canonical, read_config
from facereel.checkpoints.fakes import (
    pickle_globals,
    write_nvidia_pickle,
    write_psp_pt,
    write_rosinality_pt,
)
from facereel.checkpoints.loaders import build_network, convert, read_generator_spec, sniff_format
from facereel.checkpoints.nvidia_pickle import read_nvidia_generator, read_nvidia_pickle
from facereel.checkpoints.torch_files import read_psp_checkpoint, read_rosinality, torch_load
from tests.helpers.golden import GOLDEN_DIR, golden_state_torch, golden_tensor, replay

README_GLOBALS = {
    "torch_utils.persistence._reconstruct_persistent_obj", "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter", "torch.storage._load_from_bytes", "collections.OrderedDict",
    "dnnlib.util.EasyDict", "numpy.dtype", "numpy.ndarray",
}


def _fixture(name):
    z = np.load(GOLDEN_DIR / name)
    return z, json.loads(z["meta"].item())


@pytest.fixture(scope="module")
def sg2():
    z, meta = _fixture("sg2_uncond_skip_32.npz")
    return z, meta, golden_state_torch(z)


def _app():
    from facereel.cli import app

    return app


def _assert_replay(model, meta, z, calls: int | None = None, state: dict | None = None):
    """Replays the fixture's calls (the first ``calls`` of them; all when None).  With ``state``,
    first checks that the loaded network holds exactly the golden tensors under the official names,
    so that together with the replayed call(s) the converted file is proven equal to the fixture's
    network (tests/test_golden.py replays every call of these networks)."""
    if state is not None:
        got = model.state_dict()
        for k, v in state.items():
            assert torch.equal(got[k].reshape(v.shape), v), k  # golden_state_torch makes 0-d tensors [1]
    if calls is not None:
        meta = {**meta, "forward_kwargs": {"calls": meta["forward_kwargs"]["calls"][:calls]}}
    results = replay(model, meta, z)
    assert results, "fixture produced no comparable outputs"
    bad = [(k, e, t) for k, e, t in results if not e <= t]
    assert not bad, f"outputs off the golden reference: {bad}"


# ------------------------------------------------------------------------------------------ pickles


@pytest.mark.parametrize("numpy_major", [1, 2])
def test_official_structure_pickle_loads(sg2, tmp_path, numpy_major):
    z, meta, state = sg2
    marker = tmp_path / "module_src_ran"
    raw = write_nvidia_pickle(None, state, meta["init_kwargs"], "stylegan2", numpy_major=numpy_major,
                              marker_path=marker)
    globs = pickle_globals(raw)
    ma = "numpy.core.multiarray" if numpy_major == 1 else "numpy._core.multiarray"
    # the stream names exactly the globals an official pickle names (README), under numpy 1.x or 2.x names
    assert globs == (README_GLOBALS - {"numpy.ndarray"}) | {f"{ma}.scalar"}
    assert b"module_src was executed" in raw  # the trap is really inside the file

    spec = read_nvidia_generator(raw)
    assert not marker.exists()
    assert spec.kind == "stylegan2"
    assert spec.init_kwargs == meta["init_kwargs"]
    assert list(spec.state_dict) == list(state)  # official names, state_dict order
    for k, v in state.items():
        assert torch.equal(spec.state_dict[k], v), k  # G_ema, not the zeroed G
    data = read_nvidia_pickle(raw)
    assert set(data) == {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs"}
    assert type(data["training_set_kwargs"]) is not dict and isinstance(data["training_set_kwargs"], dict)
    assert data["G"].state_dict()["mapping.fc0.weight"].abs().sum() == 0


def _evil_pickle(marker: pathlib.Path) -> bytes:
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    return pickle.dumps({"G_ema": Evil()}, protocol=4)


def test_os_system_pickle_refused_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    raw = _evil_pickle(marker)
    with pytest.raises(CheckpointError, match=r"refused to load global '(os|posix)\.system'"):
        read_nvidia_pickle(raw)
    assert not marker.exists()


@pytest.mark.parametrize("glob", [("builtins", "eval"), ("subprocess", "Popen"), ("torch", "load"),
                                  ("numpy", "load"), ("dnnlib.util", "call_func_by_name")])
def test_unknown_globals_refused(glob):
    module, name = glob
    raw = b"\x80\x04" + b"c" + f"{module}\n{name}\n".encode() + b"(V1\ntR."
    with pytest.raises(CheckpointError, match=f"'{module}.{name}'"):
        read_nvidia_pickle(raw)


def test_evil_object_inside_official_structure_refused(sg2, tmp_path):
    z, meta, state = sg2
    marker = tmp_path / "pwned"
    raw = write_nvidia_pickle(None, {"mapping.w_avg": state["mapping.w_avg"]}, meta["init_kwargs"])
    # append a malicious payload nested in an otherwise official file
    data_with_evil = _evil_pickle(marker)
    with pytest.raises(CheckpointError):
        read_nvidia_pickle(data_with_evil)
    with pytest.raises(CheckpointError, match="truncated|not a readable pickle"):
        read_nvidia_pickle(raw[: len(raw) // 2])
    assert not marker.exists()


def test_convert_cli_refuses_evil_pickle_cleanly(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "network.pkl"
    evil.write_bytes(_evil_pickle(marker))
    out = tmp_path / "out.safetensors"
    res = CliRunner().invoke(_app(), ["weights", "convert", str(evil), str(out)])
    assert res.exit_code != 0
    text = res.output.strip()
    assert "Traceback" not in text and res.exception is None or isinstance(res.exception, SystemExit)
    assert len(text.splitlines()) == 1 and "system" in text, text
    assert not marker.exists() and not out.exists()


def test_convert_cli_missing_file(tmp_path):
    res = CliRunner().invoke(_app(), ["weights", "convert", str(tmp_path / "nope.pkl"), str(tmp_path / "o.safetensors")])
    assert res.exit_code != 0 and "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------ done-when


def test_sg2_pickle_converts_and_reproduces_golden(sg2, tmp_path, torch_threads, monkeypatch):
    z, meta, state = sg2
    pkl = tmp_path / "stylegan2-ffhq.pkl"
    write_nvidia_pickle(pkl, state, meta["init_kwargs"], "stylegan2", numpy_major=1)
    out = tmp_path / "sg2.safetensors"
    res = CliRunner().invoke(_app(), ["weights", "convert", str(pkl), str(out)])
    assert res.exit_code == 0, res.output
    cfg = read_config(out)
    assert cfg["kind"] == "stylegan2" and cfg["init_kwargs"] == meta["init_kwargs"]

    # loading the converted file needs no pickle at all
    def no_pickle(*a, **k):
        raise AssertionError("pickle used while loading a safetensors checkpoint")

    monkeypatch.setattr(pickle, "Unpickler", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(torch, "load", no_pickle)
    spec = read_generator_spec(out)
    G = build_network(spec)
    monkeypatch.undo()
    _assert_replay(G, meta, z)


def test_sg3_pickle_converts_and_reproduces_golden(tmp_path, torch_threads):
    pytest.importorskip("facereel.nets.stylegan3")
    z, meta = _fixture("sg3t_64.npz")
    state = golden_state_torch(z)
    pkl = tmp_path / "stylegan3-t.pkl"
    write_nvidia_pickle(pkl, state, meta["init_kwargs"], "stylegan3", numpy_major=2)
    out = tmp_path / "sg3.safetensors"
    cfg = convert(pkl, out)
    assert cfg["kind"] == "stylegan3"
    G = build_network(read_generator_spec(out))
    _assert_replay(G, meta, z, calls=3, state=state)


@pytest.fixture(scope="module")
def rosi128():
    z, meta = _fixture("psp_rosinality_generator_128.npz")
    return z, meta, golden_state_torch(z)


def test_rosinality_pt_converts_and_reproduces_golden(rosi128, tmp_path, torch_threads):
    z, meta, state = rosi128
    latent_avg = torch.randn(512, generator=torch.Generator().manual_seed(0))
    pt = tmp_path / "stylegan2-ffhq-config-f.pt"
    # a training-style checkpoint: its `args` Namespace needs the restricted-unpickler fallback
    write_rosinality_pt(pt, state, latent_avg, training_args=argparse.Namespace(size=128, channel_multiplier=2))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(pt), weights_only=True)
    spec = read_rosinality(pt)
    assert spec.init_kwargs == {"size": 128, "style_dim": 512, "n_mlp": 8, "channel_multiplier": 2}
    assert spec.init_kwargs == {**dict(zip(["size", "style_dim", "n_mlp"], meta.get("init_args", []))),
                                **meta.get("init_kwargs", {})}
    assert torch.equal(spec.extras["latent_avg"], latent_avg)
    out = tmp_path / "rosi.safetensors"
    assert convert(pt, out)["kind"] == "rosinality"
    can = load_canonical(out)
    assert torch.equal(can.extras["latent_avg"], latent_avg)
    G = build_network(can.generator_spec())
    _assert_replay(G, meta, z, calls=1, state=state)


def test_psp_pt_decoder_reproduces_golden(rosi128, tmp_path, torch_threads):
    """A pSp-layout .pt whose decoder.* is the 128 px golden generator."""
    z, meta, state = rosi128
    sd = {f"decoder.{k}": v for k, v in state.items()}
    sd["encoder.input_layer.0.weight"] = torch.ones(4, 3, 3, 3)
    la = torch.full((12, 512), 0.5)
    pt = tmp_path / "psp.pt"
    write_psp_pt(pt, sd, {"encoder_type": "GradualStyleEncoder", "output_size": 128,
                          "exp_dir": pathlib.PurePosixPath("/x/exp")}, latent_avg=la)
    ck = read_psp_checkpoint(pt)  # PurePosixPath needs the restricted fallback
    assert ck["opts"]["exp_dir"] == "/x/exp" and ck["opts"]["output_size"] == 128
    assert list(ck["decoder"]) == list(state) and list(ck["encoder"]) == ["input_layer.0.weight"]
    out = tmp_path / "psp.safetensors"
    cfg = convert(pt, out)
    assert cfg["kind"] == "psp" and cfg["decoder_kind"] == "rosinality"
    ck2 = read_psp_checkpoint(out)  # the converted file reads back the same, no pickle
    assert torch.equal(ck2["latent_avg"], la) and torch.equal(ck2["encoder"]["input_layer.0.weight"], torch.ones(4, 3, 3, 3))
    G = build_network(load_canonical(out).generator_spec())
    _assert_replay(G, meta, z, calls=1, state=state)


@pytest.mark.slow
def test_psp_composition_checkpoint_round_trip(tmp_path, torch_threads):
    """psp_composition_out64 in pSp's own .pt layout → safetensors; whole wrapper replayed when E's
    inverter is available, otherwise its parts are checked."""
    z, meta = _fixture("psp_composition_out64.npz")
    state = golden_state_torch(z)
    la_rule = meta["wrapper"]["latent_avg"]
    latent_avg = torch.from_numpy(golden_tensor("latent_avg", la_rule["shape"], la_rule["rule"], z))
    pt = tmp_path / "psp_out64.pt"
    write_psp_pt(pt, state, dict(meta["wrapper"]["opts"]), latent_avg=latent_avg)
    out = tmp_path / "psp_out64.safetensors"
    cfg = convert(pt, out)
    assert cfg["kind"] == "psp" and cfg["opts"] == meta["wrapper"]["opts"]
    ck = read_psp_checkpoint(out)
    assert set(f"encoder.{k}" for k in ck["encoder"]) | set(f"decoder.{k}" for k in ck["decoder"]) == set(state)
    dec = build_network(load_canonical(out).generator_spec())  # strict load of every decoder.* tensor
    assert dec.size == 64
    try:
        from facereel.inversion.encoders import load_inverter
    except ImportError:
        pytest.skip("encoder wrapper (facereel.inversion.encoders) not available yet")
    model = load_inverter(str(out), device="cpu")
    _assert_replay(model, meta, z, calls=1)


def test_sniff_and_html(tmp_path, sg2):
    html = tmp_path / "w.pkl"
    html.write_text("<!DOCTYPE html><html><title>Google Drive - Quota exceeded</title></html>")
    assert sniff_format(html) == "html"
    with pytest.raises(CheckpointError, match="HTML"):
        read_generator_spec(html)
    buf = io.BytesIO()
    torch.save({"a": torch.zeros(1)}, buf, _use_new_zipfile_serialization=False)
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(buf.getvalue())
    assert sniff_format(legacy) == "torch"
    assert torch.equal(torch_load(legacy)["a"], torch.zeros(1))


def test_pt_with_code_in_opts_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    pt = tmp_path / "evil_psp.pt"
    torch.save({"state_dict": {"decoder.input.input": torch.zeros(1)}, "opts": Evil()}, str(pt))
    with pytest.raises(CheckpointError, match="system"):
        read_psp_checkpoint(pt)
    res = CliRunner().invoke(_app(), ["weights", "convert", str(pt), str(tmp_path / "o.safetensors")])
    assert res.exit_code == 1 and "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    assert not marker.exists()


def test_load_generator_from_pickle_and_weights_name(sg2, tmp_path, monkeypatch, torch_threads):
    from facereel import weights as W
    from facereel.checkpoints.loaders import load_generator
    from facereel.nets.base import FaceGenerator

    z, meta, state = sg2
    pkl = tmp_path / "net.pkl"
    write_nvidia_pickle(pkl, state, meta["init_kwargs"], "stylegan2")
    G = load_generator(pkl, device="cpu")
    assert isinstance(G, FaceGenerator) and G.latent_kind == "w+" and G.num_ws == 8 and G.resolution == 32
    with torch.no_grad():
        img = G.synthesize(torch.from_numpy(np.array(z["in/ws_random"])))
    ref = np.asarray(z["out/img_ws_random"])
    assert np.max(np.abs(img.numpy() - ref)) <= 1e-4 * max(1.0, np.abs(ref).max())

    # by name, once imported into the (temporary) cache
    monkeypatch.setenv("FACEREEL_HOME", str(tmp_path / "home"))
    with pytest.raises(CheckpointError, match="weights download stylegan2-ffhq-1024"):
        load_generator("stylegan2-ffhq-1024")
    W.import_file("stylegan2-ffhq-1024", pkl)
    G2 = load_generator("stylegan2-ffhq-1024")
    assert G2.name == "stylegan2-ffhq-1024" and G2.resolution == 32


def test_restyle_sg3_pt_decoder_reproduces_golden(tmp_path, torch_threads):
    """stylegan3-editing layout: decoder.* of an SG3-R generator without synthesis.input.transform;
    the constructor kwargs are recovered from the tensor names/shapes alone."""
    pytest.importorskip("facereel.nets.stylegan3")
    z, meta = _fixture("sg3r_64.npz")
    state = golden_state_torch(z)
    sd = {f"decoder.{k}": v for k, v in state.items() if k != "synthesis.input.transform"}
    sd["encoder.input_layer.0.weight"] = torch.ones(4, 6, 3, 3)
    pt = tmp_path / "restyle_pSp_ffhq.pt"
    write_psp_pt(pt, sd, {"encoder_type": "BackboneEncoder", "input_nc": 6, "output_size": 64},
                 latent_avg=torch.zeros(64))
    out = tmp_path / "restyle_sg3.safetensors"
    cfg = convert(pt, out)
    assert cfg["kind"] == "psp" and cfg["decoder_kind"] == "stylegan3"
    want = meta["init_kwargs"]
    assert {k: cfg["decoder_init_kwargs"][k] for k in want} == want
    G = build_network(load_canonical(out).generator_spec())
    assert torch.equal(G.synthesis.input.transform, torch.from_numpy(np.array(z["keep/synthesis.input.transform"])))
    _assert_replay(G, meta, z, calls=3, state={k: v for k, v in state.items()})


def test_malformed_tensor_and_mismatched_checkpoint_refused_cleanly(sg2, tmp_path):
    z, meta, state = sg2
    # a tensor view that reaches outside its storage
    bad = pickle.dumps({"G_ema": torch.zeros(4)}, protocol=4).replace(b"K\x04\x85", b"K\x40\x85")
    with pytest.raises(CheckpointError):
        read_nvidia_pickle(bad)
    # a well-formed pickle whose tensors do not fit the constructor arguments
    wrong = dict(state)
    wrong["mapping.fc0.weight"] = torch.zeros(3, 3)
    pkl = tmp_path / "wrong.pkl"
    write_nvidia_pickle(pkl, wrong, meta["init_kwargs"])
    with pytest.raises(CheckpointError, match="does not match"):
        build_network(read_generator_spec(pkl))
    res = CliRunner().invoke(_app(), ["generate", "-w", str(pkl), "-o", str(tmp_path / "g.png")])
    assert res.exit_code == 1 and "Traceback" not in res.output and "does not match" in res.output


def test_real_module_dicts_in_persistence_reduce_load():
    """Networks reduced as torch_utils.persistence does (``super().__reduce__()`` → state = the real
    ``nn.Module.__dict__`` with every hook dict of this torch) read back to the same state_dict."""
    from facereel.checkpoints.fakes import _OfficialPickler, _reconstruct_stub, module_src_trap

    class PersistencePickler(_OfficialPickler):
        def reducer_override(self, obj):
            if isinstance(obj, torch.nn.Module):
                fields = list(object.__reduce__(obj))
                fields += [None] * max(3 - len(fields), 0)
                meta = dict(type="class", version=6, module_src=module_src_trap(), class_name=type(obj).__name__,
                            state=fields[2])
                return (_reconstruct_stub, (meta,), None)
            return NotImplemented

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
    net = net.eval().requires_grad_(False)
    net.gain = np.float32(0.5)
    net.sizes = np.array([3, 4])
    buf = io.BytesIO()
    PersistencePickler(buf, numpy_major=1).dump({"G_ema": net})
    obj = read_nvidia_pickle(buf.getvalue())["G_ema"]
    want = net.state_dict()
    got = obj.state_dict()
    assert list(got) == list(want) and all(torch.equal(got[k], v) for k, v in want.items())
    assert obj.class_name == "Sequential" and obj.state["gain"] == np.float32(0.5)
    assert obj.state["sizes"].tolist() == [3, 4] and "_forward_hooks" in obj.state


def test_weights_import_refuses_what_does_not_parse_as_its_kind(sg2, tmp_path, monkeypatch):
    """issue 16: 100 KB of random bytes imported as an NVIDIA pickle is refused with one line,
    before anything is copied or pinned; the real kind of file is accepted."""
    from facereel import weights as W

    home = tmp_path / "home"
    monkeypatch.setenv("FACEREEL_HOME", str(home))
    runner = CliRunner()
    rng = np.random.default_rng(0)
    noise = tmp_path / "noise.pkl"
    noise.write_bytes(rng.bytes(100_000))
    like_pickle = tmp_path / "like.pkl"                 # starts like a pickle, then garbage
    like_pickle.write_bytes(b"\x80\x04" + rng.bytes(100_000))
    z, meta, state = sg2
    pkl = tmp_path / "net.pkl"
    write_nvidia_pickle(pkl, state, meta["init_kwargs"], "stylegan2")
    cases = [("stylegan2-ffhq-1024", noise, "NVIDIA StyleGAN pickle"),
             ("stylegan2-ffhq-1024", like_pickle, "NVIDIA StyleGAN pickle"),
             ("stylegan3-t-ffhq-1024", pkl, "not stylegan3"),           # the right format, the wrong network
             ("psp_ffhq_encode", noise, "pSp/e4e/ReStyle"),
             ("stylegan2-ffhq-config-f", pkl, "rosinality"),
             ("model_ir_se50", noise, "state dict")]
    for name, src, words in cases:
        res = runner.invoke(_app(), ["weights", "import", name, str(src)])
        lines = res.output.strip().splitlines()
        assert res.exit_code == 1 and len(lines) == 1 and "Traceback" not in res.output, (name, res.output)
        assert words in lines[0] and src.name in lines[0], (name, lines[0])
        assert W.status(name) == "missing" and name not in W.pins() and W.local_path(name) is None
    assert not (home / "weights").exists() or not any(p.suffix in (".pkl", ".pt", ".pth", ".tmp")
                                                      for p in (home / "weights").iterdir())
    res = runner.invoke(_app(), ["weights", "import", "stylegan2-ffhq-1024", str(pkl)])
    assert res.exit_code == 0, res.output
    assert W.status("stylegan2-ffhq-1024") == "present-unverified" and "stylegan2-ffhq-1024" in W.pins()
    # a facereel safetensors conversion of the same kind is accepted too
    conv = tmp_path / "net.safetensors"
    convert(pkl, conv)
    res = runner.invoke(_app(), ["weights", "import", "stylegan2-ffhq-1024", str(conv)])
    assert res.exit_code == 0, res.output
