"""Opt-in fused CPU kernels (facereel.nets.fused): the compiled StyleGAN2 layer tails (upsampling
layers; same-size layers with their block's toRGB) against the pure-PyTorch ops they replace, the generator with a ``fused_kernels`` plan against the reference path,
the opt-in switches (the ExecutionPlan of a call, of the network, of the process), the build cache, and the fallback where no compiler works."""

from __future__ import annotations

import dataclasses
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

import facereel.nets.fused as fused
import facereel.nets.plan as plan_mod
from facereel.nets import ops
from facereel.nets.plan import FAST, FUSED, REFERENCE
from tests.helpers.nets import rel_err, tiny

needs_cc = pytest.mark.skipif(fused._compiler() is None, reason="no C compiler on this machine")
# Every upsampling layer on the polyphase path the fused upsampling kernel needs.
FUSED_ALL = FUSED.replace(polyphase_min_pixels=1)
CL = torch.channels_last


def _phases(x, w):
    ks = [(ry, rx, k.contiguous(memory_format=CL), py, px) for ry, rx, k, py, px in ops.polyphase_kernels(w, 2)]
    return ks, [p.contiguous(memory_format=CL) for p in ops.conv_transpose2d_phases(x, ks, 3, 3, 2)]


def _tail_reference(x, ks, f, bias, scale, noise, slope, clamp):
    """The unfused ops: interleaved transposed conv, FIR (pad 1, gain 4), scale, bias, noise, act, clamp."""
    t = ops.conv_transpose2d_polyphase(x, ks, 3, 3)
    y = ops.fir_filter_fast(t, f, padding=[1, 1, 1, 1], gain=4)
    if scale is not None:
        y = y * scale.reshape(1, -1, 1, 1)
    y = y + bias.reshape(1, -1, 1, 1)
    if noise is not None:
        y = y + noise
    y = F.leaky_relu(y, slope) if slope != 1 else y
    return y if clamp is None else y.clamp(-clamp, clamp)


@needs_cc
@pytest.mark.parametrize("c_in,c_out,h,w", [(4, 8, 5, 7), (6, 5, 9, 4), (16, 32, 12, 12), (3, 1, 1, 2)])
@pytest.mark.parametrize("with_scale,with_noise,slope,clamp",
                         [(False, True, 0.2, 0.7), (True, False, 0.0, None), (True, True, 1.0, 1.5)])
def test_up2_fir_post_matches_the_unfused_ops(c_in, c_out, h, w, with_scale, with_noise, slope, clamp):
    g = torch.Generator().manual_seed(c_in * 100 + c_out + h)
    x = torch.randn(1, c_in, h, w, generator=g).contiguous(memory_format=CL)
    wt = torch.randn(c_in, c_out, 3, 3, generator=g) / math.sqrt(9 * c_in)
    bias = torch.randn(c_out, generator=g) * 0.3
    scale = torch.rand(c_out, generator=g) + 0.5 if with_scale else None
    noise = torch.randn(2 * h, 2 * w, generator=g) * 0.2 if with_noise else None
    f = ops.setup_filter([1, 3, 3, 1])
    ks, ph = _phases(x, wt)
    ref = _tail_reference(x, ks, f, bias, scale, noise, slope, clamp)
    taps = (2 * f.sum(1)).flip(0)
    out = torch.empty(1, c_out, 2 * h, 2 * w, memory_format=CL)
    for threads in (1, 2, 3):
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            out.fill_(float("nan"))
            fused.up2_fir_post(ph, taps, 0, out, bias, scale, noise, slope=slope, clamp=clamp)
        finally:
            torch.set_num_threads(old)
        assert torch.isfinite(out).all()
        assert rel_err(out, ref) < 1e-6, threads
    # A window of rows: local output rows 3 .. 3 + R of the same map, written into a row range.
    if h >= 5:
        rows = slice(3, 2 * h - 2)
        part = torch.full((1, c_out, 2 * h, 2 * w), float("nan")).contiguous(memory_format=CL)
        fused.up2_fir_post(ph, taps, 3, part[:, :, rows], bias, scale,
                           None if noise is None else noise[rows], slope=slope, clamp=clamp)
        assert rel_err(part[:, :, rows], ref[:, :, rows]) < 1e-6
        assert torch.isnan(part[:, :, :3]).all() and torch.isnan(part[:, :, 2 * h - 2:]).all()


