"""Latent edits and latent videos end to end: options in, files out.

``fit_direction_file`` (``facereel directions fit``), ``render_edit`` (``facereel edit``),
``render_walk`` (``facereel walk``), ``render_emotions`` / ``train_emotion_models``
(``facereel emotions``).  Each loads the generator, resolves the face (a seed, or a photo
aligned and inverted), calls :mod:`facereel.latent` and writes its output atomically.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from facereel.batch.render import RenderJob, render_many
from facereel.core.errors import FacereelError
from facereel.core.progress import Progress, report
from facereel.latent.directions import Direction, DirectionError, load_direction
from facereel.latent.space import space_of, to_uint8

log = logging.getLogger(__name__)


def load_generator(name: str, device: str = "auto"):
    from facereel.checkpoints.loaders import load_generator as _load
    from facereel.core.device import resolve_device
    from facereel.nets.plan import prepare_process

    prepare_process()       # process-wide CPU inference settings, once (see facereel.nets.plan)
    return _load(name, device=resolve_device(device))


# ---------------------------------------------------------------------------------------------
# directions by name or file


def direction_names() -> list[str]:
    """Weights-table names of the public direction files."""
    from facereel import weights as W

    return [n for n, e in W.TABLE.items() if e.kind == "direction"]


def resolve_direction(spec: str, G=None) -> Direction:
    """A direction file path, or a weights-table name (``e4e-age``) of a downloaded file;
    checked against ``G``'s latent space when given."""
    from facereel import weights as W

    if spec in W.TABLE:
        if W.TABLE[spec].kind != "direction":
            raise DirectionError(f"{spec} is a {W.TABLE[spec].kind} network, not a direction")
        path = W.local_path(spec)
        if path is None:
            raise DirectionError(f"direction {spec!r} is not in the cache: run `facereel weights download {spec}`")
        d = load_direction(path)
        d.label = spec
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise DirectionError(f"{spec!r} is neither a direction file nor a known direction "
                                 f"({', '.join(direction_names())})")
        d = load_direction(path)
    if G is not None:
        d.check(space_of(G))
    return d


# ---------------------------------------------------------------------------------------------
# the face: a seed or a photo


def face_latent(G, source: str, *, inversion: str = "optimize", psi: float = 1.0, progress: Progress | None = None):
    """Native latent [1, ...] of a seed (``"42"``) or a photo (aligned, then inverted)."""
    import torch

    s = str(source).strip()
    if s.isdigit():
        with torch.inference_mode():
            return G.sample([int(s)], truncation_psi=psi)
    path = Path(s).expanduser()
    if not path.exists():
        raise FacereelError(f"{source!r} is neither a seed nor a photo")
    from facereel.inversion.api import InversionSettings, invert_images
    from facereel.pipelines.analyze import load_aligned

    try:
        crops = load_aligned([str(path)], size=G.resolution, min_photos=1)
    except FacereelError as exc:
        raise FacereelError(f"no usable face in {path.name}: {exc}") from None
    latents, _ = invert_images(crops.images[:1], G, InversionSettings(method=inversion), progress=progress)
    return latents[:1].to(G.device)


# ---------------------------------------------------------------------------------------------
# writing


def _resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """[H, W, 3] uint8 → [size, size, 3] (area when shrinking, Lanczos when enlarging)."""
    if not size or frame.shape[0] == size:
        return frame
    import cv2

    interp = cv2.INTER_AREA if size < frame.shape[0] else cv2.INTER_LANCZOS4
    return cv2.resize(frame, (size, size), interpolation=interp)


def _resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    if not size or frames.shape[1] == size:
        return frames
    return np.stack([_resize_frame(f, size) for f in frames])


def write_video(path: str | Path, batches: Iterable, *, fps: float, size: int = 0) -> int:
    """Streams image batches ([b, 3, R, R] in [-1, 1], or [b, R, R, 3] uint8 already converted
    where they were synthesised) to a video; returns the frame count.

    The encoder runs in a background thread while the next batch is synthesised
    (``render.video.write_batches``); the frames are resized there too, off the synthesis thread."""
    from facereel.render.video import write_batches

    transform = (lambda f: _resize_frame(f, size)) if size else None
    return write_batches(path, batches, fps=fps, convert=_frames_of, transform=transform)


