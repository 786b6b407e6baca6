"""StyleGAN3 generator, T and R configurations (Karras et al., "Alias-Free Generative Adversarial
Networks", NeurIPS 2021; NVlabs/stylegan3 ``training.networks_stylegan3.Generator``).

Architecture only, written from the paper and the official semantics: constructor arguments and
defaults, ``state_dict`` names (``synthesis.input.affine.weight``, ``synthesis.input.freqs``,
``synthesis.L3_52_512.magnitude_ema``, ``…up_filter``, ``…down_filter``, ``mapping.fc0.weight``,
``mapping.w_avg``, …) and the numerics equal the official ones, so an official state dict loads
with ``strict=True`` and gives the same images (golden-tested).

* ``SynthesisInput``: Fourier features of random frequencies inside a disc of radius
  ``bandwidth`` (paper §3.1), rotated/translated by an affine of w (eq. in App. F.1) and by the
  user ``transform`` buffer (an inverse image transform, [3, 3]; a batched [N, 3, 3] is accepted
  too, as ReStyle-SG3's copy does).
* ``SynthesisLayer``: modulated conv (weights and styles pre-normalised, input scaled by
  ``magnitude_ema ** -0.5``), then the filtered leaky ReLU (upsample ×``up_factor`` with a Kaiser
  low-pass, bias + lrelu + gain + clamp, low-pass and downsample ×``down_factor``; §3.2, App. D),
  with radially symmetric jinc down filters for the R configuration.
* ``magnitude_ema`` (the running mean of the squared input) only changes with ``update_emas=True``.

A fast :class:`~facereel.nets.plan.ExecutionPlan` (the default; ``synthesis(ws, plan=...)``, else
``synthesis.plan``, else the process default) runs the polyphase filtered leaky ReLU of
:mod:`facereel.nets.filtered_lrelu` and, on CPU without autograd, the many-channel 3x3 modulated
convs as Winograd F(2x2, 3x3) (:mod:`facereel.nets.winograd`; SG3-T 1024, per conv: 512 ch at
36-84 px 1.75-2.0x, at 148 px 1.34-1.59x, 323 ch at 276 px 1.08x; whole image 8.4 -> 7.6 s);
a reference plan runs NVlabs' reference op sequence.  Both agree to float rounding (tested).

Official StyleGAN3 checkpoints are NVIDIA non-commercial (NVIDIA Source Code License-NC).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import stylegan2 as _sg2
from . import winograd
from .filtered_lrelu import filtered_lrelu
from .plan import FAST, ExecutionPlan, resolve
from .stylegan2_fast import cached as _cached

__all__ = ["Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisInput", "SynthesisLayer",
           "FullyConnectedLayer", "modulated_conv2d", "design_lowpass_filter", "config_t", "config_r"]


def config_t(resolution: int = 1024, z_dim: int = 512) -> dict:
    """Constructor kwargs of ``train.py --cfg=stylegan3-t`` (cbase 32768, cmax 512, 2 mapping layers)."""
    return dict(z_dim=z_dim, c_dim=0, w_dim=z_dim, img_resolution=resolution, img_channels=3,
                mapping_kwargs=dict(num_layers=2), channel_base=32768, channel_max=512,
                conv_kernel=3, use_radial_filters=False, magnitude_ema_beta=0.5 ** (32 / 20000))


def config_r(resolution: int = 1024, z_dim: int = 512) -> dict:
    """``--cfg=stylegan3-r``: conv_kernel 1, radial filters, channel_base/max doubled."""
    return dict(config_t(resolution, z_dim), channel_base=65536, channel_max=1024, conv_kernel=1,
                use_radial_filters=True)


class FullyConnectedLayer(_sg2.FullyConnectedLayer):
    """Equalised-lr linear layer: runtime gains lr_multiplier/sqrt(in) (weight) and lr_multiplier (bias).

    StyleGAN3's constructor (``weight_init``, per-feature ``bias_init``, bias stored divided by the
    lr multiplier); the forward pass, with its cached gains, is StyleGAN2's.
    """

    def __init__(self, in_features, out_features, activation="linear", bias=True, lr_multiplier=1.0,
                 weight_init=1.0, bias_init=0.0):
        nn.Module.__init__(self)
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) * (weight_init / lr_multiplier))
        bias_init = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features])
        self.bias = nn.Parameter(torch.from_numpy(bias_init / lr_multiplier)) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier


class MappingNetwork(nn.Module):
    """z (and label c) -> w, broadcast to num_ws, truncated towards ``w_avg`` for the first
    ``truncation_cutoff`` entries: w' = w_avg + psi (w - w_avg)."""

    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=2, lr_multiplier=0.01, w_avg_beta=0.998):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        self.embed = FullyConnectedLayer(c_dim, w_dim) if c_dim > 0 else None
        features = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        for idx, (fin, fout) in enumerate(zip(features[:-1], features[1:])):
            setattr(self, f"fc{idx}", FullyConnectedLayer(fin, fout, activation="lrelu", lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        if truncation_cutoff is None:
            truncation_cutoff = self.num_ws
        x = z.to(torch.float32)
        x = x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()          # 2nd-moment normalisation
        if self.c_dim > 0:
            y = self.embed(c.to(torch.float32))
            y = y * (y.square().mean(1, keepdim=True) + 1e-8).rsqrt()
            x = torch.cat([x, y], dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_emas:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])                        # [N, num_ws, w_dim]
        if truncation_psi != 1:
            x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x

    def extra_repr(self):
        return f"z_dim={self.z_dim:d}, c_dim={self.c_dim:d}, w_dim={self.w_dim:d}, num_ws={self.num_ws:d}"


def modulated_conv2d(x, w, s, demodulate=True, padding=0, input_gain=None):
    """StyleGAN3 modulated conv: x [N, I, H, W], w [O, I, k, k], s [N, I] -> [N, O, H', W'].

    Unlike StyleGAN2, w is pre-normalised per output channel and s by its RMS over the whole
    batch (for fp16 range), and ``input_gain`` (magnitude_ema^-1/2) scales the input channels.
    """
    batch_size = int(x.shape[0])
    out_channels, in_channels, kh, kw = w.shape
    if demodulate:
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()
    w = w.unsqueeze(0) * s.unsqueeze(1).unsqueeze(3).unsqueeze(4)              # [N, O, I, k, k]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()                 # [N, O]
        w = w * dcoefs.unsqueeze(2).unsqueeze(3).unsqueeze(4)
    if input_gain is not None:
        input_gain = input_gain.expand(batch_size, in_channels)                 # [N, I]
        w = w * input_gain.unsqueeze(1).unsqueeze(3).unsqueeze(4)
    # One grouped convolution over the batch (groups = N).
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = torch.nn.functional.conv2d(x, w.to(x.dtype), padding=padding, groups=batch_size)
    return x.reshape(batch_size, -1, *x.shape[2:])


def _modulated_conv2d_fast(x, w, s, demodulate=True, padding=0, input_gain=None, bias=None):
    """Same result as :func:`modulated_conv2d` (+ ``bias`` per output channel) to float rounding,
    cheaper on CPU: the per-sample weights are built once, batch 1 is an ordinary conv, and batch > 1
    runs as a loop of ordinary convs instead of one grouped conv."""
    batch_size = int(x.shape[0])
    out_channels, in_channels, kh, kw = w.shape
    if demodulate:
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()
    if torch.is_grad_enabled() and (x.requires_grad or s.requires_grad or w.requires_grad):
        return _modulated_conv2d_input_scaled(x, w, s, demodulate, padding, input_gain, bias)
    wm = w.unsqueeze(0) * s[:, None, :, None, None]                             # [N, O, I, k, k]
    if demodulate:
        wm = wm * (wm.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
    if input_gain is not None:
        wm = wm * input_gain.expand(batch_size, in_channels)[:, None, :, None, None]
    wm = wm.to(x.dtype)
    outs = [torch.nn.functional.conv2d(x[i:i + 1], wm[i], bias, padding=padding) for i in range(batch_size)]
    return outs[0] if batch_size == 1 else torch.cat(outs, 0)


def _modulated_conv2d_input_scaled(x, w, s, demodulate, padding, input_gain, bias):
    """The autograd form of :func:`_modulated_conv2d_fast` (w and s already normalised): scale the
    input by s_i·input_gain, convolve with the shared weight, scale the output by the demodulation
    coefficient d_o = (sum_i s_i^2 sum_k w_oik^2 + 1e-8)^-1/2 (Karras et al. 2020, eq. 3).  Same
    sums; but the backward pass needs no gradient of a per-sample weight (a conv's worth of work)
    unless the weight itself trains, and it runs NCHW, where oneDNN's backward convs were 2-10x
    faster than channels-last (362 -> 256 channels at 148 px: 0.26 s forward, 2.6 s backward NHWC)."""
    n, in_channels = s.shape
    gain = s if input_gain is None else s * input_gain.expand(n, in_channels)
    xs = x.contiguous() * gain.to(x.dtype)[:, :, None, None]
    y = F.conv2d(xs, w.to(x.dtype), padding=padding)
    if demodulate:
        d = (s.square() @ w.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()      # [N, O]
        y = y * d.to(y.dtype)[:, :, None, None]
    return y if bias is None else y + bias.to(y.dtype).reshape(1, -1, 1, 1)


def design_lowpass_filter(numtaps, cutoff, width, fs, radial=False):
    """Kaiser-windowed low-pass FIR (separable 1-D, or radially symmetric jinc 2-D); None = identity."""
    assert numtaps >= 1
    if numtaps == 1:
        return None
    import scipy.signal
    import scipy.special

    if not radial:
        f = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        return torch.as_tensor(f, dtype=torch.float32)
    # Jinc (2-D ideal low-pass) windowed by the outer product of two Kaiser windows (App. D.2).
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    win = np.kaiser(numtaps, beta)
    f *= np.outer(win, win)
    f /= np.sum(f)
    return torch.as_tensor(f, dtype=torch.float32)


class SynthesisInput(nn.Module):
    """Fourier-feature input (§3.1): ``channels`` sinusoids sampled on a ``size``² grid."""

    def __init__(self, w_dim, channels, size, sampling_rate, bandwidth):
        super().__init__()
        self.w_dim = w_dim
        self.channels = channels
        self.size = np.broadcast_to(np.asarray(size), [2])
        self.sampling_rate = sampling_rate
        self.bandwidth = bandwidth
        # Random frequencies, uniform-ish in the disc of radius `bandwidth`; random phases.
        freqs = torch.randn([self.channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs /= radii * radii.square().exp().pow(0.25)
        freqs *= bandwidth
        phases = torch.rand([self.channels]) - 0.5
        # affine(w) = (r_c, r_s, t_x, t_y); identity at init.
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.weight = nn.Parameter(torch.randn([self.channels, self.channels]))
        self.register_buffer("transform", torch.eye(3, 3))     # user transform (inverse, image coords)
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)

    def forward(self, w):
        n = w.shape[0]
        transforms = self.transform if self.transform.ndim == 3 else self.transform.unsqueeze(0)  # [N|1, 3, 3]
        freqs = self.freqs.unsqueeze(0)                               # [1, C, 2]
        phases = self.phases.unsqueeze(0)                             # [1, C]

        # Learned rotation + translation from w, normalised so (r_c, r_s) is a unit rotation.
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        m_r = torch.eye(3, device=w.device).unsqueeze(0).repeat([n, 1, 1])   # inverse rotation
        m_r[:, 0, 0] = t[:, 0]
        m_r[:, 0, 1] = -t[:, 1]
        m_r[:, 1, 0] = t[:, 1]
        m_r[:, 1, 1] = t[:, 0]
        m_t = torch.eye(3, device=w.device).unsqueeze(0).repeat([n, 1, 1])   # inverse translation
        m_t[:, 0, 2] = -t[:, 2]
        m_t[:, 1, 2] = -t[:, 3]
        transforms = m_r @ m_t @ transforms.to(w.dtype)               # rotate, translate, then user transform

        # Transform the frequencies: f' = f A, phase' = phase + f b.
        phases = phases + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]

        # Fade out frequencies the user transform pushed above the band limit.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        # Sampling grid in the same units as the frequencies.
        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = 0.5 * self.size[0] / self.sampling_rate
        theta[1, 1] = 0.5 * self.size[1] / self.sampling_rate
        grids = torch.nn.functional.affine_grid(theta.unsqueeze(0), [1, 1, int(self.size[1]), int(self.size[0])],
                                                align_corners=False)

        x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [N, H, W, C]
        x = x + phases.unsqueeze(1).unsqueeze(2)
        x = torch.sin(x * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)

        weight = self.weight / np.sqrt(self.channels)
        x = x @ weight.t()
        return x.permute(0, 3, 1, 2)                                  # [N, C, H, W]

    def extra_repr(self):
        return (f"w_dim={self.w_dim:d}, channels={self.channels:d}, size={list(self.size)},\n"
                f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}")


class SynthesisLayer(nn.Module):
    def __init__(self, w_dim, is_torgb, is_critically_sampled, use_fp16,
                 in_channels, out_channels, in_size, out_size, in_sampling_rate, out_sampling_rate,
                 in_cutoff, out_cutoff, in_half_width, out_half_width,
                 conv_kernel=3, filter_size=6, lrelu_upsampling=2, use_radial_filters=False,
                 conv_clamp=256, magnitude_ema_beta=0.999):
        super().__init__()
        self.w_dim = w_dim
        self.is_torgb = is_torgb
        self.is_critically_sampled = is_critically_sampled
        self.use_fp16 = use_fp16
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.in_size = np.broadcast_to(np.asarray(in_size), [2])
        self.out_size = np.broadcast_to(np.asarray(out_size), [2])
        self.in_sampling_rate = in_sampling_rate
        self.out_sampling_rate = out_sampling_rate
        self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.in_cutoff = in_cutoff
        self.out_cutoff = out_cutoff
        self.in_half_width = in_half_width
        self.out_half_width = out_half_width
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        self.magnitude_ema_beta = magnitude_ema_beta

        self.affine = FullyConnectedLayer(self.w_dim, self.in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([self.out_channels, self.in_channels, self.conv_kernel, self.conv_kernel]))
        self.bias = nn.Parameter(torch.zeros([self.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        # Upsampling filter: cutoff of the input signal, at the temporary (lrelu) sampling rate.
        self.up_factor = int(np.rint(self.tmp_sampling_rate / self.in_sampling_rate))
        assert self.in_sampling_rate * self.up_factor == self.tmp_sampling_rate
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not self.is_torgb else 1
        self.register_buffer("up_filter", design_lowpass_filter(
            numtaps=self.up_taps, cutoff=self.in_cutoff, width=self.in_half_width * 2, fs=self.tmp_sampling_rate))

        # Downsampling filter: cutoff of the output signal (radial in R, except critically sampled layers).
        self.down_factor = int(np.rint(self.tmp_sampling_rate / self.out_sampling_rate))
        assert self.out_sampling_rate * self.down_factor == self.tmp_sampling_rate
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not self.is_torgb else 1
        self.down_radial = use_radial_filters and not self.is_critically_sampled
        self.register_buffer("down_filter", design_lowpass_filter(
            numtaps=self.down_taps, cutoff=self.out_cutoff, width=self.out_half_width * 2,
            fs=self.tmp_sampling_rate, radial=self.down_radial))

        # Padding so that output samples sit at the symmetric positions of App. C.3.
        pad_total = (self.out_size - 1) * self.down_factor + 1
        pad_total -= (self.in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += self.up_taps + self.down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        pad_hi = pad_total - pad_lo
        self.padding = [int(pad_lo[0]), int(pad_hi[0]), int(pad_lo[1]), int(pad_hi[1])]

    def forward(self, x, w, noise_mode="random", force_fp32=False, update_emas=False, plan=FAST):
        assert noise_mode in ("random", "const", "none")  # accepted for API compatibility; SG3 has no noise
        if update_emas:
            magnitude_cur = x.detach().to(torch.float32).square().mean()
            self.magnitude_ema.copy_(magnitude_cur.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        input_gain = self.magnitude_ema.rsqrt()

        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / np.sqrt(self.in_channels * (self.conv_kernel ** 2)))

        # fp16 is only used on CUDA by the official code; CPU always runs float32.
        dtype = torch.float16 if (self.use_fp16 and not force_fp32 and x.device.type == "cuda") else torch.float32
        bias = self.bias.to(dtype)
        if (plan.fast and not self.is_torgb and self.conv_kernel == 3 and winograd.worthwhile(x)
                and winograd.usable(x, self.weight)):
            x = self._modulated_conv2d_winograd(x, styles, input_gain, bias)
            bias = None
        elif plan.fast:
            # The bias precedes the (zero-padded) upsampling: adding it in the conv is the same sum
            # and saves a pass over the conv output.
            x = _modulated_conv2d_fast(x.to(dtype), self.weight, styles, demodulate=not self.is_torgb,
                                       padding=self.conv_kernel - 1, input_gain=input_gain, bias=bias)
            bias = None
        else:
            x = modulated_conv2d(x.to(dtype), self.weight, styles, demodulate=not self.is_torgb,
                                 padding=self.conv_kernel - 1, input_gain=input_gain)

        gain = 1 if self.is_torgb else np.sqrt(2)
        slope = 1 if self.is_torgb else 0.2
        x = filtered_lrelu(x, fu=self.up_filter, fd=self.down_filter, b=bias,
                           up=self.up_factor, down=self.down_factor, padding=self.padding,
                           gain=gain, slope=slope, clamp=self.conv_clamp, plan=plan)
        return x

    def _modulated_conv2d_winograd(self, x, styles, input_gain, bias):
        """:func:`modulated_conv2d` (demodulated, + bias) as Winograd F(2x2, 3x3) convs, one per sample.

        The official weight is w'_oik = w_oik · a_o · s_i · σ · d_o · g with a_o = rms_{i,k}(w_o)^-1,
        σ = rms(s)^-1 over the whole [N, I] style tensor (as the official code takes it), d_o the
        demodulation and g the input gain: a per-(o, i) scale of each 3x3 kernel, so it modulates
        the cached transform G w G^T directly (the transform is linear per kernel).
        """
        o, i = self.out_channels, self.in_channels
        wt = _cached(self, "wino", lambda: winograd.winograd_weight(self.weight.float()), self.weight)
        wsq = _cached(self, "wsq", lambda: self.weight.float().square().sum(dim=[2, 3]), self.weight)  # [O, I]
        a = (wsq.sum(dim=1) / (i * 9)).rsqrt()                                  # [O]
        s = styles * styles.square().mean().rsqrt()                             # [N, I]
        d = ((s.square() @ wsq.t()) * a.square() + 1e-8).rsqrt()               # [N, O]: Σ_ik (a s w)²
        bias16 = winograd.winograd_bias(bias)
        outs = []
        for k in range(x.shape[0]):
            coef = (a * d[k]).reshape(o, 1) * (s[k] * input_gain).reshape(1, i)  # [O, I]
            wm = (wt.view(16, o, i) * coef).view(16 * o, i, 1, 1)
            outs.append(winograd.conv3x3_winograd(x[k:k + 1], wm, bias16, padding=self.conv_kernel - 1))
        return outs[0] if len(outs) == 1 else torch.cat(outs, 0)

    def extra_repr(self):
        return "\n".join([
            f"w_dim={self.w_dim:d}, is_torgb={self.is_torgb},",
            f"is_critically_sampled={self.is_critically_sampled}, use_fp16={self.use_fp16},",
            f"in_sampling_rate={self.in_sampling_rate:g}, out_sampling_rate={self.out_sampling_rate:g},",
            f"in_cutoff={self.in_cutoff:g}, out_cutoff={self.out_cutoff:g},",
            f"in_half_width={self.in_half_width:g}, out_half_width={self.out_half_width:g},",
            f"in_size={list(self.in_size)}, out_size={list(self.out_size)},",
            f"in_channels={self.in_channels:d}, out_channels={self.out_channels:d}"])


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512,
                 num_layers=14, num_critical=2, first_cutoff=2, first_stopband=2 ** 2.1,
                 last_stopband_rel=2 ** 0.3, margin_size=10, output_scale=0.25, num_fp16_res=4,
                 **layer_kwargs):
        super().__init__()
        self.w_dim = w_dim
        self.num_ws = num_layers + 2
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.num_layers = num_layers
        self.num_critical = num_critical
        self.margin_size = margin_size
        self.output_scale = output_scale
        self.num_fp16_res = num_fp16_res
        # How this network runs (None: the process default), see facereel.nets.plan.
        self.plan: ExecutionPlan | None = None

        # Geometric progression of cutoffs f_c and minimum stopbands f_t (§3.2, Fig. 4b).
        last_cutoff = self.img_resolution / 2
        last_stopband = last_cutoff * last_stopband_rel
        exponents = np.minimum(np.arange(self.num_layers + 1) / (self.num_layers - self.num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_stopband / first_stopband) ** exponents

        sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, self.img_resolution))))
        half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
        sizes = sampling_rates + self.margin_size * 2
        sizes[-2:] = self.img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = self.img_channels

        self.input = SynthesisInput(w_dim=self.w_dim, channels=int(channels[0]), size=int(sizes[0]),
                                    sampling_rate=sampling_rates[0], bandwidth=cutoffs[0])
        self.layer_names = []
        for idx in range(self.num_layers + 1):
            prev = max(idx - 1, 0)
            is_torgb = idx == self.num_layers
            layer = SynthesisLayer(
                w_dim=self.w_dim, is_torgb=is_torgb,
                is_critically_sampled=(idx >= self.num_layers - self.num_critical),
                use_fp16=(sampling_rates[idx] * (2 ** self.num_fp16_res) > self.img_resolution),
                in_channels=int(channels[prev]), out_channels=int(channels[idx]),
                in_size=int(sizes[prev]), out_size=int(sizes[idx]),
                in_sampling_rate=int(sampling_rates[prev]), out_sampling_rate=int(sampling_rates[idx]),
                in_cutoff=cutoffs[prev], out_cutoff=cutoffs[idx],
                in_half_width=half_widths[prev], out_half_width=half_widths[idx],
                **layer_kwargs)
            name = f"L{idx}_{layer.out_size[0]}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws, plan: ExecutionPlan | None = None, **layer_kwargs):
        """ws [N, num_ws, w_dim] -> images [N, img_channels, R, R] (noise_mode/force_fp32 accepted)."""
        plan = resolve(plan, getattr(self, "plan", None))
        assert ws.ndim == 3 and ws.shape[1] == self.num_ws and ws.shape[2] == self.w_dim, ws.shape
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w, plan=plan, **layer_kwargs)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32).contiguous()

    def extra_repr(self):
        return "\n".join([
            f"w_dim={self.w_dim:d}, num_ws={self.num_ws:d},",
            f"img_resolution={self.img_resolution:d}, img_channels={self.img_channels:d},",
            f"num_layers={self.num_layers:d}, num_critical={self.num_critical:d},",
            f"margin_size={self.margin_size:d}, num_fp16_res={self.num_fp16_res:d}"])


class Generator(_sg2.Generator):
    """``Generator(z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs, **synthesis_kwargs)``.

    synthesis_kwargs: channel_base=32768, channel_max=512, num_layers=14, num_critical=2,
    first_cutoff=2, first_stopband=2**2.1, last_stopband_rel=2**0.3, margin_size=10,
    output_scale=0.25, num_fp16_res=4, and layer kwargs conv_kernel=3, filter_size=6,
    lrelu_upsampling=2, use_radial_filters=False, conv_clamp=256, magnitude_ema_beta=0.999.
    The wrapper itself (mapping → synthesis, ``plan``) is StyleGAN2's; only the networks differ.
    """

    mapping_class = MappingNetwork
    synthesis_class = SynthesisNetwork


def synthesis_flops(G: Generator, batch: int = 1) -> dict:
    """Multiply-adds ×2 per image batch of the modulated convs and of the filtered-lrelu FIRs
    (polyphase count: only the non-zero taps of the upsampler, only the kept outputs of the downsampler)."""
    conv = fir = 0
    for name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, name)
        o, i, k, _ = layer.weight.shape
        hin = int(layer.in_size[1]) + k - 1                    # conv output (full padding)
        conv += hin * hin * o * i * k * k
        up = layer.up_factor
        h_up = hin * up + layer.padding[2] + layer.padding[3]  # upsampled, padded extent
        t_up = layer.up_taps
        t_dn = layer.down_taps
        h_tmp = h_up - t_up + 1
        h_out = int(layer.out_size[1])
        # separable: pass 1 along x, pass 2 along y (each output of the upsampler uses taps/up taps)
        if t_up > 1:
            fir += o * (hin * h_tmp + h_tmp * h_tmp) * (t_up // up)
        if t_dn > 1:
            if layer.down_filter is not None and layer.down_filter.ndim == 2:
                fir += o * h_out * h_out * t_dn * t_dn
            else:
                fir += o * (h_tmp * h_out + h_out * h_out) * t_dn
    return {"conv": 2.0 * conv * batch, "fir": 2.0 * fir * batch}
