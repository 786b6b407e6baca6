"""Pose and expression transfer: drive a target photo by a driver's frames.

* :mod:`.base` — the :class:`~.base.ReenactMethod` interface every method implements and the
  registry :func:`~.base.get_method` (``warp`` | ``baseline`` | ``learned``, imported lazily).
* the methods: ``warp`` (offline landmark warp), ``baseline`` (latent arithmetic, Jahoda's
  thesis Sec. baseline), ``learned`` (the thesis' transfer network g = G(M(E_i(t) ⊕ E_m(s)))).
* the runner (video in, video out), paste-back, training and evaluation.

Nothing here loads a model at import time.
"""

from .base import METHODS, NoFaceError, ReenactMethod, create_method, get_method

__all__ = ["METHODS", "NoFaceError", "ReenactMethod", "create_method", "get_method"]