def _frames_of(batch) -> np.ndarray:
    return batch if isinstance(batch, np.ndarray) else to_uint8(batch)


def write_grid(path: str | Path, images, *, cols: int | None = None, size: int = 0) -> Path:
    from PIL import Image

    from facereel.core.atomic import atomic_path

    frames = _resize_frames(to_uint8(images), size)
    n, h, w, _ = frames.shape
    cols = cols or n
    rows = math.ceil(n / cols)
    pad = 2
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), np.uint8)
    for i, f in enumerate(frames):
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = f
    with atomic_path(path) as tmp:
        Image.fromarray(grid).save(tmp)
    return Path(path)


# ---------------------------------------------------------------------------------------------
# operations


def fit_direction_file(options, progress: Progress | None = None) -> Direction:
    """Samples, labels and fits per :class:`~facereel.options.directions.DirectionFitOptions`; writes ``output``."""
    from facereel.latent import directions as D
    from facereel.latent.edit import parse_layers
    from facereel.latent.labels import FaceLabeller, check_label, sample_labelled

    G = load_generator(options.generator, options.device)
    space = space_of(G)
    if options.method == "sefa":
        layers = parse_layers(options.layers, space.num_ws) if options.layers and space.kind == "w" else None
        vecs, vals, metrics = D.fit_sefa(G, options.components, layers)
        d = Direction(vectors=vecs, generator=space.generator, latent_space=space.kind, dim=space.dim,
                      num_ws=space.num_ws, label="sefa", method="sefa", layers=layers, metrics=metrics)
        if options.samples:
            X, _ = _codes(G, options)
            d.scale = [D.projection_scale(X, v) for v in vecs]
    elif options.method == "pca":
        X, _ = _codes(G, options)
        comp, std, mean, metrics = D.fit_pca(X, options.components)
        d = Direction(vectors=comp, generator=space.generator, latent_space=space.kind, dim=space.dim,
                      num_ws=space.num_ws, label="pca", method="pca", scale=[float(s) for s in std], mean=mean,
                      metrics=metrics)
    else:
        labels_needed = [check_label(options.label)] + [check_label(x) for x in options.condition_on]
        if options.ray is not None:
            from facereel.batch.stages import sample_labelled_batched
            from facereel.options.batch import BatchOptions

            # seeds labelled on the cluster, stored per seed: a lost worker or a rerun redoes only what is missing
            X, labels = sample_labelled_batched(
                options.generator, options.samples, labels_needed,
                seed=options.seed, psi=options.psi, device=options.device,
                options=BatchOptions(ray=options.ray, batch_size=options.batch), progress=progress)
        else:
            labeller = FaceLabeller.for_labels(labels_needed)
            try:
                X, labels = sample_labelled(G, options.samples, seed=options.seed, batch=options.batch,
                                            labeller=labeller, truncation_psi=options.psi, progress=progress)
            finally:
                labeller.close()
        d = D.fit_direction(X, labels, options.label, space, method=options.method,
                            condition_on=options.condition_on, seed=options.seed)
    d.metrics.update({"samples": options.samples, "seed": options.seed, "psi": options.psi})
    D.save_direction(d, options.output)
    return d


def _codes(G, options):
    import torch

    from facereel.latent.space import native_to_fit

    codes = []
    with torch.inference_mode():
        for i in range(0, options.samples, 1024):
            seeds = list(range(options.seed + i, options.seed + min(options.samples, i + 1024)))
            codes.append(native_to_fit(G, G.sample(seeds, truncation_psi=options.psi)).double().cpu().numpy())
    return np.concatenate(codes), None


