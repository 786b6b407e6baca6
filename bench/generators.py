"""Generator synthesis speed on CPU (2 threads): StyleGAN2 (FFHQ config) at 256/512/1024, batch 1 and 4,
StyleGAN3-T at 1024 when ``facereel.nets.stylegan3`` exists.

For every configuration it prints the per-image time of

* ``reference``: the reference plan (``facereel.nets.plan.REFERENCE``: the official op sequence,
  grouped fused modconv …),
* ``fast``: the default plan (``FAST``), with its speed-up over ``reference`` measured in the same run,
* ``fused``: the fast plan with the opt-in compiled CPU kernels (``FUSED``, :mod:`facereel.nets.fused`;
  built on first use, skipped where no C compiler works),
* ``bf16``: the opt-in bfloat16 plan (``FAST.replace(dtype=torch.bfloat16)``), its speed-up over ``fast`` and its PSNR against ``fast`` —
  timed only where the CPU runs bfloat16 natively (AVX-512 BF16 / AMX); elsewhere oneDNN emulates
  it (~30x slower than fp32) and only its PSNR is measured, once at 256,

and the achieved convolution GFLOP/s (2·multiply-adds of the synthesis convs) against this
machine's fp32 convolution throughput, measured in the same run with a plain large 3x3 conv
(512→512 channels at 64x64, the best of NCHW and channels_last).  The GFLOP/s count direct-conv
multiply-adds: the fast path runs its many-channel 3x3 convs as Winograd F(2x2, 3x3) (2.25x fewer
multiplies), so its figure is a speed in direct-conv terms and can pass 100 %; since the machine's
throughput drifts, the peak is measured again at the end and the StyleGAN2 figures are restated
against the larger reading, and each resolution's child process also alternates peak readings
with batch-1 syntheses and prints the median share of those pairs and the best synthesis time
against the best peak reading.  Batch b against batch 1 (time per image, fast and fused paths) is measured
with each batch size in a process of its own, the processes alternating, best of each.  Each resolution runs in its own process so the printed peak
RSS belongs to that model.  StyleGAN3-T's reference path takes about a minute per image and is
timed once, after the fast path (whose peak RSS is read before it).  Official code, same kind of
machine (golden README): 0.86 s (256), 1.74 s (512), 2.73 s (1024) per StyleGAN2 image, ~61 s StyleGAN3-T 1024.

    python bench/generators.py            # 1 warm-up + 2 timed runs per entry (median)
    python bench/generators.py --quick    # 1 warm-up + 1 timed run (or FACEREEL_BENCH_QUICK=1)
    python bench/generators.py --res 256 --no-sg3
    python bench/generators.py --device cuda   # the same entries on a GPU (bf16 native there)

The script also drives trees from before :mod:`facereel.nets.plan` (their ``impl=`` /
``fused_kernels=`` / ``dtype=`` keywords, see :func:`_kw`), so a baseline checkout is measured by
the same code: ``PYTHONPATH=<baseline>/src python bench/generators.py …``, then the same command
without it.  ``--baseline SRC`` does both in one run: every StyleGAN2 (resolution, batch, path)
and StyleGAN3-T's fast path in processes of their own, alternating the baseline tree's ``src`` and
this one (ABBA order, ``--alternations`` times), and prints this tree's best time against the
baseline's for each entry (the same-run before/after comparison of a refactor):

    python bench/generators.py --baseline /path/to/old/checkout/src --res 256 512 1024 --batch 1 4
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

OFFICIAL = {256: 0.86, 512: 1.74, 1024: 2.73, "sg3t": 61.0}
# --device: where the networks run (the default "cpu" is what the goals are about; "cuda" times
# the same entries on a GPU, where the bfloat16 path is native).
DEVICE = "cpu"


def _sync() -> None:
    if DEVICE.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _timeit(fn, runs: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    _sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def conv_peak(runs: int) -> float:
    """GFLOP/s of a plain 512→512 3x3 conv at 64x64 (best of NCHW and channels_last)."""
    import torch
    import torch.nn.functional as F

    x = torch.randn(1, 512, 64, 64, device=DEVICE)
    w = torch.randn(512, 512, 3, 3, device=DEVICE)
    flops = 2.0 * 64 * 64 * 512 * 512 * 9
    best = 0.0
    with torch.inference_mode():
        for mf in (torch.contiguous_format, torch.channels_last):
            xm, wm = x.contiguous(memory_format=mf), w.contiguous(memory_format=mf)
            t = _timeit(lambda xm=xm, wm=wm: F.conv2d(xm, wm, padding=1), max(runs, 2))
            best = max(best, flops / t / 1e9)
    return best


def _kw(path: str) -> dict:
    """Synthesis keyword arguments of a path ("reference", "fast", "fused", "bf16"): its
    ExecutionPlan, or the keywords of a tree without facereel.nets.plan (a baseline checkout)."""
    import torch

    try:
        from facereel.nets import plan as P
    except ImportError:
        return {"reference": dict(impl="reference"), "fast": dict(impl="fast", fused_kernels=False),
                "fused": dict(impl="fast", fused_kernels=True),
                "bf16": dict(impl="fast", fused_kernels=False, dtype=torch.bfloat16)}[path]
    return dict(plan={"reference": P.REFERENCE, "fast": P.FAST, "fused": P.FUSED,
                      "bf16": P.FAST.replace(dtype=torch.bfloat16)}[path])


def _prepare_process() -> None:
    """What the CLI does before any command (the glibc heap setting); older trees did it inside
    the fast forward pass."""
    try:
        from facereel.nets.plan import prepare_process
    except ImportError:
        return
    prepare_process()


def fill_(G, seed: int = 0) -> None:
    """Golden-README-like fill by official name (weights N(1), biases N(0.1), affine bias 1+N(0.1),
    mapping lr-multiplied N(100)/N(10), noise strengths N(0.1), w_avg N(0.1)); filters kept."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in G.state_dict().items():
            if name.endswith("resample_filter") or not t.is_floating_point():
                continue
            r = torch.randn(t.shape, generator=gen)
            if name.startswith("mapping.fc"):
                r *= 100.0 if name.endswith("weight") else 10.0
            elif name.endswith("affine.bias"):
                r = 1.0 + 0.1 * r
            elif name.endswith(("bias", "noise_strength", "w_avg")):
                r *= 0.1
            t.copy_(r)


