"""SAM: age transformation by a style-based regression model (yuval-alaluf/SAM, ``models/psp.py`` ``pSp``).

Alaluf, Patashnik and Cohen-Or, "Only a Matter of Style: Age Transformation Using a Style-Based
Regression Model" (SIGGRAPH 2021), Sec. 3 / Fig. 2: a pSp encoder E_age reads the photo with a
fourth, constant channel holding the target age and predicts a *residual* in W+ over the code of a
frozen, pretrained pSp encoder E_psp:

    w = E_age(x ⊕ age/100) + (E_psp(x) + w̄)                  (the paper's Eq. 1 with start_from_encoded_w_plus)
    y = G(w)

* ``encoder`` — ``GradualStyleEncoder(50, 'ir_se', n_styles)`` with ``input_nc=4`` (the official
  SAM encoder takes ``n_styles`` as a constructor argument; layers and names equal pSp's);
* ``decoder`` — rosinality ``Generator(output_size, 512, 8)``;
* ``face_pool`` — ``AdaptiveAvgPool2d((256, 256))``;
* ``pretrained_encoder`` — the pSp FFHQ encoder (``input_nc=3``), registered after ``face_pool`` so
  its names come last in ``state_dict`` (only with ``start_from_encoded_w_plus``);
* ``latent_avg`` — [n_styles, 512], a checkpoint top-level tensor, not part of the official module's
  state dict (kept here as a non-persistent buffer so ``.to()`` moves it).

Parameter names are the official ones, so the ``state_dict`` of ``sam_ffhq_aging.pt`` loads with
``strict=True`` part by part (``encoder.*``, ``decoder.*``, ``pretrained_encoder.*``).

:func:`age_channel` builds the 4-channel input exactly as the official ``AgeTransformer``
(``datasets/augmentations.py``) does.  :meth:`SAM.age_codes` is the inference shortcut for one photo
at many target ages: E_psp(x) + w̄ does not depend on the age, so it runs once instead of once per
age (the official forward recomputes it on every call).

How it runs is an :class:`~facereel.nets.plan.ExecutionPlan` (the call's ``plan=``, else
``SAM.plan``, else the process default), handed to both encoders and the decoder.  A reference plan
runs the official op order everywhere; a fast one runs the fused encoders (after :meth:`SAM.fuse`,
heads grouped), the decoder's fast path, and, without autograd on the CPU, the two encoders as
concurrent branches (``plan.concurrent_branches``, :mod:`facereel.nets.concurrent`): they read the
same photo and neither needs the other's result.

The released SAM model contains the FFHQ StyleGAN2 generator (NVIDIA Source Code License-NC) and
is NON-COMMERCIAL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from . import concurrent
from .encoders.psp import GradualStyleEncoder
from .plan import ExecutionPlan, resolve
from .rosinality import Generator

__all__ = ["SAM", "age_channel", "age_value", "n_styles_for", "AGE_MIN", "AGE_MAX"]

#: the target ages SAM was trained on (``uniform_random`` draws ``np.random.randint(0, 101)``)
AGE_MIN, AGE_MAX = 0, 100


def n_styles_for(size: int) -> int:
    """2 log2(size) - 2 W+ entries (18 at 1024), as ``pSp.__init__`` sets ``opts.n_styles``."""
    return int(math.log2(size)) * 2 - 2


def age_value(age) -> float:
    """The age channel's value: ``int(target_age) / 100`` (a Python float; "20" -> 0.2)."""
    return int(age) / 100


