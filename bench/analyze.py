"""Speed of ``facereel analyze``: seconds per photo, per stage and in total (issue 2).

Goal: <= 0.5 s per 1-2 MP photo with the default backends (dlib HOG, MediaPipe landmarks,
dlib identity, ONNX age/gender) on 2 CPU cores, models loaded once.

The photos are the sample photos resized to about 1.5 MP and re-saved as JPEG (so decoding is
part of the cost).  Models are warmed up on one photo first.  Stages come from
``analyze_collection(timings=...)``: loading, the stages of ``analyze_faces``, the duplicate
thumbnails, and "collection" (identity vote, SIFT registration of duplicates, ordering).  JPEG decoding of the
same photos is printed as the in-run baseline: the ratio "total / decode" tells how the
analysis scales with this machine's speed, independently of its load.

The time-lapse's "prepare" stage is mostly the aligned crops of the kept photos: they are timed
last, at 512, the official FFHQ warp (4096 bilinear + Lanczos) against the fast warp the pixel
engines use (2x-size bilinear + one Lanczos), on the same photos in the same run, each with an
empty crop cache, with the largest per-pixel difference between the two.

Run: ``python bench/analyze.py [--repeats N] [--landmarks mediapipe|dlib68]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 0.5
NAMES = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png", "obama_partial_face.jpg")


def make_photos(folder: Path, megapixels: float = 1.5) -> list[Path]:
    from PIL import Image

    from facereel.samples import sample_path

    out = []
    for name in NAMES:
        with Image.open(sample_path(name)) as im:
            im = im.convert("RGB")
            scale = (megapixels * 1e6 / (im.width * im.height)) ** 0.5
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
            path = folder / (Path(name).stem + ".jpg")
            im.save(path, quality=92)
            out.append(path)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--landmarks", default="mediapipe", choices=("mediapipe", "dlib68"))
    ap.add_argument("--detector", default="hog", choices=("hog", "cnn"))
    args = ap.parse_args()

    os.environ.setdefault("OMP_NUM_THREADS", "2")
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:  # pragma: no cover
        pass
    from facereel.faces.analyze import analyze_faces
    from facereel.faces.io import load_image
    from facereel.pipelines.analyze import analyze_collection

    with tempfile.TemporaryDirectory() as tmp:
        photos = make_photos(Path(tmp))
        mp = [load_image(p).rgb.shape[:2] for p in photos]
        print(f"{len(photos)} photos, {min(h * w for h, w in mp) / 1e6:.2f}-{max(h * w for h, w in mp) / 1e6:.2f} MP; "
              f"backends: {args.detector} + {args.landmarks}; {args.repeats} repeats; cores: {os.cpu_count()}")
        t0 = time.perf_counter()
        analyze_faces(load_image(photos[0]).rgb, detector=args.detector, landmarks=args.landmarks, align=False)
        print(f"model loading + first photo: {time.perf_counter() - t0:.2f} s (not counted)")

        n = len(photos)
        stages: dict[str, float] = {}
        totals, cpus = [], []
        for _ in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            analyze_collection(photos, detector=args.detector, landmarks=args.landmarks, timings=stages)
            totals.append((time.perf_counter() - t) / n)
            cpus.append((time.process_time() - c) / n)
        total = statistics.median(totals)
        cpu = statistics.median(cpus)
        t = time.perf_counter()
        for _ in range(args.repeats):
            for p in photos:
                load_image(p)
        decode = (time.perf_counter() - t) / (args.repeats * n)
        crops = crop_speed(analyze_collection(photos, detector=args.detector, landmarks=args.landmarks), Path(tmp))

    runs = args.repeats * n
    print(f"\n{'stage':<12} {'s / photo':>10}")
    for k in ("load", "detect", "landmarks", "landmarks5", "align", "identity", "age", "thumbnails", "collection"):
        if k in stages:
            print(f"{k:<12} {stages[k] / runs:>10.3f}")
    print(f"{'TOTAL':<12} {total:>10.3f}   analyze_collection wall time, median of {args.repeats} runs "
          f"({', '.join(f'{t:.3f}' for t in totals)})")
    print(f"{'CPU':<12} {cpu:>10.3f}   process CPU seconds per photo (all threads), median")
    try:
        load = os.getloadavg()[0]
        print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores"
              + ("  (busy machine: wall times are inflated; compare CPU)" if load > (os.cpu_count() or 1) else ""))
    except OSError:  # pragma: no cover
        pass
    print(f"\ngoal {GOAL_S:.2f} s/photo: ratio total/goal = {total / GOAL_S:.2f} "
          f"({'MET' if total <= GOAL_S else 'NOT met'})")
    print(f"CPU/goal = {cpu / GOAL_S:.2f}")
    print(f"in-run baseline: JPEG decode {decode:.3f} s/photo; total/decode = {total / max(decode, 1e-9):.1f}x")
    print(f"\naligned crops at 512 (prepare stage), {crops['n']} photos: official {crops['official']:.3f} s/crop, "
          f"fast {crops['fast']:.3f} s/crop, ratio {crops['official'] / max(crops['fast'], 1e-9):.1f}x; "
          f"fast vs official: mean |diff| {crops['mean']:.2f}, max {crops['max']} grey levels")
    return 0


def crop_speed(manifest, home: Path, size: int = 512, rounds: int = 2) -> dict:
    """Seconds per aligned crop, official vs fast warp, alternating rounds, empty cache each time."""
    import numpy as np

    from facereel.pipelines.analyze import aligned_crop

    entries = [e for e in manifest.photos if e.quad is not None]
    times = {"official": [], "fast": []}
    images: dict[str, list] = {}
    old = os.environ.get("FACEREEL_HOME")
    try:
        for r in range(rounds):
            for fast in ((False, True) if r % 2 == 0 else (True, False)):
                os.environ["FACEREEL_HOME"] = str(home / f"crops-{r}-{fast}")  # a cold cache
                t = time.perf_counter()
                images["fast" if fast else "official"] = [aligned_crop(e, size=size, fast=fast) for e in entries]
                times["fast" if fast else "official"].append((time.perf_counter() - t) / len(entries))
    finally:
        if old is None:
            os.environ.pop("FACEREEL_HOME", None)
        else:
            os.environ["FACEREEL_HOME"] = old
    diff = [np.abs(a.astype(np.int16) - b) for a, b in zip(images["official"], images["fast"], strict=True)]
    return {"n": len(entries), "official": min(times["official"]), "fast": min(times["fast"]),
            "mean": float(np.mean([d.mean() for d in diff])), "max": int(max(d.max() for d in diff))}


if __name__ == "__main__":
    sys.exit(main())
