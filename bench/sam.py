"""SAM forward at 1024 on the CPU: facereel's path against the official code path, in the same run.

Run: ``python bench/sam.py [--repeats 3] [--threads 2] [--ages 1]``

The released FFHQ configuration (output 1024, 18 styles: age encoder with input_nc 4, pretrained
pSp encoder, rosinality ``Generator(1024, 512, 8)``), random weights (speed does not depend on them;
BatchNorm statistics randomised so folding is not a no-op), batch 1, float32.  Two paths,
interleaved so machine load hits both alike:

* ``official``: what ``scripts/inference.py`` runs, ``net(x, randomize_noise=False, resize=False)``
  under ``torch.no_grad()``, emulated with the reference plan (``plan=REFERENCE``): both encoders op
  by op as declared (BatchNorm layers, SE gates as modules, each map2style head on its own), the
  decoder's reference path (per-sample
  modulated weights, grouped convolutions, in the official order of calls) with the official CUDA
  ops replaced by the CPU fallbacks the rosinality code ships (:func:`upfirdn2d_native_emulated`:
  zero insertion on the ``[N*C, H, W, 1]`` view, pad/crop, one depthwise ``conv2d`` with the
  flipped kernel, strided slicing; :func:`fused_leaky_relu_emulated`: ``leaky_relu(x + b, 0.2) *
  sqrt(2)``); for K ages the pretrained encoder runs once per age, as every official call does;
* ``facereel``: what ``facereel age --method sam`` runs (the fast plan): encoders fused
  (``SAM.fuse()``: BatchNorm folded, channels-last body with Winograd, heads grouped per pyramid
  level), the two encoders as concurrent branches on one thread each, the decoder on the StyleGAN2
  fast path with the stored noise, ``torch.inference_mode``; for K ages ``SAM.age_codes`` (the age
  encoder on the batch of K, E_psp(x) + w̄ once) and one decoder batch;
* ``facereel-sequential``: the same with the encoders one after the other
  (``concurrent_branches=False``);
* ``facereel-per-head``: the same with each map2style head on its own (``grouped_heads=False``);
* ``facereel+fused-kernels``: the fast plan with the opt-in compiled StyleGAN2 kernels
  (``facereel --fused-kernels``), where a C compiler is found.

Printed per path: the median wall and process CPU time per image, the median of the per-round
ratios to the official path (rounds alternate the order), and the load average before and after.

It also checks that both paths give the same images (max abs difference).  Goal: facereel /
official <= 0.6.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from facereel.nets.plan import FAST, FUSED, REFERENCE, prepare_process

GOAL_RATIO = 0.6


def upfirdn2d_native_emulated(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
                              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """The rosinality CPU fallback's sequence of operations (same up/down/pad on both axes)."""
    p0, p1 = pad
    n, c, h, w = x.shape
    out = x.reshape(-1, h, w, 1)                                           # [N*C, H, W, minor=1]
    out = out.view(-1, h, 1, w, 1, 1)
    out = F.pad(out, [0, 0, 0, up - 1, 0, 0, 0, up - 1])                    # zero insertion
    out = out.view(-1, h * up, w * up, 1)
    out = F.pad(out, [0, 0, max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    out = out[:, max(-p0, 0):out.shape[1] - max(-p1, 0), max(-p0, 0):out.shape[2] - max(-p1, 0), :]
    out = out.permute(0, 3, 1, 2).reshape(-1, 1, h * up + p0 + p1, w * up + p0 + p1)
    kh, kw = kernel.shape
    out = F.conv2d(out, torch.flip(kernel, [0, 1]).view(1, 1, kh, kw))
    out = out.reshape(-1, 1, h * up + p0 + p1 - kh + 1, w * up + p0 + p1 - kw + 1).permute(0, 2, 3, 1)
    out = out[:, ::down, ::down, :]
    oh, ow = out.shape[1], out.shape[2]
    return out.reshape(n, c, oh, ow)


def fused_leaky_relu_emulated(x: torch.Tensor, bias: torch.Tensor, negative_slope: float = 0.2,
                              scale: float = 2 ** 0.5) -> torch.Tensor:
    """The rosinality CPU fallback of ``fused_leaky_relu``."""
    rest = [1] * (x.ndim - bias.ndim - 1)
    return F.leaky_relu(x + bias.view(1, bias.shape[0], *rest), negative_slope=negative_slope) * scale


@contextlib.contextmanager
def official_ops():
    """The decoder's ops swapped for the emulated official CPU fallbacks."""
    from facereel.nets import rosinality as R

    saved = R._upfirdn2d, R.fused_leaky_relu
    R._upfirdn2d, R.fused_leaky_relu = upfirdn2d_native_emulated, fused_leaky_relu_emulated
    try:
        yield
    finally:
        R._upfirdn2d, R.fused_leaky_relu = saved


def _randomise_bn(module: torch.nn.Module, g: torch.Generator) -> None:
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(1 + 0.1 * torch.rand(m.num_features, generator=g))


def build(size: int = 1024):
    from facereel.nets.sam import SAM

    torch.manual_seed(0)
    net = SAM(size).eval().requires_grad_(False)
    g = torch.Generator().manual_seed(1)
    _randomise_bn(net, g)
    with torch.no_grad():
        net.latent_avg.normal_(0, 0.1, generator=g)
    return net


def _paths(with_fused: bool) -> dict:
    """Name -> plan of our paths (the official one is separate)."""
    paths = {"facereel": FAST, "facereel-sequential": FAST.replace(concurrent_branches=False),
             "facereel-per-head": FAST.replace(grouped_heads=False)}
    if with_fused:
        from facereel.nets import fused

        if fused._compiler() is not None:
            paths["facereel+fused-kernels"] = FUSED
    return paths


def bench(repeats: int = 3, ages: int = 1, size: int = 1024, net=None, with_fused: bool = True,
          paths: list[str] | None = None) -> dict:
    from facereel.nets.sam import age_channel

    net = build(size) if net is None else net
    x_rgb = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(2)) * 2 - 1
    targets = [int(a) for a in torch.linspace(10, 80, ages).round().tolist()] if ages > 1 else [40]
    net.fuse()

    def official():
        # the reference plan: both encoders op by op as declared (BatchNorm, SE modules), the
        # decoder's official op sequence with the emulated CUDA-op fallbacks, one call per age
        with torch.no_grad(), official_ops():
            return torch.cat([net(age_channel(x_rgb, [a]), randomize_noise=False, resize=False, plan=REFERENCE)
                              for a in targets])

    def ours(plan):
        def run():
            with torch.inference_mode():
                codes = net.age_codes(x_rgb, targets, plan=plan)
                return net.decoder([codes], input_is_latent=True, randomize_noise=False, plan=plan)[0]
        return run

    plans = _paths(with_fused)
    if paths:
        plans = {k: v for k, v in plans.items() if k in paths}
    fns = {"official": official, **{k: ours(p) for k, p in plans.items()}}
    outs = {k: fn() for k, fn in fns.items()}   # warm-up (fast-path build, allocator) and the equivalence check
    a = outs["official"]
    err = max(float((a - b).abs().max()) for b in outs.values())
    ref = float(a.abs().max())
    del outs
    load0 = os.getloadavg()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats):
        order = list(fns.items())
        for name, fn in (order if r % 2 == 0 else order[::-1]):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    load1 = os.getloadavg()
    k_ = len(targets)
    med = {k: statistics.median(v) / k_ for k, v in wall.items()}
    cpu_med = {k: statistics.median(v) / k_ for k, v in cpu.items()}
    ratios = {k: statistics.median([t / o for t, o in zip(wall[k], wall["official"])]) for k in fns}
    print(f"SAM {size}, {k_} age(s), batch 1, {torch.get_num_threads()} threads, {repeats} alternating rounds, "
          f"load {load0[0]:.1f} -> {load1[0]:.1f}; s/image: wall median (process CPU median)")
    print(f"  official {med['official']:.2f} ({cpu_med['official']:.2f})")
    for k in fns:
        if k != "official":
            print(f"  {k} {med[k]:.2f} ({cpu_med[k]:.2f}): median per-round ratio {ratios[k]:.2f}, "
                  f"ratio of medians {med[k] / med['official']:.2f}, CPU ratio {cpu_med[k] / cpu_med['official']:.2f}")
    print(f"  goal <= {GOAL_RATIO} | max|diff| {err:.2e} (max|image| {ref:.2f}) | per-round wall: "
          + "; ".join(f"{k} " + " ".join(f"{t:.1f}" for t in v) for k, v in wall.items()))
    return {"seconds": med, "cpu_seconds": cpu_med, "ratios": ratios, "ratio": ratios["facereel"],
            "max_abs_diff": err, "load": (load0, load1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ages", default="1", help="comma-separated numbers of target ages per photo (e.g. 1,9)")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--paths", default="", help="comma-separated subset of our paths (default: all)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    prepare_process()           # as the CLI does before any command
    net = build(a.size)
    for k in (int(v) for v in a.ages.split(",")):
        bench(a.repeats, k, a.size, net, paths=[p for p in a.paths.split(",") if p] or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
