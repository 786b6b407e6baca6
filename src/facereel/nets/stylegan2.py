"""StyleGAN2 generator, NVIDIA version (Karras et al., "Analyzing and Improving the Image Quality
of StyleGAN", CVPR 2020; stylegan2-ada-pytorch / stylegan3 ``networks_stylegan2.Generator``).

Architecture only, written from the paper and the official semantics: constructor arguments,
defaults, ``state_dict`` names (``mapping.fc0.weight``, ``synthesis.b16.conv0.affine.bias``,
``…noise_const``, ``…resample_filter``, …) and the numerics equal the official ones, so an
official state dict loads with ``strict=True`` and gives the same images (golden-tested).

How it runs is the :class:`~facereel.nets.plan.ExecutionPlan` of the call (``synthesis(ws,
plan=...)``), else of the network (``synthesis.plan``, set at load), else the process default
(:func:`facereel.nets.plan.default_plan`), resolved once per call and passed down to the layers:

* ``plan.implementation == "reference"``: the official op sequence (grouped "fused" modulated conv etc.);
* ``"fast"`` (default): the same numbers (to float rounding) in fewer passes, the functions of
  :mod:`facereel.nets.stylegan2_fast`; each layer's ``forward`` is the official one plus one
  dispatch on the plan.  Batches run depth-first per sample at high resolution
  (``plan.per_sample_min_res``) and, without autograd, channels-last;
* ``plan.fused_kernels``: the fast path's opt-in compiled CPU kernels (:mod:`facereel.nets.fused`);
* ``plan.dtype=torch.bfloat16``: the convolutions in bfloat16 (opt-in; PSNR ≥ 40 dB against
  float32 is tested), the RGB image accumulated in float32.

Official FFHQ checkpoints are NVIDIA non-commercial (NVIDIA Source Code License-NC).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import ops
from . import stylegan2_fast as fast
from .plan import REFERENCE, ExecutionPlan, resolve
from .stylegan2_fast import cached as _cached
from .stylegan2_fast import records_grad as _records_grad

__all__ = ["Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer",
           "ToRGBLayer", "FullyConnectedLayer", "Conv2dLayer", "ffhq_config"]


def ffhq_config(resolution: int = 1024) -> dict:
    """Constructor kwargs of the official FFHQ StyleGAN2 (``train.py --cfg=stylegan2`` defaults)."""
    return dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
                mapping_kwargs=dict(num_layers=8), channel_base=32768, channel_max=512,
                num_fp16_res=4, conv_clamp=256, fused_modconv_default="inference_only")


# ----------------------------------------------------------------------------- layers

class FullyConnectedLayer(nn.Module):
    """Equalized-learning-rate linear layer: y = act(x · (W·lr/√in)ᵀ + b·lr)."""

    def __init__(self, in_features, out_features, bias=True, activation="linear", lr_multiplier=1.0,
                 bias_init=0.0):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = (nn.Parameter(torch.full([out_features], float(np.float32(bias_init))))
                     if bias else None)
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        def gains():
            w = self.weight.to(x.dtype) * self.weight_gain
            b = self.bias
            if b is not None:
                b = b.to(x.dtype)
                if self.bias_gain != 1:
                    b = b * self.bias_gain
            return w, b

        deps = (self.weight,) if self.bias is None else (self.weight, self.bias)
        w, b = _cached(self, ("wb", x.dtype), gains, *deps)
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        x = x.matmul(w.t())
        return ops.bias_act(x, b, act=self.activation)

    def extra_repr(self):
        return f"in_features={self.in_features:d}, out_features={self.out_features:d}, activation={self.activation:s}"


class Conv2dLayer(nn.Module):
    """Equalized-lr conv with FIR resampling (the resnet skip of the generator uses it, 1x1 up=2)."""

    def __init__(self, in_channels, out_channels, kernel_size, bias=True, activation="linear", up=1,
                 down=1, resample_filter=(1, 3, 3, 1), conv_clamp=None, channels_last=False,
                 trainable=True):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / np.sqrt(in_channels * (kernel_size ** 2))
        self.act_gain = ops.activation_funcs[activation].def_gain
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=memory_format)
        bias_t = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = nn.Parameter(weight)
            self.bias = nn.Parameter(bias_t) if bias_t is not None else None
        else:
            self.register_buffer("weight", weight)
            if bias_t is not None:
                self.register_buffer("bias", bias_t)
            else:
                self.bias = None

    def forward(self, x, gain=1, plan=REFERENCE):
        if plan.fast:
            y = fast.skip_conv(self, x, gain)
            if y is not None:
                return y
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        flip_weight = self.up == 1   # transposed convs need the flip; equivalent, as official
        x = ops.conv2d_resample(x, w, f=self.resample_filter, up=self.up, down=self.down,
                                padding=self.padding, flip_weight=flip_weight)
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.bias_act(x, b, act=self.activation, gain=act_gain, clamp=act_clamp)


class MappingNetwork(nn.Module):
    """z (+ embedded label c) -> w, broadcast to ``num_ws`` entries, with truncation (psi, cutoff)."""

    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=8, embed_features=None,
                 layer_features=None, activation="lrelu", lr_multiplier=0.01, w_avg_beta=0.998):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(features[idx], features[idx + 1],
                                                          activation=activation,
                                                          lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        x = None
        if self.z_dim > 0:
            x = ops.normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            y = ops.normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_emas and self.w_avg_beta is not None:
            # Moving average of w (the truncation centre).
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            # Truncation trick: w' = w_avg + psi (w - w_avg), on the first ``cutoff`` entries.
            assert self.w_avg_beta is not None
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (+ optional 2x FIR upsampling), noise, bias, leaky ReLU, clamp."""

    def __init__(self, in_channels, out_channels, w_dim, resolution, kernel_size=3, up=1,
                 use_noise=True, activation="lrelu", resample_filter=(1, 3, 3, 1), conv_clamp=None,
                 channels_last=False):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.act_gain = ops.activation_funcs[activation].def_gain
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size])
                                   .to(memory_format=memory_format))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def _noise(self, x, noise_mode, n_out):
        if not self.use_noise or noise_mode == "none":
            return None
        if noise_mode == "random":
            return torch.randn([n_out, 1, self.resolution, self.resolution], device=x.device,
                               dtype=torch.float32) * self.noise_strength
        if noise_mode == "const":
            return self.noise_const * self.noise_strength   # [H, W], broadcast over N and C
        raise ValueError(f"noise_mode must be 'random', 'const' or 'none', not {noise_mode!r}")

    def forward(self, x, w, noise_mode="random", fused_modconv=True, gain=1, plan=REFERENCE, torgb=None):
        """``torgb=(ToRGBLayer, w)`` (with ``plan.fused_kernels`` only) asks for that toRGB to be
        computed in the same pass: the call then returns ``(x, rgb)``, rgb None where it was not
        (the caller runs the toRGB itself)."""
        styles = self.affine(w)
        if plan.fast and x.dtype != torch.float16:
            # (float16 keeps the official pre-normalised fused path: it guards against overflow.)
            return fast.synthesis_layer(self, x, styles, noise_mode, gain, plan, torgb)
        noise = self._noise(x, noise_mode, x.shape[0])
        x = ops.modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                                 resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                                 fused_modconv=fused_modconv)
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        x = ops.bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=act_gain, clamp=act_clamp)
        return x if torgb is None else (x, None)

    def extra_repr(self):
        return (f"in_channels={self.in_channels:d}, out_channels={self.out_channels:d}, w_dim={self.w_dim:d}, "
                f"resolution={self.resolution:d}, up={self.up}, activation={self.activation:s}")


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation, bias, clamp."""

    def __init__(self, in_channels, out_channels, w_dim, kernel_size=1, conv_clamp=None, channels_last=False):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size])
                                   .to(memory_format=memory_format))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels * (kernel_size ** 2))

    def forward(self, x, w, fused_modconv=True, plan=REFERENCE):
        styles = self.affine(w) * self.weight_gain
        if plan.fast:
            return fast.torgb_layer(self, x, styles)
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return ops.bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)

    def extra_repr(self):
        return f"in_channels={self.in_channels:d}, out_channels={self.out_channels:d}, w_dim={self.w_dim:d}"


class SynthesisBlock(nn.Module):
    """One resolution: [conv0 (up 2x)], conv1, [toRGB]; architectures 'orig', 'skip', 'resnet'."""

    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels, is_last,
                 architecture="skip", resample_filter=(1, 3, 3, 1), conv_clamp=256, use_fp16=False,
                 fp16_channels_last=False, fused_modconv_default=True, **layer_kwargs):
        assert architecture in ("orig", "skip", "resnet")
        super().__init__()
        self.in_channels = in_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.fused_modconv_default = fused_modconv_default
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        if in_channels != 0:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp,
                                        channels_last=self.channels_last, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, channels_last=self.channels_last, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp,
                                    channels_last=self.channels_last)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter, channels_last=self.channels_last)

    def forward(self, x, img, ws, force_fp32=False, fused_modconv=None, update_emas=False,
                plan=REFERENCE, **layer_kwargs):
        w_iter = iter(ws.unbind(dim=1))
        if ws.device.type != "cuda":
            force_fp32 = True   # the official code uses fp16 on CUDA only
        dtype = plan.dtype
        if dtype is None:
            dtype = torch.float16 if self.use_fp16 and not force_fp32 else torch.float32
        memory_format = torch.channels_last if self.channels_last and not force_fp32 else torch.contiguous_format
        if plan.fast and not _records_grad(self, ws, x):
            # oneDNN's forward convs run ~2x faster in NHWC; its backward passes do not: with
            # autograd recording (inversion, training) NCHW measured 2.3x faster per
            # forward + backward at 256 px (the [1, 128, 256, 256] 3x3 conv's backward: 0.45 s
            # NCHW, 0.88 s NHWC).
            memory_format = torch.channels_last
        if fused_modconv is None:
            fused_modconv = self.fused_modconv_default
        if fused_modconv == "inference_only":
            fused_modconv = not self.training
        kw = dict(fused_modconv=fused_modconv, plan=plan, **layer_kwargs)

        if self.in_channels == 0:
            x = self.const.to(dtype=dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = x.contiguous(memory_format=memory_format)
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)

        rgb = None
        # With the fused kernels, a toRGB that reads conv1's output runs in conv1's last pass
        # (not in resnet blocks: their toRGB reads conv1's output plus the skip branch).
        fuse_rgb = (plan.fused and self.architecture != "resnet"
                    and (self.is_last or self.architecture == "skip"))
        kw1 = dict(kw, torgb=(self.torgb, ws[:, self.num_conv])) if fuse_rgb else kw
        if self.in_channels == 0:
            x = self.conv1(x, next(w_iter), **kw1)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5), plan=plan)
            x = self.conv0(x, next(w_iter), **kw)
            x = self.conv1(x, next(w_iter), gain=np.sqrt(0.5), **kw)
            x = y.add_(x)
        else:
            x = self.conv0(x, next(w_iter), **kw)
            x = self.conv1(x, next(w_iter), **kw1)
        if fuse_rgb:
            x, rgb = x          # rgb None where the layer could not fuse it: the toRGB runs below

        if img is not None:
            img = (ops.upsample2d_fast(img, self.resample_filter) if plan.fast
                   else ops.upsample2d(img, self.resample_filter))
        if rgb is not None:
            img = img.add_(rgb) if img is not None else rgb
        elif self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv, plan=plan)
            # The fast path keeps the skip image channels-last, as toRGB gives it, so that its
            # upsampling runs as oneDNN's fast depthwise conv (SynthesisNetwork returns NCHW).
            y = y.to(dtype=torch.float32, memory_format=memory_format if plan.fast else torch.contiguous_format)
            img = img.add_(y) if img is not None else y
        return x, img

    def extra_repr(self):
        return f"resolution={self.resolution:d}, architecture={self.architecture:s}"


class SynthesisNetwork(nn.Module):
    """w+ [N, num_ws, w_dim] -> image [N, C, R, R]; blocks ``b4 … b{R}``."""

    #: ``plan.dtype`` (bfloat16) is honoured (facereel.nets.adapters asks).
    reduced_precision = True

    def __init__(self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512,
                 num_fp16_res=4, **block_kwargs):
        assert img_resolution >= 4 and img_resolution & (img_resolution - 1) == 0
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.img_channels = img_channels
        self.num_fp16_res = num_fp16_res
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels[res // 2] if res > 4 else 0
            is_last = res == self.img_resolution
            block = SynthesisBlock(in_channels, channels[res], w_dim=w_dim, resolution=res,
                                   img_channels=img_channels, is_last=is_last,
                                   use_fp16=res >= fp16_resolution, **block_kwargs)
            self.num_ws += block.num_conv
            if is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)
        # How this network runs (None: the process default), see facereel.nets.plan.
        self.plan: ExecutionPlan | None = None

    def forward(self, ws, noise_mode="random", force_fp32=False, fused_modconv=None, update_emas=False,
                plan: ExecutionPlan | None = None, **block_kwargs):
        """``plan`` overrides ``self.plan`` (else the process default) for this call."""
        plan = resolve(plan, getattr(self, "plan", None))   # (modules pickled before plans existed)
        block_ws = []
        w_idx = 0
        ws = ws.to(torch.float32)
        # Block b uses ws[w_idx : w_idx + num_conv + num_torgb]; its toRGB shares the next block's first w.
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws.append(ws.narrow(1, w_idx, block.num_conv + block.num_torgb))
            w_idx += block.num_conv
        kw = dict(noise_mode=noise_mode, force_fp32=force_fp32, fused_modconv=fused_modconv, plan=plan,
                  **block_kwargs)
        x = img = None
        for k, (res, cur_ws) in enumerate(zip(self.block_resolutions, block_ws)):
            if plan.fast and ws.shape[0] > 1 and k > 0 and res >= plan.per_sample_min_res:
                return torch.cat([self._run_blocks(k, x[i:i + 1], None if img is None else img[i:i + 1],
                                                   [w[i:i + 1] for w in block_ws], kw)
                                  for i in range(ws.shape[0])])
            x, img = getattr(self, f"b{res}")(x, img, cur_ws, **kw)
        return img.contiguous()

    def preview(self, ws, resolution: int, noise_mode="const", plan: ExecutionPlan | None = None):
        """The skip image after block ``b{resolution}``: [N, C, r, r], r = min(resolution, the
        output's); None for the 'orig' and 'resnet' architectures (no image before the last block).

        In the skip architecture the output is the sum of every block's toRGB, upsampled; the
        image after block r is that sum over the blocks up to r, the final picture without the
        finer blocks' detail, for the cost of the blocks up to r (a walk's speed pilot)."""
        if any(getattr(self, f"b{res}").architecture != "skip" for res in self.block_resolutions[:-1]):
            return None
        plan = resolve(plan, getattr(self, "plan", None))
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            cur = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(x, img, cur, noise_mode=noise_mode, plan=plan)
            if res >= resolution:
                break
        return img.contiguous()

    def _run_blocks(self, start, x, img, block_ws, kw):
        for res, cur_ws in zip(self.block_resolutions[start:], block_ws[start:]):
            x, img = getattr(self, f"b{res}")(x, img, cur_ws, **kw)
        return img.contiguous()

    def extra_repr(self):
        return (f"w_dim={self.w_dim:d}, num_ws={self.num_ws:d}, img_resolution={self.img_resolution:d}, "
                f"img_channels={self.img_channels:d}, num_fp16_res={self.num_fp16_res:d}")


class Generator(nn.Module):
    """``Generator(z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs, **synthesis_kwargs)``.

    ``synthesis_kwargs``: channel_base=32768, channel_max=512, num_fp16_res=4, architecture='skip',
    resample_filter=[1,3,3,1], conv_clamp=256, fp16_channels_last=False,
    fused_modconv_default=True, and SynthesisLayer kwargs (kernel_size, use_noise, activation).

    The wrapper (mapping → synthesis, the ``plan``) is shared with StyleGAN3, whose
    ``Generator`` only swaps ``mapping_class`` / ``synthesis_class``.
    """

    mapping_class: type = None  # set below, once the classes exist
    synthesis_class: type = None

    def __init__(self, z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs=None,
                 **synthesis_kwargs):
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.init_kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                                img_channels=img_channels, mapping_kwargs=mapping_kwargs, **synthesis_kwargs)
        self.synthesis = self.synthesis_class(w_dim=w_dim, img_resolution=img_resolution,
                                              img_channels=img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = self.mapping_class(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws,
                                          **mapping_kwargs)

    @property
    def plan(self) -> ExecutionPlan | None:
        """The synthesis network's plan (None: the process default)."""
        return self.synthesis.plan

    @plan.setter
    def plan(self, value: ExecutionPlan | None):
        self.synthesis.plan = value

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, update_emas=update_emas, **synthesis_kwargs)


Generator.mapping_class = MappingNetwork
Generator.synthesis_class = SynthesisNetwork


def conv_flops(G: Generator, batch: int = 1) -> float:
    """Multiply-adds ×2 of the synthesis convolutions (modulated 3x3 incl. transposed, toRGB, skip)."""
    total = 0
    for res in G.synthesis.block_resolutions:
        block = G.synthesis.b4 if res == 4 else getattr(G.synthesis, f"b{res}")
        for name in ("conv0", "conv1"):
            layer = getattr(block, name, None)
            if layer is None:
                continue
            o, i, kh, kw = layer.weight.shape
            pixels = (layer.resolution // layer.up) ** 2      # transposed conv: taps per input pixel
            total += pixels * o * i * kh * kw
        if hasattr(block, "torgb"):
            o, i, kh, kw = block.torgb.weight.shape
            total += res * res * o * i * kh * kw
        if hasattr(block, "skip"):
            o, i, kh, kw = block.skip.weight.shape
            total += (res // 2) ** 2 * o * i * kh * kw
    return 2.0 * total * batch
