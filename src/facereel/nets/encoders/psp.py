"""pSp and e4e encoders over an IR-SE50 body.

* ``GradualStyleEncoder`` — Richardson et al., "Encoding in Style: a StyleGAN Encoder for
  Image-to-Image Translation" (pSp, CVPR 2021), Sec. 3 / Fig. 2: a feature pyramid (c1 at 64x64,
  c2 at 32x32, c3 at 16x16 for a 256 input) and one "map2style" head per W+ entry: entries 0-2 read
  c3, 3-6 read p2 = up(c3) + lat1(c2), 7.. read p1 = up(p2) + lat2(c1).
* ``Encoder4Editing`` — Tov et al., "Designing an Encoder for StyleGAN Image Manipulation" (e4e,
  SIGGRAPH 2021), Sec. 4: one code w0 (head 0 on c3) repeated over all entries plus per-entry
  offsets Delta_i from heads 1.. (progressive stage = number of offsets in use).

Parameter names are those of the official repositories (``input_layer.*``, ``body.{i}.*``,
``styles.{i}.convs.{j}.*``, ``styles.{i}.linear.*``, ``latlayer1.*``, ``latlayer2.*``).  Inputs are
[N, C, 256, 256] images normalised to [-1, 1]; outputs are the raw codes [N, n_styles, 512]
(before the wrapper adds ``latent_avg``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .irse import FusableMixin, fuse_input_layer, make_body, make_input_layer, run_input_layer

__all__ = ["EqualLinear", "GradualStyleBlock", "GradualStyleEncoder", "Encoder4Editing",
           "ProgressiveStage", "upsample_add"]

# e4e's progressive training stages: stage k uses the offsets Delta_1..Delta_k; "Inference" = 18.
ProgressiveStage = {"WTraining": 0, **{f"Delta{i}Training": i for i in range(1, 18)}, "Inference": 18}


class EqualLinear(nn.Module):
    """Equalised-learning-rate linear layer (Karras et al., ProGAN Sec. 4.1): y = x (W*c)^T + b*lr_mul,
    c = lr_mul/sqrt(in_dim).  Only the activation-free form the encoders use."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def effective(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.weight * self.scale, None if self.bias is None else self.bias * self.lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.effective()
        return F.linear(x, w, b)


def upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """FPN top-down step: bilinear (align_corners=True) resize of x to y's size, plus y."""
    return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y


# Head convolutions on maps of at most this size run as im2col + one GEMM on the plain weight
# matrix.  Their output is a few pixels, so they are bound by reading the 512x512x3x3 weights; the
# oneDNN convolution also re-lays the weights out on every call, which the GEMM does not need
# (measured ~2x faster on 4x4 and 8x8 inputs; equal within float rounding).
_IM2COL_MAX_INPUT = 8


