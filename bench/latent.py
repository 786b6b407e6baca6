"""Latent edits and videos on the offline DCGAN (dcgan-digiface, NON-COMMERCIAL weights).

* samples labelled per second when fitting directions, with every label source on (age/gender,
  MediaPipe blendshapes + pose, fer emotions; goal >= 50/s on 2 cores);
* walk / edit / emotion-video frames per second, written to MP4, against the generator's own
  synthesis throughput at the same batch in the same run (goal: within 10 %).

Run: ``python bench/latent.py [--frames 192] [--batch 8]``.
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

    for fn in (synth, walk, edit, emotions):
        fn()   # warm
    names = ("walk", "edit", "emotions")
    times = {k: [] for k in ("synth", *names, *(f"{k}/no-mp4" for k in names))}
    for _ in range(3):   # alternate rounds (the machine is shared and noisy)
        for name, fn in (("synth", synth), ("walk", walk), ("edit", edit), ("emotions", emotions)):
            for encode in ((True, False) if name != "synth" else (True,)):
                sink["encode"] = encode
                t = time.perf_counter()
                fn()
                times[name if encode else f"{name}/no-mp4"].append(time.perf_counter() - t)
    sink["encode"] = True
    best = {k: min(v) for k, v in times.items()}
    print(f"synthesis alone: {n / best['synth']:.1f} frames/s (batch {b}, {n} frames)")
    for k in (*names, *(f"{k}/no-mp4" for k in names)):
        print(f"{k:16s}: {n / best[k]:.1f} frames/s = {best['synth'] / best[k]:.2f} x synthesis throughput "
              f"(goal >= 0.90; walk includes its pilot renders)")


if __name__ == "__main__":
    main()