def psnr(ref, img) -> float:
    import torch

    mse = torch.mean((ref.float() - img.float()) ** 2).item()
    peak = (ref.max() - ref.min()).item()
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(peak ** 2 / mse)).item()


def child_sg2(res: int, batches: list[int], runs: int, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _prepare_process()
    from facereel.nets import fused as fused_kernels
    from facereel.nets.ops import has_native_bf16
    from facereel.nets.stylegan2 import Generator, conv_flops, ffhq_config

    G = Generator(**ffhq_config(res)).eval().requires_grad_(False)
    fill_(G)
    G = G.to(DEVICE)
    native_bf16 = has_native_bf16(DEVICE)
    have_fused = DEVICE == "cpu" and fused_kernels.available()
    wss = {b: G.mapping(torch.randn(b, G.z_dim, generator=torch.Generator().manual_seed(b)).to(DEVICE), None)
           for b in batches}
    for batch in batches:
        ws = wss[batch]
        out = {"model": "StyleGAN2", "res": res, "batch": batch, "gflop": conv_flops(G, batch) / 1e9,
               "native_bf16": native_bf16}
        variants = [(p, _kw(p)) for p in ["reference", "fast"] + (["fused"] if have_fused else [])
                    + (["bf16"] if native_bf16 else [])]
        with torch.inference_mode():
            for label, kw in variants:
                out[label] = _timeit(lambda kw=kw, ws=ws: G.synthesis(ws, noise_mode="const", **kw), runs) / batch
            ref = G.synthesis(ws, noise_mode="const", **_kw("reference"))
            fast = G.synthesis(ws, noise_mode="const", **_kw("fast"))
            fz = G.synthesis(ws, noise_mode="const", **_kw("fused")) if have_fused else None
            # Emulated bf16 (no AVX-512 BF16/AMX) is ~30x slower than fp32: only its accuracy is
            # measured there, once, at the smallest size.
            bf = (G.synthesis(ws, noise_mode="const", **_kw("bf16"))
                  if native_bf16 or (batch == batches[0] and res == 256) else None)
        out["fast_vs_ref_rel_err"] = ((fast - ref).abs().max() / ref.abs().max().clamp_min(1)).item()
        if fz is not None:
            out["fused_vs_ref_rel_err"] = ((fz - ref).abs().max() / ref.abs().max().clamp_min(1)).item()
        if bf is not None:
            out["bf16_psnr_db"] = psnr(fast, bf)
        out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print("RESULT " + json.dumps(out), flush=True)
    paths = {p: _kw(p) for p in ["fast"] + (["fused"] if have_fused else [])}
    # Share of the conv peak with both measured side by side in this process, round after round:
    # the machine's throughput drifts by 20-40 % within minutes, so a peak read in another process
    # minutes earlier can misstate the share either way.
    gflop = conv_flops(G, 1) / 1e9
    shares = {p: [] for p in paths}
    times = {p: [] for p in paths}
    peaks = []
    ws1 = wss[batches[0]][:1]
    with torch.inference_mode():
        for _ in range(max(runs, 5)):
            peaks.append(conv_peak(1))
            for p, kw in paths.items():
                t0 = time.perf_counter()
                G.synthesis(ws1, noise_mode="const", **kw)
                _sync()
                times[p].append(time.perf_counter() - t0)
                shares[p].append(gflop / times[p][-1] / peaks[-1])
    for p in paths:
        print("RESULT " + json.dumps({"model": "StyleGAN2-paired", "path": p, "res": res, "shares": shares[p],
                                      "best_share": gflop / min(times[p]) / max(peaks)}), flush=True)


def child_batch(res: int, batch: int, path: str, rounds: int, threads: int) -> None:
    """Best per-image time of ``rounds`` syntheses of one batch size on one path, in a process of
    its own (after one warm-up)."""
    import torch

    torch.set_num_threads(threads)
    _prepare_process()
    from facereel.nets.stylegan2 import Generator, ffhq_config

    G = Generator(**ffhq_config(res)).eval().requires_grad_(False)
    fill_(G)
    G = G.to(DEVICE)
    ws = G.mapping(torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(batch)).to(DEVICE), None)
    kw = _kw(path)
    with torch.inference_mode():
        G.synthesis(ws, noise_mode="const", **kw)
        _sync()
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            G.synthesis(ws, noise_mode="const", **kw)
            _sync()
            best = min(best, (time.perf_counter() - t0) / batch)
    print("RESULT " + json.dumps({"model": "StyleGAN2-batch-one", "res": res, "batch": batch, "path": path,
                                  "per_image": best}), flush=True)


