"""The heavy per-item stages the batch layer runs: align a face, invert a crop, both in one go.

Items are small dicts: ``{"key", "path"}`` for a photo, ``{"key", "path", "frame"}`` for a video
frame (a batch of frames of one video is decoded in one forward pass), ``{"key", "crop"}`` for an
aligned crop ([S, S, 3] uint8).
"""

from __future__ import annotations

import logging

import numpy as np

from facereel.batch.runner import Stage

log = logging.getLogger(__name__)


def _video_frames(path: str, wanted: list[int]) -> dict[int, np.ndarray]:
    """{frame index: RGB} for the wanted frame indices of one video.

    Seeks to the keyframe before the first wanted frame (constant frame rate: index = pts x
    time_base x rate), then decodes forward to the last one, so a batch of frames late in a long
    video costs one GOP, not the whole video up to it.
    """
    import av

    out: dict[int, np.ndarray] = {}
    want, first, last = set(wanted), min(wanted), max(wanted)
    with av.open(path) as c:
        st = c.streams.video[0]
        rate = float(st.average_rate or 0) or None
        tb = float(st.time_base) if st.time_base else None
        seeked = False
        if rate and tb and first > 0:
            c.seek(int(first / rate / tb), stream=st, backward=True, any_frame=False)
            seeked = True
        i = -1
        for fr in c.decode(st):
            if seeked and fr.pts is not None:
                i = int(round(fr.pts * tb * rate))   # absolute index from the timestamp
            else:
                i += 1
            if i in want:
                out[i] = fr.to_ndarray(format="rgb24")
            if i >= last:
                break
    return out


class AlignStage(Stage):
    """Detect the largest face, MediaPipe landmarks, FFHQ alignment (and the age estimate)."""

    name = "align"

    def __init__(self, size: int = 256, recipe: str = "ffhq", landmarks: str = "mediapipe", age: bool = True):
        self.size, self.recipe, self.landmarks, self.age = int(size), recipe, landmarks, age

    def signature(self) -> str:
        return f"align:{self.size}:{self.recipe}:{self.landmarks}"

    def setup(self) -> None:
        from facereel.faces import _models

        _models.hog_detector()                     # load once per worker, not on the first item

    def _images(self, items: list[dict]):
        from facereel.faces.io import load_image

        frames: dict[str, list[int]] = {}
        for it in items:
            if it.get("frame") is not None:
                frames.setdefault(str(it["path"]), []).append(int(it["frame"]))
        decoded = {}
        for path, idx in frames.items():
            try:
                decoded[path] = _video_frames(path, idx)
            except Exception as exc:  # noqa: BLE001 - one unreadable video drops its items with the reason
                decoded[path] = exc
        for it in items:
            if it.get("crop") is not None:
                yield np.asarray(it["crop"], np.uint8), None
            elif it.get("frame") is not None:
                got = decoded[str(it["path"])]
                if isinstance(got, Exception):
                    yield None, f"cannot decode the video ({got})"
                else:
                    img = got.get(int(it["frame"]))
                    yield (img, None) if img is not None else (None, "frame not in the video")
            else:
                try:
                    yield np.asarray(load_image(str(it["path"])).rgb), None
                except Exception as exc:  # noqa: BLE001 - unreadable file: dropped with its reason
                    yield None, f"cannot read the image ({exc})"

    def process(self, items: list[dict]) -> list[dict]:
        from facereel.faces.analyze import analyze_faces

        out = []
        for img, err in self._images(items):
            if err:
                out.append({"error": err})
                continue
            faces = [f for f in analyze_faces(img, landmarks=self.landmarks, size=self.size, recipe=self.recipe)
                     if f.alignment is not None]
            if not faces:
                out.append({"error": "no face"})
                continue
            f = faces[0]
            res = {"crop": f.alignment.image, "quad": f.alignment.quad}
            if self.age and getattr(f, "age", None) is not None:
                res["age_estimate"] = float(f.age)
            out.append(res)
        return out


class InvertStage(Stage):
    """Inverts aligned crops (item ``"crop"``) with any inversion method into the generator's space."""

    name = "invert"

    def __init__(self, settings, generator: str | None = None, device: str = "auto", use_cache: bool = True):
        self.settings, self.generator, self.device, self.use_cache = settings, generator, device, use_cache
        self._gen = None

    def signature(self) -> str:
        from facereel.inversion.api import _encoder_id

        enc = _encoder_id(self.settings) if self.settings.method != "optimize" else ""
        return f"invert:{self.generator or ''}:{enc}:{self.settings.key()}"

    def setup(self) -> None:
        from facereel.inversion.api import load_encoder

        if self.generator is not None or self.settings.method == "optimize":
            from facereel.checkpoints.loaders import load_generator

            self._gen = load_generator(self.generator or "dcgan-digiface", device=self.device)
        load_encoder(self.settings)

    def process(self, items: list[dict]) -> list[dict]:
        from facereel.inversion.api import invert_images, model_id

        crops = [np.asarray(it["crop"], np.uint8) for it in items]
        latents, gen = invert_images(crops, self._gen, self.settings, use_cache=self.use_cache)
        self._gen = gen
        mid = model_id(gen)
        return [{"latent": lat.numpy().astype(np.float32), "generator": mid, "latent_kind": gen.latent_kind}
                for lat in latents]


