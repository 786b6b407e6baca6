"""Options of pose/expression transfer (``facereel reenact``): :class:`ReenactOptions`."""

from __future__ import annotations

import dataclasses

from . import Options, OptionsError, check_choice, check_float, check_int
from .choices import DEVICES, REENACT_BASELINE_ENCODERS, REENACT_METHODS, SIZE_MAX, SIZE_MIN

__all__ = ["ReenactOptions", "ReenactTrainOptions"]


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


@dataclasses.dataclass(frozen=True)
class ReenactTrainOptions(Options):
    """Training of the thesis' transfer network (``facereel reenact train``).

    Defaults are the thesis' best run: loss weights L2 0, LPIPS 0.05, ID 0.3, CosFace 0,
    L2-crop 2, LPIPS-crop 0.3; Ranger, lr 1e-5, batch 8, 1M steps; CosFace a = 5, b = 0.2.
    Data: ``frames_per_clip`` frames ``frame_interval`` s apart, faces with |yaw| > ``max_yaw`` or
    |pitch| > ``max_pitch`` degrees (MediaPipe) dropped; ``image_size`` the aligned crop side (256).
    """

    lr: float = 1e-5
    batch_size: int = 8
    max_steps: int = 1_000_000
    l2: float = 0.0
    lpips: float = 0.05
    id: float = 0.3
    cosface: float = 0.0
    l2_crop: float = 2.0
    lpips_crop: float = 0.3
    cosface_a: float = 5.0
    cosface_b: float = 0.2
    lpips_net: str = "alex"
    lpips_normalization: str = "lpips"
    optimizer: str = "ranger"
    image_size: int = 256
    frames_per_clip: int = 10
    frame_interval: float = 0.5
    max_yaw: float = 40.0
    max_pitch: float = 30.0
    board_interval: int = 50
    save_interval: int = 1000
    seed: int = 0
    device: str = "auto"

    def validate(self) -> ReenactTrainOptions:
        check_float("lr", self.lr, 0.0, 1.0, lo_open=True)
        check_int("batch_size", self.batch_size, 1, 4096)
        check_int("max_steps", self.max_steps, 1)
        for f in ("l2", "lpips", "id", "cosface", "l2_crop", "lpips_crop"):
            check_float(f, getattr(self, f), 0.0)
        if not any(getattr(self, f) for f in ("l2", "lpips", "id", "cosface", "l2_crop", "lpips_crop")):
            raise OptionsError("lpips", "every loss weight is 0: nothing to train")
        check_float("cosface_a", self.cosface_a, 0.0, lo_open=True)
        check_float("cosface_b", self.cosface_b, -1.0, 1.0)
        check_choice("lpips_net", self.lpips_net, ("alex", "vgg"))
        check_choice("lpips_normalization", self.lpips_normalization, ("lpips", "pet"))
        check_choice("optimizer", self.optimizer, ("ranger", "adam"))
        check_int("image_size", self.image_size, 32, 1024)
        check_int("frames_per_clip", self.frames_per_clip, 2)
        check_float("frame_interval", self.frame_interval, 0.0, 60.0, lo_open=True)
        check_float("max_yaw", self.max_yaw, 0.0, 90.0)
        check_float("max_pitch", self.max_pitch, 0.0, 90.0)
        check_int("board_interval", self.board_interval, 1)
        check_int("save_interval", self.save_interval, 1)
        check_int("seed", self.seed, 0)
        check_choice("device", self.device, DEVICES)
        return self
