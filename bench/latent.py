"""Latent edits and videos on the offline DCGAN (dcgan-digiface, NON-COMMERCIAL weights).

* samples labelled per second when fitting directions, with every label source on (age/gender,
  MediaPipe blendshapes + pose, fer emotions; goal >= 50/s on 2 cores);
* walk / edit / emotion-video frames per second, written to MP4, against the generator's own
  synthesis throughput at the same batch in the same run (goal: within 10 %).

Each video is timed right after a plain synthesis of the same number of frames at the same batch
(alternating, several rounds: the machine is shared and its load drifts); the ratio printed is
the median over rounds of synthesis time / video time.

Run: ``python bench/latent.py [--frames 192] [--batch 8] [--rounds 5] [--no-labels]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=192)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-labels", action="store_true", help="skip the labelled-samples figure")
    args = ap.parse_args()

    from facereel.checkpoints.loaders import load_dcgan_digiface
    from facereel.latent import edit as E
    from facereel.latent import emotions as M
    from facereel.latent import walk as Wk
    from facereel.latent.directions import Direction
    from facereel.latent.labels import FaceLabeller, sample_labelled
    from facereel.latent.space import space_of, to_uint8
    from facereel.pipelines.latent import write_video as _write_video

    sink = {"encode": True}

    def write_video(path, batches, fps):
        if sink["encode"]:
            return _write_video(path, batches, fps=fps)
        for batch in batches:   # frames made (uint8) but not encoded
            to_uint8(batch)

    G = load_dcgan_digiface()
    sp = space_of(G)
    if not args.no_labels:
        lab = FaceLabeller()
        sample_labelled(G, 32, seed=10_000, labeller=lab)          # warm-up: models loaded, box calibrated
        t = time.perf_counter()
        sample_labelled(G, args.samples, seed=0, batch=32, labeller=lab)
        rate = args.samples / (time.perf_counter() - t)
        lab.close()
        print(f"labelled samples/s (all sources, batch 32): {rate:.1f}  (goal >= 50)")

    n, b = args.frames, args.batch
    tmp = Path(tempfile.mkdtemp())
    z = G.sample(list(range(n)))

    def synth():
        with torch.inference_mode():
            for i in range(0, n, b):
                G.synthesize(z[i:i + b])

    rng = np.random.default_rng(0)
    d = Direction(vectors=rng.standard_normal((1, sp.dim)) / 10, generator=sp.generator, latent_space="z", dim=sp.dim)
    dirs = {e: Direction(vectors=rng.standard_normal((1, sp.dim)) / 10, generator=sp.generator, latent_space="z",
                         dim=sp.dim) for e in ("happy", "sad", "neutral")}

    def walk():
        plan = Wk.plan_walk(G, "random", seed=1, frames=n, keypoints=6, batch=b)
        write_video(tmp / "walk.mp4", Wk.render_frames(G, plan, batch=b), fps=24)

    def edit():
        lat = E.apply(G.sample([3]), E.step(d, sp), np.linspace(-3, 3, n), None, sp)
        write_video(tmp / "edit.mp4", E.synthesize_batches(G, lat, b), fps=24)

    def emotions():
        keys = M.keyframes(G, G.sample([3]), dirs, ["neutral", "happy", "sad"], 2.0, None)
        lat = M.inbetween_latents(keys, (n - 1) // 2 - 1)
        write_video(tmp / "emo.mp4", E.synthesize_batches(G, lat, b), fps=24)

    def loop():
        plan = Wk.plan_walk(G, "loop", seed=1, frames=n, batch=b)
        write_video(tmp / "loop.mp4", Wk.render_frames(G, plan, batch=b), fps=24)

    for fn in (synth, walk, edit, emotions, loop):
        fn()   # warm
    videos = {"walk": walk, "loop": loop, "edit": edit, "emotions": emotions}
    cases = [(k, True) for k in videos] + [(k, False) for k in videos]
    ratios: dict[str, list[float]] = {}
    rates: dict[str, list[float]] = {"synth": []}
    for _ in range(args.rounds):
        for name, encode in cases:
            key = name if encode else f"{name}/no-mp4"
            t = time.perf_counter()
            synth()
            ts = time.perf_counter() - t
            sink["encode"] = encode
            t = time.perf_counter()
            videos[name]()
            tv = time.perf_counter() - t
            ratios.setdefault(key, []).append(ts / tv)
            rates["synth"].append(n / ts)
            rates.setdefault(key, []).append(n / tv)
    sink["encode"] = True
    print(f"synthesis alone: {max(rates['synth']):.1f} frames/s best, {np.median(rates['synth']):.1f} median "
          f"(batch {b}, {n} frames, {args.rounds} rounds)")
    for key, r in ratios.items():
        print(f"{key:16s}: {np.median(rates[key]):6.1f} frames/s median = {np.median(r):.2f} x synthesis throughput "
              f"(median of {len(r)}; range {min(r):.2f}-{max(r):.2f}; goal >= 0.90)")
    print("walk/loop include their speed-normalisation pilot; no-mp4: frames made (uint8) but not encoded")


if __name__ == "__main__":
    main()
