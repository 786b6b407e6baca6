"""Training data: a folder of single-person clips -> cached aligned crops (+ identity codes) -> pairs.

:func:`build_dataset` follows the thesis' recipe: per clip, ``frames_per_clip`` frames taken
``frame_interval`` seconds apart (10 at 0.5 s), each FFHQ-aligned at ``image_size`` (the FFHQ recipe
pads a face cut off by the frame — typically the forehead — by reflection and blur), faces that
MediaPipe does not find or whose |yaw| / |pitch| exceed the limits dropped, clips left with fewer
than two frames dropped.  Crops are cached as PNG under ``cache/<clip>/<k>.png`` with an
``index.json``; with an ``identity_encoder`` (the frozen ReStyle-pSp E_i) each crop's identity code
is cached too (``latents.npy`` [K, n_styles, 512]), as the thesis precomputes them.  A clip whose
file (size, mtime) and settings match the index is not processed again.

:class:`PairSampler` draws a batch of the thesis' pairs: a source frame s_A, the identity code of a
random frame of the same clip (t_A), and a frame s_R of another clip with the code of a random
frame of that clip (t_R).  Its numpy generator state is part of the training checkpoint, so a
resumed run draws exactly the batches it would have drawn.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from facereel.core.atomic import atomic_write
from facereel.core.progress import Progress, report
from facereel.options.choices import VIDEO_SUFFIXES

from ..base import ReenactError

log = logging.getLogger(__name__)

__all__ = ["Clip", "TrainingSet", "build_dataset", "sample_times", "PairSampler", "load_dataset"]

INDEX_VERSION = 1


@dataclass
class Clip:
    name: str
    frames: list[str]                      # PNG paths relative to the cache folder
    latents: str | None = None             # .npy [K, n_styles, 512] relative path
    source: dict = field(default_factory=dict)


@dataclass
class TrainingSet:
    root: Path
    clips: list[Clip]
    settings: dict

    @property
    def n_frames(self) -> int:
        return sum(len(c.frames) for c in self.clips)


def sample_times(duration: float | None, interval: float, count: int) -> list[float]:
    """0, interval, 2 interval, ... (``count`` of them, within ``duration`` when known)."""
    times = [i * interval for i in range(count)]
    return [t for t in times if duration is None or t < duration]


def _clip_frames(path: Path, interval: float, count: int) -> Iterator[tuple[float, np.ndarray]]:
    """The first decoded frame at or after each sample time."""
    import av

    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            dur = float(c.duration / 1e6) if c.duration else None
            times = sample_times(dur, interval, count)
            k = 0
            for frame in c.decode(s):
                if k >= len(times):
                    break
                t = float(frame.time) if frame.time is not None else 0.0
                if t + 1e-6 >= times[k]:
                    yield t, frame.to_ndarray(format="rgb24")
                    k += 1
                    while k < len(times) and times[k] <= t + 1e-6:
                        k += 1
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise ReenactError(f"cannot decode the clip {path.name}: {str(exc).splitlines()[0] if str(exc) else exc}") from None


def _settings(options) -> dict:
    return {"version": INDEX_VERSION, "image_size": options.image_size, "frames_per_clip": options.frames_per_clip,
            "frame_interval": options.frame_interval, "max_yaw": options.max_yaw, "max_pitch": options.max_pitch}


def _clip_name(path: Path, root: Path) -> str:
    return str(path.relative_to(root).with_suffix("")).replace("/", "__")


def build_dataset(clips_dir: str | Path, cache_dir: str | Path, options,
                  identity_encoder: Callable[[list[np.ndarray]], np.ndarray] | None = None,
                  progress: Progress | None = None) -> TrainingSet:
    """Every video under ``clips_dir`` (recursively) -> cached crops; returns the :class:`TrainingSet`."""
    from PIL import Image

    from facereel.faces.align import align_face
    from facereel.faces.landmarks import landmarks_mediapipe

    clips_dir, cache = Path(clips_dir), Path(cache_dir)
    if not clips_dir.is_dir():
        raise ReenactError(f"the training data {clips_dir} is not a folder of clips")
    files = sorted(p for p in clips_dir.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        raise ReenactError(f"no video clips ({', '.join(VIDEO_SUFFIXES)}) under {clips_dir}")
    cache.mkdir(parents=True, exist_ok=True)
    settings = _settings(options)
    old = _read_index(cache)
    old_clips = {c.name: c for c in old.clips} if old is not None and old.settings == settings else {}
    clips: list[Clip] = []
    dropped = {"no_face": 0, "pose": 0, "short_clip": 0}
    for n, f in enumerate(files):
        name = _clip_name(f, clips_dir)
        st = f.stat()
        src = {"path": str(f), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        prev = old_clips.get(name)
        if prev is not None and prev.source == src and (prev.latents or identity_encoder is None) and \
                all((cache / fr).is_file() for fr in prev.frames):
            clips.append(prev)
            report(progress, n + 1, len(files))
            continue
        crops = []
        for _, rgb in _clip_frames(f, options.frame_interval, options.frames_per_clip):
            lm = landmarks_mediapipe(rgb)
            if lm is None:
                dropped["no_face"] += 1
                continue
            if (lm.yaw is not None and abs(lm.yaw) > options.max_yaw) or \
                    (lm.pitch is not None and abs(lm.pitch) > options.max_pitch):
                dropped["pose"] += 1
                continue
            crops.append(align_face(rgb, lm, size=options.image_size).image)
        if len(crops) < 2:
            dropped["short_clip"] += 1
            report(progress, n + 1, len(files))
            continue
        folder = cache / name
        folder.mkdir(parents=True, exist_ok=True)
        rel = []
        for k, crop in enumerate(crops):
            with atomic_write(folder / f"{k:02d}.png", "wb") as fh:
                Image.fromarray(crop).save(fh, format="PNG")
            rel.append(f"{name}/{k:02d}.png")
        lat = None
        if identity_encoder is not None:
            codes = np.asarray(identity_encoder(crops), dtype=np.float32)
            with atomic_write(folder / "latents.npy", "wb") as fh:
                np.save(fh, codes)
            lat = f"{name}/latents.npy"
        clips.append(Clip(name, rel, lat, src))
        report(progress, n + 1, len(files))
    if len(clips) < 2:
        raise ReenactError(f"only {len(clips)} usable clip(s) under {clips_dir} (dropped: {dropped}); "
                           "cross pairs need at least two")
    ts = TrainingSet(cache, clips, settings)
    _write_index(ts)
    log.info("training set: %d clips, %d frames (dropped %s)", len(clips), ts.n_frames, dropped)
    return ts


def _write_index(ts: TrainingSet) -> None:
    data = {"settings": ts.settings, "clips": [c.__dict__ for c in ts.clips]}
    with atomic_write(ts.root / "index.json", "w") as fh:
        json.dump(data, fh, indent=1)


def _read_index(cache: Path) -> TrainingSet | None:
    p = cache / "index.json"
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text())
        return TrainingSet(cache, [Clip(**c) for c in data["clips"]], data["settings"])
    except (ValueError, KeyError, TypeError):
        return None


def load_dataset(cache_dir: str | Path) -> TrainingSet:
    ts = _read_index(Path(cache_dir))
    if ts is None:
        raise ReenactError(f"{cache_dir} holds no training set index")
    return ts


def _image(path: Path) -> torch.Tensor:
    from PIL import Image

    with Image.open(path) as im:
        a = np.asarray(im.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(a).permute(2, 0, 1) / 127.5 - 1.0      # [3, H, W] in [-1, 1]


class PairSampler:
    """Batches ``dict(x, restyle_latent, x1, restyle_latent1)`` of the thesis' pairs (see the module doc)."""

    def __init__(self, dataset: TrainingSet, seed: int = 0,
                 identity_codes: Callable[[Clip], np.ndarray] | None = None):
        self.ds = dataset
        self.rng = np.random.default_rng(seed)
        self.frames = [(ci, k) for ci, c in enumerate(dataset.clips) for k in range(len(c.frames))]
        self._codes = identity_codes
        self._cache: dict[int, np.ndarray] = {}

    def codes(self, ci: int) -> np.ndarray:
        if ci not in self._cache:
            clip = self.ds.clips[ci]
            if self._codes is not None:
                self._cache[ci] = np.asarray(self._codes(clip), np.float32)
            elif clip.latents:
                self._cache[ci] = np.load(self.ds.root / clip.latents)
            else:
                raise ReenactError(f"clip {clip.name} has no identity codes (build the set with the identity encoder)")
        return self._cache[ci]

    def batch(self, n: int) -> dict[str, torch.Tensor]:
        xs, ls, x1s, l1s = [], [], [], []
        n_clips = len(self.ds.clips)
        for _ in range(n):
            ci, k = self.frames[int(self.rng.integers(len(self.frames)))]
            codes = self.codes(ci)
            xs.append(_image(self.ds.root / self.ds.clips[ci].frames[k]))
            ls.append(torch.from_numpy(codes[int(self.rng.integers(len(codes)))]))
            cj = (ci + 1 + int(self.rng.integers(n_clips - 1))) % n_clips        # another clip
            kj = int(self.rng.integers(len(self.ds.clips[cj].frames)))
            cod_j = self.codes(cj)
            x1s.append(_image(self.ds.root / self.ds.clips[cj].frames[kj]))
            l1s.append(torch.from_numpy(cod_j[int(self.rng.integers(len(cod_j)))]))
        return {"x": torch.stack(xs), "restyle_latent": torch.stack(ls),
                "x1": torch.stack(x1s), "restyle_latent1": torch.stack(l1s)}

    def state_dict(self) -> dict:
        return {"bit_generator": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["bit_generator"]
