"""The interface of a pose/expression transfer method, and the registry of methods.

A method is driven by the runner (:mod:`facereel.reenact.runner`) like this::

    method = create_method(options.method)          # no model loaded yet
    method.configure(options)                       # options known before any pass
    if method.needs_driver_pass:                    # optional first pass over the driver
        for frame in driver_frames():
            method.observe(frame)
    method.prepare(target_rgb, options)             # loads models, analyses the target photo
    for out in method.drive_frames(driver_frames()):  # streamed; default: drive() per frame
        ...                                         # uint8 image, or None = no face in this frame
    method.close()

Contract of :meth:`ReenactMethod.drive`'s output: with ``options.paste_back`` False, the
FFHQ-aligned target face, ``options.size`` × ``options.size`` × 3 uint8; with it True, an image of
the target photo's own height and width (the face put back into the photo; see
:func:`facereel.reenact.paste.paste_back`).  Every call returns the same shape.  ``None`` means the
driver frame shows no face: the runner repeats the last output and counts the frame.

Additions to the minimal interface (all optional, with defaults here):

* :meth:`configure` — the options, given before the driver pass (default: kept as ``self.options``).

* ``needs_driver_pass`` / :meth:`observe` — the baseline needs z_A0, the mean code of *all* driver
  frames and their flips, before the first output; a method that sets ``needs_driver_pass`` gets
  every driver frame through ``observe`` (in order) before ``prepare``.  The driver is decoded
  twice rather than held in memory.
* :meth:`report` — a short dict the runner adds to its summary (which face was used, counts).
* :meth:`drive_frames` — the outputs of a whole stream of driver frames, in order; the default
  calls :meth:`drive` per frame.  A method may override it to work ahead (the warp method finds
  the landmarks of the next frames in a worker thread while it warps this one).

The target face: the methods call :func:`facereel.reenact.target.select_target_face` with the
options they were given; it honours ``options.face_index``, then ``options.reference``, then picks
the largest face, and raises :class:`NoFaceError` when the photo shows none.  The runner resolves
the choice once (and names it) before ``prepare``.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from facereel.core.errors import FacereelError

if TYPE_CHECKING:
    from facereel.options.reenact import ReenactOptions

__all__ = ["METHODS", "NoFaceError", "ReenactError", "ReenactMethod", "create_method", "get_method"]


class ReenactError(FacereelError):
    """Bad input to a reenactment (undecodable driver, mismatched checkpoint, ...)."""


class NoFaceError(ReenactError):
    """A photo that must show a face shows none."""


class ReenactMethod(abc.ABC):
    """One way of transferring a driver's head pose and expression onto a target photo."""

    #: registry name (``warp`` | ``baseline`` | ``learned``)
    name: str = ""
    #: True: the runner feeds every driver frame to :meth:`observe` before :meth:`prepare`.
    needs_driver_pass: bool = False

    def configure(self, options: ReenactOptions) -> None:
        """The run's options, before :meth:`observe` and :meth:`prepare` (which gets them again)."""
        self.options = options

    def observe(self, frame_rgb: np.ndarray) -> None:  # noqa: B027 (optional hook)
        """One driver frame (H×W×3 uint8) of the optional first pass; default: ignored."""

    @abc.abstractmethod
    def prepare(self, target_rgb: np.ndarray, options: ReenactOptions) -> None:
        """Analyse the target photo (H×W×3 uint8) and load what :meth:`drive` needs."""

    @abc.abstractmethod
    def drive(self, frame_rgb: np.ndarray) -> np.ndarray | None:
        """One driver frame (H×W×3 uint8) -> output frame (uint8, see the module docstring), or
        None when the frame shows no face."""

    def drive_frames(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray | None]:
        """:meth:`drive` of each frame of ``frames``, in order (one output per frame)."""
        for frame in frames:
            yield self.drive(frame)

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release models and buffers."""

    def report(self) -> dict[str, Any]:
        """Facts for the run's summary (JSON-serialisable)."""
        return {}


#: name -> "module:Class"; imported only when asked for.
METHODS: dict[str, str] = {
    "warp": "facereel.reenact.warp:WarpMethod",
    "baseline": "facereel.reenact.baseline:BaselineMethod",
    "learned": "facereel.reenact.learned:LearnedMethod",
}


def get_method(name: str) -> type[ReenactMethod]:
    """The method class registered as ``name`` (its module imported now)."""
    try:
        target = METHODS[name]
    except KeyError:
        raise ReenactError(f"unknown reenactment method {name!r}; choose one of {', '.join(METHODS)}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def create_method(name: str) -> ReenactMethod:
    """A new, unprepared instance of the method ``name``."""
    return get_method(name)()
