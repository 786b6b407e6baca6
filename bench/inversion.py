"""Inversion speed: encoder forward times at 256x256 (pSp, e4e, ReStyle per iteration, ArcFace).

Run: ``python bench/inversion.py [--only psp,restyle] [--repeats 5] [--threads 2] [--batch 1]``

For each encoder it times, in the same run and interleaved (so machine load hits both alike):

* ``plain``: our module run op by op as the official code runs it (BatchNorm as separate layers,
  every head a ``nn.Sequential``) — the in-run stand-in for the official implementation;
* ``fused``: the inference path users get (``.fuse()``: BatchNorm folded into the convolutions,
  SE gate + residual in one ``addcmul``, the 2x2 -> 1x1 head convs as 4-tap linears), under
  ``torch.inference_mode``.

It prints seconds per image (median and min of the timed runs) and the ratios fused/plain and
fused/official, where "official" is the README's CPU timing of the official code on this kind of
machine (pSp 1.00 s, e4e 0.95 s, ReStyle 0.52 s per iteration, ReStyle-e4e 0.57 s, ArcFace 0.09 s;
the goal is <= 0.5x).  Weights are random (speed does not depend on their values; BatchNorm
statistics are randomised so that folding is not a no-op).

Sections ``optimize`` and ``timelapse`` (``--sections``, ``--quick``): optimisation steps per second
for the DCGAN and for StyleGAN2 at 256 (FFHQ config, fill-rule weights), each against baselines
measured in the same run, and end-to-end seconds of a latent time-lapse of 5 keyframes x 24 frames
with StyleGAN2-256 shapes (see :func:`bench_optimize`, :func:`bench_latent_timelapse`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from facereel.nets.plan import REFERENCE, prepare_process

#: README "Encoder forward times" of the official code (batch 1, 2 threads, s / image)
OFFICIAL_S = {"psp": 1.00, "e4e": 0.95, "restyle": 0.52, "restyle_e4e": 0.57, "arcface": 0.09}
GOAL_RATIO = 0.5


def _randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                c = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(1 + 0.1 * torch.rand(c, generator=g))
                if m.weight is not None:
                    m.weight.copy_(1 + 0.1 * torch.randn(c, generator=g))
                    m.bias.copy_(0.1 * torch.randn(c, generator=g))
    return model.eval()


def build_encoder(name: str, batch: int = 1) -> tuple[nn.Module, torch.Tensor]:
    """The encoder ``name`` (official FFHQ configuration) and a [-1, 1] input batch."""
    from facereel.nets import encoders as E

    torch.manual_seed(0)
    if name == "psp":
        model, c, s = E.GradualStyleEncoder(50, "ir_se", input_nc=3, n_styles=18), 3, 256
    elif name == "e4e":
        model, c, s = E.Encoder4Editing(50, "ir_se", stylegan_size=1024), 3, 256
    elif name == "restyle":
        model, c, s = E.BackboneEncoder(50, "ir_se", n_styles=18, input_nc=6), 6, 256
    elif name == "restyle_e4e":
        model, c, s = E.ProgressiveBackboneEncoder(50, "ir_se", n_styles=18, input_nc=6), 6, 256
    elif name == "arcface":
        model, c, s = E.Backbone(112, 50, "ir_se", drop_ratio=0.6), 3, 112
    else:
        raise ValueError(name)
    x = torch.rand(batch, c, s, s, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return _randomise(model.requires_grad_(False)), x


def _time_once(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1) -> dict[str, list[float]]:
    """Runs each function ``warmup`` times, then ``repeats`` rounds of one run of each, alternating."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(_time_once(fn))
    return times