def age_channel(images: torch.Tensor, ages: Sequence) -> torch.Tensor:
    """[N, 3, H, W] in [-1, 1] + one target age per image -> [N, 4, H, W] float32.

    Per image, as ``AgeTransformer(target_age)(img)``: ``torch.cat((img, age_value(age) *
    torch.ones((1, H, W))))``; the results are stacked and ``.float()``-ed as ``scripts/inference.py``
    does.  Ages are whole numbers (or their strings); the channel is in [0, 1], not [-1, 1].
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected [N, 3, H, W] images, got {tuple(images.shape)}")
    ages = list(ages)
    if len(ages) != images.shape[0]:
        raise ValueError(f"{len(ages)} ages for {images.shape[0]} images")
    h, w = images.shape[-2:]
    out = []
    for img, age in zip(images, ages):
        ones = torch.ones((1, h, w), dtype=img.dtype, device=img.device)
        out.append(torch.cat((img, age_value(age) * ones)))
    return torch.stack(out).float()


class SAM(nn.Module):
    """The official SAM wrapper.  ``forward`` has the official signature and semantics.

    ``start_from_latent_avg`` wins over ``start_from_encoded_w_plus`` when both are set, as in the
    official ``elif``; the released FFHQ model uses ``start_from_encoded_w_plus`` only.
    """

    def __init__(self, output_size: int = 1024, input_nc: int = 4, *, start_from_latent_avg: bool = False,
                 start_from_encoded_w_plus: bool = True, decoder: nn.Module | None = None,
                 encoder: nn.Module | None = None, pretrained_encoder: nn.Module | None = None):
        super().__init__()
        self.output_size = int(output_size)
        self.n_styles = n_styles_for(self.output_size)
        self.start_from_latent_avg = bool(start_from_latent_avg)
        self.start_from_encoded_w_plus = bool(start_from_encoded_w_plus)
        self.encoder = encoder if encoder is not None else GradualStyleEncoder(
            50, "ir_se", input_nc=input_nc, n_styles=self.n_styles)
        self.decoder = decoder if decoder is not None else Generator(self.output_size, 512, 8)
        self.face_pool = nn.AdaptiveAvgPool2d((256, 256))
        if self.start_from_encoded_w_plus:
            self.pretrained_encoder = pretrained_encoder if pretrained_encoder is not None else GradualStyleEncoder(
                50, "ir_se", input_nc=3, n_styles=self.n_styles)
        else:
            self.pretrained_encoder = None
        self.register_buffer("latent_avg", torch.zeros(self.n_styles, 512), persistent=False)
        # How this network runs (None: the process default), see facereel.nets.plan.
        self.plan: ExecutionPlan | None = None

    @property
    def input_nc(self) -> int:
        return int(self.encoder.input_nc)

    @property
    def resolution(self) -> int:
        return int(self.decoder.size)

    @property
    def device(self) -> torch.device:
        return self.latent_avg.device

    def fuse(self):
        """Inference path: eval mode, both encoders' BatchNorms folded (:mod:`facereel.nets.encoders`)."""
        self.eval()
        self.encoder.fuse()
        if self.pretrained_encoder is not None:
            self.pretrained_encoder.fuse()
        return self

    # -- the wrapper ------------------------------------------------------------------------
    def base_codes(self, x_rgb: torch.Tensor, plan: ExecutionPlan | None = None) -> torch.Tensor:
        """What the residual is added to: E_psp(x) + latent_avg (``start_from_encoded_w_plus``),
        latent_avg (``start_from_latent_avg``) or 0.  x_rgb: [N, 3, 256, 256] -> [N, n_styles, 512]."""
        if self.start_from_latent_avg:
            return self.latent_avg.unsqueeze(0).expand(x_rgb.shape[0], -1, -1)
        if self.start_from_encoded_w_plus:
            with torch.no_grad():       # the pretrained encoder is frozen (official: under no_grad)
                return self.pretrained_encoder(x_rgb, resolve(plan, self.plan)) + self.latent_avg
        return x_rgb.new_zeros(x_rgb.shape[0], self.n_styles, 512)

    def _branches(self, plan: ExecutionPlan, x: torch.Tensor) -> bool:
        """Whether the two encoders run as concurrent branches for this call."""
        return (plan.fast and plan.concurrent_branches and self.pretrained_encoder is not None
                and self.start_from_encoded_w_plus and not self.start_from_latent_avg
                and x.device.type == "cpu" and not torch.is_grad_enabled() and torch.get_num_threads() > 1)

    def encode(self, x: torch.Tensor, plan: ExecutionPlan | None = None) -> torch.Tensor:
        """W+ codes of a 4-channel input [N, 4, 256, 256] (RGB + age channel), as the official forward."""
        plan = resolve(plan, self.plan)
        if self._branches(plan, x):
            codes, base = concurrent.run_branches([lambda: self.encoder(x, plan),
                                                   lambda: self.base_codes(x[:, :-1, :, :], plan)])
            return codes + base
        codes = self.encoder(x, plan)
        if self.start_from_latent_avg:
            codes = codes + self.latent_avg
        elif self.start_from_encoded_w_plus:
            codes = codes + self.base_codes(x[:, :-1, :, :], plan)
        return codes

    def age_codes(self, x_rgb: torch.Tensor, ages: Sequence, plan: ExecutionPlan | None = None) -> torch.Tensor:
        """One photo x_rgb [1, 3, 256, 256] at each of ``ages``: W+ [len(ages), n_styles, 512].

        Equal to ``encode(age_channel(x_rgb.repeat(K), ages))`` up to float rounding, with the
        age-independent E_psp(x) + w̄ computed once.  As concurrent branches, the work of K + 1
        encoder passes is split in two even halves: E_psp(x) and the first (K - 1) // 2 ages, the
        other ages."""
        if x_rgb.shape[0] != 1:
            raise ValueError("age_codes takes one photo")
        plan = resolve(plan, self.plan)
        ages = list(ages)
        x = age_channel(x_rgb.expand(len(ages), -1, -1, -1), ages)
        if not self._branches(plan, x):
            return self.encoder(x, plan) + self.base_codes(x_rgb, plan)
        k = (len(ages) - 1) // 2

        def first():
            base = self.base_codes(x_rgb, plan)
            return base, (self.encoder(x[:k], plan) if k else None)

        (base, head), tail = concurrent.run_branches([first, lambda: self.encoder(x[k:], plan)])
        codes = tail if head is None else torch.cat([head, tail])
        return codes + base

    def forward(self, x: torch.Tensor, resize: bool = True, latent_mask: Sequence[int] | None = None,
                input_code: bool = False, randomize_noise: bool = True, inject_latent: torch.Tensor | None = None,
                return_latents: bool = False, alpha: float | None = None, input_is_full: bool = False,
                plan: ExecutionPlan | None = None):
        plan = resolve(plan, self.plan)
        codes = x if input_code else self.encode(x, plan)
        if latent_mask is not None:
            for i in latent_mask:
                if inject_latent is not None:
                    if alpha is not None:
                        codes[:, i] = alpha * inject_latent[:, i] + (1 - alpha) * codes[:, i]
                    else:
                        codes[:, i] = inject_latent[:, i]
                else:
                    codes[:, i] = 0
        input_is_latent = (not input_code) or input_is_full
        images, result_latent = self.decoder([codes], input_is_latent=input_is_latent,
                                             randomize_noise=randomize_noise, return_latents=return_latents,
                                             plan=plan)
        if resize:
            images = self.face_pool(images)
        if return_latents:
            return images, result_latent
        return images


# The golden harness and readers refer to the official class name.
OFFICIAL_NAMES = {"models.psp.pSp (SAM)": SAM}