@needs_cc
def test_up2_fir_post_rejects_wrong_inputs():
    x = torch.randn(1, 4, 6, 6).contiguous(memory_format=CL)
    _, ph = _phases(x, torch.randn(4, 8, 3, 3))
    taps, bias = torch.ones(4), torch.zeros(8)
    out = torch.empty(1, 8, 12, 12, memory_format=CL)
    with pytest.raises(ValueError, match="channels-last"):
        fused.up2_fir_post(ph, taps, 0, out.contiguous(), bias)
    with pytest.raises(ValueError, match="phase P01"):
        fused.up2_fir_post([ph[0], ph[1].contiguous(), ph[2], ph[3]], taps, 0, out, bias)
    with pytest.raises(ValueError, match="outside"):
        fused.up2_fir_post(ph, taps, 2, out, bias)
    with pytest.raises(ValueError, match="biases"):
        fused.up2_fir_post(ph, taps, 0, out, torch.zeros(7))
    with pytest.raises(ValueError, match="noise"):
        fused.up2_fir_post(ph, taps, 0, out, bias, noise=torch.zeros(12, 11))


@needs_cc
@pytest.mark.parametrize("c,h,w", [(8, 5, 7), (32, 6, 6), (13, 3, 9), (1, 2, 2)])
@pytest.mark.parametrize("with_scale,with_bias,with_noise,slope,clamp",
                         [(False, False, True, 0.2, 0.7), (True, True, False, 0.0, None),
                          (True, True, True, 1.0, 1.5), (False, True, True, 0.2, None)])
def test_post_rgb_matches_the_unfused_ops(c, h, w, with_scale, with_bias, with_noise, slope, clamp):
    g = torch.Generator().manual_seed(c * 10 + h)
    y = torch.randn(1, c, h, w, generator=g).contiguous(memory_format=CL)
    scale = torch.rand(c, generator=g) + 0.5 if with_scale else None
    bias = torch.randn(c, generator=g) * 0.3 if with_bias else None
    noise = torch.randn(h, w, generator=g) * 0.2 if with_noise else None
    wr, br = torch.randn(3, c, generator=g), torch.randn(3, generator=g)
    v = y * (1 if scale is None else scale.reshape(1, -1, 1, 1)) + (0 if bias is None else bias.reshape(1, -1, 1, 1))
    v = F.leaky_relu(v + (0 if noise is None else noise), slope)
    v = v if clamp is None else v.clamp(-clamp, clamp)
    rgb_ref = (torch.einsum("nchw,oc->nohw", v, wr) + br.reshape(1, 3, 1, 1)).clamp(-0.8, 0.8)
    # In place, no toRGB.
    y1 = y.clone().contiguous(memory_format=CL)
    assert fused.post_rgb(y1, scale, bias, noise, slope, clamp) is None
    assert rel_err(y1, v) < 1e-6
    # Into another tensor, with the toRGB, on 1 and 2 threads.
    for threads in (1, 2):
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            out = torch.full_like(y, float("nan")).contiguous(memory_format=CL)
            rgb = fused.post_rgb(y, scale, bias, noise, slope, clamp, wr, br, 0.8, out=out)
        finally:
            torch.set_num_threads(old)
        assert rel_err(out, v) < 1e-6 and rgb.is_contiguous(memory_format=CL)
        assert rel_err(rgb, rgb_ref) < 1e-5
    assert torch.equal(y, y.clone())          # the source was left alone
    with pytest.raises(ValueError, match="rgb_weight"):
        fused.post_rgb(y, rgb_weight=torch.zeros(3, c + 1))
    with pytest.raises(ValueError, match="channels-last"):
        fused.post_rgb(y.contiguous() if c > 1 else y.transpose(2, 3))


def _count_calls(monkeypatch, name="up2_fir_post"):
    calls = []
    real = getattr(fused, name)

    def spy(*a, **k):
        calls.append(a[3].shape if name == "up2_fir_post" else (a[0].shape, k.get("rgb_out") is not None))
        return real(*a, **k)

    monkeypatch.setattr(fused, name, spy)
    return calls


