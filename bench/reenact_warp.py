"""``--method warp`` speed end to end: decoded driver frame -> encoded MP4 frame, at 256 and 512.

Run: ``python bench/reenact_warp.py [--frames 100] [--repeats 2] [--sizes 256,512] [--track]``

Driver: a 640x480 25 fps video made in this run from the real sample photos (each of the three
photos of one person framed around its face with a slow pan, roll and zoom, cross-fading into the
next), target ``biden.jpg``.  Three paths over the same driver, interleaved so machine load hits
them alike:

* ``fast``: ``reenact_video(..., method="warp")`` as the CLI runs it (decode + landmarks in a
  worker thread, warp here, MP4 encoding in a background thread);
* ``before``: the previous code path — one loop decode -> ``WarpMethod("reference").drive`` ->
  encode, all in this thread (what the runner did before the fast path);
* ``io``: decode + encode alone (the target crop written once per driver frame): the floor.

Frames/s are timed from the first frame's progress report to the closed output file, so model
loading and the target's analysis (once per run, printed separately) are not in them; beside them
the process CPU time per frame over the same span (every thread: meaningful on a shared machine,
where wall time follows the other jobs' load).  A per-stage breakdown (each stage alone over the
same frames, this thread, CPU time) follows.  ``fast-1worker``: the fast path with the driver
decoded in the landmarks' thread instead of a thread of its own.  Goals: >= 25 frames/s at
256, >= 10 at 512, on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOALS = {256: 25.0, 512: 10.0}


def make_driver(path: Path, frames: int, size=(640, 480), fps: int = 25) -> None:
    """The sample photos of one person as a short video (see the module docstring)."""
    import av
    import cv2
    from PIL import Image

    from facereel.faces.landmarks import landmarks_mediapipe
    from facereel.samples import SAME_PERSON, sample_dir

    w, h = size
    shots = []
    for name in SAME_PERSON:
        with Image.open(sample_dir() / name) as im:
            rgb = np.asarray(im.convert("RGB"))
        pts = landmarks_mediapipe(rgb).points
        shots.append((rgb, pts.mean(0), np.ptp(pts[:, 1])))

    def shot(k: int, t: float) -> np.ndarray:
        rgb, c, side = shots[k]
        scale = 0.45 * h / side * (1 + 0.06 * np.sin(2 * np.pi * t))
        m = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), 6 * np.sin(2 * np.pi * 1.3 * t), scale)
        m[:, 2] += [w / 2 + 20 * np.sin(2 * np.pi * t) - c[0], h / 2 + 10 * np.cos(2 * np.pi * t) - c[1]]
        return cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)

    per = -(-frames // len(shots))
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=fps, options={"crf": "18"})
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            k, j = divmod(i, per)
            t = j / per
            f = shot(k, t)
            fade = j - (per - 8)
            if fade >= 0 and k + 1 < len(shots):       # cross-fade into the next photo
                f = cv2.addWeighted(f, 1 - (fade + 1) / 9, shot(k + 1, 0.0), (fade + 1) / 9, 0)
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            for p in st.encode(vf):
                c.mux(p)
        for p in st.encode(None):
            c.mux(p)


#: CPU ms per frame of the last timed run (process CPU time, every thread, first frame to end)
CPU: dict[str, float] = {}


class _Clock:
    """Progress callback: the wall and process CPU time of the first report (the first frame
    driven); :meth:`rate` = frames/s from there to now, CPU ms/frame into ``CPU['last']``."""

    def __init__(self):
        self.first = self.cpu = None

    def __call__(self, done=None, total=None):
        if self.first is None:
            self.first, self.cpu = time.perf_counter(), time.process_time()

    def rate(self, frames: int) -> float:
        CPU["last"] = 1000 * (time.process_time() - self.cpu) / max(1, frames - 1)
        return (frames - 1) / (time.perf_counter() - self.first)


def run_fast(driver, target, out, size, track=False, decode_thread=True) -> float:
    from facereel.options.reenact import ReenactOptions
    from facereel.reenact.runner import reenact_video
    from facereel.reenact.warp import WarpMethod

    method = WarpMethod(track=track)
    method.decode_thread = decode_thread
    clock = _Clock()
    rep = reenact_video(driver, target, out, ReenactOptions(method="warp", size=size, keep_audio=False),
                        progress=clock, method=method)
    return clock.rate(rep.frames)


class _FullPaste:
    """``--paste-back`` as before: the face blended over the whole photo every frame."""

    def __init__(self, photo, alignment, size, feather):
        self.args = photo, alignment, feather

    def __call__(self, face):
        from facereel.reenact.paste import paste_back_full

        photo, alignment, feather = self.args
        return paste_back_full(face, photo, alignment, feather)


def run_paste(driver, target, out, size, full=False) -> float:
    """The fast path with ``--paste-back``; ``full``: the whole-photo blend of before."""
    from facereel.options.reenact import ReenactOptions
    from facereel.reenact.runner import reenact_video
    from facereel.reenact.warp import WarpMethod

    class Method(WarpMethod):
        def prepare(self, target_rgb, options):
            super().prepare(target_rgb, options)
            if full:
                self._paste = _FullPaste(self.photo, self.face.alignment, self.size, options.feather)

    clock = _Clock()
    rep = reenact_video(driver, target, out, ReenactOptions(method="warp", size=size, keep_audio=False,
                                                            paste_back=True), progress=clock, method=Method())
    return clock.rate(rep.frames)


def paste_stage(target, size, repeats: int = 20) -> dict[str, float]:
    """CPU ms per paste of one crop into the photo: the box (PhotoPaste) against the full blend."""
    from facereel.faces.io import load_image
    from facereel.options.reenact import ReenactOptions
    from facereel.reenact.paste import PhotoPaste, paste_back_full
    from facereel.reenact.target import select_target_face

    photo = load_image(target).rgb
    face = select_target_face(photo, ReenactOptions(size=size).validate())
    paste = PhotoPaste(photo, face.alignment, size)
    t = {"box": 0.0, "full": 0.0}
    for _ in range(repeats):
        for name, fn in (("box", lambda: paste(face.alignment.image)),
                         ("full", lambda: paste_back_full(face.alignment.image, photo, face.alignment))):
            t0 = time.process_time()
            fn()
            t[name] += time.process_time() - t0
    x0, y0, x1, y1 = paste.box
    print(f"  photo {photo.shape[1]}x{photo.shape[0]}, mask box {x1 - x0}x{y1 - y0} "
          f"({(x1 - x0) * (y1 - y0) / (photo.shape[0] * photo.shape[1]):.0%} of it)")
    return {k: 1000 * v / repeats for k, v in t.items()}


def run_before(driver, target, out, size) -> float:
    from facereel.faces.io import load_image
    from facereel.options.reenact import ReenactOptions
    from facereel.reenact.io import DriverSource
    from facereel.reenact.warp import WarpMethod
    from facereel.render.video import open_writer

    opts = ReenactOptions(method="warp", size=size, keep_audio=False).validate()
    m = WarpMethod("reference")
    m.configure(opts)
    m.prepare(load_image(target).rgb, opts)
    n, clock = 0, _Clock()
    with open_writer(out, fps=25) as w:
        for frame in DriverSource(driver).frames():
            o = m.drive(frame)
            w.write(o if o is not None else m.crop)
            n += 1
            clock()
    m.close()
    return clock.rate(n)


def run_io(driver, target, out, size) -> float:
    from facereel.faces.io import load_image
    from facereel.options.reenact import ReenactOptions
    from facereel.reenact.io import DriverSource
    from facereel.reenact.target import select_target_face
    from facereel.render.video import open_writer

    crop = select_target_face(load_image(target).rgb, ReenactOptions(size=size).validate()).alignment.image
    n, clock = 0, _Clock()
    with open_writer(out, fps=25) as w:
        for _ in DriverSource(driver).frames():
            w.write(crop)
            n += 1
            clock()
    return clock.rate(n)


def stages(driver, target, size, out) -> dict[str, float]:
    """CPU ms per frame of each stage alone, over the same frames, one after another in this
    thread (process CPU time: what a stage costs the machine, whatever else runs on it)."""
    from facereel.faces.io import load_image
    from facereel.options.reenact import ReenactOptions
    from facereel.reenact.io import DriverSource
    from facereel.reenact.warp import WarpMethod
    from facereel.render.video import open_writer

    opts = ReenactOptions(method="warp", size=size).validate()
    m = WarpMethod()
    m.configure(opts)
    m.prepare(load_image(target).rgb, opts)
    t: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            t0 = time.process_time()
            r = fn(*a, **k)
            t[name] = t.get(name, 0.0) + time.process_time() - t0
            return r
        return wrapper

    class Guard:                      # the guard is called, so wrap the object
        def __init__(self, g):
            self.call, self.rigid = timed("guard", g), timed("guard", g.rigid)

        def __call__(self, *a):
            return self.call(*a)

    t0 = time.process_time()
    frames = list(DriverSource(driver).frames())
    t["decode"] = time.process_time() - t0
    lmk = m._new_landmarker()
    t0 = time.process_time()
    pts = [m.landmarks(f, lmk) for f in frames]
    t["landmarks"] = time.process_time() - t0
    lmk.close()
    m._guard = Guard(m._guard)
    m._maps = timed("map", m._maps)
    m._mouth_fast = timed("mouth", m._mouth_fast)
    m._render_fast = timed("_render", m._render_fast)
    t0 = time.process_time()
    outs = [m.drive_points(p) for p in pts]
    t["_warp"] = time.process_time() - t0
    t["remap+composite"] = t.pop("_render") - t["map"] - t.get("mouth", 0.0)
    t["motion"] = t.pop("_warp") - t["remap+composite"] - t["map"] - t.get("mouth", 0.0) - t["guard"]
    t0 = time.process_time()
    with open_writer(out, fps=25) as w:
        for o in outs:
            w.write(o if o is not None else m.crop)
    t["encode"] = time.process_time() - t0
    m.close()
    return {k: 1000 * v / len(frames) for k, v in t.items()}


def main(argv=None) -> int:
    import os

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--track", action="store_true", help="also time the fast path with MediaPipe's VIDEO mode")
    ap.add_argument("--paste-back", action="store_true",
                    help="only --paste-back at the first size: the box blend against the full-photo blend")
    ap.add_argument("--paste-scale", type=float, default=2.0,
                    help="the --paste-back target: biden.jpg (970x2204) scaled by this")
    a = ap.parse_args(argv)
    from facereel.samples import sample_dir

    target = sample_dir() / "biden.jpg"
    sizes = [int(s) for s in a.sizes.split(",")]
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (other jobs share the machine)")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        driver = d / "driver.mp4"
        make_driver(driver, a.frames)
        t0 = time.perf_counter()
        run_fast(driver, target, d / "cold.mp4", sizes[0])        # model loading, once per process
        print(f"driver: {a.frames} frames 640x480; first run (models loaded, target analysed): "
              f"{time.perf_counter() - t0:.1f} s")
        if a.paste_back:
            return paste_main(a, driver, target, sizes[0], d)
        paths = {"fast": run_fast, "fast-1worker": lambda *x: run_fast(*x, decode_thread=False),
                 "before": run_before, "io": run_io}
        if a.track:
            paths["fast+track"] = lambda *x: run_fast(*x, track=True)
        for size in sizes:
            fps: dict[str, list[float]] = {k: [] for k in paths}
            cpu: dict[str, list[float]] = {k: [] for k in paths}
            loads = [os.getloadavg()[0]]
            for r in range(a.repeats):
                order = list(paths.items())
                for name, fn in (order if r % 2 == 0 else order[::-1]):
                    fps[name].append(fn(driver, target, d / f"{name}{size}.mp4", size))
                    cpu[name].append(CPU["last"])
                    loads.append(os.getloadavg()[0])
            med = {k: statistics.median(v) for k, v in fps.items()}
            goal = GOALS.get(size)
            line = "  ".join(f"{k} {v:.1f}" for k, v in med.items())
            print(f"\n{size}x{size}: frames/s (median of {a.repeats}, decode -> encoded output; load average "
                  f"{min(loads):.1f}-{max(loads):.1f}): {line}")
            print("  CPU ms/frame (all threads): " + "  ".join(f"{k} {statistics.median(v):.1f}" for k, v in cpu.items()))
            print(f"  fast / before {med['fast'] / med['before']:.2f}x   fast / io {med['fast'] / med['io']:.2f}"
                  f"   fast / fast-1worker {med['fast'] / med['fast-1worker']:.2f}"
                  + (f"   fast / goal {med['fast'] / goal:.2f} (goal >= {goal:.0f})" if goal else ""))
            st = stages(driver, target, size, d / f"stages{size}.mp4")
            total = sum(st.values())
            print("  stages alone, CPU ms/frame: " + "  ".join(f"{k} {v:.1f}" for k, v in st.items())
                  + f"  (sum {total:.1f}: {2000 / total:.0f} frames/s if 2 idle cores were kept busy)")
    return 0


def paste_main(a, driver, target, size, d: Path) -> int:
    import os

    import cv2
    from PIL import Image

    with Image.open(target) as im:
        rgb = np.asarray(im.convert("RGB"))
    big = d / "target_big.png"
    if a.paste_scale != 1.0:
        rgb = cv2.resize(rgb, None, fx=a.paste_scale, fy=a.paste_scale, interpolation=cv2.INTER_CUBIC)
    Image.fromarray(rgb).save(big)
    run_paste(driver, big, d / "cold_paste.mp4", size)              # the target analysed once
    paths = {"box": run_paste, "full": lambda *x: run_paste(*x, full=True)}
    fps: dict[str, list[float]] = {k: [] for k in paths}
    for r in range(a.repeats):
        order = list(paths.items())
        for name, fn in (order if r % 2 == 0 else order[::-1]):
            fps[name].append(fn(driver, big, d / f"paste_{name}.mp4", size))
    med = {k: statistics.median(v) for k, v in fps.items()}
    print(f"\n--paste-back, crop {size}, target {rgb.shape[1]}x{rgb.shape[0]}: frames/s (median of "
          f"{a.repeats}, decode -> encoded output): box {med['box']:.1f}  full {med['full']:.1f}  "
          f"box / full {med['box'] / med['full']:.2f}x   [{', '.join(f'{k} ' + ' '.join(f'{x:.1f}' for x in v) for k, v in fps.items())}]")
    st = paste_stage(big, size)
    print(f"  paste alone, CPU ms/frame: box {st['box']:.1f}  full {st['full']:.1f}  "
          f"({st['full'] / st['box']:.0f}x)   load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
