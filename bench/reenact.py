"""Reenactment speed on CPU: the thesis' network at 1024 and the offline warp method.

Run: ``python bench/reenact.py [--repeats 3] [--threads 2] [--sections learned,warp]``

``learned``: one frame through g = G(M(E_i(t) ⊕ E_m(s))) at 1024 (E_m on the 256 aligned frame,
the 18432 -> 9216 mapping, the rosinality FFHQ decoder), random weights (speed does not depend on
them; BatchNorm statistics randomised so folding is not a no-op), batch 1, no_grad.  Two paths in
the same run, interleaved so machine load hits both alike:

* ``thesis``: the thesis code path — E_m op by op (BatchNorm layers, SE as modules), the decoder's
  reference path (``Generator.impl = "reference"``: upfirdn2d and fused leaky ReLU as the official
  ops' CPU stand-ins, per-sample modulated weights), fresh noise per call as the thesis' Tool;
* ``facereel``: what ``--method learned`` runs — E_m fused (``fuse()``), the decoder on the StyleGAN2
  fast path with the stored noise buffers, under ``torch.inference_mode``.

Goal: facereel / thesis <= 0.6.

``warp``: frames per second of ``--method warp`` end to end (decoded driver frame -> encoded output
frame) at 256 and 512 on the sample photos as the driver (goal >= 25 and >= 10 frames/s); skipped
until the warp method exists.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

GOAL_RATIO = 0.6


def _randomise_bn(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(1 + 0.1 * torch.rand(m.num_features, generator=g))


def bench_learned(repeats: int) -> dict:
    from facereel.nets.pet import PoseExpressionTransfer

    torch.manual_seed(0)
    net = PoseExpressionTransfer(1024, mapping_init="none").eval().requires_grad_(False)
    _randomise_bn(net.encoder)
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    t = 0.5 * torch.randn(1, 18, 512)

    net.encoder.fuse()
    # the fused plans of E_m and its units, held aside while the thesis path runs op by op
    plans = {m: m._fused for m in net.encoder.modules() if getattr(m, "_fused", None) is not None}

    def thesis():
        for m in plans:
            object.__setattr__(m, "_fused", None)
        net.decoder.impl = "reference"
        try:
            with torch.no_grad():
                return net(x, t, resize=False, randomize_noise=True)
        finally:
            for m, p in plans.items():
                object.__setattr__(m, "_fused", p)

    def ours():
        net.decoder.impl = "fast"
        with torch.inference_mode():
            return net(x, t, resize=False, randomize_noise=False)

    ours(), thesis()          # warm-up (fast-path build, allocator)
    times: dict[str, list[float]] = {"thesis": [], "facereel": []}
    for r in range(repeats):
        order = [("thesis", thesis), ("facereel", ours)]
        for name, fn in (order if r % 2 == 0 else order[::-1]):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["facereel"] / med["thesis"]
    print(f"learned 1024, s/frame (median of {repeats}): thesis {med['thesis']:.2f}  facereel {med['facereel']:.2f}  "
          f"ratio {ratio:.2f} (goal <= {GOAL_RATIO})  min: {min(times['thesis']):.2f} / {min(times['facereel']):.2f}")
    return {"thesis_s": med["thesis"], "facereel_s": med["facereel"], "ratio": ratio}


def bench_warp(repeats: int) -> dict | None:
    from facereel.reenact.base import ReenactError, get_method

    try:
        get_method("warp")
    except ReenactError as exc:
        print(f"warp: skipped ({exc})")
        return None
    from facereel.options.reenact import ReenactOptions
    from facereel.reenact.runner import reenact_video
    from facereel.samples import sample_dir

    s = sample_dir()
    res = {}
    with tempfile.TemporaryDirectory() as d:
        drv = Path(d) / "drv"
        drv.mkdir()
        names = ["obama.jpg", "obama2.jpg", "obama3.jpg"] * 8
        for i, n in enumerate(names):
            (drv / f"{i:03d}.jpg").write_bytes((s / n).read_bytes())
        for size in (256, 512):
            fps = []
            for _ in range(repeats):
                rep = reenact_video(drv, s / "biden.jpg", Path(d) / f"w{size}.mp4",
                                    ReenactOptions(method="warp", size=size, keep_audio=False))
                fps.append(rep.frames_per_second)
            res[size] = statistics.median(fps)
            goal = 25 if size == 256 else 10
            print(f"warp {size}: {res[size]:.1f} frames/s end to end incl. decoding photos (goal >= {goal})")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sections", default="learned,warp")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    sections = set(a.sections.split(","))
    if "learned" in sections:
        bench_learned(a.repeats)
    if "warp" in sections:
        bench_warp(a.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
