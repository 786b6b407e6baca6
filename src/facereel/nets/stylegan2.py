"""StyleGAN2 generator, NVIDIA version (Karras et al., "Analyzing and Improving the Image Quality
of StyleGAN", CVPR 2020; stylegan2-ada-pytorch / stylegan3 ``networks_stylegan2.Generator``).

Architecture only, written from the paper and the official semantics: constructor arguments,
defaults, ``state_dict`` names (``mapping.fc0.weight``, ``synthesis.b16.conv0.affine.bias``,
``…noise_const``, ``…resample_filter``, …) and the numerics equal the official ones, so an
official state dict loads with ``strict=True`` and gives the same images (golden-tested).

Two execution paths give the same numbers (to float rounding):

* ``impl="reference"``: the official op sequence (grouped "fused" modulated conv etc.).
* ``impl="fast"`` (default): per layer the cheapest equivalent — modulated weights with one
  ordinary conv for batch 1, shared-weight conv with (de)modulation on the activations for
  batch > 1 (grouped convs are slow on CPU), demodulation coefficients from
  ``styles² · Σ_k w²`` without materialising per-sample weights, activation gain folded into
  the weights, in-place bias/noise/activation, and ``inference_mode``-friendly code; upsampling
  convs as polyphase ordinary convs, large layers one cache-sized stripe of rows at a time, and
  batches depth-first per sample at high resolution.

``synthesis(..., fused_kernels=True)`` (or ``FACEREEL_FUSED_KERNELS=1``) lets the fast path finish
its layers with the opt-in compiled CPU kernels of :mod:`facereel.nets.fused` (upsampling layers
as phase convs + one pass for FIR, demodulation, bias, noise, activation and clamp; same-size
layers with their block's toRGB in one pass).

``synthesis(..., dtype=torch.bfloat16)`` (or ``Generator.forward(..., dtype=...)``) runs the
convolutions in bfloat16 (opt-in; PSNR ≥ 40 dB against float32 is tested), accumulating the
RGB image in float32.

Official FFHQ checkpoints are NVIDIA non-commercial (NVIDIA Source Code License-NC).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import fused as _fused
from . import memory, ops, winograd

__all__ = ["Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer",
           "ToRGBLayer", "FullyConnectedLayer", "Conv2dLayer", "ffhq_config"]


def ffhq_config(resolution: int = 1024) -> dict:
    """Constructor kwargs of the official FFHQ StyleGAN2 (``train.py --cfg=stylegan2`` defaults)."""
    return dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
                mapping_kwargs=dict(num_layers=8), channel_base=32768, channel_max=512,
                num_fp16_res=4, conv_clamp=256, fused_modconv_default="inference_only")


# Upsampling convs whose input has at least this many pixels run as polyphase ordinary convs
# (ops.conv_transpose2d_polyphase); measured faster than oneDNN's transposed conv from 16x16 up.
POLYPHASE_MIN_PIXELS = 16 * 16
# The fast path runs a batch through the blocks below this resolution together, then each sample
# through the remaining blocks on its own (depth first): at high resolution a batched layer's
# working set leaves the caches (measured slower per image than batch 1 on CPU), while one sample's
# activations stay in the last-level cache from one layer to the next.
PER_SAMPLE_MIN_RES = 32
# Batch-1 layers whose output exceeds two stripes of about this many bytes run stripe by stripe of
# output rows (conv, FIR, noise, activation, clamp on a cache-resident stripe; a stripe recomputes
# one or two halo rows).  Measured, interleaved in one process: FFHQ-1024 1.37 -> 1.23 s,
# 512 0.92 -> 0.90 s, 256 0.66 -> 0.64 s per image (4 MB and 16-32 MB stripes were slower).
STRIPE_BYTES = 1 << 23
# Batch-1 layers whose weight outnumbers their input + output maps scale the maps instead of the
# weight (see SynthesisLayer._forward_fast): the FFHQ layers up to 32 px, 70.7 -> 58.1 ms per image
# (best of 40 interleaved rounds).  False restores weight modulation everywhere (for comparisons).
SMALL_MAPS_MODULATE_INPUT = True
STRIPE_MIN_ROWS = 8
# Same-size 3x3 float32 convs run as Winograd F(2x2, 3x3) where :func:`winograd.worthwhile` says it
# pays (many channels; the transformed weight is cached and modulated per call, eq. 1 being
# linear in the weight).


# Activations the fused kernels compute (a leaky ReLU with this negative slope).
_FUSED_SLOPES = {"lrelu": ops.activation_funcs["lrelu"].def_alpha, "relu": 0.0, "linear": 1.0}


class _Wino:
    """A conv weight in Winograd form for :meth:`SynthesisLayer._conv`: [16*O, I, 1, 1] and the
    matching [16*O] bias (or None)."""

    __slots__ = ("wt", "bias16")

    def __init__(self, wt, bias):
        self.wt = wt
        self.bias16 = None if bias is None else winograd.winograd_bias(bias)


def _cached(module: nn.Module, key, fn, *deps: torch.Tensor):
    """``fn()`` memoised on ``module`` while ``deps`` keep the same storage and version.

    Nothing is cached when autograd may need a graph through ``deps``.  Values are built
    outside inference mode (and without grad) so they can be reused in any mode.
    """
    if torch.is_grad_enabled() and any(d.requires_grad for d in deps):
        return fn()
    cache = module.__dict__.setdefault("_facereel_cache", {})
    stamp = tuple((d.data_ptr(), d._version, d.dtype, d.device) for d in deps)
    hit = cache.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    with torch.inference_mode(False), torch.no_grad():
        value = fn()
    cache[key] = (stamp, value)
    return value


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

    def forward(self, x, gain=1, impl="reference"):
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        if (impl == "fast" and w.shape[2:] == (1, 1) and self.up > 1 and self.down == 1
                and self.activation == "linear" and self.conv_clamp is None):
            # 1x1 conv commutes with the FIR: mix channels at low resolution, then upsample.
            if x.is_contiguous(memory_format=torch.channels_last):
                w = w.contiguous(memory_format=torch.channels_last)
            y = ops.upsample2d_fast(F.conv2d(x, w), self.resample_filter, up=self.up)
            return ops.bias_act(y, b, gain=self.act_gain * gain)
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

    def forward(self, x, w, noise_mode="random", fused_modconv=True, gain=1, impl="reference",
                fused_kernels=False, torgb=None):
        """``torgb=(ToRGBLayer, w)`` (fast path with ``fused_kernels`` only) asks for that toRGB to
        be computed in the same pass: the call then returns ``(x, rgb)``, rgb None where it was not
        (the caller runs the toRGB itself)."""
        styles = self.affine(w)
        if impl == "fast" and x.dtype != torch.float16:
            # (float16 keeps the official pre-normalised fused path: it guards against overflow.)
            y = self._forward_fast(x, styles, noise_mode, gain, fused_kernels, torgb)
            if isinstance(y, tuple):        # (x, rgb) from the fused tail
                return y if torgb is not None else y[0]
            return y if torgb is None else (y, None)
        noise = self._noise(x, noise_mode, x.shape[0])
        x = ops.modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                                 resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                                 fused_modconv=fused_modconv)
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        x = ops.bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=act_gain, clamp=act_clamp)
        return x if torgb is None else (x, None)

    def _forward_fast(self, x, styles, noise_mode, gain, fused_kernels=False, torgb=None):
        """Same maths as the reference with fewer passes (see module docstring); ``fused_kernels``
        lets upsampling layers run as phase convs + the opt-in compiled kernel (:meth:`_up_fused`)
        and same-size layers finish (with ``torgb``'s toRGB) in one compiled pass (:meth:`_post_fused`)."""
        dtype = x.dtype
        n = x.shape[0]
        cl = x.is_contiguous(memory_format=torch.channels_last) and x.ndim == 4
        mf = torch.channels_last if cl else torch.contiguous_format
        out_ch, in_ch = self.weight.shape[:2]
        g = float(self.act_gain * gain)
        # lrelu(a)·g == lrelu(a·g) for g > 0: fold the activation gain into weight, bias and noise.
        fold = g > 0 and self.activation in ("lrelu", "relu", "linear")
        # Weight in the conv's layout ([I, O, k, k] for the transposed conv) and Σ_k w_oik² [O, I].
        wf = _cached(self, ("w", mf), lambda: (self.weight.float().transpose(0, 1) if self.up > 1
                                               else self.weight.float()).contiguous(memory_format=mf),
                     self.weight)
        wsq = _cached(self, "wsq", lambda: self.weight.float().square().sum(dim=[2, 3]), self.weight)
        # Demodulation (eq. 3): Σ_{i,k} (s_i w_oik)² = Σ_i s_i² Σ_k w_oik², no [N,O,I,k,k] tensor.
        dco = (styles.square() @ wsq.t() + 1e-8).rsqrt()   # [N, O]
        scale = dco * g if fold else dco
        bias = (self.bias.float() * (g if fold else 1.0)).to(dtype)
        inplace = not torch.is_grad_enabled()   # autograd needs the intermediates otherwise
        poly = self.up > 1 and x.shape[2] * x.shape[3] >= POLYPHASE_MIN_PIXELS
        wino = (inplace and self.up == 1 and self.padding == 1
                and tuple(self.weight.shape[2:]) == (3, 3) and winograd.worthwhile(x))
        if wino:
            wd = _cached(self, "wino", lambda: winograd.winograd_weight(self.weight.float()), self.weight)
        elif poly:
            # Upsampling conv as its up² output phases (ordinary convs at the input resolution).
            wd = _cached(self, ("poly", mf, dtype), lambda: [
                (ry, rx, k.to(dtype).contiguous(memory_format=mf), py, px)
                for ry, rx, k, py, px in ops.polyphase_kernels(wf, self.up)], self.weight)
        else:
            # Reduced precision works on a cached low-precision copy of the weight.
            wd = wf if dtype == torch.float32 else _cached(self, ("wd", mf, dtype), lambda: wf.to(dtype),
                                                           self.weight)
        gn = g if fold else 1.0
        if noise_mode == "const" and self.use_noise:
            # noise_const · strength · gain [H, W], cached per gain/dtype.
            noise = _cached(self, ("noise", gn, dtype),
                            lambda: (self.noise_const * (self.noise_strength * gn)).to(dtype),
                            self.noise_const, self.noise_strength)
        else:
            noise = self._noise(x, noise_mode, n)
            noise = None if noise is None else (noise * gn).to(dtype)
        # The compiled kernels: float32 CPU inference, channels-last, activation gain folded.
        fusable = (fused_kernels and inplace and fold and cl and dtype == torch.float32
                   and x.device.type == "cpu" and self.activation in _FUSED_SLOPES and _fused.available())
        taps = self._fused_taps() if fusable and poly else None
        post_fused = fusable and self.up == 1
        # Batch 1 modulates the weight (O·I·k² products, 16·O·I for the Winograd transform) unless
        # that costs more than scaling the input and output maps (small maps: 4-32 px at 512 ch).
        w_elems = (16 if wino else self.weight[0, 0].numel()) * out_ch * in_ch
        map_elems = x[0].numel() + x[0, 0].numel() * self.up ** 2 * out_ch     # input + output maps
        if n == 1 and inplace and (w_elems <= map_elems or not SMALL_MAPS_MODULATE_INPUT):
            # Batch 1 without autograd: modulate and demodulate the weight (eq. 1, 3), one ordinary conv.
            coef = scale.reshape(out_ch, 1) * styles.reshape(1, in_ch)               # [O, I]
            if wino:
                # G (s ⊙ w) G^T == (G w G^T) ⊙ s per (o, i): modulate the cached transform.
                wm = _Wino((wd.view(16, out_ch, in_ch) * coef).view(16 * out_ch, in_ch, 1, 1), bias)
            elif poly:
                c4 = coef.to(dtype)[:, :, None, None]
                wm = [(ry, rx, k * c4, py, px) for ry, rx, k, py, px in wd]
            else:
                coef = coef.t() if self.up > 1 else coef
                wm = wd * coef.to(dtype)[:, :, None, None]
            if taps is not None:
                return self._up_fused(x, wm, taps, bias, None, noise, gain)
            if post_fused:
                return self._post_fused(self._conv(x, wm, bias), None, None, noise, gain, torgb)
            out_h = x.shape[2] * self.up
            stripe = max(STRIPE_BYTES // max(x.shape[3] * self.up * out_ch * x.element_size(), 1), STRIPE_MIN_ROWS)
            if inplace and cl and out_h >= 2 * stripe and self._stripe_geometry():
                # Large maps: conv, noise, activation and clamp one stripe of output rows at a time,
                # so each stripe stays in cache between the passes (see STRIPE_BYTES).
                y = torch.empty(1, out_ch, out_h, x.shape[3] * self.up, dtype=dtype, device=x.device,
                                memory_format=torch.channels_last)
                for r0 in range(0, out_h, stripe):
                    r1 = min(r0 + stripe, out_h)
                    a, b, off = self._input_rows(r0, r1, x.shape[2])
                    ys = self._conv(x.narrow(2, a, b - a), wm, bias).narrow(2, off, r1 - r0)
                    ns = None if noise is None else noise.narrow(-2, r0, r1 - r0)
                    y[:, :, r0:r1] = self._post(ys, ns, fold, g, gain, inplace)
                return y
            y = self._conv(x, wm, bias)
        else:
            # Batch > 1, or autograd recording: shared weight, modulation on the input, demodulation
            # on the output.  Under autograd this spares the backward pass the gradient of a
            # per-sample weight (a conv's worth of work) when the weight itself is frozen
            # (inversion): SG2-256 forward + backward 2.5 -> 1.6 s.
            xs = x * styles.to(dtype).reshape(n, in_ch, 1, 1)
            if taps is not None:
                return self._up_fused(xs, wd, taps, bias, scale, noise, gain)
            y = self._conv(xs, _Wino(wd, None) if wino else wd, None)
            if post_fused:
                return self._post_fused(y, scale, bias, noise, gain, torgb)
            s4 = scale.to(dtype).reshape(n, out_ch, 1, 1)
            if inplace:
                y = y.mul_(s4).add_(bias.reshape(1, -1, 1, 1))
            else:
                y = torch.addcmul(bias.reshape(1, -1, 1, 1), y, s4)
        return self._post(y, noise, fold, g, gain, inplace)

    def _fused_taps(self) -> torch.Tensor | None:
        """The 4-tap FIR per axis for :func:`fused.up2_fir_post` (flipped, with gain 2 per axis, as
        :func:`ops.fir_filter_fast` applies it), or None where the fused kernel does not apply:
        not the standard geometry (:meth:`_stripe_geometry`) or a non-separable filter."""
        if self.up != 2 or not self._stripe_geometry():
            return None

        def taps():
            # 2-D f = a aᵀ  <=>  (f·1)(f·1)ᵀ = f · Σf, and then a = f·1 / sqrt(Σf).
            f = self.resample_filter.detach().float()
            if f.ndim == 1:
                a = f
            else:
                total, u = f.sum(), f.sum(1)
                if total <= 0 or not torch.allclose(torch.outer(u, u), f * total, rtol=1e-6, atol=1e-9):
                    return None
                a = u / total.sqrt()
            return (2 * a).flip(0).contiguous()      # gain up² = 4 over two axes

        return _cached(self, "fused_taps", taps, self.resample_filter)

    def _up_fused(self, x, kernels, taps, bias, scale, noise, gain):
        """Upsampling layer, batch of N: per sample the transposed conv's four phases (ordinary
        convs, :func:`ops.conv_transpose2d_phases`), then FIR, demodulation ``scale`` [N, O] (None:
        already in ``kernels``), bias, noise, activation and clamp in one pass of the compiled
        kernel, which writes each output pixel once.  Whole maps, not stripes: the phase convs
        lose more on stripe-sized inputs than the kernel gains from cache-resident phases
        (FFHQ-1024's 1024 px layer: 89.5 ms whole, 110 ms in 8 MB stripes, 144 ms unfused)."""
        n, _, h, w = x.shape
        out_ch = self.weight.shape[0]
        cl = torch.channels_last
        y = torch.empty(n, out_ch, 2 * h, 2 * w, dtype=x.dtype, device=x.device, memory_format=cl)
        slope, clamp = self._slope_clamp(gain)
        for i in range(n):
            phases = [p.contiguous(memory_format=cl) for p in
                      ops.conv_transpose2d_phases(x[i:i + 1], kernels, 3, 3, 2)]
            _fused.up2_fir_post(phases, taps, 0, y[i:i + 1], bias, None if scale is None else scale[i],
                                noise if noise is None or noise.ndim == 2 else noise[i, 0],
                                slope=slope, clamp=clamp)
        return y

    def _slope_clamp(self, gain):
        return _FUSED_SLOPES[self.activation], None if self.conv_clamp is None else float(self.conv_clamp * gain)

    def _post_fused(self, y, scale, bias, noise, gain, torgb):
        """Same-size layer tail in one compiled pass per sample (:func:`fused.post_rgb`), in place
        on the conv output y [N, O, H, W]: demodulation ``scale`` [N, O] and ``bias`` (None: already
        applied), noise, activation, clamp; and, with ``torgb=(ToRGBLayer, w)``, that layer's
        output from the same pass.  Returns (y, rgb [N, R, H, W] channels-last or None).  Whole
        maps: stripes measured no faster once the tail is one pass."""
        y = y.contiguous(memory_format=torch.channels_last)
        n = y.shape[0]
        slope, clamp = self._slope_clamp(gain)
        rgbp = torgb[0]._fused_params(torgb[1]) if torgb is not None else None
        rgb = (None if rgbp is None else
               torch.empty(n, rgbp[0].shape[1], *y.shape[2:], dtype=torch.float32, device=y.device,
                           memory_format=torch.channels_last))
        for i in range(n):
            ni = noise if noise is None or noise.ndim == 2 else noise[i, 0]
            if rgbp is None:
                _fused.post_rgb(y[i:i + 1], None if scale is None else scale[i], bias, ni, slope, clamp)
            else:
                _fused.post_rgb(y[i:i + 1], None if scale is None else scale[i], bias, ni, slope, clamp,
                                rgbp[0][i], rgbp[1], rgbp[2], rgb_out=rgb[i:i + 1])
        return y, rgb

    def _post(self, y, noise, fold, g, gain, inplace):
        """Noise, activation (gain folded or applied) and clamp on the conv output."""
        if noise is not None:
            y = y.add_(noise) if inplace else y + noise
        if fold:
            if self.activation == "lrelu":
                y = F.leaky_relu_(y, 0.2) if inplace else F.leaky_relu(y, 0.2)
            elif self.activation == "relu":
                y = F.relu_(y) if inplace else F.relu(y)
        else:
            y = ops.bias_act(y, None, act=self.activation, gain=g)
        if self.conv_clamp is not None:
            c = float(self.conv_clamp * gain)
            y = y.clamp_(-c, c) if inplace else y.clamp(-c, c)
        return y

    def _stripe_geometry(self) -> bool:
        """Whether :meth:`_input_rows` knows this layer's row geometry: a same-size odd conv, or the
        standard 3x3 upsampling conv with a 4-tap FIR (transposed conv uncropped, FIR padded by 1)."""
        kh, kw = self.weight.shape[2:]
        if self.up == 1:
            return kh % 2 == 1 and self.padding == kh // 2
        fw, fh = ops.get_filter_size(self.resample_filter)
        return self.up == 2 and (kh, kw, fh, fw, self.padding) == (3, 3, 4, 4, 1)

    def _input_rows(self, r0, r1, h):
        """Input rows [a, b) whose conv (with its usual zero padding) gives output rows [r0, r1)
        exactly, at local rows off … off + r1 - r0 (rows outside those saw a stripe edge, not the
        image edge, and are dropped)."""
        if self.up == 1:
            p = self.padding
            a = max(r0 - p, 0)
            return a, min(r1 + p, h), r0 - a
        # Up 2: output row m is the FIR (pad 1) of transposed-conv rows m-1 … m+2; transposed row
        # 2i reads input rows i-1, i and row 2i+1 reads row i, so rows 2a+1 … 2b-1 of a stripe
        # [a, b) are exact.
        a = max((r0 - 2) // 2, 0)
        return a, min((r1 + 3) // 2, h), r0 - 2 * a

    def _conv(self, x, w, bias):
        """3x3 conv (+ bias), or for up=2: transposed conv (``w`` given as [I, O, k, k], or as its
        :func:`ops.polyphase_kernels`) then the FIR."""
        if isinstance(w, _Wino):
            return winograd.conv3x3_winograd(x, w.wt, w.bias16)
        if self.up == 1:
            return F.conv2d(x, w, bias=bias, padding=self.padding)
        # Zero insertion + true conv == stride-2 transposed conv without flip (weight [I, O, k, k]),
        # then the FIR with gain up² on the paddings of the official conv2d_resample.
        fw, fh = ops.get_filter_size(self.resample_filter)
        kh, kw = self.weight.shape[2:]
        up = self.up
        px0 = self.padding + (fw + up - 1) // 2 - (kw - 1)
        px1 = self.padding + (fw - up) // 2 - (kw - up)
        py0 = self.padding + (fh + up - 1) // 2 - (kh - 1)
        py1 = self.padding + (fh - up) // 2 - (kh - up)
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        if isinstance(w, list):
            y = ops.conv_transpose2d_polyphase(x, w, kh, kw, stride=up)
            if pyt or pxt:
                y = y[:, :, pyt:y.shape[2] - pyt, pxt:y.shape[3] - pxt]
        else:
            y = F.conv_transpose2d(x, w, stride=up, padding=[pyt, pxt])   # w is already [I, O, k, k]
        return ops.fir_filter_fast(y, self.resample_filter, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt],
                                   gain=up ** 2, bias=bias)

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

    def forward(self, x, w, fused_modconv=True, impl="reference"):
        styles = self.affine(w) * self.weight_gain
        if impl == "fast":
            n, in_ch = styles.shape
            weight = self.weight.float()
            k = weight.shape[-1]
            cl = x.is_contiguous(memory_format=torch.channels_last)
            if n == 1 or k != 1:
                if n == 1:
                    wm = weight * styles.reshape(1, in_ch, 1, 1)
                    xin = x
                else:
                    wm = weight
                    xin = x * styles.to(x.dtype).reshape(n, in_ch, 1, 1)
                wm = wm.to(x.dtype).contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)
                y = F.conv2d(xin, wm, padding=k // 2).float()
            else:
                # Per-sample 1x1 mixing as one batched matmul: [N, HW, I] @ [N, I, O].
                wm = (weight[:, :, 0, 0].unsqueeze(0) * styles.reshape(n, 1, in_ch)).to(x.dtype)   # [N, O, I]
                if cl:
                    h, w_ = x.shape[2:]
                    y = torch.bmm(x.permute(0, 2, 3, 1).reshape(n, h * w_, in_ch), wm.transpose(1, 2))
                    y = y.reshape(n, h, w_, -1).permute(0, 3, 1, 2).float()
                else:
                    y = torch.bmm(wm, x.reshape(n, in_ch, -1)).reshape(n, -1, *x.shape[2:]).float()
            y = y + self.bias.float().reshape(1, -1, 1, 1)
            if self.conv_clamp is not None:
                y = y.clamp_(-self.conv_clamp, self.conv_clamp)
            return y
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return ops.bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)

    def _fused_params(self, w):
        """(modulated weight [N, R, I], bias [R], clamp) for :func:`fused.post_rgb`, the fast path's
        maths (1x1 kernels; None otherwise, or while autograd records)."""
        if self.weight.shape[-1] != 1 or _records_grad(self, w):
            return None
        styles = (self.affine(w) * self.weight_gain).float()                           # [N, I]
        wm = self.weight.float()[:, :, 0, 0].unsqueeze(0) * styles.unsqueeze(1)        # [N, R, I]
        return wm.contiguous(), self.bias.float(), self.conv_clamp

    def extra_repr(self):
        return f"in_channels={self.in_channels:d}, out_channels={self.out_channels:d}, w_dim={self.w_dim:d}"


def _records_grad(module: nn.Module, *inputs: torch.Tensor | None) -> bool:
    """Whether autograd will record a forward of ``module`` on ``inputs``."""
    if not torch.is_grad_enabled():
        return False
    return (any(t is not None and t.requires_grad for t in inputs)
            or any(p.requires_grad for p in module.parameters()))


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
                impl="reference", dtype=None, **layer_kwargs):
        w_iter = iter(ws.unbind(dim=1))
        if ws.device.type != "cuda":
            force_fp32 = True   # the official code uses fp16 on CUDA only
        if dtype is None:
            dtype = torch.float16 if self.use_fp16 and not force_fp32 else torch.float32
        memory_format = torch.channels_last if self.channels_last and not force_fp32 else torch.contiguous_format
        if impl == "fast" and not _records_grad(self, ws, x):
            # oneDNN's forward convs run ~2x faster in NHWC; its backward passes do not: with
            # autograd recording (inversion, training) NCHW measured 2.3x faster per
            # forward + backward at 256 px (the [1, 128, 256, 256] 3x3 conv's backward: 0.45 s
            # NCHW, 0.88 s NHWC).
            memory_format = torch.channels_last
        if fused_modconv is None:
            fused_modconv = self.fused_modconv_default
        if fused_modconv == "inference_only":
            fused_modconv = not self.training
        kw = dict(fused_modconv=fused_modconv, impl=impl, **layer_kwargs)

        if self.in_channels == 0:
            x = self.const.to(dtype=dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = x.contiguous(memory_format=memory_format)
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)

        rgb = None
        # With the fused kernels, a toRGB that reads conv1's output runs in conv1's last pass
        # (not in resnet blocks: their toRGB reads conv1's output plus the skip branch).
        fuse_rgb = (kw.get("fused_kernels") and impl == "fast" and self.architecture != "resnet"
                    and (self.is_last or self.architecture == "skip"))
        kw1 = dict(kw, torgb=(self.torgb, ws[:, self.num_conv])) if fuse_rgb else kw
        if self.in_channels == 0:
            x = self.conv1(x, next(w_iter), **kw1)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5), impl=impl)
            x = self.conv0(x, next(w_iter), **kw)
            x = self.conv1(x, next(w_iter), gain=np.sqrt(0.5), **kw)
            x = y.add_(x)
        else:
            x = self.conv0(x, next(w_iter), **kw)
            x = self.conv1(x, next(w_iter), **kw1)
        if fuse_rgb:
            x, rgb = x          # rgb None where the layer could not fuse it: the toRGB runs below

        if img is not None:
            img = (ops.upsample2d_fast(img, self.resample_filter) if impl == "fast"
                   else ops.upsample2d(img, self.resample_filter))
        if rgb is not None:
            img = img.add_(rgb) if img is not None else rgb
        elif self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv, impl=impl)
            # The fast path keeps the skip image channels-last, as toRGB gives it, so that its
            # upsampling runs as oneDNN's fast depthwise conv (SynthesisNetwork returns NCHW).
            y = y.to(dtype=torch.float32, memory_format=memory_format if impl == "fast" else torch.contiguous_format)
            img = img.add_(y) if img is not None else y
        return x, img

    def extra_repr(self):
        return f"resolution={self.resolution:d}, architecture={self.architecture:s}"