def render_edit(options, progress: Progress | None = None) -> dict:
    """A strength sweep of a direction on a face (:class:`~facereel.options.edit.EditOptions`)."""
    from facereel.latent import edit as E

    G = load_generator(options.generator, options.device)
    space = space_of(G)
    d = resolve_direction(options.direction, G)
    layers = E.parse_layers(options.layers, space.num_ws) if options.layers else None
    if d.layers and layers is None and space.kind == "w":
        layers = list(d.layers)
    latent = face_latent(G, options.source, inversion=options.inversion, psi=options.psi)
    delta = E.step(d, space, index=options.component)
    strengths = list(options.strengths)
    if options.is_video:
        if len(strengths) == 1:
            strengths = [0.0, strengths[0]]
        # `frames` frames along the piecewise-linear strength path through the given strengths
        t = np.linspace(0, len(strengths) - 1, options.frames)
        strengths = list(np.interp(t, np.arange(len(strengths)), strengths))
    lat = E.apply(latent, delta, strengths, layers, space)
    # a video's frames are converted to uint8 in the synthesis streams; a grid keeps the images
    convert = to_uint8 if options.is_video else None
    batches = _progress_batches(E.synthesize_batches(G, lat, options.batch, convert=convert), lat.shape[0],
                                options.batch, progress)
    if options.is_video:
        n = write_video(options.output, batches, fps=options.fps, size=options.size)
    else:
        import torch

        write_grid(options.output, torch.cat(list(batches)), size=options.size)
        n = len(strengths)
    return {"output": str(options.output), "frames": n, "strengths": [float(s) for s in strengths],
            "layers": layers, "direction": d.label, "generator": space.generator}


def _progress_batches(batches, total: int, batch: int, progress):
    done = 0
    for b in batches:
        done = min(total, done + b.shape[0])
        yield b
        report(progress, done, total)


def render_walk(options, progress: Progress | None = None, *, G=None) -> dict:
    """One walk video per :class:`~facereel.options.walk.WalkOptions` (``G``: an already loaded generator)."""
    from facereel.latent.walk import plan_walk, render_frames

    G = G if G is not None else load_generator(options.generator, options.device)
    plan = plan_walk(G, options.mode, seed=options.seed, frames=options.frames, keypoints=options.keypoints,
                     loop_space=options.loop_space, even=options.even, truncation_psi=options.psi,
                     batch=options.batch)
    n = write_video(options.output, render_frames(G, plan, batch=options.batch, progress=progress, convert=to_uint8),
                    fps=options.fps, size=options.size)
    return {"output": str(options.output), "frames": n, **{k: v for k, v in plan.info.items() if k != "pilot_change"}}


class WalkJob(RenderJob):
    """The walks of many seeds with the settings of one :class:`~facereel.options.walk.WalkOptions`
    (its ``seed`` and ``output`` are each item's); the generator loads once per worker."""

    def __init__(self, options):
        self.options = options
        self._G = None

    def __getstate__(self):
        return {"options": self.options, "_G": None}      # workers load their own generator

    def signature(self) -> str:
        o = self.options
        return (f"walk:{o.generator}:{o.mode}:n={o.frames}:k={o.keypoints}:{o.loop_space}:even={o.even}:"
                f"psi={o.psi}:fps={o.fps}:size={o.size}")

    def setup(self) -> None:
        if self._G is None:
            self._G = load_generator(self.options.generator, self.options.device)

    def render(self, item: dict) -> int:
        import dataclasses

        self.setup()
        opts = dataclasses.replace(self.options, seed=int(item["seed"]), output=str(item["output"]))
        return render_walk(opts, G=self._G)["frames"]


def render_walks(options, render, batch=None, progress: Progress | None = None):
    """The walk of every seed of ``render`` (:class:`~facereel.options.batch.BatchRenderOptions`) as
    ``out_dir/<mode>-seed<S>.<format>``, in this process or on Ray (``batch``); finished videos are
    skipped, failed ones reported.  Returns the :class:`~facereel.batch.runner.BatchReport`."""
    out_dir = Path(render.out_dir)
    items = [{"key": f"{options.mode}-seed{s}", "seed": int(s),
              "output": str(out_dir / f"{options.mode}-seed{s}.{render.format}")} for s in render.seeds]
    return render_many(items, WalkJob(options), out_dir, batch, progress=progress)