def bench_encoders(names=("psp", "e4e", "restyle", "restyle_e4e", "arcface"), repeats: int = 5,
                   batch: int = 1) -> list[dict]:
    """Rows ``{name, plain_s, plain_min_s, fused_s, fused_min_s, official_s}`` (seconds per image)."""
    rows = []
    for name in names:
        model, x = build_encoder(name, batch)
        with torch.no_grad():
            model.fuse()
        # The plain and fused paths share the modules: keep the fused plans and switch per call.
        plans = {m: m._fused for m in model.modules() if getattr(m, "_fused", None) is not None}

        def run_plain(model=model, x=x):
            model._drop_fused()
            with torch.inference_mode():
                return model(x)

        def run_fused(model=model, x=x, plans=plans):
            for m, p in plans.items():
                object.__setattr__(m, "_fused", p)
            with torch.inference_mode():
                return model(x)

        t = time_interleaved({"plain": run_plain, "fused": run_fused}, repeats=repeats)
        plain = [v / batch for v in t["plain"]]
        fus = [v / batch for v in t["fused"]]
        rows.append({"name": name, "plain_s": statistics.median(plain), "plain_min_s": min(plain),
                     "fused_s": statistics.median(fus), "fused_min_s": min(fus),
                     "official_s": OFFICIAL_S.get(name)})
        del model, x, plans, run_plain, run_fused
    return rows


def print_encoder_rows(rows: list[dict], file=sys.stdout) -> None:
    print(f"{'encoder':<12} {'plain s/img':>12} {'fused s/img':>12} {'(min)':>8} {'fused/plain':>12} "
          f"{'official s':>11} {'fused/official':>15}  goal <= {GOAL_RATIO}x", file=file)
    for r in rows:
        off = r["official_s"]
        ratio_off = r["fused_s"] / off if off else float("nan")
        print(f"{r['name']:<12} {r['plain_s']:>12.3f} {r['fused_s']:>12.3f} {r['fused_min_s']:>8.3f} "
              f"{r['fused_s'] / r['plain_s']:>12.2f} {off or float('nan'):>11.2f} {ratio_off:>15.2f}"
              f"  (min-based {r['fused_min_s'] / off if off else float('nan'):.2f}x, plain/official "
              f"{r['plain_s'] / off if off else float('nan'):.2f}x)", file=file)


# ------------------------------------------------------------------------------------------------
# optimisation inversion and the latent time-lapse (facereel.inversion.optimize, the latent engine)


def _sg2_256():
    """StyleGAN2 with the official FFHQ config at 256, weights filled like the golden fixtures'
    rule (bench/generators.py ``fill_``), wrapped as a FaceGenerator on the CPU."""
    from facereel.nets.adapters import NVFaceGenerator
    from facereel.nets.stylegan2 import Generator, ffhq_config

    torch.manual_seed(0)
    G = Generator(**ffhq_config(256)).eval().requires_grad_(False)
    try:
        from generators import fill_  # bench/generators.py, next to this script
    except ImportError:                  # pragma: no cover - run from elsewhere: same rule inline
        fill_ = None
    if fill_ is not None:
        fill_(G)
    return NVFaceGenerator(G, name="stylegan2-256-filled", device="cpu")


def _uint8(images: torch.Tensor):
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _raw_steps_per_s(gen, x0: torch.Tensor, target: torch.Tensor, steps: int) -> float:
    """Baseline: a bare Adam loop of synthesize + MSE + backward (no facereel bookkeeping)."""
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.01)

    def step():
        opt.zero_grad(set_to_none=True)
        (gen.synthesize(x) - target).square().mean().backward()
        opt.step()

    step()                               # warm-up
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - t)


def _invert_steps_per_s(gen, target_u8, steps: int, **kw) -> tuple[float, float]:
    """(steps/s, final MSE) of :func:`facereel.inversion.optimize.invert` (plateau stop disabled)."""
    from facereel.inversion.optimize import invert

    invert(gen, target_u8, steps=1, restarts=1, **kw)   # warm-up
    t = time.perf_counter()
    res = invert(gen, target_u8, steps=steps, restarts=1, patience=10 ** 9, **kw)
    return res.steps / (time.perf_counter() - t), float(res.mse.mean())


