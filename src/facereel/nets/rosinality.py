"""rosinality's StyleGAN2 generator (``models/stylegan2/model.py``), the decoder inside pSp, e4e and ReStyle.

Module and parameter names equal the original ones, so a ``g_ema`` state dict of rosinality's
``convert_weight.py`` / ``train.py`` or the ``decoder.*`` part of a pSp/e4e/ReStyle checkpoint loads
with ``strict=True`` (``style.1.weight``, ``input.input``, ``conv1.conv.modulation.weight``,
``convs.{i}.conv.blur.kernel``, ``to_rgbs.{j}.upsample.kernel``, ``noises.noise_{k}``, ...).

The original's CUDA ops are replaced by facereel's reference ops, which compute the same thing:
``fused_leaky_relu(x, b)`` = ``leaky_relu(x + b[channel], 0.2) * sqrt(2)`` (``bias_act`` with
act='lrelu') and rosinality's ``upfirdn2d(x, k, up, down, pad=(p0, p1))`` = NVlabs ``upfirdn2d``
with a 2-D filter and padding ``[p0, p1, p0, p1]`` (true convolution, no flip).

A fast :class:`~facereel.nets.plan.ExecutionPlan` (the default: ``Generator.plan``, else the
process default; ``plan=`` of a call) runs calls that use the stored noise buffers
(``randomize_noise=False``, as pSp/e4e/ReStyle inference does) through facereel's NVlabs
StyleGAN2 synthesis fast path on a copy of these weights (:func:`_nv_synthesis`, ~120 MB more
memory at 1024 px, built on the first such call; measured at
1024 px, batch 1: 1.45 s against 1.87 s, and its autograd form needs no per-sample weight
gradient, which inversion through the decoder benefits from).  Random noise, explicit noise maps,
``return_features`` and trainable synthesis weights keep the op-by-op path (as a reference plan does).
The plan (fused kernels, bfloat16, thresholds included) is handed to that synthesis.

The pretrained FFHQ weights these nets load (pSp/e4e/ReStyle decoders, converted NVIDIA
checkpoints) are licensed for NON-COMMERCIAL use only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from facereel.nets import ops
from facereel.nets.plan import ExecutionPlan, resolve

__all__ = [
    "Generator", "EqualLinear", "ModulatedConv2d", "StyledConv", "ToRGB", "ConstantInput",
    "NoiseInjection", "FusedLeakyReLU", "PixelNorm", "Upsample", "Blur", "make_kernel",
    "fused_leaky_relu", "RosinalityFaceGenerator",
]


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor, negative_slope: float = 0.2,
                     scale: float = 2 ** 0.5) -> torch.Tensor:
    """leaky_relu(x + bias over dim 1, slope) * scale: what rosinality's fused CUDA kernel computes."""
    return ops.bias_act(x, bias, dim=1, act="lrelu", alpha=negative_slope, gain=scale)


def _upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
               pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """rosinality's ``upfirdn2d(input, kernel, up, down, pad)``: same pad on x and y, 2-D kernel."""
    p0, p1 = pad
    return ops.upfirdn2d(x, kernel, up=up, down=down, padding=[p0, p1, p0, p1])


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise each latent to unit second moment (StyleGAN eq. for PixelNorm over dim 1).
        return x * torch.rsqrt(torch.mean(x ** 2, dim=1, keepdim=True) + 1e-8)


def make_kernel(k: Sequence[float]) -> torch.Tensor:
    """1-D taps -> normalised separable 2-D kernel (outer product / sum)."""
    k = torch.tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    k /= k.sum()
    return k


class Upsample(nn.Module):
    """2x FIR upsampling of the skip image (ToRGB)."""

    def __init__(self, kernel: Sequence[float], factor: int = 2):
        super().__init__()
        self.factor = factor
        kernel = make_kernel(kernel) * (factor ** 2)
        self.register_buffer("kernel", kernel)
        p = kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _upfirdn2d(x, self.kernel, up=self.factor, down=1, pad=self.pad)


