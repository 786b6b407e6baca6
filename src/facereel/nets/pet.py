"""The pose-and-expression transfer network of Jahoda's thesis (JahodaPetr/Pose-and-Expression-Transfer).

    g = G(M(E_i(t) ⊕ E_m(s)))

* :class:`MotionEncoder` — E_m, the official ``BackboneEncoderUsingLastLayerIntoWPlus(50, 'ir_se')``:
  input_layer (conv3x3 3->64, BN, PReLU) -> the 24 IR-SE50 units -> ``output_layer_2`` =
  BN(512) -> AdaptiveAvgPool2d(7, 7) on the 16x16 map (unequal, overlapping windows
  [floor(i*16/7), ceil((i+1)*16/7)), as torch computes them) -> flatten -> Linear(25088, 512)
  -> ``linear`` = EqualLinear(512, 512*n_styles) -> view [N, n_styles, 512].  Trained from scratch.
* :class:`MappingNetwork` — M, the official ``MappingNetowrk`` (sic): ``linear_relu`` =
  Sequential(Linear(2*n_styles*512, n_styles*512)); despite the name there is no ReLU.
* :class:`PoseExpressionTransfer` — the official ``psp.MypSp`` composition with a rosinality StyleGAN2
  decoder G; the identity code t (a ReStyle-pSp W+ code of the target) comes FIRST in the
  concatenation.  ``forward`` has the official signature and return conventions.

Parameter names are the official ones, so ``best_model.pt`` (``encoder.*``, ``mapping_net.*``,
``decoder.*``) loads strictly.  Deviation: the official forward reshapes M's output to 18 styles
(hard-coded, so only output_size 1024 works); here it is ``n_styles`` = 2 log2(size) - 2, equal at
1024 and usable with the small decoders of the tests.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .encoders.irse import fold_bn
from .encoders.psp import EqualLinear, _IRSEEncoder

__all__ = ["MotionEncoder", "MappingNetwork", "PoseExpressionTransfer", "n_styles_for"]


def n_styles_for(size: int) -> int:
    return int(math.log2(size)) * 2 - 2


class MotionEncoder(_IRSEEncoder):
    """E_m: [N, input_nc, 256, 256] in [-1, 1] -> motion codes [N, n_styles, 512]."""

    def __init__(self, num_layers: int = 50, mode: str = "ir_se", input_nc: int = 3, n_styles: int = 18,
                 stage_units: tuple[int, int, int, int] | None = None):
        super().__init__(num_layers, mode, input_nc)
        self.stage_units = None if stage_units is None else tuple(int(u) for u in stage_units)
        if stage_units is not None:
            # a shallower body of the same units and stage widths (small seeded test networks only)
            self.body = _shallow_body(stage_units, mode)
        self.n_styles = int(n_styles)
        self.output_layer_2 = nn.Sequential(nn.BatchNorm2d(512), nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(),
                                            nn.Linear(512 * 7 * 7, 512))
        self.linear = EqualLinear(512, 512 * self.n_styles, lr_mul=1)

    @property
    def style_count(self) -> int:
        return self.n_styles

    @torch.no_grad()
    def fuse(self):
        super().fuse()
        bn, _, _, lin = self.output_layer_2
        a, b = fold_bn(bn)
        # pool(a*x + b) = a*pool(x) + b per channel, so the BN folds into the Linear over the
        # (C, 7, 7) flattening: W' = W * a[c], b' = W @ b[c] + bias.
        hw = lin.in_features // a.numel()
        w = lin.weight * a.repeat_interleave(hw)[None, :]
        bias = lin.weight @ b.repeat_interleave(hw) + lin.bias
        w2, b2 = self.linear.effective()
        self._fused.update({"w": w.contiguous(), "b": bias.contiguous(), "w2": w2.contiguous(), "b2": b2})
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._input(x)
        x = self.body(x)
        if self._use_fused():
            p = self._fused
            x = F.adaptive_avg_pool2d(x.contiguous(), (7, 7)).flatten(1)     # [N, 25088]
            x = F.linear(F.linear(x, p["w"], p["b"]), p["w2"], p["b2"])        # [N, 512 * n_styles]
        else:
            x = self.output_layer_2(x)
            x = self.linear(x)
        return x.view(-1, self.n_styles, 512)


def _shallow_body(stage_units, mode: str) -> nn.Sequential:
    from .encoders.irse import BottleneckIR, BottleneckIRSE

    unit = BottleneckIRSE if mode == "ir_se" else BottleneckIR
    mods = []
    for (cin, depth), n in zip(((64, 64), (64, 128), (128, 256), (256, 512)), stage_units):
        mods += [unit(cin, depth, 2)] + [unit(depth, depth, 1) for _ in range(n - 1)]
    return nn.Sequential(*mods)


class MappingNetwork(nn.Module):
    """M: cat(flatten(identity W+), flatten(motion codes)) [N, 2*n_styles*512] -> [N, n_styles*512]."""

    def __init__(self, n_styles: int = 18, init: str = "official"):
        super().__init__()
        self.n_styles = int(n_styles)
        self.linear_relu = nn.Sequential(nn.Linear(self.n_styles * 512 * 2, self.n_styles * 512))
        if init == "official":   # the official __init__: every weight 1e-5, every bias 1e-3
            with torch.no_grad():
                self.linear_relu[0].weight.fill_(1e-5)
                self.linear_relu[0].bias.fill_(1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_relu(x)


class PoseExpressionTransfer(nn.Module):
    """The official ``MypSp``: encoder (E_m), decoder (rosinality G), mapping_net (M), face_pool.

    ``decoder`` defaults to a new rosinality ``Generator(output_size, 512, 8)`` (channel_multiplier 2).
    """

    def __init__(self, output_size: int = 1024, input_nc: int = 3, decoder: nn.Module | None = None,
                 encoder: nn.Module | None = None, mapping_init: str = "official", pool_size: int = 256):
        super().__init__()
        from .rosinality import Generator

        self.output_size = int(output_size)
        self.n_styles = n_styles_for(self.output_size)
        self.encoder = encoder if encoder is not None else MotionEncoder(50, "ir_se", input_nc, self.n_styles)
        self.decoder = decoder if decoder is not None else Generator(self.output_size, 512, 8)
        self.mapping_net = MappingNetwork(self.n_styles, init=mapping_init)
        self.face_pool = nn.AdaptiveAvgPool2d((pool_size, pool_size))   # official: 256

    def mix(self, identity_latent: torch.Tensor, encoder_codes: torch.Tensor) -> torch.Tensor:
        """M(E_i(t) ⊕ E_m(s)): [N, n_styles, 512] x2 -> W+ [N, n_styles, 512] (identity first)."""
        cat = torch.cat((torch.flatten(identity_latent, start_dim=1), torch.flatten(encoder_codes, start_dim=1)), dim=1)
        return torch.reshape(self.mapping_net(cat), [cat.size(0), self.n_styles, 512])

    def forward(self, x, restyle_latent, resize=True, latent_mask=None, input_code=False, randomize_noise=True,
                inject_latent=None, return_latents=False, alpha=None, return_code=False):
        # latent_mask, inject_latent and alpha are accepted and ignored, as in the official code.
        encoder_codes = x if input_code else self.encoder(x)
        codes = self.mix(restyle_latent, encoder_codes)
        images, result_latent = self.decoder([codes], input_is_latent=True, randomize_noise=randomize_noise,
                                             return_latents=return_latents)
        if resize:
            images = self.face_pool(images)
        if return_code and return_latents:
            return images, result_latent, encoder_codes
        if return_latents:
            return images, result_latent
        return images

    def fuse(self):
        """Inference path: eval mode, the encoder's BN folded (see :mod:`facereel.nets.encoders`)."""
        self.eval()
        self.encoder.fuse()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        """What the thesis trains: E_m and M (G stays frozen; ``train_decoder`` is False)."""
        return list(self.encoder.parameters()) + list(self.mapping_net.parameters())


# The golden harness and readers refer to the official class names.
OFFICIAL_NAMES = {
    "psp_encoders.BackboneEncoderUsingLastLayerIntoWPlus": MotionEncoder,
    "psp_encoders.MappingNetowrk": MappingNetwork,
    "psp.MypSp": PoseExpressionTransfer,
}
