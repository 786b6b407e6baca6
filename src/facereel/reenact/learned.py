"""``--method learned``: the thesis' transfer network g = G(M(E_i(t) ⊕ E_m(s))).

prepare: the target face is FFHQ-aligned at 256 and inverted by the frozen ReStyle-pSp encoder
(``options.identity_encoder``, ``options.restyle_iterations`` steps; the thesis' Tool takes the last
iteration's W+ code) into t [1, 18, 512].  drive: each driver frame is aligned the same way, its
motion code E_m(s) is smoothed over time (exponential, weight ``options.smoothing`` on the previous
code; the thesis uses none) and the output is G(M(t ⊕ E_m(s))) at 1024, resized to
``options.size`` and optionally pasted back.  Noise: the registered noise buffers
(``randomize_noise=False``), so a frame renders the same every time (the thesis' Tool draws fresh
noise per frame, which flickers).

The released checkpoint and the ReStyle encoder are NON-COMMERCIAL (their FFHQ StyleGAN2 decoder).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from .base import ReenactError, ReenactMethod

log = logging.getLogger(__name__)

__all__ = ["LearnedMethod", "to_uint8_resized", "align256"]

DEFAULT_CHECKPOINT = "pet_best_model"


def align256(rgb: np.ndarray, landmarks) -> np.ndarray:
    from facereel.faces.align import align_face

    return align_face(rgb, landmarks, size=256).image


def to_uint8_resized(images: torch.Tensor, size: int) -> np.ndarray:
    """[1, 3, R, R] in [-1, 1] -> [size, size, 3] uint8 (area-averaged when shrinking)."""
    import torch.nn.functional as F

    x = images.detach().float()
    if x.shape[-1] != size:
        mode = "area" if x.shape[-1] > size else "bilinear"
        x = F.interpolate(x, size=(size, size), mode=mode, **({} if mode == "area" else {"align_corners": False}))
    x = ((x[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 0).cpu().numpy()


class LearnedMethod(ReenactMethod):
    name = "learned"

    def __init__(self, network=None, inverter=None):
        self.net = network           # tests may pass small seeded networks of the real classes
        self.inverter = inverter
        self.identity: torch.Tensor | None = None
        self._prev_code: torch.Tensor | None = None
        self._frames = 0

    def prepare(self, target_rgb: np.ndarray, options) -> None:
        from facereel.core.device import resolve_device
        from facereel.inversion.encoders import load_inverter, preprocess

        from .network import load_transfer_network
        from .target import select_target_face

        self.options = options
        self.device = torch.device(resolve_device(options.device)) if self.net is None else \
            next(self.net.parameters()).device
        self.face = select_target_face(target_rgb, options)
        self.target_rgb = target_rgb
        if self.net is None:
            self.net = load_transfer_network(options.checkpoint or DEFAULT_CHECKPOINT, self.device)
        if self.inverter is None:
            try:
                self.inverter = load_inverter(_resolve_weights(options.identity_encoder), device=self.device)
            except (FileNotFoundError, ValueError) as exc:
                raise ReenactError(f"identity encoder: {exc}") from None
        if self.inverter.kind != "restyle_psp":
            raise ReenactError(f"the learned method needs a ReStyle-pSp identity encoder; "
                               f"{options.identity_encoder} is a {self.inverter.kind} checkpoint")
        if self.inverter.n_styles != self.net.n_styles:
            raise ReenactError(f"the identity encoder gives {self.inverter.n_styles} styles, the transfer network "
                               f"expects {self.net.n_styles}")
        crop = align256(target_rgb, self.face.landmarks)
        with torch.no_grad():
            x = preprocess(crop, device=self.device)
            self.identity = self.inverter.run(x, options.restyle_iterations).latents.detach()

    @torch.no_grad()
    def drive(self, frame_rgb: np.ndarray) -> np.ndarray | None:
        from facereel.inversion.encoders import preprocess

        from .target import face_landmarks

        lm = face_landmarks(frame_rgb)
        if lm is None:
            return None
        x = preprocess(align256(frame_rgb, lm), device=self.device)
        code = self.net.encoder(x)
        s = float(self.options.smoothing)
        if self._prev_code is not None and s > 0:
            code = s * self._prev_code + (1 - s) * code          # EMA of the motion code over frames
        self._prev_code = code
        img = self.net(code, self.identity, resize=False, input_code=True, randomize_noise=False)
        self._frames += 1
        face = to_uint8_resized(img, self.options.size)
        if not self.options.paste_back:
            return face
        from .paste import paste_back

        return paste_back(face, self.target_rgb, self.face.alignment, self.options.feather)

    def close(self) -> None:
        self.net = self.inverter = self.identity = self._prev_code = None

    def report(self) -> dict:
        return {"frames_driven": self._frames}


def _resolve_weights(name_or_path: str):
    from .network import resolve_checkpoint

    return resolve_checkpoint(name_or_path)