class Blur(nn.Module):
    """FIR low-pass after the transposed convolution of an upsampling ModulatedConv2d."""

    def __init__(self, kernel: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        kernel = make_kernel(kernel)
        if upsample_factor > 1:
            kernel = kernel * (upsample_factor ** 2)
        self.register_buffer("kernel", kernel)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _upfirdn2d(x, self.kernel, pad=self.pad)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: runtime gains lr_mul/sqrt(in) and lr_mul."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0,
                 lr_mul: float = 1, activation: str | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.zeros(out_dim).fill_(bias_init)) if bias else None
        self.activation = activation
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            out = F.linear(x, self.weight * self.scale)
            return fused_leaky_relu(out, self.bias * self.lr_mul)
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.weight * self.scale, bias=bias)


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution (Karras et al. 2020, eqs. 1-3); weight [1, out, in, k, k]."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False, downsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.eps = 1e-8
        self.kernel_size = kernel_size
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.upsample = upsample
        self.downsample = downsample
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        if downsample:
            factor = 2
            p = (len(blur_kernel) - factor) + (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2, p // 2))
        self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)
        self.demodulate = demodulate

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        batch, in_channel, height, width = x.shape
        k = self.kernel_size
        style = self.modulation(style).view(batch, 1, in_channel, 1, 1)
        weight = self.scale * self.weight * style                                  # [N, O, I, k, k]
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)               # eq. 3
            weight = weight * demod.view(batch, self.out_channel, 1, 1, 1)
        weight = weight.view(batch * self.out_channel, in_channel, k, k)
        # One grouped convolution over the whole batch (groups = batch).
        if self.upsample:
            x = x.view(1, batch * in_channel, height, width)
            weight = weight.view(batch, self.out_channel, in_channel, k, k)
            weight = weight.transpose(1, 2).reshape(batch * in_channel, self.out_channel, k, k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=batch)
            out = out.view(batch, self.out_channel, *out.shape[2:])
            return self.blur(out)
        if self.downsample:
            x = self.blur(x)
            _, _, height, width = x.shape
            x = x.view(1, batch * in_channel, height, width)
            out = F.conv2d(x, weight, padding=0, stride=2, groups=batch)
            return out.view(batch, self.out_channel, *out.shape[2:])
        x = x.view(1, batch * in_channel, height, width)
        out = F.conv2d(x, weight, padding=self.padding, groups=batch)
        return out.view(batch, self.out_channel, *out.shape[2:])


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            batch, _, height, width = image.shape
            noise = image.new_empty(batch, 1, height, width).normal_()
        return image + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channel: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.input.repeat(x.shape[0], 1, 1, 1)


class FusedLeakyReLU(nn.Module):
    def __init__(self, channel: int, negative_slope: float = 0.2, scale: float = 2 ** 0.5):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel))
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


class StyledConv(nn.Module):
    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 upsample: bool = False, blur_kernel: Sequence[float] = (1, 3, 3, 1), demodulate: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim,
                                    upsample=upsample, blur_kernel=blur_kernel, demodulate=demodulate)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style)
        out = self.noise(out, noise=noise)
        return self.activate(out)