def bench_optimize(quick: bool = False, repeats: int = 1) -> list[dict]:
    """Optimisation steps per second, batch 1: DCGAN (Z) and StyleGAN2-256 (W+, fill-rule weights).

    Baselines measured in the same run: a bare Adam loop over the same generator (``raw``), and for
    StyleGAN2 the same inversion through the reference synthesis path (the official op sequence).
    """
    from facereel.checkpoints.loaders import load_dcgan_digiface

    rows = []
    steps = 5 if quick else 30
    dc = load_dcgan_digiface("cpu")
    with torch.no_grad():
        tgt = dc.synthesize(dc.sample([0]))
    x0 = torch.randn(1, dc.z_dim, generator=torch.Generator().manual_seed(1))
    raw = _raw_steps_per_s(dc, x0, tgt, steps * 4)
    sps, mse = _invert_steps_per_s(dc, _uint8(tgt), steps * 4, space="z", init=x0)
    rows.append({"model": "dcgan-64 (z)", "steps_per_s": sps, "baseline": "bare Adam loop", "baseline_sps": raw,
                 "mse": mse})
    # Z with the default 8 restarts: the restart phase runs 8 starts per image in one batch
    from facereel.inversion.optimize import invert

    t = time.perf_counter()
    res = invert(dc, _uint8(tgt), steps=steps * 4, restarts=8, patience=10 ** 9)
    total = steps * 4 + max(steps, 1)
    rows.append({"model": "dcgan-64 (z, 8 restarts)", "steps_per_s": total / (time.perf_counter() - t),
                 "baseline": "-", "baseline_sps": float("nan"), "mse": float(res.mse.mean())})

    sg = _sg2_256()
    with torch.no_grad():
        tgt = sg.synthesize(sg.sample([0]))
    ref_steps = max(2, steps // 3)
    raw = _raw_steps_per_s(sg, sg.w_avg[None].clone(), tgt, ref_steps)
    sps, mse = _invert_steps_per_s(sg, _uint8(tgt), ref_steps, space="w+")
    sg.G.synthesis.plan = REFERENCE
    ref_sps, _ = _invert_steps_per_s(sg, _uint8(tgt), ref_steps, space="w+")
    sg.G.synthesis.plan = None
    rows.append({"model": "stylegan2-256 (w+)", "steps_per_s": sps, "baseline": "reference synthesis path",
                 "baseline_sps": ref_sps, "mse": mse, "raw_sps": raw})
    return rows


def print_optimize_rows(rows: list[dict], file=sys.stdout) -> None:
    print(f"{'optimisation (batch 1)':<26} {'steps/s':>9} {'s/step':>8} {'baseline steps/s':>17} {'ratio':>7}  "
          f"baseline", file=file)
    for r in rows:
        b = r["baseline_sps"]
        extra = f"; bare Adam loop {r['raw_sps']:.2f} steps/s" if "raw_sps" in r else ""
        print(f"{r['model']:<26} {r['steps_per_s']:>9.2f} {1 / r['steps_per_s']:>8.3f} {b:>17.2f} "
              f"{r['steps_per_s'] / b if b == b else float('nan'):>7.2f}  {r['baseline']}{extra}", file=file)


def bench_latent_timelapse(quick: bool = False, keyframes: int = 5, frames: int = 24,
                           blends=("seed", "aligned")) -> list[dict]:
    """End-to-end seconds of a latent time-lapse: 5 keyframes x 24 frames per gap, StyleGAN2-256
    shapes (fill-rule weights), optimize method with few steps, MP4 at 256.

    Keyframes are the generator's own images of seeds 0..4.  Stages: inversion (engine.prepare) and
    rendering (schedule + batched synthesis + keyframe blend + H.264).  Baselines in the same run:
    the bare synthesis of the in-between frames in batches (the floor of the render stage) and the
    crossfade engine on the same keyframes (pipeline + encoder cost without a generator).
    """
    import tempfile
    from pathlib import Path

    from facereel.options.latent import LatentOptions
    from facereel.pipelines.invert import load_inverter
    from facereel.pipelines.timelapse import render_timelapse
    from facereel.render.engines.base import Keyframe
    from facereel.render.engines.latent import LatentEngine

    steps = 2 if quick else 20
    sg = _sg2_256()
    with torch.no_grad():
        imgs = _uint8(torch.cat([sg.synthesize(sg.sample([s])) for s in range(keyframes)]))
    kfs = [Keyframe(image=im, label=f"seed{i}") for i, im in enumerate(imgs)]
    n_frames = (keyframes - 1) * frames + 1
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for blend in blends:
            opts = LatentOptions(method="optimize", steps=steps, blend=blend, batch_size=8, use_cache=False).validate()
            inverter = load_inverter(opts, sg)
            eng = LatentEngine(opts, generator=inverter.generator,
                               invert=lambda keys, progress=None, inverter=inverter: inverter(
                                   [k.image for k in keys], progress))
            timed = {}
            prepare = eng.prepare

            def timed_prepare(keys, progress=None, prepare=prepare, timed=timed):
                t = time.perf_counter()
                prepare(keys, progress)
                timed["invert"] = time.perf_counter() - t

            eng.prepare = timed_prepare          # the pipeline calls it: inversion timed on its own
            t0 = time.perf_counter()
            res = render_timelapse([Keyframe(image=k.image, label=k.label) for k in kfs], Path(d) / f"{blend}.mp4",
                                   engine=eng, frames_per_gap=frames, size=256, fps=24)
            total = time.perf_counter() - t0
            rows.append({"what": f"latent, {blend} blend", "frames": res.frames, "invert_s": timed["invert"],
                         "render_s": total - timed["invert"], "total_s": total})
        # floor of the render stage: synthesis of the in-between frames alone, batches of 8
        lat = eng.latents
        from facereel.latent.interpolate import path

        positions = [(j, i / frames) for j in range(keyframes - 1) for i in range(1, frames)]
        t = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(positions), 8):
                sg.synthesize(path(lat, positions[i:i + 8], eng.interpolation))
        rows.append({"what": "bare synthesis of the in-between frames", "frames": len(positions), "invert_s": 0.0,
                     "render_s": time.perf_counter() - t, "total_s": time.perf_counter() - t})
        t = time.perf_counter()
        res = render_timelapse(kfs, Path(d) / "crossfade.mp4", engine="crossfade", frames_per_gap=frames, size=256, fps=24)
        el = time.perf_counter() - t
        rows.append({"what": "crossfade engine (no generator)", "frames": res.frames, "invert_s": 0.0,
                     "render_s": el, "total_s": el})
    assert all(r["frames"] in (n_frames, len(positions)) for r in rows)
    return rows


