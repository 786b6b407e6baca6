"""Options of pose/expression transfer (``facereel reenact``): :class:`ReenactOptions`."""

from __future__ import annotations

import dataclasses

from . import Options, OptionsError, check_choice, check_float, check_int
from .choices import DEVICES, REENACT_BASELINE_ENCODERS, REENACT_METHODS, SIZE_MAX, SIZE_MIN

__all__ = ["ReenactOptions"]


@dataclasses.dataclass(frozen=True)
class ReenactOptions(Options):
    """How a target photo is driven by a driver's frames.

    * ``method``: ``warp`` (offline landmark warp), ``baseline`` (latent arithmetic
      z_R + (z_A1 - z_A0)), ``learned`` (the thesis' transfer network).
    * ``size``: side of the aligned output face in pixels (ignored by ``paste_back`` outputs,
      which have the target photo's size).
    * ``paste_back``: put the generated face back into the full target photo (feathered mask).
    * ``feather``: width of the paste-back mask's soft edge, as a fraction of the face crop side.
    * ``reference``: a photo of the person to drive when the target shows several faces
      (else the largest face is used); ``face_index`` picks one directly (detection order).
    * ``smoothing``: temporal smoothing of the driver's motion, 0 (none) .. 1 (frozen).
    * ``device``: ``auto`` | ``cpu`` | ``cuda``.
    * ``checkpoint``: the learned method's ``best_model.pt`` (path or weights name; None:
      ``pet_best_model``), or the baseline's pSp/e4e/ReStyle checkpoint (None: the official one).
    * ``identity_encoder``: the ReStyle-pSp checkpoint (path or weights name) that inverts the
      target for the learned method.
    * ``encoder``/``generator``: the baseline's inversion method and generator (weights names or
      paths); ``restyle_iterations`` for ReStyle inversions.
    * ``fps``: output frame rate (None: the driver's, 25 for images/folders).
    * ``max_frames``: stop after this many driver frames (None: all).
    * ``keep_audio``: copy the driver's audio stream into the output when it has one.
    """

    method: str = "warp"
    size: int = 256
    paste_back: bool = False
    feather: float = 0.08
    reference: str | None = None
    face_index: int | None = None
    smoothing: float = 0.5
    device: str = "auto"
    checkpoint: str | None = None
    identity_encoder: str = "restyle_psp_ffhq_encode"
    encoder: str = "psp"
    generator: str | None = None
    restyle_iterations: int = 5
    fps: float | None = None
    max_frames: int | None = None
    keep_audio: bool = True

    def validate(self) -> ReenactOptions:
        check_choice("method", self.method, REENACT_METHODS)
        check_int("size", self.size, SIZE_MIN, SIZE_MAX)
        if not isinstance(self.paste_back, bool):
            raise OptionsError("paste_back", f"must be true or false, got {self.paste_back!r}")
        check_float("feather", self.feather, 0.0, 0.5)
        if self.reference is not None and not str(self.reference).strip():
            raise OptionsError("reference", "must name a photo")
        if self.face_index is not None:
            check_int("face_index", self.face_index, 0)
        check_float("smoothing", self.smoothing, 0.0, 1.0)
        if self.smoothing >= 1.0:
            raise OptionsError("smoothing", "must be below 1 (1 would freeze the motion)")
        check_choice("device", self.device, DEVICES)
        check_choice("encoder", self.encoder, REENACT_BASELINE_ENCODERS)
        check_int("restyle_iterations", self.restyle_iterations, 1, 20)
        if self.fps is not None:
            check_float("fps", self.fps, 0.0, 240.0, lo_open=True)
        if self.max_frames is not None:
            check_int("max_frames", self.max_frames, 1)
        if not isinstance(self.keep_audio, bool):
            raise OptionsError("keep_audio", f"must be true or false, got {self.keep_audio!r}")
        return self
