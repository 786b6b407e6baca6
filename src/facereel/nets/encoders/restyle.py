"""ReStyle encoders over an IR-SE50 body (Alaluf et al., "ReStyle: A Residual-Based StyleGAN Encoder
via Iterative Refinement", ICCV 2021, Sec. 3-4).

The input is 6 channels: the target image and the current reconstruction (both 256x256 in [-1, 1]).
All heads read the final 16x16 body feature map (``GradualStyleBlock(512, 512, 16)``), and the output
[N, n_styles, 512] is the *residual* Delta_t that the wrapper adds to the previous latent (or to
``latent_avg`` in the first step), Eq. (1) of the paper.

* ``BackboneEncoder`` (ReStyle-pSp): one head per W+ entry.
* ``ProgressiveBackboneEncoder`` (ReStyle-e4e): w0 from head 0 repeated, plus offsets from heads 1...

Official parameter names (``input_layer.*``, ``body.{i}.*``, ``styles.{i}.convs.*``, ``styles.{i}.linear.*``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..plan import ExecutionPlan, resolve
from .irse import run_body
from .psp import GradualStyleBlock, _IRSEEncoder

__all__ = ["BackboneEncoder", "ProgressiveBackboneEncoder"]


class BackboneEncoder(_IRSEEncoder):
    """ReStyle-pSp encoder.  ``forward``: [N, input_nc, 256, 256] -> residual codes [N, n_styles, 512]."""

    def __init__(self, num_layers: int = 50, mode: str = "ir_se", n_styles: int = 18, input_nc: int = 6):
        super().__init__(num_layers, mode, input_nc)
        self.style_count = int(n_styles)
        self.styles = nn.ModuleList(GradualStyleBlock(512, 512, 16) for _ in range(self.style_count))

    def features(self, x: torch.Tensor, plan: ExecutionPlan | None = None) -> torch.Tensor:
        plan = resolve(plan, self.plan)
        x = self._input(x, plan)
        return run_body(self.body, x, plan).contiguous()   # heads run NCHW

    def forward(self, x: torch.Tensor, plan: ExecutionPlan | None = None) -> torch.Tensor:
        plan = resolve(plan, self.plan)
        f = self.features(x, plan)
        return torch.stack([s(f, plan) for s in self.styles], dim=1)


class ProgressiveBackboneEncoder(BackboneEncoder):
    """ReStyle-e4e encoder: w = repeat(styles[0](f)) + [0, styles[1](f), ...] up to ``progressive_stage``."""

    def __init__(self, num_layers: int = 50, mode: str = "ir_se", n_styles: int = 18, input_nc: int = 6,
                 progressive_stage: int = 18):
        super().__init__(num_layers, mode, n_styles, input_nc)
        self.progressive_stage = int(progressive_stage)

    def forward(self, x: torch.Tensor, plan: ExecutionPlan | None = None) -> torch.Tensor:
        plan = resolve(plan, self.plan)
        f = self.features(x, plan)
        w = self.styles[0](f, plan).unsqueeze(1).repeat(1, self.style_count, 1)
        for i in range(1, min(self.progressive_stage + 1, self.style_count)):
            w[:, i] += self.styles[i](f, plan)
        return w