def print_timelapse_rows(rows: list[dict], file=sys.stdout) -> None:
    print(f"{'latent time-lapse, StyleGAN2-256':<42} {'frames':>6} {'invert s':>9} {'render s':>9} {'total s':>8} "
          f"{'render ms/frame':>16}", file=file)
    floor = next((r for r in rows if r["what"].startswith("bare")), None)
    for r in rows:
        per = 1000 * r["render_s"] / r["frames"]
        note = ""
        if floor is not None and r is not floor and r["what"].startswith("latent"):
            note = f"  render/bare-synthesis {r['render_s'] / floor['render_s']:.2f}x"
        print(f"{r['what']:<42} {r['frames']:>6} {r['invert_s']:>9.2f} {r['render_s']:>9.2f} {r['total_s']:>8.2f} "
              f"{per:>16.1f}{note}", file=file)


SECTIONS: dict[str, tuple[Callable[..., list[dict]], Callable[[list[dict]], None]]] = {
    "encoders": (bench_encoders, print_encoder_rows),
    "optimize": (bench_optimize, print_optimize_rows),
    "timelapse": (bench_latent_timelapse, print_timelapse_rows),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="psp,e4e,restyle,restyle_e4e,arcface", help="comma-separated encoders")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help=f"comma-separated sections: {', '.join(SECTIONS)}")
    ap.add_argument("--quick", action="store_true", help="optimize/timelapse: few steps (numbers are still per step/frame)")
    args = ap.parse_args(argv)
    sections = [n for n in args.sections.split(",") if n]
    unknown = [n for n in sections if n not in SECTIONS]
    if unknown:
        ap.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    torch.set_num_threads(args.threads)
    prepare_process()           # as the CLI does before any command
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, {args.repeats} timed runs")
    if "encoders" in sections:
        rows = bench_encoders([n for n in args.only.split(",") if n], repeats=args.repeats, batch=args.batch)
        print_encoder_rows(rows)
    for name in sections:
        if name == "encoders":
            continue
        bench, show = SECTIONS[name]
        print(flush=True)
        show(bench(quick=args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