def child_sg3_fast(rounds: int, threads: int) -> None:
    """Best time of ``rounds`` StyleGAN3-T 1024 fast-path syntheses (after one warm-up), alone in a process."""
    import torch

    torch.set_num_threads(threads)
    _prepare_process()
    from facereel.nets import stylegan3

    G = stylegan3.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3,
                            mapping_kwargs=dict(num_layers=2), channel_base=32768, channel_max=512,
                            magnitude_ema_beta=0.5 ** (32 / 20000)).eval().requires_grad_(False).to(DEVICE)
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)).to(DEVICE), None)
    kw = _kw("fast")
    kw.pop("fused_kernels", None)
    with torch.inference_mode():
        G.synthesis(ws, noise_mode="const", **kw)
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            G.synthesis(ws, noise_mode="const", **kw)
            _sync()
            best = min(best, time.perf_counter() - t0)
    print("RESULT " + json.dumps({"model": "StyleGAN3-T-one", "per_image": best}), flush=True)


def before_after(baseline: str, res_list, batches, paths, alternations: int, rounds: int, threads: int,
                 sg3: bool) -> None:
    """This tree against ``baseline`` (another checkout's ``src``), each entry in processes of its
    own with PYTHONPATH pointing at one tree or the other, in ABBA order; best of each side."""
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    trees = {"baseline": os.path.abspath(baseline), "this": here}
    entries = [(f"batch:{r}:{b}:{p}", f"StyleGAN2 {r:>4} b{b} {p:<5}") for r in res_list for b in batches for p in paths]
    if sg3:
        entries.append(("sg3fast", "StyleGAN3-T 1024 b1 fast "))
    print(f"before/after: baseline {trees['baseline']} against {trees['this']}, {alternations} ABBA alternations, "
          f"best of {rounds} per process; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    for child, label in entries:
        best = {"baseline": float("inf"), "this": float("inf")}
        for alt in range(alternations):
            for side in (("baseline", "this", "this", "baseline") if alt % 2 == 0 else ("this", "baseline", "baseline", "this")):
                env = dict(os.environ, PYTHONPATH=trees[side])
                cmd = [sys.executable, __file__, "--child", child, "--runs", str(rounds),
                       "--threads", str(threads), "--device", DEVICE]
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                lines = [ln[7:] for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if not lines:
                    print(f"{label} {side}: failed: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
                    continue
                best[side] = min(best[side], json.loads(lines[-1])["per_image"])
        b, t = best["baseline"], best["this"]
        print(f"{label}: baseline {b:7.3f} s/img | this tree {t:7.3f} s/img | this/baseline {t / b:5.3f} "
              f"(goal <= 1; load now {os.getloadavg()[0]:.1f})", flush=True)


def batch_rounds(res_list, batches, paths, alternations: int, rounds: int, threads: int) -> list[dict]:
    """Batch b against batch 1, per image: each (batch size, path) in a process of its own, the
    processes alternating b1, b4, …, then reversed, ``alternations`` times; best of each.  Separate
    processes because in one process the size that ran second after another size measured up to
    9 % slower (heap and cache state), which no user who keeps one batch size sees; alternation
    because the machine's speed drifts."""
    out = []
    for res in res_list:
        best = {p: {} for p in paths}
        for alt in range(alternations):
            for p in paths:
                for b in (batches if alt % 2 == 0 else batches[::-1]):
                    cmd = [sys.executable, __file__, "--child", f"batch:{res}:{b}:{p}", "--runs", str(rounds),
                           "--threads", str(threads), "--device", DEVICE]
                    proc = subprocess.run(cmd, capture_output=True, text=True)
                    lines = [ln[7:] for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                    if not lines:
                        print(f"batch {res} b{b} {p}: failed: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
                        continue
                    r = json.loads(lines[-1])
                    best[p][b] = min(best[p].get(b, float("inf")), r["per_image"])
        for p in paths:
            if best[p]:
                out.append({"model": "StyleGAN2-batch", "path": p, "res": res,
                            "per_image": {str(b): t for b, t in best[p].items()}})
    return out


def child_sg3(runs: int, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _prepare_process()
    try:
        from facereel.nets import stylegan3
    except ImportError as e:
        print("RESULT " + json.dumps({"model": "StyleGAN3-T", "skipped": f"no facereel.nets.stylegan3 ({e})"}))
        return
    G = stylegan3.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3,
                            mapping_kwargs=dict(num_layers=2), channel_base=32768, channel_max=512,
                            magnitude_ema_beta=0.5 ** (32 / 20000)).eval().requires_grad_(False).to(DEVICE)
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)).to(DEVICE), None)
    out = {"model": "StyleGAN3-T", "res": 1024, "batch": 1}
    if hasattr(stylegan3, "synthesis_flops"):
        out["gflop"] = sum(stylegan3.synthesis_flops(G, 1).values()) / 1e9
    with torch.inference_mode():
        fast_kw = _kw("fast")
        fast_kw.pop("fused_kernels", None)      # (an older tree's StyleGAN3 has no such keyword)
        out["fast"] = _timeit(lambda: G.synthesis(ws, noise_mode="const", **fast_kw), runs)
        out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        fast = G.synthesis(ws, noise_mode="const", **fast_kw)
        # The reference path (the official CPU op sequence) takes about a minute: timed once, no warm-up.
        _sync()
        t0 = time.perf_counter()
        ref = G.synthesis(ws, noise_mode="const", **_kw("reference"))
        _sync()
        out["reference"] = time.perf_counter() - t0
    out["fast_vs_ref_rel_err"] = ((fast - ref).abs().max() / ref.abs().max().clamp_min(1)).item()
    out["reference_peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 warm-up + 1 timed run per entry")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per entry (median)")
    ap.add_argument("--res", type=int, nargs="*", default=[256, 512, 1024])
    ap.add_argument("--batch", type=int, nargs="*", default=[1, 4])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-sg3", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu (default, what the goals are about) or cuda")
    ap.add_argument("--baseline", default=None, help="another checkout's src: before/after comparison")
    ap.add_argument("--alternations", type=int, default=2, help="ABBA rounds per entry with --baseline")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    quick = args.quick or os.environ.get("FACEREEL_BENCH_QUICK", "") not in ("", "0")
    runs = args.runs or (1 if quick else 2)
    global DEVICE
    DEVICE = args.device

    if args.child == "sg3fast":
        return child_sg3_fast(runs, args.threads)
    if args.child == "sg3":
        return child_sg3(runs, args.threads)
    if args.child and args.child.startswith("batch:"):
        _, res, b, path = args.child.split(":")
        return child_batch(int(res), int(b), path, runs, args.threads)
    if args.child:
        return child_sg2(int(args.child), args.batch, runs, args.threads)

    if args.baseline:
        from facereel.nets import fused as fused_kernels

        paths = ["fast"] + (["fused"] if args.device == "cpu" and fused_kernels.available() else [])
        return before_after(args.baseline, args.res, args.batch, paths, args.alternations, runs, args.threads,
                            sg3=not args.no_sg3)

    import torch

    torch.set_num_threads(args.threads)
    peak = conv_peak(runs)
    import facereel

    print(f"device={args.device}  threads={args.threads}  runs/entry={runs}  fp32 3x3-conv throughput: {peak:.1f} GFLOP/s"
          f"  facereel from {os.path.dirname(facereel.__file__)}", flush=True)
    jobs = [str(r) for r in args.res] + ([] if args.no_sg3 else ["sg3"])
    results = []
    for job in jobs:
        cmd = [sys.executable, __file__, "--child", job, "--runs", str(runs), "--threads", str(args.threads),
               "--device", args.device, "--batch", *map(str, args.batch)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [ln[7:] for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 and not lines:
            print(f"{job}: failed: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        for ln in lines:
            r = json.loads(ln)
            results.append(r)
            _print(r, peak)
    if 1 in args.batch and len(args.batch) > 1:
        from facereel.nets import fused as fused_kernels

        paths = ["fast"] + (["fused"] if args.device == "cpu" and fused_kernels.available() else [])
        results += batch_rounds(args.res, args.batch, paths, alternations=1 if quick else 2,
                                rounds=3 if quick else 4, threads=args.threads)
    for r in results:
        if r.get("model") == "StyleGAN2-batch" and "1" in r["per_image"]:
            per = r["per_image"]
            for b in sorted(per, key=int):
                if b != "1":
                    print(f"StyleGAN2 {r['res']} batch {b} vs batch 1, {r.get('path', 'fast')} path, best of "
                          f"alternating processes: {per[b]:.3f} vs {per['1']:.3f} s/img = {per[b] / per['1']:.2f}x "
                          f"(goal <= 1)")
    peak_after = conv_peak(runs)
    print(f"fp32 3x3-conv throughput re-measured at the end: {peak_after:.1f} GFLOP/s "
          f"(spread shows how noisy this machine is)")
    top = max(peak, peak_after)
    sg2 = [r for r in results if r.get("model") == "StyleGAN2" and "fast" in r and "gflop" in r]
    for path in ("fast", "fused"):
        rows = [r for r in sg2 if path in r]
        if rows:
            print(f"StyleGAN2 {path} path against the larger peak reading ({top:.1f} GFLOP/s; goal >= 80 %): "
                  + ", ".join(f"{r['res']} b{r['batch']} {r['gflop'] / r['batch'] / r[path] / top * 100:.0f} %"
                              for r in rows))


def _print(r: dict, peak: float) -> None:
    if r["model"] == "StyleGAN2-batch":
        return
    if r["model"] == "StyleGAN2-paired":
        sh = sorted(r["shares"])
        print(f"StyleGAN2 {r['res']} b1, conv peak and {r.get('path', 'fast')} synthesis measured alternately in one process "
              f"({len(sh)} rounds): median {statistics.median(sh) * 100:.0f} % of the peak, "
              f"range {sh[0] * 100:.0f}-{sh[-1] * 100:.0f} %; best synthesis against best peak "
              f"{r['best_share'] * 100:.0f} % (goal >= 80 %)", flush=True)
        return
    if "skipped" in r:
        print(f"{r['model']}: skipped ({r['skipped']})")
        return
    if r["model"] == "StyleGAN3-T":
        gf = (f"{r['gflop'] / r['fast']:.1f} GFLOP/s = {r['gflop'] / r['fast'] / peak * 100:.1f}% of conv peak "
              f"(conv+FIR), " if "gflop" in r else "")
        ref = (f"reference {r['reference']:.2f} s/img (fast = {r['reference'] / r['fast']:.2f}x faster, "
               f"rel err {r['fast_vs_ref_rel_err']:.1e}, peak RSS {r['reference_peak_rss_gb']:.2f} GB) | ")
        print(f"StyleGAN3-T 1024 b1: fast {r['fast']:.2f} s/img ({r['fast'] / OFFICIAL['sg3t']:.2f}x official ~61 s) | "
              f"{ref}{gf}peak RSS {r['peak_rss_gb']:.2f} GB", flush=True)
        return
    gf = r["gflop"] / r["batch"]
    fast, ref = r["fast"], r["reference"]
    psnr_s = f"PSNR {r['bf16_psnr_db']:.1f} dB" if "bf16_psnr_db" in r else "PSNR not measured"
    if "bf16" in r:
        bf16 = f"bf16 {r['bf16']:6.3f} s/img ({fast / r['bf16']:4.2f}x fast, {psnr_s})"
    else:
        bf16 = f"bf16 not timed: this CPU has no native bfloat16 (emulated; {psnr_s})"
    if "fused" in r:
        fz = r["fused"]
        fused_s = (f"fused (opt-in) {fz:6.3f} s/img ({fast / fz:4.2f}x fast, {gf / fz / peak * 100:5.1f}% of conv peak, "
                   f"rel err {r['fused_vs_ref_rel_err']:.1e}) | ")
    else:
        fused_s = "fused not timed (no C compiler) | "
    print(f"StyleGAN2 {r['res']:>4} b{r['batch']}: fast {fast:6.3f} s/img | reference {ref:6.3f} s/img "
          f"(fast = {ref / fast:4.2f}x faster) | {gf / fast:6.1f} GFLOP/s = {gf / fast / peak * 100:5.1f}% of conv "
          f"peak (reference {gf / ref / peak * 100:5.1f}%) | {fused_s}{bf16} | official {OFFICIAL[r['res']]:.2f} s -> fast/official "
          f"{fast / OFFICIAL[r['res']]:.2f} | fast-vs-ref rel err {r['fast_vs_ref_rel_err']:.1e} | "
          f"peak RSS {r['peak_rss_gb']:.2f} GB", flush=True)


if __name__ == "__main__":
    main()