@needs_cc
@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
@pytest.mark.parametrize("batch", [1, 3])
def test_generator_with_fused_kernels_matches_reference(monkeypatch, architecture, batch):
    G = tiny(architecture, res=64)
    ws = torch.randn(batch, G.num_ws, 24, generator=torch.Generator().manual_seed(3))
    calls = _count_calls(monkeypatch)
    post = _count_calls(monkeypatch, "post_rgb")
    with torch.no_grad():
        for kw in (dict(noise_mode="const"), dict(noise_mode="none")):
            ref = G.synthesis(ws, plan=REFERENCE, **kw)
            calls.clear()
            post.clear()
            out = G.synthesis(ws, plan=FUSED_ALL, **kw)
            # Every upsampling layer (8 .. 64 px) of every sample went through the kernel, and
            # every same-size layer (4 .. 64 px) through the other, with the toRGB where it reads
            # that layer's output (skip: every block; orig: the last; resnet: none).
            assert len(calls) == batch * 4
            assert len(post) == batch * 5
            with_rgb = sum(r for _, r in post)
            assert with_rgb == batch * {"skip": 5, "orig": 1, "resnet": 0}[architecture]
            assert out.shape == ref.shape and out.is_contiguous()
            assert rel_err(out, ref) < 1e-5, kw
        # Random noise: the same draws as the fast path.
        torch.manual_seed(7)
        fast = G.synthesis(ws, noise_mode="random", plan=FUSED_ALL.replace(fused_kernels=False))
        torch.manual_seed(7)
        out = G.synthesis(ws, noise_mode="random", plan=FUSED_ALL)
        assert rel_err(out, fast) < 1e-5


@needs_cc
def test_fused_kernels_are_opt_in_and_follow_the_plans(monkeypatch):
    G = tiny(res=32)
    ws = torch.randn(1, G.num_ws, 24, generator=torch.Generator().manual_seed(4))
    calls = _count_calls(monkeypatch)
    post = _count_calls(monkeypatch, "post_rgb")
    monkeypatch.setattr(plan_mod, "_default", None)           # restored afterwards
    monkeypatch.delenv(plan_mod.FUSED_ENV, raising=False)
    with torch.no_grad():
        G.synthesis(ws, noise_mode="const")
        assert calls == [] and post == []                      # off by default
        assert plan_mod.default_plan() == FAST
        # The environment is read once, when the process default is built.
        monkeypatch.setenv(plan_mod.FUSED_ENV, "1")
        G.synthesis(ws, noise_mode="const")
        assert post == []
        plan_mod.set_default_plan(None)                        # rebuilt from the environment
        assert plan_mod.default_plan() == FUSED
        G.synthesis(ws, noise_mode="const")
        # 32 px: the one upsampling layer with a 16x16 input is polyphase, the 4 same-size layers fuse
        assert len(calls) == 1 and len(post) == 4
        monkeypatch.setenv(plan_mod.FUSED_ENV, "0")
        G.synthesis(ws, noise_mode="const")
        assert len(calls) == 2 and len(post) == 8              # no second reading
        G.synthesis(ws, noise_mode="const", plan=FAST)
        assert len(post) == 8                                  # a call's plan wins ...
        G.synthesis.plan = FAST
        G.synthesis(ws, noise_mode="const")
        assert len(post) == 8                                  # ... and so does the network's
        plan_mod.set_default_plan(FAST)
        G.synthesis.plan = FUSED_ALL
        G.synthesis(ws, noise_mode="const")
        assert len(calls) == 5 and len(post) == 12             # the network's plan over the default (3 up layers)
        G.synthesis(ws, noise_mode="const", plan=REFERENCE.replace(fused_kernels=True))
        assert len(calls) == 5 and len(post) == 12             # the reference path never uses them


