"""Encoder-based inversion: the official pSp / e4e / ReStyle compositions and their ``.pt`` files.

:class:`EncoderInverter` reproduces the wrappers of the three repositories (``models/psp.py`` of
pixel2style2pixel, encoder4editing and restyle-encoder, ``models/e4e.py`` of restyle-encoder):

* pSp / e4e (Richardson et al. 2021, Tov et al. 2021): codes = encoder(x) + latent_avg
  (``start_from_latent_avg``), optional style mixing (``latent_mask``), decoder([codes],
  input_is_latent=True), optional ``face_pool`` to 256x256.
* ReStyle (Alaluf et al. 2021, Eq. 1): w_{t+1} = w_t + E(cat(x, y_t)), with w_0 = latent_avg and
  y_0 the image of latent_avg; ``invert`` runs that loop (:meth:`EncoderInverter.restyle_loop`).

:class:`ReStyleSG3Inverter` is ReStyle over a StyleGAN3 decoder as yuval-alaluf/stylegan3-editing
runs it (16 styles, batched identity input transform, ``synthesis(codes, noise_mode='const',
force_fp32=True)``, 3 iterations by default).

:func:`load_inverter` reads a checkpoint in the repositories' format (``{'state_dict': {encoder.*,
decoder.*}, 'latent_avg', 'opts'}``) or a weights name from :mod:`facereel.weights`.  The released
pSp / e4e / ReStyle FFHQ models contain an FFHQ StyleGAN decoder and are NON-COMMERCIAL (NVIDIA
Source Code License for the generator weights).

Inputs to the networks are aligned faces resized to 256x256 and mapped to [-1, 1]
(:func:`preprocess`); images come back in [-1, 1] (:func:`to_uint8` converts as the repos'
``tensor2im`` does).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facereel.core.atomic import atomic_write
from facereel.core.device import resolve_device
from facereel.core.progress import Progress
from facereel.nets.encoders import BackboneEncoder, Encoder4Editing, GradualStyleEncoder, ProgressiveBackboneEncoder

log = logging.getLogger(__name__)

__all__ = [
    "EncoderInverter", "ReStyleSG3Inverter", "InversionOutput", "load_inverter", "build_inverter", "save_checkpoint",
    "preprocess", "to_uint8", "arcface_crop", "identity_transform", "KINDS",
]

#: inverter kinds: the wrapper semantics they follow
KINDS = ("psp", "e4e", "restyle_psp", "restyle_e4e")

ENCODER_TYPES = {
    "GradualStyleEncoder": "psp",
    "Encoder4Editing": "e4e",
    "BackboneEncoder": "restyle_psp",
    "ProgressiveBackboneEncoder": "restyle_e4e",
}

DEFAULT_RESTYLE_ITERS = 5       # restyle-encoder test options (n_iters_per_batch)
DEFAULT_RESTYLE_SG3_ITERS = 3   # stylegan3-editing default


# ----------------------------------------------------------------------------------------------
# input / output conversion


def preprocess(images, size: int = 256, device=None) -> torch.Tensor:
    """Aligned RGB faces -> [N, 3, size, size] float32 in [-1, 1].

    ``images``: one uint8 array [H, W, 3], an array [N, H, W, 3], a PIL image, or a sequence of those.
    Resizing is PIL bilinear (what ``torchvision.transforms.Resize`` does on PIL images), then
    ToTensor (/255) and Normalize(mean 0.5, std 0.5), as the repos' ``transforms_config``.
    """
    from PIL import Image

    if isinstance(images, torch.Tensor):
        raise TypeError("preprocess takes uint8 images; pass tensors in [-1, 1] to the model directly")
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    elif isinstance(images, Image.Image):
        images = [images]
    out = []
    for img in images:
        pil = img if isinstance(img, Image.Image) else Image.fromarray(np.asarray(img, dtype=np.uint8))
        pil = pil.convert("RGB")
        if pil.size != (size, size):
            pil = pil.resize((size, size), Image.BILINEAR)
        arr = np.asarray(pil, dtype=np.float32) / 255.0
        out.append(torch.from_numpy(arr).permute(2, 0, 1))
    x = torch.stack(out)
    x = (x - 0.5) / 0.5
    return x.to(device) if device is not None else x


def to_uint8(images: torch.Tensor, truncate: bool = False) -> np.ndarray:
    """[N, 3, H, W] in [-1, 1] -> uint8 [N, H, W, 3]: (x+1)/2 clamped to [0, 1], x255, rounded.

    ``truncate=True`` truncates instead, as the repos' ``tensor2im`` (``astype('uint8')``) does; that
    loses up to one level, so a round trip through :func:`preprocess` is exact only when rounding.
    """
    x = ((images.detach().float().cpu() + 1) / 2).clamp(0, 1) * 255
    x = x.permute(0, 2, 3, 1).numpy()
    return (x if truncate else np.rint(x)).astype(np.uint8)


def arcface_crop(images256: torch.Tensor) -> torch.Tensor:
    """pSp ID loss input: crop rows 35:223, cols 32:220 of a 256 face, average-pool to 112x112."""
    if images256.shape[-2:] != (256, 256):
        images256 = F.adaptive_avg_pool2d(images256, (256, 256))
    return F.adaptive_avg_pool2d(images256[:, :, 35:223, 32:220], (112, 112))


def identity_transform(n: int | None = None, device=None) -> torch.Tensor:
    """The StyleGAN3 input transform of an aligned render: eye(3), or [n, 3, 3] batched."""
    eye = torch.eye(3, device=device)
    return eye if n is None else eye.unsqueeze(0).repeat(n, 1, 1)


@dataclass
class InversionOutput:
    """``latents`` [N, n_styles, 512] and ``images`` [N, 3, R, R] in [-1, 1] of the last step;
    ``steps`` holds (images, latents) of every ReStyle iteration."""

    latents: torch.Tensor
    images: torch.Tensor | None
    steps: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------
# the compositions


class EncoderInverter(nn.Module):
    """Encoder + rosinality StyleGAN2 decoder + ``latent_avg``, as the official ``pSp`` wrappers.

    ``kind`` is one of :data:`KINDS`.  ``forward`` has the union of the official signatures and
    follows the semantics of the repository the kind comes from.
    """

    decoder_kind = "rosinality"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_avg: torch.Tensor | None, kind: str,
                 opts: dict | None = None, name: str | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.opts = dict(opts or {})
        self.name = name or kind
        self.encoder = encoder
        self.decoder = decoder
        self.face_pool = nn.AdaptiveAvgPool2d((256, 256))
        self.register_buffer("latent_avg", None if latent_avg is None else latent_avg.detach().float().clone())
        self.start_from_latent_avg = bool(self.opts.get("start_from_latent_avg", True)) or self.is_restyle
        self.learn_in_w = bool(self.opts.get("learn_in_w", False))
        self._avg_image: torch.Tensor | None = None
        self._generator = None

    # -- properties -------------------------------------------------------------------------
    @property
    def is_restyle(self) -> bool:
        return self.kind.startswith("restyle")

    @property
    def n_styles(self) -> int:
        return int(self.encoder.style_count)

    @property
    def resolution(self) -> int:
        return int(self.decoder.size)

    @property
    def device(self) -> torch.device:
        return self.latent_avg.device if self.latent_avg is not None else next(self.parameters()).device

    def _apply(self, fn, *args, **kwargs):
        self._avg_image = None
        return super()._apply(fn, *args, **kwargs)

    def load_state_dict(self, *args, **kwargs):
        self._avg_image = None
        return super().load_state_dict(*args, **kwargs)

    def fuse(self):
        """Switches the encoder to its fused inference path (call after moving to the device)."""
        self.eval()
        self.encoder.fuse()
        return self

    # -- the wrapper ------------------------------------------------------------------------
    def _add_latent_avg(self, codes: torch.Tensor) -> torch.Tensor:
        if self.latent_avg is None:
            raise RuntimeError("this checkpoint has no latent_avg (and none was computed)")
        avg = self.latent_avg
        if codes.ndim == 2:
            # single-w encoders: [N, 512] + the first (only) row of latent_avg
            return codes + avg.reshape(-1, avg.shape[-1])[0]
        if avg.ndim == 1:
            avg = avg.unsqueeze(0)
        return codes + avg.unsqueeze(0)  # == latent_avg.repeat(N, 1, 1), broadcast

    def encode(self, x: torch.Tensor, latent: torch.Tensor | None = None) -> torch.Tensor:
        """Encoder codes with the wrapper's offset: latent_avg, or (ReStyle, 6-channel input) the previous latent."""
        codes = self.encoder(x)
        if self.is_restyle:
            if x.shape[1] == 6 and latent is not None:
                return codes + latent                    # residual step, ReStyle Eq. (1)
            return self._add_latent_avg(codes)           # first step is relative to the average code
        if self.start_from_latent_avg:
            return self._add_latent_avg(codes)
        return codes

    def forward(self, x: torch.Tensor, latent: torch.Tensor | None = None, resize: bool = True,
                latent_mask: Sequence[int] | None = None, input_code: bool = False, randomize_noise: bool = True,
                inject_latent: torch.Tensor | None = None, return_latents: bool = False, alpha: float | None = None,
                average_code: bool = False, input_is_full: bool = False):
        if input_code:
            codes = x.clone() if latent_mask is not None else x
        else:
            codes = self.encode(x, latent)
        if latent_mask is not None:
            for i in latent_mask:
                if inject_latent is not None:
                    if alpha is not None:
                        codes[:, i] = alpha * inject_latent[:, i] + (1 - alpha) * codes[:, i]
                    else:
                        codes[:, i] = inject_latent[:, i]
                else:
                    codes[:, i] = 0
        if average_code:
            input_is_latent = True
        else:
            input_is_latent = (not input_code) or (input_is_full and self.is_restyle)
        images, result_latent = self.decoder([codes], input_is_latent=input_is_latent,
                                             randomize_noise=randomize_noise, return_latents=return_latents)
        if resize:
            images = self.face_pool(images)
        if return_latents:
            return images, result_latent
        return images

    # -- ReStyle ----------------------------------------------------------------------------
    def average_image(self) -> torch.Tensor:
        """The image of latent_avg pooled to 256: [1, 3, 256, 256] (ReStyle's ``get_average_image``)."""
        if self._avg_image is None:
            avg = self.latent_avg
            if avg.ndim == 1:
                avg = avg.unsqueeze(0).repeat(self.n_styles, 1)
            with torch.no_grad():
                self._avg_image = self(avg.unsqueeze(0), input_code=True, randomize_noise=False,
                                       return_latents=False, average_code=True).detach()
        return self._avg_image

    def restyle_loop(self, x: torch.Tensor, n_iters: int = DEFAULT_RESTYLE_ITERS, resize_outputs: bool = False,
                     progress: Progress | None = None) -> InversionOutput:
        """ReStyle inference (``run_on_batch``): x [N, 3, 256, 256] in [-1, 1]; every step kept."""
        if not self.is_restyle:
            raise ValueError(f"{self.kind} is not a ReStyle model")
        y_hat = self.average_image().to(x.dtype).repeat(x.shape[0], 1, 1, 1)
        latent = None
        steps = []
        for it in range(int(n_iters)):
            y, latent = self(torch.cat([x, y_hat], dim=1), latent=latent, randomize_noise=False,
                             return_latents=True, resize=resize_outputs)
            steps.append((y, latent))
            y_hat = self.face_pool(y)            # fed back at 256x256
            if progress:
                progress(it + 1, int(n_iters))
        return InversionOutput(latents=latent, images=steps[-1][0], steps=steps)

    # -- user API ---------------------------------------------------------------------------
    def run(self, x: torch.Tensor, iterations: int | None = None, resize: bool = False,
            progress: Progress | None = None) -> InversionOutput:
        """Inverts x [N, 3, 256, 256] in [-1, 1] (ReStyle: ``iterations`` refinement steps)."""
        x = x.to(self.device, torch.float32)
        with torch.no_grad():
            if self.is_restyle:
                return self.restyle_loop(x, iterations or self.default_iterations, resize_outputs=resize,
                                         progress=progress)
            images, latents = self(x, randomize_noise=False, return_latents=True, resize=resize)
            if progress:
                progress(1, 1)
            return InversionOutput(latents=latents, images=images, steps=[(images, latents)])

    @property
    def default_iterations(self) -> int:
        return int(self.opts.get("n_iters_per_batch") or DEFAULT_RESTYLE_ITERS) if self.is_restyle else 1

    def invert(self, images, iterations: int | None = None, batch_size: int = 4,
               progress: Progress | None = None) -> torch.Tensor:
        """Aligned uint8 faces ([N, H, W, 3] or a list) -> W+ latents [N, n_styles, 512] (CPU float32)."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = images[None]
        images = list(images)
        out = []
        for start in range(0, len(images), batch_size):
            x = preprocess(images[start:start + batch_size], device=self.device)
            if self.is_restyle:
                out.append(self.run(x, iterations).latents.detach().float().cpu())
                continue
            # pSp/e4e: the latents are the encoder's codes (+ latent_avg); the decoder returns them
            # unchanged (W+ in, W+ out), so the image pass is skipped.
            with torch.no_grad():
                codes = self.encode(x.to(self.device, torch.float32))
            if codes.ndim == 2:                        # single-w encoders: one w for every layer
                codes = codes.unsqueeze(1).repeat(1, self.decoder.n_latent, 1)
            out.append(codes.detach().float().cpu())
            if progress:
                progress(min(start + batch_size, len(images)), len(images))
        return torch.cat(out) if out else torch.empty(0, self.n_styles, 512)

    @property
    def generator(self):
        """The decoder as a :class:`facereel.nets.base.FaceGenerator` (latent_avg as its mean)."""
        if self._generator is None:
            from facereel.nets.rosinality import RosinalityFaceGenerator

            self._generator = RosinalityFaceGenerator(self.decoder, latent_avg=self.latent_avg,
                                                      name=f"{self.name}-decoder", device=self.device)
        return self._generator


class ReStyleSG3Inverter(EncoderInverter):
    """ReStyle-pSp / ReStyle-e4e over a StyleGAN3 decoder (stylegan3-editing ``psp3.pSp`` / ``e4e3.e4e``).

    codes = encoder(x) + (previous latent or latent_avg); the decoder renders with the input
    transform set to identity for every image, ``synthesis(codes, noise_mode='const',
    force_fp32=True)``; ``landmarks_transform`` ([N, 3, 3]) renders the "unaligned" image too.
    """

    decoder_kind = "stylegan3"

    def __init__(self, encoder, decoder, latent_avg, kind, opts=None, name=None):
        super().__init__(encoder, decoder, latent_avg, kind, opts, name)
        if not self.is_restyle:
            raise ValueError("StyleGAN3 decoders are only used with the ReStyle encoders")

    @property
    def resolution(self) -> int:
        return int(self.decoder.img_resolution)

    @property
    def default_iterations(self) -> int:
        return int(self.opts.get("n_iters_per_batch") or DEFAULT_RESTYLE_SG3_ITERS)

    def synthesize(self, codes: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        """codes [N, num_ws, 512] -> images with the given input transform ([3, 3] or [N, 3, 3]; identity if None)."""
        n = codes.shape[0]
        if transform is None:
            transform = identity_transform(n, device=codes.device)
        inp = self.decoder.synthesis.input
        saved = inp.transform.clone()
        try:
            if transform.ndim == 3 and not _batched_transform_ok(self.decoder):
                if bool((transform == transform[:1]).all()):
                    transform = transform[0]     # one shared transform: same result as the batch
                else:
                    # NVlabs' SynthesisInput takes one [3, 3] (stylegan3-editing's copy a batch):
                    # render image by image.
                    outs = []
                    for i in range(n):
                        _set_buffer(inp, "transform", transform[i])
                        outs.append(self.decoder.synthesis(codes[i:i + 1], noise_mode="const", force_fp32=True))
                    return torch.cat(outs)
            _set_buffer(inp, "transform", transform)
            return self.decoder.synthesis(codes, noise_mode="const", force_fp32=True)
        finally:
            _set_buffer(inp, "transform", saved)

    def forward(self, x: torch.Tensor, latent: torch.Tensor | None = None, resize: bool = True,
                input_code: bool = False, landmarks_transform: torch.Tensor | None = None,
                return_latents: bool = False, return_aligned_and_unaligned: bool = False, **_ignored):
        if input_code:
            codes = x
        else:
            codes = self.encode(x, latent)
        images = self.synthesize(codes)
        if resize:
            images = self.face_pool(images)
        unaligned = None
        if landmarks_transform is not None:
            unaligned = self.synthesize(codes, landmarks_transform.float())
            if resize:
                unaligned = self.face_pool(unaligned)
            if return_aligned_and_unaligned:
                return images, unaligned, codes
        if return_latents:
            return images, codes
        return images

    def average_image(self) -> torch.Tensor:
        if self._avg_image is None:
            avg = self.latent_avg
            if avg.ndim == 1:
                avg = avg.unsqueeze(0).repeat(self.n_styles, 1)    # latent_avg.repeat(16, 1)
            with torch.no_grad():
                self._avg_image = self(avg.unsqueeze(0), input_code=True, return_latents=False).detach()
        return self._avg_image

    def restyle_loop(self, x, n_iters=DEFAULT_RESTYLE_SG3_ITERS, resize_outputs=False, progress=None,
                     landmarks_transform: torch.Tensor | None = None) -> InversionOutput:
        """stylegan3-editing ``run_on_batch``: with ``landmarks_transform`` the last step returns the
        unaligned render."""
        y_hat = self.average_image().to(x.dtype).repeat(x.shape[0], 1, 1, 1)
        latent = None
        steps = []
        for it in range(int(n_iters)):
            last = it == int(n_iters) - 1
            res = self(torch.cat([x, y_hat], dim=1), latent=latent, landmarks_transform=landmarks_transform,
                       return_aligned_and_unaligned=True, return_latents=True, resize=resize_outputs)
            if landmarks_transform is None:
                y, latent = res
            else:
                aligned, unaligned, latent = res
                y = unaligned if last else aligned
            steps.append((y, latent))
            y_hat = self.face_pool(y)
            if progress:
                progress(it + 1, int(n_iters))
        return InversionOutput(latents=latent, images=steps[-1][0], steps=steps)

    @property
    def generator(self):
        if self._generator is None:
            from facereel.nets.adapters import NVFaceGenerator

            self._generator = NVFaceGenerator(self.decoder, name=f"{self.name}-decoder", device=self.device)
        return self._generator


def _batched_transform_ok(decoder) -> bool:
    """Whether the decoder's SynthesisInput takes [N, 3, 3] transforms (ours and stylegan3-editing's do)."""
    inp = decoder.synthesis.input
    if hasattr(inp, "supports_batched_transform"):
        return bool(inp.supports_batched_transform)
    from facereel.nets.stylegan3 import SynthesisInput

    return isinstance(inp, SynthesisInput)


def _set_buffer(module: nn.Module, name: str, value: torch.Tensor) -> None:
    buf = getattr(module, name)
    if buf.shape == value.shape:
        buf.copy_(value)
    else:
        module._buffers[name] = value.to(buf.device, buf.dtype).clone()


# ----------------------------------------------------------------------------------------------
# building from a checkpoint


def _count_styles(encoder_state: dict) -> int:
    idx = {int(k.split(".")[1]) for k in encoder_state if k.startswith("styles.") and k.endswith("linear.weight")}
    return len(idx)


def _detect_kind(opts: dict, encoder_state: dict) -> str:
    etype = opts.get("encoder_type")
    if etype is not None:
        if etype not in ENCODER_TYPES:
            raise ValueError(f"unsupported encoder_type {etype!r} (supported: {', '.join(ENCODER_TYPES)})")
        return ENCODER_TYPES[etype]
    # No opts: tell the layouts apart by their tensors.
    # (pSp and e4e share their tensor names; without opts the pSp wrapper semantics are assumed.)
    if "latlayer1.weight" in encoder_state:
        return "psp"
    return "restyle_psp"


def build_encoder(kind: str, encoder_state: dict, opts: dict | None = None) -> nn.Module:
    """The encoder of ``kind`` with the shapes of ``encoder_state`` (styles count, input channels)."""
    opts = opts or {}
    if "input_layer.0.weight" not in encoder_state:
        raise ValueError("encoder state has no input_layer.0.weight: not an IR-SE50 pSp/e4e/ReStyle encoder")
    n = _count_styles(encoder_state)
    in_nc = int(encoder_state["input_layer.0.weight"].shape[1])
    if kind == "psp":
        return GradualStyleEncoder(50, "ir_se", input_nc=in_nc, n_styles=n)
    if kind == "e4e":
        return Encoder4Editing(50, "ir_se", n_styles=n, input_nc=in_nc)
    if kind == "restyle_psp":
        return BackboneEncoder(50, "ir_se", n_styles=n, input_nc=in_nc)
    if kind == "restyle_e4e":
        return ProgressiveBackboneEncoder(50, "ir_se", n_styles=n, input_nc=in_nc)
    raise ValueError(kind)


def _load_strict(module: nn.Module, state: dict, what: str, allow_unexpected: bool = False,
                 ignore_missing: Sequence[str] = ()) -> None:
    result = module.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k not in ignore_missing]
    if missing:
        raise ValueError(f"{what}: the checkpoint lacks {len(missing)} tensors (e.g. {missing[:3]})")
    if result.unexpected_keys:
        if not allow_unexpected:
            raise ValueError(f"{what}: unexpected tensors in the checkpoint (e.g. {result.unexpected_keys[:3]})")
        log.warning("%s: ignoring %d unexpected tensors (e.g. %s)", what, len(result.unexpected_keys),
                    result.unexpected_keys[:3])


def build_inverter(encoder_state: dict, decoder_state: dict, latent_avg: torch.Tensor | None, opts: dict | None,
                   name: str | None = None) -> EncoderInverter:
    """Builds the composition from the checkpoint parts (the prefixes ``encoder.``/``decoder.`` stripped)."""
    from facereel.checkpoints.loaders import build_network
    from facereel.checkpoints.torch_files import psp_decoder_spec

    opts = dict(opts or {})
    kind = _detect_kind(opts, encoder_state)
    encoder = build_encoder(kind, encoder_state, opts)
    # pSp / e4e load the encoder strictly; ReStyle with strict=False (we still refuse missing tensors).
    _load_strict(encoder, encoder_state, "encoder", allow_unexpected=kind.startswith("restyle"))
    spec = psp_decoder_spec({"encoder": encoder_state, "decoder": decoder_state, "latent_avg": latent_avg,
                             "opts": opts})
    dkind = spec.kind
    decoder = build_network(spec)     # strict by official names (SG3: the user transform excepted)
    if dkind == "rosinality":
        cls = EncoderInverter
        n_latent = decoder.n_latent
    elif dkind == "stylegan3":
        cls = ReStyleSG3Inverter
        n_latent = decoder.num_ws
    else:
        raise ValueError(f"unsupported decoder type {dkind!r} in an encoder checkpoint")
    if encoder.style_count != n_latent:
        raise ValueError(f"the encoder predicts {encoder.style_count} styles but the decoder takes {n_latent}")

    if latent_avg is None and (kind.startswith("restyle") or opts.get("start_from_latent_avg", True)):
        latent_avg = _mean_latent(decoder, dkind, n_latent)
    return cls(encoder, decoder, latent_avg, kind, opts, name=name)


@torch.no_grad()
def _mean_latent(decoder, dkind: str, n_latent: int) -> torch.Tensor:
    """Average w when the checkpoint has no latent_avg: the mapping's w_avg (SG3), else the mean of
    10,000 mapped z (e4e's fallback), seeded so it is reproducible."""
    if dkind == "stylegan3":
        return decoder.mapping.w_avg.detach().clone()
    g = torch.Generator().manual_seed(0)
    z = torch.randn(10_000, decoder.style_dim, generator=g)
    w = decoder.style(z).mean(0)
    log.warning("checkpoint has no latent_avg; using the mean of 10,000 mapped samples")
    return w.unsqueeze(0).repeat(n_latent, 1)


def _resolve(checkpoint: str | Path) -> Path:
    """A file path, or a weights name of :mod:`facereel.weights` that is installed."""
    p = Path(checkpoint).expanduser()
    if p.is_file():
        return p
    if p.suffix in (".pt", ".pth", ".ckpt", ".safetensors") or "/" in str(checkpoint) or "\\" in str(checkpoint):
        raise FileNotFoundError(f"no such checkpoint: {checkpoint}")
    from facereel import weights

    try:
        path = weights.local_path(str(checkpoint))
    except weights.WeightsError as exc:
        raise FileNotFoundError(str(exc)) from exc
    if path is None:
        raise FileNotFoundError(f"{checkpoint} weights are not installed")
    return Path(path)


def load_inverter(checkpoint_path_or_weights_name: str | Path, device=None, *, fuse: bool = True) -> EncoderInverter:
    """Reads a pSp / e4e / ReStyle (SG2 or SG3 decoder) ``.pt`` and returns the eval-mode composition.

    The kind comes from ``opts['encoder_type']`` (pSp: GradualStyleEncoder, e4e: Encoder4Editing,
    ReStyle: BackboneEncoder / ProgressiveBackboneEncoder); the decoder type from its tensors.
    ``device`` None picks CUDA when available.  Raises FileNotFoundError for a missing file or
    uninstalled weights, ValueError for a file that is not such a checkpoint.
    """
    from facereel.checkpoints.errors import CheckpointError
    from facereel.checkpoints.torch_files import read_psp_checkpoint

    path = _resolve(checkpoint_path_or_weights_name)
    try:
        ck = read_psp_checkpoint(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # CheckpointError and friends: one clear message
        raise ValueError(str(exc)) from exc
    name = Path(str(checkpoint_path_or_weights_name)).stem
    try:
        model = build_inverter(ck["encoder"], ck["decoder"], ck["latent_avg"], ck["opts"], name=name)
    except (ValueError, KeyError, RuntimeError, CheckpointError) as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    del ck
    model = model.to(resolve_device(device)).eval().requires_grad_(False)
    if fuse:
        model.fuse()
    return model


def save_checkpoint(model: EncoderInverter, path: str | Path) -> Path:
    """Writes ``model`` in the repositories' ``.pt`` format (``{'state_dict': {encoder.*, decoder.*},
    'latent_avg', 'opts'}``), which :func:`load_inverter` and the official wrappers read."""
    state = {f"encoder.{k}": v.detach().cpu() for k, v in model.encoder.state_dict().items()}
    state.update({f"decoder.{k}": v.detach().cpu() for k, v in model.decoder.state_dict().items()})
    opts = dict(model.opts)
    opts.setdefault("encoder_type", {v: k for k, v in ENCODER_TYPES.items()}[model.kind])
    if model.decoder_kind == "rosinality":
        opts.setdefault("stylegan_size" if model.kind == "e4e" else "output_size", model.resolution)
    ckpt = {"state_dict": state, "opts": opts,
            "latent_avg": None if model.latent_avg is None else model.latent_avg.detach().cpu()}
    path = Path(path)
    with atomic_write(path, "wb") as f:
        torch.save(ckpt, f)
    return path


def n_styles_for(size: int) -> int:
    """2 log2(size) - 2 W+ entries (18 at 1024)."""
    return int(math.log2(size)) * 2 - 2