def _conv_s2_im2col(x: torch.Tensor, mat: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """3x3 / stride 2 / pad 1 convolution as cols^T @ W^T: x [N, C, H, W], mat [O, C*9] -> [N, O, H', W']."""
    n, _, h, w = x.shape
    ho, wo = (h - 1) // 2 + 1, (w - 1) // 2 + 1
    cols = F.unfold(x, 3, padding=1, stride=2)                     # [N, C*9, H'*W'], (c, kh, kw) order
    out = F.linear(cols.transpose(1, 2), mat, bias)                # [N, H'*W', O]
    return out.transpose(1, 2).reshape(n, mat.shape[0], ho, wo)


class GradualStyleBlock(FusableMixin, nn.Module):
    """map2style head: log2(spatial) stride-2 conv3x3 + LeakyReLU(0.01) down to 1x1, then EqualLinear."""

    def __init__(self, in_c: int, out_c: int, spatial: int):
        super().__init__()
        self.out_c = out_c
        self.spatial = spatial
        num_pools = int(math.log2(spatial))
        modules: list[nn.Module] = [nn.Conv2d(in_c, out_c, 3, 2, 1), nn.LeakyReLU()]
        for _ in range(num_pools - 1):
            modules += [nn.Conv2d(out_c, out_c, 3, 2, 1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*modules)
        self.linear = EqualLinear(out_c, out_c, lr_mul=1)

    @torch.no_grad()
    def fuse(self):
        convs = [m for m in self.convs if isinstance(m, nn.Conv2d)]
        plan = {"convs": [(c.weight.detach(), c.bias.detach()) for c in convs],
                # [out, in*9] views of the weights (no copy), for the im2col path below
                "mats": [c.weight.detach().reshape(c.out_channels, -1) for c in convs]}
        last = convs[-1]
        # A stride-2, pad-1 3x3 conv of a 2x2 map to 1x1 only ever multiplies taps (1..2, 1..2): the
        # other 5 taps see zero padding.  Running it as a Linear over those 4 taps reads 4/9 of the
        # weights (these tail layers are bound by weight bandwidth, not arithmetic).
        plan["tail2x2"] = (last.weight[:, :, 1:, 1:].reshape(last.out_channels, -1).contiguous(), last.bias.detach())
        w, b = self.linear.effective()
        plan["linear"] = (w.contiguous(), b)
        object.__setattr__(self, "_fused", plan)
        return self

    def _forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        p = self._fused
        convs = p["convs"]
        for (w, b), mat in zip(convs[:-1], p["mats"]):
            if x.shape[-1] <= _IM2COL_MAX_INPUT and x.shape[-2] <= _IM2COL_MAX_INPUT:
                x = _conv_s2_im2col(x, mat, b)
            else:
                x = F.conv2d(x, w, b, 2, 1)
            x = F.leaky_relu(x, 0.01)
        if x.shape[-2:] == (2, 2):
            w, b = p["tail2x2"]
            x = F.leaky_relu(F.linear(x.flatten(1), w, b), 0.01)
        else:
            w, b = convs[-1]
            x = F.leaky_relu(F.conv2d(x, w, b, 2, 1), 0.01)
        return F.linear(x.reshape(-1, self.out_c), *p["linear"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._use_fused():
            return self._forward_fused(x)
        x = self.convs(x)
        x = x.view(-1, self.out_c)
        return self.linear(x)


class _IRSEEncoder(FusableMixin, nn.Module):
    """input_layer + IR-SE body shared by all encoders here."""

    def __init__(self, num_layers: int, mode: str, input_nc: int):
        super().__init__()
        self.input_nc = input_nc
        self.input_layer = make_input_layer(input_nc)
        self.body = make_body(num_layers, mode)

    @torch.no_grad()
    def fuse(self):
        """Prepares the fused inference path (BN folding; see :mod:`facereel.nets.encoders.irse`)."""
        for m in self.modules():
            if m is not self and isinstance(m, FusableMixin) and hasattr(m, "fuse"):
                m.fuse()
        object.__setattr__(self, "_fused", {"input": fuse_input_layer(self.input_layer)})
        return self

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        if self._use_fused():
            return run_input_layer(self._fused["input"], x)
        return self.input_layer(x)

    def pyramid(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """c1 (after unit 6: 128ch, H/4), c2 (unit 20: 256ch, H/8), c3 (unit 23: 512ch, H/16)."""
        x = self._input(x)
        c1 = c2 = None
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i == 6:
                c1 = x
            elif i == 20:
                c2 = x
        return _nchw(c1), _nchw(c2), _nchw(x)


def _nchw(x: torch.Tensor | None) -> torch.Tensor | None:
    # The 512-channel stride-2 head convolutions run faster on NCHW than on channels-last.
    return x if x is None else x.contiguous()


def _style_count(n_styles: int | None, stylegan_size: int | None) -> int:
    if n_styles is None:
        if stylegan_size is None:
            raise ValueError("give n_styles or stylegan_size")
        n_styles = 2 * int(math.log2(stylegan_size)) - 2
    return int(n_styles)


class GradualStyleEncoder(_IRSEEncoder):
    """pSp encoder (FPN + map2style heads).  ``forward``: [N, input_nc, 256, 256] -> [N, n_styles, 512]."""

    coarse_ind = 3
    middle_ind = 7

    def __init__(self, num_layers: int = 50, mode: str = "ir_se", input_nc: int = 3,
                 n_styles: int | None = 18, stylegan_size: int | None = None):
        super().__init__(num_layers, mode, input_nc)
        self.style_count = _style_count(n_styles, stylegan_size)
        self.styles = nn.ModuleList(
            GradualStyleBlock(512, 512, 16 if i < self.coarse_ind else 32 if i < self.middle_ind else 64)
            for i in range(self.style_count))
        self.latlayer1 = nn.Conv2d(256, 512, kernel_size=1, stride=1, padding=0)
        self.latlayer2 = nn.Conv2d(128, 512, kernel_size=1, stride=1, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1, c2, c3 = self.pyramid(x)
        latents = [self.styles[j](c3) for j in range(min(self.coarse_ind, self.style_count))]
        if self.style_count > self.coarse_ind:
            p2 = upsample_add(c3, self.latlayer1(c2))
            latents += [self.styles[j](p2) for j in range(self.coarse_ind, min(self.middle_ind, self.style_count))]
            if self.style_count > self.middle_ind:
                p1 = upsample_add(p2, self.latlayer2(c1))
                latents += [self.styles[j](p1) for j in range(self.middle_ind, self.style_count)]
        return torch.stack(latents, dim=1)


class Encoder4Editing(GradualStyleEncoder):
    """e4e encoder: w = repeat(w0) + [0, Delta_1, ..., Delta_{n-1}].  ``progressive_stage`` (default 18
    = inference) limits the offsets to Delta_1..Delta_stage, as in e4e's progressive training."""

    def __init__(self, num_layers: int = 50, mode: str = "ir_se", stylegan_size: int | None = 1024,
                 n_styles: int | None = None, input_nc: int = 3, progressive_stage: int = 18):
        super().__init__(num_layers, mode, input_nc, n_styles=n_styles,
                         stylegan_size=stylegan_size if n_styles is None else None)
        self.progressive_stage = int(progressive_stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1, c2, c3 = self.pyramid(x)
        w0 = self.styles[0](c3)
        w = w0.unsqueeze(1).repeat(1, self.style_count, 1)
        features, p2 = c3, None
        for i in range(1, min(self.progressive_stage + 1, self.style_count)):
            if i == self.coarse_ind:
                p2 = upsample_add(c3, self.latlayer1(c2))
                features = p2
            elif i == self.middle_ind:
                features = upsample_add(p2, self.latlayer2(c1))
            w[:, i] += self.styles[i](features)
        return w