def emotion_directions(G, *, samples: int = 1000, seed: int = 0, folder: str | None = None, batch: int = 32,
                       progress: Progress | None = None) -> dict[str, Direction]:
    """One logistic-regression direction per emotion: read from ``folder`` (``<emotion>.safetensors``)
    or fitted on ``samples`` labelled latents and cached under ``$FACEREEL_HOME/directions``."""
    from facereel.latent import directions as D
    from facereel.latent.labels import FaceLabeller, sample_labelled
    from facereel.options.choices import EMOTIONS
    from facereel.paths import cache_dir

    space = space_of(G)
    if folder:
        out = {}
        for e in EMOTIONS:
            p = Path(folder) / f"{e}.safetensors"
            if p.is_file():
                out[e] = load_direction(p)
                out[e].check(space)
        if not out:
            raise DirectionError(f"no <emotion>.safetensors direction files in {folder}")
        return out
    cache = cache_dir("directions", f"{space.generator}-emotions-{samples}-{seed}")
    if all((cache / f"{e}.safetensors").is_file() for e in EMOTIONS):
        return emotion_directions(G, folder=str(cache))
    labeller = FaceLabeller(["emotion"])
    try:
        X, labels = sample_labelled(G, samples, seed=seed, batch=batch, labeller=labeller, progress=progress)
    finally:
        labeller.close()
    out = {}
    for e in EMOTIONS:
        try:
            out[e] = D.fit_direction(X, labels, e, space, method="logistic")
        except DirectionError as exc:   # an emotion no sample shows
            log.warning("no %s direction: %s", e, exc)
            continue
        D.save_direction(out[e], cache / f"{e}.safetensors")
    return out


def render_emotions(options, progress: Progress | None = None) -> dict:
    from facereel.latent import edit as E
    from facereel.latent import emotions as M

    G = load_generator(options.generator, options.device)
    space = space_of(G)
    layers = None if space.kind == "z" else E.parse_layers(options.layers or "vs", space.num_ws)
    if tuple(options.sequence) == ("auto",):
        models = M.load_models(options.model)
        sequence = models.generate(options.start, options.length, options.order, seed=options.seed)
    else:
        sequence = M.parse_sequence(options.sequence)
    latent = face_latent(G, options.face, inversion=options.inversion)
    dirs = emotion_directions(G, samples=options.samples, seed=options.seed, folder=options.directions,
                              batch=options.batch)
    keys = M.keyframes(G, latent, dirs, sequence, options.strength, layers)
    lat = M.inbetween_latents(keys, options.inbetween)
    batches = _progress_batches(E.synthesize_batches(G, lat, options.batch, convert=to_uint8), lat.shape[0],
                                options.batch, progress)
    n = write_video(options.output, batches, fps=options.fps, size=options.size)
    return {"output": str(options.output), "frames": n, "sequence": sequence, "layers": layers}


def train_emotion_models(options, progress: Progress | None = None) -> dict:
    from facereel.latent import emotions as M

    sequences = []
    for i, v in enumerate(options.videos):
        from facereel.metrics.video_io import read_frames

        seq = M.sequence_of(M.video_emotions(read_frames(v), every=options.every), options.min_run)
        log.info("%s: %d emotions after collapsing repeats", v, len(seq))
        sequences.append(seq)
        report(progress, i + 1, len(options.videos))
    if not any(len(s) >= 2 for s in sequences):
        raise M.EmotionError("no video shows two different emotions in a row; nothing to learn")
    models = M.train_models(sequences, hidden=options.hidden, layers=options.layers, dropout=options.dropout,
                            epochs=options.epochs, seed=options.seed)
    models.info["videos"] = [Path(v).name for v in options.videos]
    M.save_models(models, options.output)
    return {"output": str(options.output), "sequences": len(sequences),
            "transitions": models.info["transitions"]}
