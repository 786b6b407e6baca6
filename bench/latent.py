"""Latent edits and videos on the offline DCGAN (dcgan-digiface, NON-COMMERCIAL weights).

* samples labelled per second when fitting directions, with every label source on (age/gender,
  MediaPipe blendshapes + pose, fer emotions; goal >= 50/s on 2 cores), and the CPU time of one
  labelled sample (process time of all threads / samples): on a shared machine the wall rate is
  our share of the cores, the CPU time is what the work costs;
* walk / loop / edit / emotion-video frames per second, written to MP4, against the generator's
  own synthesis throughput at the same batch in the same run (goal: within 10 %): ``G.synthesize``
  of one batch after another.  The videos synthesise in ``latent.edit.synthesis_streams`` streams
  (2 on 2 cores: a batch per thread, one intra-op thread each); the same streams' synthesis alone
  is printed too, and each video's ratio against it (what the frames' conversion, the pilot and
  the encoder cost on top of our own synthesis).

The machine is shared and its load drifts within seconds, so the videos are measured in many
short rounds: in each round every video runs next to a plain synthesis of the same number of
frames at the same batch, in alternating order (plain first in even rounds, ours first in odd
ones).  Printed per video: the median over rounds of the wall-time ratio synthesis / video, the
ratio of the summed process (CPU) times, and the load average before and after.

Run: ``python bench/latent.py [--frames 192] [--batch 8] [--rounds 10] [--threads N] [--no-labels]
[--no-videos]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _timed(fn) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def labelling(G, samples: int, rounds: int) -> None:
    from facereel.latent.labels import FaceLabeller, sample_labelled

    lab = FaceLabeller()
    sample_labelled(G, 32, seed=10_000, labeller=lab)          # warm-up: models loaded, box calibrated
    for r in range(rounds):
        load = os.getloadavg()[0]
        wall, cpu = _timed(lambda: sample_labelled(G, samples, seed=0, batch=32, labeller=lab))
        print(f"labelled samples/s (all sources, batch 32), run {r + 1}: {samples / wall:.1f} "
              f"(goal >= 50); CPU {cpu / samples * 1e3:.1f} ms a sample (= {2 * samples / cpu:.0f}/s "
              f"on 2 free cores); load {load:.1f} -> {os.getloadavg()[0]:.1f}")
    lab.close()


def videos(G, n: int, b: int, rounds: int) -> None:
    from facereel.latent import edit as E
    from facereel.latent import emotions as M
    from facereel.latent import walk as Wk
    from facereel.latent.directions import Direction
    from facereel.latent.space import space_of, to_uint8
    from facereel.pipelines.latent import write_video

    sp = space_of(G)
    tmp = Path(tempfile.mkdtemp())
    z = G.sample(list(range(n)))

    def synth():
        with torch.inference_mode():
            for i in range(0, n, b):
                G.synthesize(z[i:i + b])

    def streamed():
        for _ in E.synthesize_batches(G, z, b):
            pass

    rng = np.random.default_rng(0)
    d = Direction(vectors=rng.standard_normal((1, sp.dim)) / 10, generator=sp.generator, latent_space="z", dim=sp.dim)
    dirs = {e: Direction(vectors=rng.standard_normal((1, sp.dim)) / 10, generator=sp.generator, latent_space="z",
                         dim=sp.dim) for e in ("happy", "sad", "neutral")}

    def walk():
        plan = Wk.plan_walk(G, "random", seed=1, frames=n, keypoints=6, batch=b)
        write_video(tmp / "walk.mp4", Wk.render_frames(G, plan, batch=b, convert=to_uint8), fps=24)

    def loop():
        plan = Wk.plan_walk(G, "loop", seed=1, frames=n, batch=b)
        write_video(tmp / "loop.mp4", Wk.render_frames(G, plan, batch=b, convert=to_uint8), fps=24)

    def edit():
        lat = E.apply(G.sample([3]), E.step(d, sp), np.linspace(-3, 3, n), None, sp)
        write_video(tmp / "edit.mp4", E.synthesize_batches(G, lat, b, convert=to_uint8), fps=24)

    def emotions():
        keys = M.keyframes(G, G.sample([3]), dirs, ["neutral", "happy", "sad"], 2.0, None)
        lat = M.inbetween_latents(keys, (n - 1) // 2 - 1)    # 3 keys: 2·(n//2 − 1 + 1) + 1 ≈ n frames
        write_video(tmp / "emo.mp4", E.synthesize_batches(G, lat, b, convert=to_uint8), fps=24)

    cases = {"streams": streamed, "walk": walk, "loop": loop, "edit": edit, "emotions": emotions}
    for fn in (synth, *cases.values()):
        fn()   # warm
    load0 = os.getloadavg()
    ratio: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [0.0, 0.0] for k in cases}
    rate: dict[str, list[float]] = {k: [] for k in ["synth", *cases]}
    for r in range(rounds):
        for name, fn in cases.items():
            if r % 2 == 0:
                (ws, cs), (wv, cv) = _timed(synth), _timed(fn)
            else:
                (wv, cv), (ws, cs) = _timed(fn), _timed(synth)
            ratio[name].append(ws / wv)
            cpu[name][0] += cs
            cpu[name][1] += cv
            rate["synth"].append(n / ws)
            rate[name].append(n / wv)
    load1 = os.getloadavg()
    print(f"synthesis alone: {np.median(rate['synth']):.1f} frames/s median (batch {b}, {n} frames, "
          f"{rounds} rounds, torch threads {torch.get_num_threads()}, {E.synthesis_streams(G)} streams in "
          f"the videos); load {load0[0]:.1f} -> {load1[0]:.1f}")
    # per round, the video against the streams' synthesis alone of that round: (synth/video)/(synth/streams)
    own = {k: np.asarray(ratio[k]) / np.asarray(ratio["streams"]) for k in cases if k != "streams"}
    for name, r in ratio.items():
        q1, q3 = np.percentile(r, [25, 75])
        extra = "" if name == "streams" else f"; against the streams alone {np.median(own[name]):.2f}"
        print(f"{name:9s}: {np.median(rate[name]):6.1f} frames/s; synthesis/video wall {np.median(r):.2f} median "
              f"(quartiles {q1:.2f}-{q3:.2f}), CPU {cpu[name][0] / cpu[name][1]:.2f}{extra} (goal >= 0.90)")
    print("streams: the videos' synthesis alone; walk/loop include their speed-normalisation pilot; "
          "the MP4 encoder runs in its own thread")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=192)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--label-rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--no-labels", action="store_true", help="skip the labelled-samples figure")
    ap.add_argument("--no-videos", action="store_true", help="skip the video figures")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from facereel.checkpoints.loaders import load_dcgan_digiface

    G = load_dcgan_digiface()
    if not args.no_labels:
        labelling(G, args.samples, args.label_rounds)
    if not args.no_videos:
        videos(G, args.frames, args.batch, args.rounds)


if __name__ == "__main__":
    main()