class ToRGB(nn.Module):
    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class Generator(nn.Module):
    """rosinality StyleGAN2 generator (skip architecture, const input, n_latent = 2*log2(size) - 2)."""

    def __init__(self, size: int, style_dim: int, n_mlp: int, channel_multiplier: int = 2,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), lr_mlp: float = 0.01):
        super().__init__()
        blur_kernel = list(blur_kernel)
        self.size = size
        self.style_dim = style_dim
        self.blur_kernel = blur_kernel
        self.channel_multiplier = channel_multiplier
        # How this network runs (None: the process default), see facereel.nets.plan.
        self.plan: ExecutionPlan | None = None
        layers: list[nn.Module] = [PixelNorm()]
        for _ in range(n_mlp):
            layers.append(EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu"))
        self.style = nn.Sequential(*layers)
        self.channels = {
            4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
            256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier,
        }
        self.input = ConstantInput(self.channels[4])
        self.conv1 = StyledConv(self.channels[4], self.channels[4], 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(self.channels[4], style_dim, upsample=False)
        self.log_size = int(math.log(size, 2))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer_idx in range(self.num_layers):
            res = (layer_idx + 5) // 2
            self.noises.register_buffer(f"noise_{layer_idx}", torch.randn(1, 1, 2 ** res, 2 ** res))
        in_channel = self.channels[4]
        for i in range(3, self.log_size + 1):
            out_channel = self.channels[2 ** i]
            self.convs.append(StyledConv(in_channel, out_channel, 3, style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_channel, out_channel, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_channel, style_dim))
            in_channel = out_channel
        self.n_latent = self.log_size * 2 - 2

    def make_noise(self) -> list[torch.Tensor]:
        device = self.input.input.device
        noises = [torch.randn(1, 1, 4, 4, device=device)]
        for i in range(3, self.log_size + 1):
            for _ in range(2):
                noises.append(torch.randn(1, 1, 2 ** i, 2 ** i, device=device))
        return noises

    def mean_latent(self, n_latent: int) -> torch.Tensor:
        """Mean of ``n_latent`` mapped random z ([1, style_dim]); draws from the global torch RNG."""
        latent_in = torch.randn(n_latent, self.style_dim, device=self.input.input.device)
        return self.style(latent_in).mean(0, keepdim=True)

    def get_latent(self, x: torch.Tensor) -> torch.Tensor:
        return self.style(x)

    def forward(self, styles: list[torch.Tensor], return_latents: bool = False, return_features: bool = False,
                inject_index: int | None = None, truncation: float = 1, truncation_latent: torch.Tensor | None = None,
                input_is_latent: bool = False, noise: list[torch.Tensor | None] | None = None,
                randomize_noise: bool = True, plan: ExecutionPlan | None = None):
        """styles: list of z [N, 512] (or w [N, 512] / w+ [N, n_latent, 512] with input_is_latent).

        Two styles mix at ``inject_index`` (random if None, as the original).  Returns
        ``(image, latent)`` with return_latents, ``(image, features)`` with return_features, else
        ``(image, None)``.
        """
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if noise is None:
            if randomize_noise:
                noise = [None] * self.num_layers
            else:
                noise = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        if truncation < 1:
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]
        if len(styles) < 2:
            inject_index = self.n_latent
            latent = styles[0].unsqueeze(1).repeat(1, inject_index, 1) if styles[0].ndim < 3 else styles[0]
        else:
            if inject_index is None:
                inject_index = random.randint(1, self.n_latent - 1)
            latent = styles[0].unsqueeze(1).repeat(1, inject_index, 1)
            latent2 = styles[1].unsqueeze(1).repeat(1, self.n_latent - inject_index, 1)
            latent = torch.cat([latent, latent2], 1)

        plan = resolve(plan, getattr(self, "plan", None))
        if self._fast_ok(noise, return_features, plan):
            image = _nv_synthesis(self)(latent, noise_mode="const", plan=plan)
            return (image, latent) if return_latents else (image, None)
        out = self.input(latent)
        out = self.conv1(out, latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for conv1, conv2, noise1, noise2, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2],
                                                        noise[2::2], self.to_rgbs):
            out = conv1(out, latent[:, i], noise=noise1)
            out = conv2(out, latent[:, i + 1], noise=noise2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        image = skip
        if return_latents:
            return image, latent
        if return_features:
            return image, out
        return image, None

    def preview(self, latent: torch.Tensor, resolution: int, plan: ExecutionPlan | None = None) -> torch.Tensor:
        """The skip image after the layers at ``resolution`` (w+ [N, n_latent, 512] with the
        stored noise, as ``forward(..., input_is_latent=True, randomize_noise=False)``): the
        final image without the finer layers' detail, [N, 3, r, r], r = min(resolution, size)."""
        noise = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        plan = resolve(plan, getattr(self, "plan", None))
        if self._fast_ok(noise, False, plan):
            return _nv_synthesis(self).preview(latent, resolution, noise_mode="const", plan=plan)
        out = self.input(latent)
        out = self.conv1(out, latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i, res = 1, 4
        for conv1, conv2, noise1, noise2, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2],
                                                        noise[2::2], self.to_rgbs):
            if res >= resolution:
                break
            out = conv1(out, latent[:, i], noise=noise1)
            out = conv2(out, latent[:, i + 1], noise=noise2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i, res = i + 2, res * 2
        return skip

    def _synthesis_tensors(self) -> list[torch.Tensor]:
        skip = ("style.",)
        return [t for n, t in list(self.named_parameters()) + list(self.named_buffers()) if not n.startswith(skip)]

    def _fast_ok(self, noise, return_features: bool, plan: ExecutionPlan) -> bool:
        """Whether this call can run on the NVlabs fast path (:func:`_nv_synthesis`): the plan is
        fast, the noise is the stored buffers (``randomize_noise=False``, as pSp's inference and
        ``RosinalityFaceGenerator`` call it), no features are asked for, the blur kernel is the
        standard [1, 3, 3, 1] (the only one the equivalence is tested for), the channel widths are
        NVlabs' (``channel_base = 16384 * channel_multiplier``), and no gradient is wanted for the
        synthesis weights themselves (the fast path runs on a copy of them)."""
        if not plan.fast or return_features or list(self.blur_kernel) != [1, 3, 3, 1]:
            return False
        if any(c != min(16384 * self.channel_multiplier // r, 512) for r, c in self.channels.items()
               if r <= self.size):
            return False
        buffers = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        if not all(a is b for a, b in zip(noise, buffers)):
            return False
        if torch.is_grad_enabled() and any(t.requires_grad for t in self._synthesis_tensors()):
            return False
        return True


def _nv_synthesis(G: Generator):
    """NVlabs ``SynthesisNetwork`` (skip, no clamp) holding a copy of ``G``'s synthesis weights,
    rebuilt when any of them changes.  The two generators compute the same function:

    * rosinality's conv weight is scaled at run time by 1/sqrt(I k^2) before modulation and
      demodulation, NVlabs' is not: the copy is pre-scaled, so even the 1e-8 of the
      demodulation (eq. 3) sees the same numbers;
    * toRGB: both scale the style by 1/sqrt(I) (NVlabs' ``weight_gain``), no demodulation;
    * noise ``w·noise_k`` = ``noise_strength·noise_const``; ``FusedLeakyReLU`` = ``bias_act``
      lrelu with gain sqrt(2); the upsampling conv is the same transposed conv + [1,3,3,1] FIR
      (pad 1, gain 4); the skip image upsampling is ``upsample2d``;
    * style index: conv1 w[0], to_rgb1 w[1], then per resolution w[i], w[i+1], to_rgb w[i+2]:
      NVlabs' blocks consume ws in that order (each toRGB shares the next block's first w).
    """
    from facereel.nets import stylegan2 as sg2

    return sg2._cached(G, "nv_synthesis", lambda: _build_nv_synthesis(G), *G._synthesis_tensors())


def _build_nv_synthesis(G: Generator):
    from facereel.nets import stylegan2 as sg2

    # Called by stylegan2._cached: without grad, outside inference mode.
    net = sg2.SynthesisNetwork(w_dim=G.style_dim, img_resolution=G.size, img_channels=3,
                               channel_base=16384 * G.channel_multiplier, channel_max=512, num_fp16_res=0,
                               architecture="skip", conv_clamp=None, resample_filter=G.blur_kernel)
    net = net.to(G.input.input.device)
    sd = {}

    def layer(dst: str, conv: StyledConv, noise: torch.Tensor):
        m = conv.conv
        sd[f"{dst}.weight"] = m.weight[0] * m.scale
        sd[f"{dst}.affine.weight"] = m.modulation.weight
        sd[f"{dst}.affine.bias"] = m.modulation.bias
        sd[f"{dst}.noise_strength"] = conv.noise.weight.reshape(())
        sd[f"{dst}.noise_const"] = noise.reshape(noise.shape[-2:])
        sd[f"{dst}.bias"] = conv.activate.bias

    def torgb(dst: str, rgb: ToRGB):
        sd[f"{dst}.weight"] = rgb.conv.weight[0]
        sd[f"{dst}.affine.weight"] = rgb.conv.modulation.weight
        sd[f"{dst}.affine.bias"] = rgb.conv.modulation.bias
        sd[f"{dst}.bias"] = rgb.bias.reshape(-1)

    sd["b4.const"] = G.input.input[0]
    layer("b4.conv1", G.conv1, G.noises.noise_0)
    torgb("b4.torgb", G.to_rgb1)
    for k in range(len(G.to_rgbs)):
        b = f"b{2 ** (k + 3)}"
        layer(f"{b}.conv0", G.convs[2 * k], getattr(G.noises, f"noise_{2 * k + 1}"))
        layer(f"{b}.conv1", G.convs[2 * k + 1], getattr(G.noises, f"noise_{2 * k + 2}"))
        torgb(f"{b}.torgb", G.to_rgbs[k])
    own = net.state_dict()
    missing = [n for n in own if n not in sd and not n.endswith("resample_filter")]
    if missing or any(own[n].shape != v.shape for n, v in sd.items()):
        raise RuntimeError(f"rosinality -> NVlabs synthesis mapping is incomplete: {missing[:4]}")
    for n, v in sd.items():
        own[n].copy_(v)
    return net.eval().requires_grad_(False)


class RosinalityFaceGenerator:
    """``FaceGenerator`` over a rosinality ``Generator`` (latent kind "w+", num_ws = n_latent).

    ``latent_avg`` (e.g. the ``latent_avg`` of a converted checkpoint, [512] or [n, 512]) is the
    truncation centre; without it, ``G.mean_latent(4096)`` is computed once with a fixed seed.
    Synthesis uses the stored noise buffers (``randomize_noise=False``), as pSp's inference does,
    so a latent always gives the same image.  FFHQ weights are NON-COMMERCIAL.
    """

    latent_kind = "w+"

    def __init__(self, G: Generator, latent_avg: torch.Tensor | None = None, name: str = "rosinality-stylegan2",
                 device: torch.device | str | None = None):
        self.device = torch.device(device) if device is not None else next(G.parameters()).device
        self.G = G.to(self.device).eval()
        self.name = name
        self.z_dim = G.style_dim
        self.w_dim = G.style_dim
        self.num_ws = G.n_latent
        self.resolution = G.size
        self._latent_avg = latent_avg

    @property
    def w_avg(self) -> torch.Tensor:
        if self._latent_avg is None:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                self._latent_avg = self.G.mean_latent(4096)[0]
        avg = self._latent_avg.to(self.device, torch.float32)
        if avg.ndim == 2 and avg.shape[0] == self.num_ws:
            return avg
        return avg.reshape(-1, self.w_dim)[0].expand(self.num_ws, self.w_dim)

    def _z(self, seeds: list[int]) -> torch.Tensor:
        zs = [torch.randn(self.z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        return torch.stack(zs).to(self.device)

    def mapping(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        w = self.G.get_latent(z.to(self.device, torch.float32))                 # [N, 512]
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)                            # [N, n_latent, 512]
        if truncation_psi != 1:
            avg = self.w_avg.unsqueeze(0)
            ws = avg + truncation_psi * (ws - avg)
        return ws

    def sample(self, seeds: list[int], truncation_psi: float = 1.0) -> torch.Tensor:
        return self.mapping(self._z(seeds), truncation_psi)

    def synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        # Differentiable on purpose (inversion back-propagates through it).
        latents = latents.to(self.device, torch.float32)
        if latents.ndim == 2:
            latents = latents.unsqueeze(1).repeat(1, self.num_ws, 1)
        img, _ = self.G([latents], input_is_latent=True, randomize_noise=False)
        return img

    def preview(self, latents: torch.Tensor, resolution: int) -> torch.Tensor:
        """A low-resolution view of :meth:`synthesize`'s images from the layers up to
        ``resolution`` only (``Generator.preview``)."""
        latents = latents.to(self.device, torch.float32)
        if latents.ndim == 2:
            latents = latents.unsqueeze(1).repeat(1, self.num_ws, 1)
        return self.G.preview(latents, resolution)