class SynthesisNetwork(nn.Module):
    """w+ [N, num_ws, w_dim] -> image [N, C, R, R]; blocks ``b4 … b{R}``."""

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
        self.impl = "fast"
        # Opt-in compiled CPU kernels on the fast path (:mod:`facereel.nets.fused`); None follows
        # the environment variable FACEREEL_FUSED_KERNELS.
        self.fused_kernels: bool | None = None

    def forward(self, ws, noise_mode="random", force_fp32=False, fused_modconv=None, update_emas=False,
                dtype=None, impl=None, fused_kernels=None, **block_kwargs):
        """``dtype=torch.bfloat16`` opts into the bfloat16 path; ``impl`` overrides ``self.impl``;
        ``fused_kernels=True`` (else ``self.fused_kernels``, else FACEREEL_FUSED_KERNELS=1) lets
        the fast path use the compiled CPU kernels where they apply."""
        impl = impl or self.impl
        assert impl in ("fast", "reference")
        if fused_kernels is None:
            own = getattr(self, "fused_kernels", None)     # (modules pickled before the switch existed)
            fused_kernels = own if own is not None else _fused.enabled_by_env()
        if impl == "fast" and fused_kernels:
            block_kwargs["fused_kernels"] = True
        if dtype is not None and dtype != torch.float32 and impl == "reference":
            impl = "fast"
        if impl == "fast" and ws.device.type == "cpu":
            memory.keep_freed_memory()
        block_ws = []
        w_idx = 0
        ws = ws.to(torch.float32)
        # Block b uses ws[w_idx : w_idx + num_conv + num_torgb]; its toRGB shares the next block's first w.
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws.append(ws.narrow(1, w_idx, block.num_conv + block.num_torgb))
            w_idx += block.num_conv
        kw = dict(noise_mode=noise_mode, force_fp32=force_fp32, fused_modconv=fused_modconv, impl=impl,
                  dtype=dtype, **block_kwargs)
        x = img = None
        for k, (res, cur_ws) in enumerate(zip(self.block_resolutions, block_ws)):
            if impl == "fast" and ws.shape[0] > 1 and k > 0 and res >= PER_SAMPLE_MIN_RES:
                return torch.cat([self._run_blocks(k, x[i:i + 1], None if img is None else img[i:i + 1],
                                                   [w[i:i + 1] for w in block_ws], kw)
                                  for i in range(ws.shape[0])])
            x, img = getattr(self, f"b{res}")(x, img, cur_ws, **kw)
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

    The wrapper (mapping → synthesis, ``impl`` switch) is shared with StyleGAN3, whose
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
    def impl(self) -> str:
        return self.synthesis.impl

    @impl.setter
    def impl(self, value: str):
        assert value in ("fast", "reference")
        self.synthesis.impl = value

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
