"""Speed and quality of the time-lapse (issue 3), and the peer tool ``facelapse`` on the same photos.

Prints, on 2 cores:

1. end to end, 20 photos x 24 frames at 512 with the morph engine: analysis, preparation
   (landmarks, triangulation), render, MP4 encode, total seconds, and peak RSS.
   Goal: < 60 s.  The 20 photos are made from the 3 real same-person samples by augmenting
   (mirror, crop/zoom, small rotation, brightness/contrast/gamma, colour cast), saved as JPEG
   (~1 MP) with a per-run comment so the aligned-crop cache never answers;
2. frames per second of each engine (crossfade, morph) at 256, 512 and 1024 — the engine alone
   and the whole per-frame path (engine + the seed's keyframe blend); crossfade is the in-run
   baseline.  Goals: morph >= 30 fps at 512, >= 8 fps at 1024;
3. ``facelapse`` (PyPI; MediaPipe alignment + pixel crossfade with ``--blend-steps``) on the same
   20 photos, named so that its file-name order is our manifest order: its wall time next to
   ours, then ghosting and identity (facereel.metrics) of its video, ours (morph) and our
   crossfade side by side, on the first gaps of each video (the dlib descriptor costs ~0.3 s a
   frame, so not every frame is measured).

Run: ``python bench/timelapse.py [--quick]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOAL_E2E_S = 60.0
GOAL_FPS = {512: 30.0, 1024: 8.0}
N_PHOTOS = 20
FRAMES_PER_GAP = 24


def _two_cores(torch_threads: bool = True) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > 2:
            os.sched_setaffinity(0, cpus[:2])
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        pass
    import cv2

    cv2.setNumThreads(2)
    if not torch_threads:  # the morph path never imports torch; its import would be counted
        return
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:  # pragma: no cover
        pass


def _rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


def make_photos(folder: Path, n: int = N_PHOTOS, seed: int = 0) -> list[Path]:
    """``n`` JPEGs (~1 MP) augmented from the 3 same-person samples."""
    import cv2
    from PIL import Image

    from facereel.samples import SAME_PERSON, sample_path

    rng = np.random.default_rng(seed)
    bases = []
    for name in SAME_PERSON:
        with Image.open(sample_path(name)) as im:
            bases.append(np.asarray(im.convert("RGB")))
    stamp = f"facereel bench {time.time_ns()}".encode()
    out = []
    for i in range(n):
        img = bases[i % len(bases)].astype(np.float32)
        h, w = img.shape[:2]
        if (i // len(bases)) % 2 == 1:
            img = img[:, ::-1]
        # zoom 0.82-1.0 around a slightly moved centre, and a small rotation
        z = rng.uniform(0.82, 1.0)
        cx, cy = w / 2 + rng.uniform(-0.04, 0.04) * w, h / 2 + rng.uniform(-0.04, 0.04) * h
        m = cv2.getRotationMatrix2D((cx, cy), rng.uniform(-8, 8), 1 / z)
        m[:, 2] += (w / 2 - cx, h / 2 - cy)
        img = cv2.warpAffine(np.ascontiguousarray(img), m, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
        # brightness / contrast / gamma / colour cast
        img = (img - 128) * rng.uniform(0.8, 1.2) + 128 + rng.uniform(-25, 25)
        img = img * rng.uniform(0.92, 1.08, size=3)
        img = 255 * (np.clip(img, 0, 255) / 255) ** rng.uniform(0.8, 1.25)
        img = np.clip(img, 0, 255).astype(np.uint8)
        s = (1.0e6 / (h * w)) ** 0.5
        if s < 1:
            img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        path = folder / f"aug{i:02d}.jpg"
        Image.fromarray(img).save(path, quality=90, comment=stamp)
        out.append(path)
    return out


# ----------------------------------------------------------------------------- 1. end to end


def end_to_end(photos: list[Path], out_dir: Path, size: int = 512, frames: int = FRAMES_PER_GAP) -> dict:
    from facereel.manifest import save_manifest
    from facereel.pipelines.analyze import analyze_collection
    from facereel.pipelines.timelapse import plan_timelapse
    from facereel.render.video import open_writer

    cpu = {}
    t0, c0 = time.perf_counter(), time.process_time()
    manifest = analyze_collection(photos, size=size)
    t_an, c_an = time.perf_counter(), time.process_time()
    cpu["analysis"] = c_an - c0
    mpath = save_manifest(manifest, out_dir / "manifest.json")
    # augmented copies of 3 photos: the analysis may call some duplicates; keep them all
    job = plan_timelapse(manifest, engine="morph", frames_per_gap=frames, size=size, keep_flagged=True)
    t_prep, c_prep = time.perf_counter(), time.process_time()
    cpu["prepare"] = c_prep - c_an
    video = out_dir / "facereel_morph.mp4"
    with open_writer(video, "mp4", fps=24, size=(job.size, job.size)) as w:
        if hasattr(job, "write"):  # as render_timelapse does: render threads + an encoder thread, overlapping
            job.write(w)
        else:  # an older facereel (--baseline-src): one frame after the other
            for f in job.frames():
                w.write(f)
    t_end, c_end = time.perf_counter(), time.process_time()
    cpu["render+encode"] = c_end - c_prep
    cpu["total"] = c_end - c0
    flagged = sum(1 for p in manifest.photos if p.flags)
    return {
        "analysis": t_an - t0, "prepare": t_prep - t_an, "render+encode": t_end - t_prep, "total": t_end - t0,
        "frames": len(job), "keyframes": len(job.keyframes), "flagged": flagged, "video": video, "manifest": mpath,
        "keyframe_indices": job.schedule.keyframe_indices, "order": [k.meta.get("path") for k in job.keyframes],
        "rss": _rss_mb(), "cpu": cpu,
    }


# ----------------------------------------------------------------------------- 0. alternating rounds


def _child_e2e(photos_dir: Path, out_dir: Path, size: int) -> int:
    """The end-to-end run in a process of its own (``--child-e2e``): one JSON line of stage times."""
    import json

    _two_cores(torch_threads=False)
    e = end_to_end(sorted(photos_dir.glob("*.jpg")), out_dir, size=size)
    print(json.dumps({k: e[k] for k in ("analysis", "prepare", "render+encode", "total", "order") if k in e}
                     | {"cpu": e["cpu"]}))
    return 0


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def alternating(work: Path, rounds: int, size: int, baseline: Path | None = None) -> list[dict]:
    """``rounds`` x (facereel end to end in a fresh process, facelapse), alternating which goes first.

    Each round (and each facereel in it) gets the same 20 photos as new files (same pixels, a new
    JPEG comment: no cache answers).  Both sides are whole processes, interpreter start and imports included, timed
    from outside (wall, and user+system CPU of the child and its threads).  ``baseline``: the
    ``src`` folder of another facereel checkout, run the same way in each round."""
    import json

    out, order = [], None
    for r in range(rounds):
        rd = work / f"round{r}"
        (rd / "photos").mkdir(parents=True)
        make_photos(rd / "photos")
        if baseline is not None:  # its own files (same pixels): no aligned crop cached by the other side
            (rd / "photos_baseline").mkdir()
            make_photos(rd / "photos_baseline")
        sides = ["facereel", "facelapse"] if (r % 2 == 0 or order is None) else ["facelapse", "facereel"]
        if baseline is not None:  # the baseline next to ours, on the other side of facelapse
            sides.insert(0 if sides[0] == "facelapse" else 2, "baseline")
        res: dict = {"load": os.getloadavg()[0]}
        for side in sides:
            if side in ("facereel", "baseline"):
                env = dict(os.environ)
                if side == "baseline":
                    env["PYTHONPATH"] = os.pathsep.join([str(baseline), env.get("PYTHONPATH", "")])
                out_dir = rd / side
                out_dir.mkdir()
                c, t = _children_cpu(), time.perf_counter()
                photos_dir = rd / ("photos_baseline" if side == "baseline" else "photos")
                proc = subprocess.run([sys.executable, __file__, "--child-e2e", str(photos_dir), str(out_dir),
                                       "--size", str(size)], capture_output=True, text=True, env=env)
                wall, cpu = time.perf_counter() - t, _children_cpu() - c
                if proc.returncode != 0:
                    raise RuntimeError(f"{side} child failed: {proc.stderr[-2000:]}")
                e = json.loads(proc.stdout.strip().splitlines()[-1])
                order = [Path(p).name for p in e["order"]]
                res[side] = {"wall": wall, "cpu": cpu, "stages": e}
            else:
                fl = run_facelapse([rd / "photos" / n for n in order], rd, size, FRAMES_PER_GAP)
                if "error" in fl:
                    raise RuntimeError(fl["error"])
                res["facelapse"] = {"wall": fl["wall"], "cpu": fl["cpu"]}
        res["load_end"] = os.getloadavg()[0]
        out.append(res)
        shutil.rmtree(rd, ignore_errors=True)
    return out


def print_alternating(rows: list[dict]) -> None:
    print(f"\n0. end to end, whole processes, alternating ({len(rows)} rounds; 20 photos x {FRAMES_PER_GAP} frames at "
          f"512, morph MP4 with our analysis, against facelapse); goal: facereel wall <= 1.5 x facelapse wall")
    print(f"   {'round':>5} {'load':>9} {'facereel wall/CPU s':>20} {'facelapse wall/CPU s':>21} {'wall ratio':>10} "
          f"{'CPU ratio':>9}   facereel stages wall (CPU): analysis, prepare, render+encode")
    for i, r in enumerate(rows):
        a, b, st = r["facereel"], r["facelapse"], r["facereel"]["stages"]
        stages = ", ".join(f"{st[k]:.1f} ({st['cpu'][k]:.1f})" for k in ("analysis", "prepare", "render+encode"))
        print(f"   {i:>5} {r['load']:4.1f}-{r['load_end']:<4.1f} {a['wall']:9.2f} /{a['cpu']:7.2f}  {b['wall']:9.2f} /"
              f"{b['cpu']:7.2f}  {a['wall'] / b['wall']:10.2f} {a['cpu'] / b['cpu']:9.2f}   {stages}")
        if "baseline" in r:
            a, st = r["baseline"], r["baseline"]["stages"]
            stages = ", ".join(f"{st[k]:.1f} ({st['cpu'][k]:.1f})" for k in ("analysis", "prepare", "render+encode")
                               if k in st)
            print(f"   {'(base)':>5} {'':9} {a['wall']:9.2f} /{a['cpu']:7.2f}  {'':18} {a['wall'] / b['wall']:10.2f} "
                  f"{a['cpu'] / b['cpu']:9.2f}   {stages}")
    for side in ("facereel", "baseline"):
        if side not in rows[0]:
            continue
        wr = float(np.median([r[side]["wall"] / r["facelapse"]["wall"] for r in rows]))
        cr = float(np.median([r[side]["cpu"] / r["facelapse"]["cpu"] for r in rows]))
        print(f"   {side}: median wall ratio {wr:.2f} (goal <= 1.5: {'MET' if wr <= 1.5 else 'NOT met'}), "
              f"median CPU ratio {cr:.2f}")


# ----------------------------------------------------------------------------- 2. engine fps


def engine_fps(entries, sizes, n_frames: dict[int, int]) -> dict:
    from facereel.pipelines.analyze import aligned_crop
    from facereel.pipelines.timelapse import keyframe_landmarks, render_frames
    from facereel.render.engines import get_engine
    from facereel.render.engines.base import Keyframe
    from facereel.render.schedule import make_schedule

    res = {}
    for size in sizes:
        kfs = [Keyframe(image=aligned_crop(e, size=size), label=e.name) for e in entries]
        keyframe_landmarks(kfs)
        n = n_frames[size]
        per_gap = max(2, n // (len(kfs) - 1) + 1)
        sched = make_schedule(len(kfs), frames_per_gap=per_gap)
        positions = [(p.j, p.lam) for p in sched.frames if p.keyframe is None][:n]
        for name in ("crossfade", "morph"):
            eng = get_engine(name)
            t = time.perf_counter()
            eng.prepare(kfs)
            prep = time.perf_counter() - t
            eng.frames(positions[:1])  # warm-up (lazy imports, first maps)
            t, c = time.perf_counter(), time.process_time()
            for start in range(0, len(positions), max(1, eng.batch_size)):
                eng.frames(positions[start:start + max(1, eng.batch_size)])
            fps = len(positions) / (time.perf_counter() - t)
            cpu_ms = 1000 * (time.process_time() - c) / len(positions)
            # the whole per-frame path the writer sees: engine + the seed's keyframe blend (Eq. 4-5)
            t = time.perf_counter()
            m = sum(1 for _ in render_frames(eng, kfs, sched, opacity=0.5))
            path_fps = m / (time.perf_counter() - t)
            res[(name, size)] = {"fps": fps, "path_fps": path_fps, "prepare": prep, "frames": len(positions),
                                 "cpu_ms": cpu_ms}
    return res


# ----------------------------------------------------------------------------- 3. facelapse + quality


def run_facelapse(photos_in_order: list[Path], work: Path, size: int, frames: int) -> dict:
    exe = Path(sys.executable).with_name("facelapse")
    exe = str(exe) if exe.exists() else shutil.which("facelapse")
    if not exe:
        return {"error": "facelapse is not installed"}
    inp, out = work / "facelapse_in", work / "facelapse_out"
    inp.mkdir()
    for i, p in enumerate(photos_in_order):
        shutil.copy(p, inp / f"{i:03d}_{p.name}")  # its natural name order = our manifest order
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen([exe, "-i", str(inp), "-o", str(out), "--blend-steps", str(frames - 1),
                             "--width", str(size), "--height", str(size)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # peak RSS of the child itself: VmHWM after exec (RUSAGE_CHILDREN would count our own pages at fork)
    peak_kb = 0
    while proc.poll() is None:
        peak_kb = max(peak_kb, _vm_hwm_kb(proc.pid))
        time.sleep(0.2)
    output = proc.stdout.read() if proc.stdout else ""
    wall = time.perf_counter() - t
    ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru2.ru_utime + ru2.ru_stime) - (ru.ru_utime + ru.ru_stime)
    video = out / "timelapse.mp4"
    if proc.returncode != 0 or not video.exists():
        tail = output.strip().splitlines()[-1:] or ["no output"]
        return {"error": f"facelapse failed ({proc.returncode}): {tail[0]}", "wall": wall}
    return {"wall": wall, "cpu": cpu, "video": video, "rss": peak_kb / 1024.0}


def _vm_hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def crossfade_video(manifest_path: Path, out: Path, size: int, frames: int) -> Path:
    from facereel.pipelines.timelapse import render_timelapse

    render_timelapse(manifest_path, out, engine="crossfade", frames_per_gap=frames, size=size, keep_flagged=True)
    return out


def measure(video: Path, keyframe_indices: list[int], gaps: int) -> dict:
    """facereel.metrics on the first ``gaps`` gaps of ``video`` (keyframes at the given frames)."""
    from facereel.metrics.report import evaluate_frames
    from facereel.metrics.video_io import read_frames

    kidx = keyframe_indices[:gaps + 1]
    frames = list(itertools.islice(read_frames(video), kidx[-1] + 1))
    t = time.perf_counter()
    rep = evaluate_frames(frames, kidx, landmarks="mediapipe")
    rep["seconds"] = time.perf_counter() - t
    # the mid-gap frame of each measured gap, for the side-by-side PNG
    rep["mid_frames"] = [frames[(a + b) // 2] for a, b in zip(kidx[:-1], kidx[1:], strict=True)]
    return rep


def save_side_by_side(cols: dict, path: Path, rows: tuple[float, float] | None = None) -> Path:
    """One row per video (label on the left), one column per gap: the mid-gap frames, 256 px;
    with ``rows`` (fractions of the height), that band of each frame at full size instead."""
    import cv2
    from PIL import Image

    def tile(f):
        if rows is None:
            return cv2.resize(f, (256, 256), interpolation=cv2.INTER_AREA)
        f = cv2.resize(f, (512, round(512 * f.shape[0] / f.shape[1])), interpolation=cv2.INTER_AREA)  # one width
        h = f.shape[0]
        return f[int(rows[0] * h):int(rows[1] * h)]

    out_rows = []
    for name, rep in cols.items():
        tiles = [tile(f) for f in rep["mid_frames"]]
        label = np.full((tiles[0].shape[0], 160, 3), 255, np.uint8)
        for k, word in enumerate(name.split()):
            cv2.putText(label, word, (8, 110 + 30 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
        out_rows.append(np.concatenate([label, *tiles], 1))
    width = max(r.shape[1] for r in out_rows)
    out_rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in out_rows]
    Image.fromarray(np.concatenate(out_rows, 0)).save(path)
    return path


def gif_and_stabilize(manifest_path: Path, work: Path, size: int, n_frames: int = 49) -> dict:
    """GIF against MP4 on the same streamed frames, and what --stabilize does to the keyframes."""
    from facereel.pipelines.timelapse import plan_timelapse
    from facereel.render.stabilize import landmark_jitter, stabilize_keyframes
    from facereel.render.video import open_writer

    job = plan_timelapse(manifest_path, engine="morph", frames_per_gap=FRAMES_PER_GAP, size=size, keep_flagged=True)
    frames = list(itertools.islice(job.frames(), n_frames))
    out = {"frames": len(frames)}
    times: dict = {"mp4": [], "gif": []}
    for _ in range(3):  # alternating, medians: one pair is at the mercy of the other processes
        for fmt, kw in (("mp4", {}), ("gif", {"palette_images": [k.image for k in job.keyframes]})):
            path = work / f"cost.{fmt}"
            t, c = time.perf_counter(), time.process_time()
            with open_writer(path, fmt, fps=24, size=(size, size), **kw) as w:
                for f in frames:
                    w.write(f)
            times[fmt].append((time.perf_counter() - t, time.process_time() - c))
            out[fmt] = (float(np.median([x[0] for x in times[fmt]])), path.stat().st_size,
                        float(np.median([x[1] for x in times[fmt]])))
    kfs = [k for k in job.keyframes if k.landmarks is not None]
    stab = stabilize_keyframes(kfs)

    def eyes(ks):
        pts = np.stack([np.asarray(k.landmarks, np.float64) for k in ks])          # [K, 478, 2]
        centre = pts[:, [468, 473]].mean(1) if pts.shape[1] > 473 else pts.mean(1)
        return float(np.linalg.norm(centre - centre.mean(0), axis=1).mean()), landmark_jitter(pts)

    out["stabilize"] = {"off": eyes(kfs), "on": eyes(stab)}
    return out


def _fmt(v, spec=".3f") -> str:
    return "n/a" if v is None else format(v, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames for the fps figures, 3 gaps measured")
    ap.add_argument("--size", type=int, default=512, help="size of the end-to-end run and the peer comparison")
    ap.add_argument("--keep", type=Path, default=None, help="copy the videos and manifest into this folder")
    ap.add_argument("--rounds", type=int, default=0,
                    help="first, this many alternating whole-process rounds of facereel and facelapse end to end")
    ap.add_argument("--rounds-only", action="store_true", help="only the alternating rounds")
    ap.add_argument("--baseline-src", type=Path, default=None,
                    help="with --rounds: also run the facereel whose sources are in this src folder (e.g. main's)")
    ap.add_argument("--child-e2e", nargs=2, type=Path, metavar=("PHOTOS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_e2e:
        return _child_e2e(*args.child_e2e, size=args.size)
    _two_cores()

    import logging

    logging.basicConfig(level=logging.ERROR)
    n_fps = {256: 24, 512: 24, 1024: 12} if args.quick else {256: 96, 512: 96, 1024: 48}
    gaps = 3 if args.quick else 8
    print(f"facereel time-lapse bench{' (--quick)' if args.quick else ''}: cores {len(os.sched_getaffinity(0))} "
          f"(of {os.cpu_count()}), load average {os.getloadavg()[0]:.1f}")
    if os.getloadavg()[0] > len(os.sched_getaffinity(0)):
        print("   busy machine: wall times are inflated by other processes; the CPU columns are not")

    with tempfile.TemporaryDirectory(prefix="facereel-bench-") as tmp:
        work = Path(tmp)
        if args.rounds or args.rounds_only:
            print_alternating(alternating(work, max(1, args.rounds), args.size, args.baseline_src))
            if args.rounds_only:
                return 0
        photos_dir = work / "photos"
        photos_dir.mkdir()
        photos = make_photos(photos_dir)

        # 1. end to end
        e2e = end_to_end(photos, work, size=args.size)
        print(f"\n1. end to end: {len(photos)} photos x {FRAMES_PER_GAP} frames/gap at {args.size}, morph, MP4 "
              f"({e2e['frames']} frames, {e2e['keyframes']} keyframes, {e2e['flagged']} photos flagged by the "
              f"analysis and kept)")
        print(f"   {'stage':<13} {'wall s':>8} {'CPU s':>8}   (CPU: all threads of this process)")
        for k in ("analysis", "prepare", "render+encode"):
            print(f"   {k:<13} {e2e[k]:8.2f} {e2e['cpu'][k]:8.2f}")
        ok = e2e["total"] < GOAL_E2E_S
        print(f"   {'TOTAL':<13} {e2e['total']:8.2f} {e2e['cpu']['total']:8.2f}   goal < {GOAL_E2E_S:.0f} s wall: "
              f"{'MET' if ok else 'NOT met'} (ratio {e2e['total'] / GOAL_E2E_S:.2f}); CPU/goal "
              f"{e2e['cpu']['total'] / GOAL_E2E_S:.2f}")
        print(f"   peak RSS {e2e['rss']:.0f} MB")

        # 2. engine fps
        from facereel.manifest import load_manifest

        manifest = load_manifest(e2e["manifest"])
        by_path = {p.path: p for p in manifest.photos}
        first3 = [by_path[p] for p in e2e["order"]][:3]
        fps = engine_fps(first3, (256, 512, 1024), n_fps)
        print("\n2. frames per second on 2 cores (engine alone | whole path: engine + keyframe blend, keyframes "
              "included); crossfade = baseline; goals on the engine alone")
        print(f"   {'size':>5} {'crossfade':>16} {'morph':>16} {'morph/crossfade':>16} {'goal (morph)':>14} "
              f"{'morph CPU ms/frame':>19}")
        for size in (256, 512, 1024):
            c, m = fps[("crossfade", size)], fps[("morph", size)]
            goal = GOAL_FPS.get(size)
            verdict = "" if goal is None else f">= {goal:.0f} {'MET' if m['fps'] >= goal else 'NOT met'}"
            print(f"   {size:>5} {c['fps']:7.1f} | {c['path_fps']:6.1f} {m['fps']:7.1f} | {m['path_fps']:6.1f} "
                  f"{m['fps'] / c['fps']:16.3f} {verdict:>14} {m['cpu_ms']:19.1f}")
        print("   morph prepare (landmarks given): " + ", ".join(
            f"{s}: {fps[('morph', s)]['prepare']:.2f} s" for s in (256, 512, 1024)))
        print(f"   peak RSS so far {_rss_mb():.0f} MB")

        # 3. facelapse on the same photos, same order
        fl = run_facelapse([Path(p) for p in e2e["order"]], work, args.size, FRAMES_PER_GAP)
        print(f"\n3. peer: facelapse (MediaPipe alignment + crossfade, --blend-steps {FRAMES_PER_GAP - 1}) "
              f"on the same {len(e2e['order'])} photos in the same order")
        if "error" in fl:
            print(f"   {fl['error']}")
        else:
            print(f"   wall time: facelapse {fl['wall']:.2f} s   facereel {e2e['total']:.2f} s "
                  f"(facereel / facelapse = {e2e['total'] / fl['wall']:.2f}; facereel also estimates age, identity, "
                  f"duplicates and morphs)")
            print(f"   CPU time:  facelapse {fl['cpu']:.2f} s   facereel {e2e['cpu']['total']:.2f} s "
                  f"(ratio {e2e['cpu']['total'] / max(fl['cpu'], 1e-9):.2f})")
            print(f"   facelapse peak RSS {fl['rss']:.0f} MB")
        cf_video = crossfade_video(e2e["manifest"], work / "facereel_crossfade.mp4", args.size, FRAMES_PER_GAP)
        kidx = e2e["keyframe_indices"]
        cols = {"facereel morph": measure(e2e["video"], kidx, gaps),
                "facereel crossfade": measure(cf_video, kidx, gaps)}
        if "error" not in fl:
            from facereel.metrics.video_io import probe_video

            info = probe_video(fl["video"])
            fl_idx = list(range(0, info.frames or len(kidx) * FRAMES_PER_GAP, FRAMES_PER_GAP))
            cols["facelapse"] = measure(fl["video"], fl_idx, gaps)
            print(f"   facelapse video {info.width}x{info.height}, {info.frames} frames")
        n_meas = next(iter(cols.values()))["frames"]
        print(f"\n   quality on the first {gaps} gaps ({n_meas} frames each; facereel.metrics)")
        names = list(cols)
        print(f"   {'metric':<34}" + "".join(f"{n:>20}" for n in names))
        rows = [
            ("ghosting mean (lower better)", lambda r: r["ghosting"]["mean"], ".3f"),
            ("ghosting mid-gap (lower better)", lambda r: r["ghosting"]["mid_gap_mean"], ".3f"),
            ("head ghosting mean (hair/ears)", lambda r: r["ghosting_head"]["mean"], ".3f"),
            ("head ghosting mid-gap", lambda r: r["ghosting_head"]["mid_gap_mean"], ".3f"),
            ("neck ghosting mean (collar/shoulders)", lambda r: r["ghosting_neck"]["mean"], ".3f"),
            ("neck ghosting mid-gap", lambda r: r["ghosting_neck"]["mid_gap_mean"], ".3f"),
            ("identity in-between (higher)", lambda r: r["identity"]["in_between_mean"], ".3f"),
            ("identity min (higher)", lambda r: r["identity"]["min"], ".3f"),
            ("frame diff mean / p95 (grey lv)", None, None),
            ("ACD (lower smoother)", lambda r: r["smoothness"]["acd"], ".4f"),
            ("landmark jitter px (rel. side)", None, None),
            ("measure seconds", lambda r: r["seconds"], ".1f"),
        ]
        for label, fn, spec in rows:
            cells = []
            for n in names:
                r = cols[n]
                if label.startswith("frame diff"):
                    s = r["smoothness"]
                    cells.append(f"{_fmt(s['frame_diff_mean'], '.2f')} / {_fmt(s['frame_diff_p95'], '.2f')}")
                elif label.startswith("landmark jitter"):
                    j = r["smoothness"]["landmark_jitter"] or {}
                    cells.append(f"{_fmt(j.get('px'), '.2f')} ({_fmt(j.get('relative'), '.4f')})")
                else:
                    cells.append(_fmt(fn(r), spec))
            print(f"   {label:<34}" + "".join(f"{c:>20}" for c in cells))
        print(f"\n   peak RSS: facereel process {_rss_mb():.0f} MB; load average at the end {os.getloadavg()[0]:.1f}")
        hm = cols["facereel morph"]["ghosting_head"]["mid_gap_mean"]
        hc = cols["facereel crossfade"]["ghosting_head"]["mid_gap_mean"]
        if hm is not None and hc:
            print(f"   head ghosting mid-gap morph / crossfade = {hm / hc:.3f} (goal <= 0.333: "
                  f"{'MET' if hm <= hc / 3 else 'NOT met'})")
        nm = cols["facereel morph"]["ghosting_neck"]["mid_gap_mean"]
        nc = cols["facereel crossfade"]["ghosting_neck"]["mid_gap_mean"]
        if nm is not None and nc:
            print(f"   neck ghosting mid-gap morph / crossfade = {nm / nc:.3f}")
        gs = gif_and_stabilize(e2e["manifest"], work, args.size)
        (tm, sm, cm), (tg, sg, cg) = gs["mp4"], gs["gif"]
        print(f"\n4. GIF against MP4, the same {gs['frames']} streamed frames at {args.size} (medians of 3, alternating; "
              f"load {os.getloadavg()[0]:.1f}): MP4 {tm:.2f} s ({cm:.2f} s CPU) {sm / 1e6:.2f} MB, GIF {tg:.2f} s "
              f"({cg:.2f} s CPU) {sg / 1e6:.2f} MB; GIF/MP4 time {tg / tm:.2f} (goal <= 2: "
              f"{'MET' if tg <= 2 * tm else 'NOT met'}), CPU {cg / cm:.2f}")
        st = gs["stabilize"]
        print(f"5. --stabilize on the {e2e['keyframes']} keyframes: eye-centre spread (mean distance to the mean, px) "
              f"off {st['off'][0]:.2f} -> on {st['on'][0]:.2f}; keyframe-to-keyframe landmark jitter "
              f"off {st['off'][1]:.2f} -> on {st['on'][1]:.2f} px")
        png_dir = args.keep or Path("bench_out")
        png_dir.mkdir(parents=True, exist_ok=True)
        png = save_side_by_side(cols, png_dir / "timelapse_midgap.png")
        neck = save_side_by_side(cols, png_dir / "timelapse_midgap_neck.png", rows=(0.62, 1.0))
        print(f"   mid-gap frames side by side: {png}; their lower part (chin, collar, shoulders) at full size: {neck}")
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for p in (e2e["video"], cf_video, e2e["manifest"]) + ((fl["video"],) if "video" in fl else ()):
                shutil.copy(p, args.keep / (("facelapse_" if p == fl.get("video") else "") + p.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