class AlignInvertStage(Stage):
    """Align then invert in one worker: the crop never travels between workers."""

    name = "align+invert"

    def __init__(self, align: AlignStage, invert: InvertStage):
        self.align, self.invert = align, invert

    def signature(self) -> str:
        return f"{self.align.signature()}|{self.invert.signature()}"

    def setup(self) -> None:
        self.align.setup()
        self.invert.setup()

    def process(self, items: list[dict]) -> list[dict]:
        aligned = self.align.process(items)
        ok = [i for i, r in enumerate(aligned) if "error" not in r]
        if ok:
            inv = self.invert.process([{"key": items[i]["key"], "crop": aligned[i]["crop"]} for i in ok])
            for i, r in zip(ok, inv):
                aligned[i].update(r)
        return aligned


class LabelSamplesStage(Stage):
    """Seeded samples of a generator, synthesised and labelled (items ``{"key", "seed"}``).

    Every worker calibrates the labeller's face box on the same seeds (``calibration_seeds``)
    in :meth:`setup`, so the labels do not depend on how items are split into batches.
    """

    name = "label"

    def __init__(self, generator: str, labels: list[str], *, psi: float = 1.0, device: str = "auto",
                 calibration_seeds: tuple[int, ...] = tuple(range(16))):
        self.generator, self.labels, self.psi, self.device = generator, list(labels), float(psi), device
        self.calibration_seeds = tuple(calibration_seeds)
        self._G = self._labeller = None

    def signature(self) -> str:
        return f"label:{self.generator}:{','.join(sorted(self.labels))}:psi={self.psi}:cal={len(self.calibration_seeds)}"

    def setup(self) -> None:
        import torch

        from facereel.checkpoints.loaders import load_generator
        from facereel.latent.labels import FaceLabeller
        from facereel.latent.space import to_uint8

        self._G = load_generator(self.generator, device=self.device)
        self._labeller = FaceLabeller.for_labels(self.labels)
        with torch.inference_mode():
            imgs = to_uint8(self._G.synthesize(self._G.sample(list(self.calibration_seeds), truncation_psi=self.psi)))
        self._labeller.calibrate(imgs)

    def process(self, items: list[dict]) -> list[dict]:
        import torch

        from facereel.latent.space import native_to_fit, to_uint8

        seeds = [int(it["seed"]) for it in items]
        with torch.inference_mode():
            lat = self._G.sample(seeds, truncation_psi=self.psi)
            imgs = to_uint8(self._G.synthesize(lat))
            codes = native_to_fit(self._G, lat).double().cpu().numpy()
        labels = self._labeller(imgs)
        return [{"code": codes[i], **{k: float(v[i]) for k, v in labels.items()}} for i in range(len(items))]


def sample_labelled_batched(generator: str, n: int, labels: list[str], store_dir=None, *, seed: int = 0, psi: float = 1.0,
                            device: str = "auto", options=None, progress=None):
    """Like :func:`facereel.latent.labels.sample_labelled`, through the batch layer (resumable store,
    optionally on Ray): ``(codes [n, dim], {label: [n]})`` for seeds ``seed … seed + n − 1``.

    ``store_dir`` defaults to a cache folder named by the stage signature (generator, labels, psi).
    """
    import hashlib

    from facereel.batch.runner import run_batch
    from facereel.batch.store import ResultStore
    from facereel.paths import cache_dir

    stage = LabelSamplesStage(generator, labels, psi=psi, device=device)
    if store_dir is None:
        store_dir = cache_dir("labels", hashlib.sha256(stage.signature().encode()).hexdigest()[:20])
    store = ResultStore(store_dir, stage.signature())
    items = [{"key": f"seed{s}", "seed": s} for s in range(seed, seed + n)]
    run_batch(items, stage, store, options, progress=progress)
    results = [store.get(it["key"]) for it in items]
    codes = np.stack([np.asarray(r["code"], np.float64) for r in results])
    names = [k for k in results[0] if k != "code"]
    return codes, {k: np.array([r[k] for r in results], np.float64) for k in names}