def test_plans_are_frozen_and_checked(monkeypatch):
    with pytest.raises(dataclasses.FrozenInstanceError):
        FAST.fused_kernels = True                              # frozen: replace() makes another
    assert FAST.replace(fused_kernels=True) == FUSED and FAST.fast and FUSED.fused
    with pytest.raises(ValueError, match="implementation"):
        plan_mod.ExecutionPlan(implementation="quick")
    # Reduced precision exists only on the fast path.
    assert REFERENCE.replace(dtype=torch.bfloat16).implementation == "fast"
    assert REFERENCE.replace(dtype=torch.float32).implementation == "reference"
    assert not REFERENCE.replace(fused_kernels=True).fused
    with pytest.raises(TypeError):
        plan_mod.set_default_plan("fast")
    monkeypatch.setattr(plan_mod, "_default", None)
    plan_mod.set_default_plan(REFERENCE)
    assert plan_mod.default_plan() is REFERENCE
    assert plan_mod.resolve() is REFERENCE and plan_mod.resolve(None, FAST) is FAST
    assert plan_mod.resolve(FUSED, FAST) is FUSED


@needs_cc
def test_fused_kernels_stay_out_of_autograd(monkeypatch):
    G = tiny(res=32).requires_grad_(False)
    calls = _count_calls(monkeypatch)
    ws = torch.randn(1, G.num_ws, 24, generator=torch.Generator().manual_seed(5), requires_grad=True)
    G.synthesis(ws, noise_mode="const", plan=FUSED_ALL).square().sum().backward()
    assert calls == [] and ws.grad is not None
    ws2 = ws.detach().clone().requires_grad_(True)
    G.synthesis(ws2, noise_mode="const", plan=FUSED_ALL.replace(fused_kernels=False)).square().sum().backward()
    assert torch.allclose(ws.grad, ws2.grad)


@needs_cc
def test_kernel_is_built_once_into_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEREEL_HOME", str(tmp_path))
    monkeypatch.setattr(fused, "_lib", None)
    monkeypatch.setattr(fused, "_reason", None)
    assert fused.available()
    built = list((tmp_path / "kernels").glob("stylegan2_fused-*.so"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    monkeypatch.setattr(fused, "_lib", None)
    assert fused.available()
    assert built[0].stat().st_mtime_ns == stamp                # loaded, not rebuilt
    assert [p.name for p in (tmp_path / "kernels").iterdir()] == [built[0].name]   # no temp files left
    # A library others could have written is not trusted: it is rebuilt over.
    built[0].chmod(0o777)
    monkeypatch.setattr(fused, "_lib", None)
    assert fused.available()
    assert built[0].stat().st_mode & 0o022 == 0


def test_no_compiler_warns_once_and_runs_the_fast_path(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEREEL_HOME", str(tmp_path))
    monkeypatch.setattr(fused, "_lib", None)
    monkeypatch.setattr(fused, "_reason", None)
    monkeypatch.setattr(fused, "_warned", False)
    monkeypatch.setattr(fused, "_compiler", lambda: None)
    G = tiny(res=32)
    ws = torch.randn(2, G.num_ws, 24, generator=torch.Generator().manual_seed(6))
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = G.synthesis(ws, noise_mode="const", plan=FUSED_ALL)
        again = G.synthesis(ws, noise_mode="const", plan=FUSED_ALL)
        fast = G.synthesis(ws, noise_mode="const", plan=FUSED_ALL.replace(fused_kernels=False))
    msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(msgs) == 1 and "no C compiler" in msgs[0]
    assert not fused.available() and "no C compiler" in fused.unavailable_reason()
    assert torch.equal(out, fast) and torch.equal(again, fast)
    with pytest.raises(RuntimeError, match="unavailable"):
        fused.up2_fir_post([torch.zeros(1, 1, 2, 2)] * 4, torch.ones(4), 0, torch.zeros(1, 1, 2, 2), torch.zeros(1))


def test_broken_compiler_is_reported(monkeypatch, tmp_path):
    cc = tmp_path / "cc"
    cc.write_text("#!/bin/sh\necho 'fake cc 1.0'\n[ \"$1\" = --version ] && exit 0\necho 'error: broken' >&2\nexit 1\n")
    cc.chmod(0o755)
    monkeypatch.setenv("FACEREEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CC", str(cc))
    monkeypatch.setattr(fused, "_lib", None)
    monkeypatch.setattr(fused, "_reason", None)
    monkeypatch.setattr(fused, "_warned", False)
    with pytest.warns(RuntimeWarning, match="broken"):
        assert not fused.available()
    assert list((tmp_path / "home" / "kernels").iterdir()) == []      # no half-built file left
