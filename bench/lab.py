"""Photo-a-day scale: N video frames at 256 through alignment + one pSp encoder forward.

In process against a local Ray cluster at the same core count (one actor with all threads, and one
actor per core), measured in the same run.  The encoder is the real architecture (IR-SE50
GradualStyleEncoder, 18 styles, FFHQ 1024 decoder in the checkpoint) on random weights: speed does
not depend on the weights.  Prints frames/s, the projected time for 780 frames and Ray's overhead.

    python bench/lab.py [--frames 780] [--skip-ray]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def make_video(path: Path, n: int) -> Path:
    import av
    import numpy as np
    from PIL import Image, ImageOps

    from facereel.samples import sample_dir

    src = [Image.open(sample_dir() / f).convert("RGB") for f in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=25)
        st.width = st.height = 480
        st.pix_fmt = "yuv420p"
        for i in range(n):
            im = src[i % 3].rotate(float(rng.uniform(-6, 6)), resample=Image.BILINEAR)
            f = np.asarray(ImageOps.pad(im, (480, 480), color=(40, 40, 40)))
            for p in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    return path


def fake_psp(path: Path) -> Path:
    import torch

    from facereel.nets.encoders.psp import GradualStyleEncoder
    from facereel.nets.rosinality import Generator

    torch.manual_seed(0)
    enc, dec = GradualStyleEncoder(50, "ir_se", n_styles=18), Generator(1024, 512, 8)
    state = {f"encoder.{k}": v for k, v in enc.state_dict().items()}
    state.update({f"decoder.{k}": v for k, v in dec.state_dict().items()})
    torch.save({"state_dict": state, "latent_avg": 0.1 * torch.randn(18, 512),
                "opts": {"encoder_type": "GradualStyleEncoder", "output_size": 1024, "start_from_latent_avg": True}},
               path)
    return path


def run(label, items, stage, folder, options):
    from facereel.batch.runner import run_batch
    from facereel.batch.store import ResultStore

    store = ResultStore(folder, stage.signature())
    t0 = time.perf_counter()
    rep = run_batch(items, stage, store, options)
    dt = time.perf_counter() - t0
    ok = rep.computed - len(rep.errors)
    print(f"{label:34s} {dt:8.1f} s  {len(items) / dt:6.2f} frames/s  ({ok} latents, {len(rep.errors)} dropped)",
          flush=True)
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=780)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()

    import torch

    from facereel.batch.stages import AlignInvertStage, AlignStage, InvertStage
    from facereel.inversion.api import InversionSettings
    from facereel.options.batch import BatchOptions

    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = make_video(tmp / "day.mp4", args.frames)
        ckpt = fake_psp(tmp / "psp_random.pt")
        items = [{"key": f"f{i}", "path": str(video), "frame": i} for i in range(args.frames)]

        def stage():
            return AlignInvertStage(AlignStage(256), InvertStage(InversionSettings(method="psp", encoder=str(ckpt)),
                                                                 use_cache=False))

        print(f"{args.frames} frames, 256 px crops, pSp IR-SE50 forward, {cores} cores, batch {args.batch_size}")
        base = run("in process", items, stage(), tmp / "local", BatchOptions(batch_size=args.batch_size))
        if not args.skip_ray:
            import ray

            t0 = time.perf_counter()
            ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, configure_logging=False)
            print(f"ray.init: {time.perf_counter() - t0:.1f} s (once per cluster, not counted below)")
            one = run(f"ray, 1 actor x {cores} threads", items, stage(), tmp / "ray1",
                      BatchOptions(ray="auto", batch_size=args.batch_size, workers=1, cpus_per_worker=cores))
            many = run(f"ray, {cores} actors x 1 thread", items, stage(), tmp / "rayN",
                       BatchOptions(ray="auto", batch_size=args.batch_size, workers=cores, cpus_per_worker=1))
            ray.shutdown()
            best = min(one, many)
            print(f"ray overhead against in process (best layout): {100 * (best / base - 1):+.1f} % "
                  f"(1 actor {100 * (one / base - 1):+.1f} %, {cores} actors {100 * (many / base - 1):+.1f} %; "
                  "goal <= +15 %)")
        print(f"projected for 780 frames in process: {780 * base / args.frames / 60:.1f} min (goal <= 20 min)")


if __name__ == "__main__":
    main()
