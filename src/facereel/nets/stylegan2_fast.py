"""The fast paths of StyleGAN2 (:mod:`facereel.nets.stylegan2`): functions over a layer and an
:class:`~facereel.nets.plan.ExecutionPlan`, called by the layers' one dispatch on the plan.

They compute the official numbers (to float rounding, tested against the reference path and the
golden fixtures) with fewer passes:

* per layer the cheapest equivalent — modulated weights with one ordinary conv for batch 1,
  shared-weight conv with (de)modulation on the activations for batch > 1 (grouped convs are slow
  on CPU), demodulation coefficients from ``styles² · Σ_k w²`` without materialising per-sample
  weights, activation gain folded into the weights, in-place bias/noise/activation, and
  ``inference_mode``-friendly code;
* upsampling convs as polyphase ordinary convs (``plan.polyphase_min_pixels``), same-size 3x3
  float32 convs as Winograd F(2x2, 3x3) where :func:`winograd.worthwhile` says it pays (the
  transformed weight is cached and modulated per call, eq. 1 being linear in the weight), large
  batch-1 layers one cache-sized stripe of rows at a time (``plan.stripe_bytes``), on two or more
  intra-op threads the two halves of the stripes as concurrent branches of one thread each
  (``plan.concurrent_branches``, :mod:`facereel.nets.concurrent`; then every layer of at least
  2 * ``plan.stripe_min_rows`` rows is split in two);
* with ``plan.fused_kernels``, the opt-in compiled CPU kernels of :mod:`facereel.nets.fused`
  (upsampling layers as phase convs + one pass for FIR, demodulation, bias, noise, activation
  and clamp; same-size layers with their block's toRGB in one pass).

Nothing here owns parameters: the layers keep the official names and state dict.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import concurrent, ops, winograd
from . import fused as _fused
from .plan import ExecutionPlan

__all__ = ["cached", "records_grad", "synthesis_layer", "torgb_layer", "torgb_fused_params", "skip_conv",
           "stripe_geometry"]

# Activations the fused kernels compute (a leaky ReLU with this negative slope).
FUSED_SLOPES = {"lrelu": ops.activation_funcs["lrelu"].def_alpha, "relu": 0.0, "linear": 1.0}


class Wino:
    """A conv weight in Winograd form for :func:`_conv`: [16*O, I, 1, 1] and the matching [16*O]
    bias (or None)."""

    __slots__ = ("wt", "bias16")

    def __init__(self, wt, bias):
        self.wt = wt
        self.bias16 = None if bias is None else winograd.winograd_bias(bias)


def cached(module: nn.Module, key, fn, *deps: torch.Tensor):
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


def records_grad(module: nn.Module, *inputs: torch.Tensor | None) -> bool:
    """Whether autograd will record a forward of ``module`` on ``inputs``."""
    if not torch.is_grad_enabled():
        return False
    return (any(t is not None and t.requires_grad for t in inputs)
            or any(p.requires_grad for p in module.parameters()))


# ----------------------------------------------------------------------------- SynthesisLayer


def synthesis_layer(layer, x, styles, noise_mode, gain, plan: ExecutionPlan, torgb=None):
    """``SynthesisLayer.forward`` on the fast path (x float32 or bfloat16; styles [N, I]).
    ``torgb=(ToRGBLayer, w)`` asks for that toRGB in the same pass (fused kernels only): the result
    is then ``(x, rgb)``, rgb None where it was not computed (the caller runs the toRGB)."""
    y = _layer(layer, x, styles, noise_mode, gain, plan, torgb)
    if isinstance(y, tuple):        # (x, rgb) from the fused tail
        return y if torgb is not None else y[0]
    return y if torgb is None else (y, None)


def _layer(layer, x, styles, noise_mode, gain, plan, torgb):
    """Same maths as the reference with fewer passes (see the module docstring); ``plan.fused``
    lets upsampling layers run as phase convs + the opt-in compiled kernel (:func:`_up_fused`)
    and same-size layers finish (with ``torgb``'s toRGB) in one compiled pass (:func:`_post_fused`)."""
    dtype = x.dtype
    n = x.shape[0]
    cl = x.is_contiguous(memory_format=torch.channels_last) and x.ndim == 4
    mf = torch.channels_last if cl else torch.contiguous_format
    out_ch, in_ch = layer.weight.shape[:2]
    g = float(layer.act_gain * gain)
    # lrelu(a)·g == lrelu(a·g) for g > 0: fold the activation gain into weight, bias and noise.
    fold = g > 0 and layer.activation in ("lrelu", "relu", "linear")
    # Weight in the conv's layout ([I, O, k, k] for the transposed conv) and Σ_k w_oik² [O, I].
    wf = cached(layer, ("w", mf), lambda: (layer.weight.float().transpose(0, 1) if layer.up > 1
                                           else layer.weight.float()).contiguous(memory_format=mf),
                 layer.weight)
    wsq = cached(layer, "wsq", lambda: layer.weight.float().square().sum(dim=[2, 3]), layer.weight)
    # Demodulation (eq. 3): Σ_{i,k} (s_i w_oik)² = Σ_i s_i² Σ_k w_oik², no [N,O,I,k,k] tensor.
    dco = (styles.square() @ wsq.t() + 1e-8).rsqrt()   # [N, O]
    scale = dco * g if fold else dco
    bias = (layer.bias.float() * (g if fold else 1.0)).to(dtype)
    inplace = not torch.is_grad_enabled()   # autograd needs the intermediates otherwise
    poly = layer.up > 1 and x.shape[2] * x.shape[3] >= plan.polyphase_min_pixels
    wino = (inplace and layer.up == 1 and layer.padding == 1
            and tuple(layer.weight.shape[2:]) == (3, 3) and winograd.worthwhile(x))
    if wino:
        wd = cached(layer, "wino", lambda: winograd.winograd_weight(layer.weight.float()), layer.weight)
    elif poly:
        # Upsampling conv as its up² output phases (ordinary convs at the input resolution).
        wd = cached(layer, ("poly", mf, dtype), lambda: [
            (ry, rx, k.to(dtype).contiguous(memory_format=mf), py, px)
            for ry, rx, k, py, px in ops.polyphase_kernels(wf, layer.up)], layer.weight)
    else:
        # Reduced precision works on a cached low-precision copy of the weight.
        wd = wf if dtype == torch.float32 else cached(layer, ("wd", mf, dtype), lambda: wf.to(dtype),
                                                       layer.weight)
    gn = g if fold else 1.0
    if noise_mode == "const" and layer.use_noise:
        # noise_const · strength · gain [H, W], cached per gain/dtype.
        noise = cached(layer, ("noise", gn, dtype),
                        lambda: (layer.noise_const * (layer.noise_strength * gn)).to(dtype),
                        layer.noise_const, layer.noise_strength)
    else:
        noise = layer._noise(x, noise_mode, n)
        noise = None if noise is None else (noise * gn).to(dtype)
    # The compiled kernels: float32 CPU inference, channels-last, activation gain folded.
    fusable = (plan.fused and inplace and fold and cl and dtype == torch.float32
               and x.device.type == "cpu" and layer.activation in FUSED_SLOPES and _fused.available())
    taps = _fused_taps(layer) if fusable and poly else None
    post_fused = fusable and layer.up == 1
    # Batch 1 modulates the weight (O·I·k² products, 16·O·I for the Winograd transform) unless
    # that costs more than scaling the input and output maps (small maps: 4-32 px at 512 ch).
    w_elems = (16 if wino else layer.weight[0, 0].numel()) * out_ch * in_ch
    map_elems = x[0].numel() + x[0, 0].numel() * layer.up ** 2 * out_ch     # input + output maps
    if n == 1 and inplace and (w_elems <= map_elems or not plan.small_maps_modulate_input):
        # Batch 1 without autograd: modulate and demodulate the weight (eq. 1, 3), one ordinary conv.
        coef = scale.reshape(out_ch, 1) * styles.reshape(1, in_ch)               # [O, I]
        if wino:
            # G (s ⊙ w) G^T == (G w G^T) ⊙ s per (o, i): modulate the cached transform.
            wm = Wino((wd.view(16, out_ch, in_ch) * coef).view(16 * out_ch, in_ch, 1, 1), bias)
        elif poly:
            c4 = coef.to(dtype)[:, :, None, None]
            wm = [(ry, rx, k * c4, py, px) for ry, rx, k, py, px in wd]
        else:
            coef = coef.t() if layer.up > 1 else coef
            wm = wd * coef.to(dtype)[:, :, None, None]
        if taps is not None:
            return _up_fused(layer, x, wm, taps, bias, None, noise, gain)
        if post_fused:
            return _post_fused(layer, _conv(layer, x, wm, bias), None, None, noise, gain, torgb)
        out_h = x.shape[2] * layer.up
        stripe = max(plan.stripe_bytes // max(x.shape[3] * layer.up * out_ch * x.element_size(), 1), plan.stripe_min_rows)
        branches = plan.concurrent_branches and x.device.type == "cpu" and torch.get_num_threads() > 1
        if branches:
            # at least two stripes, one per branch, down to two of stripe_min_rows
            stripe = min(stripe, max(-(-out_h // 2), plan.stripe_min_rows))
        if inplace and cl and out_h >= 2 * stripe and stripe_geometry(layer):
            # Large maps: conv, noise, activation and clamp one stripe of output rows at a time,
            # so each stripe stays in cache between the passes (see plan.stripe_bytes).
            y = torch.empty(1, out_ch, out_h, x.shape[3] * layer.up, dtype=dtype, device=x.device,
                            memory_format=torch.channels_last)

            def stripes(rows):
                for r0 in rows:
                    r1 = min(r0 + stripe, out_h)
                    a, b, off = _input_rows(layer, r0, r1, x.shape[2])
                    ys = _conv(layer, x.narrow(2, a, b - a), wm, bias).narrow(2, off, r1 - r0)
                    ns = None if noise is None else noise.narrow(-2, r0, r1 - r0)
                    y[:, :, r0:r1] = _post(layer, ys, ns, fold, g, gain, inplace)

            starts = list(range(0, out_h, stripe))
            if branches:
                # the two halves of the stripes as concurrent branches (disjoint rows of y)
                half = (len(starts) + 1) // 2
                concurrent.run_branches([lambda: stripes(starts[:half]), lambda: stripes(starts[half:])])
            else:
                stripes(starts)
            return y
        y = _conv(layer, x, wm, bias)
    else:
        # Batch > 1, or autograd recording: shared weight, modulation on the input, demodulation
        # on the output.  Under autograd this spares the backward pass the gradient of a
        # per-sample weight (a conv's worth of work) when the weight itself is frozen
        # (inversion): SG2-256 forward + backward 2.5 -> 1.6 s.
        xs = x * styles.to(dtype).reshape(n, in_ch, 1, 1)
        if taps is not None:
            return _up_fused(layer, xs, wd, taps, bias, scale, noise, gain)
        y = _conv(layer, xs, Wino(wd, None) if wino else wd, None)
        if post_fused:
            return _post_fused(layer, y, scale, bias, noise, gain, torgb)
        s4 = scale.to(dtype).reshape(n, out_ch, 1, 1)
        if inplace:
            y = y.mul_(s4).add_(bias.reshape(1, -1, 1, 1))
        else:
            y = torch.addcmul(bias.reshape(1, -1, 1, 1), y, s4)
    return _post(layer, y, noise, fold, g, gain, inplace)


def _fused_taps(layer) -> torch.Tensor | None:
    """The 4-tap FIR per axis for :func:`fused.up2_fir_post` (flipped, with gain 2 per axis, as
    :func:`ops.fir_filter_fast` applies it), or None where the fused kernel does not apply:
    not the standard geometry (:func:`stripe_geometry`) or a non-separable filter."""
    if layer.up != 2 or not stripe_geometry(layer):
        return None

    def taps():
        # 2-D f = a aᵀ  <=>  (f·1)(f·1)ᵀ = f · Σf, and then a = f·1 / sqrt(Σf).
        f = layer.resample_filter.detach().float()
        if f.ndim == 1:
            a = f
        else:
            total, u = f.sum(), f.sum(1)
            if total <= 0 or not torch.allclose(torch.outer(u, u), f * total, rtol=1e-6, atol=1e-9):
                return None
            a = u / total.sqrt()
        return (2 * a).flip(0).contiguous()      # gain up² = 4 over two axes

    return cached(layer, "fused_taps", taps, layer.resample_filter)


def _up_fused(layer, x, kernels, taps, bias, scale, noise, gain):
    """Upsampling layer, batch of N: per sample the transposed conv's four phases (ordinary
    convs, :func:`ops.conv_transpose2d_phases`), then FIR, demodulation ``scale`` [N, O] (None:
    already in ``kernels``), bias, noise, activation and clamp in one pass of the compiled
    kernel, which writes each output pixel once.  Whole maps, not stripes: the phase convs
    lose more on stripe-sized inputs than the kernel gains from cache-resident phases
    (FFHQ-1024's 1024 px layer: 89.5 ms whole, 110 ms in 8 MB stripes, 144 ms unfused)."""
    n, _, h, w = x.shape
    out_ch = layer.weight.shape[0]
    cl = torch.channels_last
    y = torch.empty(n, out_ch, 2 * h, 2 * w, dtype=x.dtype, device=x.device, memory_format=cl)
    slope, clamp = _slope_clamp(layer, gain)
    for i in range(n):
        phases = [p.contiguous(memory_format=cl) for p in
                  ops.conv_transpose2d_phases(x[i:i + 1], kernels, 3, 3, 2)]
        _fused.up2_fir_post(phases, taps, 0, y[i:i + 1], bias, None if scale is None else scale[i],
                            noise if noise is None or noise.ndim == 2 else noise[i, 0],
                            slope=slope, clamp=clamp)
    return y


def _slope_clamp(layer, gain):
    return FUSED_SLOPES[layer.activation], None if layer.conv_clamp is None else float(layer.conv_clamp * gain)


def _post_fused(layer, y, scale, bias, noise, gain, torgb):
    """Same-size layer tail in one compiled pass per sample (:func:`fused.post_rgb`), in place
    on the conv output y [N, O, H, W]: demodulation ``scale`` [N, O] and ``bias`` (None: already
    applied), noise, activation, clamp; and, with ``torgb=(ToRGBLayer, w)``, that layer's
    output from the same pass.  Returns (y, rgb [N, R, H, W] channels-last or None).  Whole
    maps: stripes measured no faster once the tail is one pass."""
    y = y.contiguous(memory_format=torch.channels_last)
    n = y.shape[0]
    slope, clamp = _slope_clamp(layer, gain)
    rgbp = torgb_fused_params(*torgb) if torgb is not None else None
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


def _post(layer, y, noise, fold, g, gain, inplace):
    """Noise, activation (gain folded or applied) and clamp on the conv output."""
    if noise is not None:
        y = y.add_(noise) if inplace else y + noise
    if fold:
        if layer.activation == "lrelu":
            y = F.leaky_relu_(y, 0.2) if inplace else F.leaky_relu(y, 0.2)
        elif layer.activation == "relu":
            y = F.relu_(y) if inplace else F.relu(y)
    else:
        y = ops.bias_act(y, None, act=layer.activation, gain=g)
    if layer.conv_clamp is not None:
        c = float(layer.conv_clamp * gain)
        y = y.clamp_(-c, c) if inplace else y.clamp(-c, c)
    return y


def stripe_geometry(layer) -> bool:
    """Whether :func:`_input_rows` knows this layer's row geometry: a same-size odd conv, or the
    standard 3x3 upsampling conv with a 4-tap FIR (transposed conv uncropped, FIR padded by 1)."""
    kh, kw = layer.weight.shape[2:]
    if layer.up == 1:
        return kh % 2 == 1 and layer.padding == kh // 2
    fw, fh = ops.get_filter_size(layer.resample_filter)
    return layer.up == 2 and (kh, kw, fh, fw, layer.padding) == (3, 3, 4, 4, 1)


def _input_rows(layer, r0, r1, h):
    """Input rows [a, b) whose conv (with its usual zero padding) gives output rows [r0, r1)
    exactly, at local rows off … off + r1 - r0 (rows outside those saw a stripe edge, not the
    image edge, and are dropped)."""
    if layer.up == 1:
        p = layer.padding
        a = max(r0 - p, 0)
        return a, min(r1 + p, h), r0 - a
    # Up 2: output row m is the FIR (pad 1) of transposed-conv rows m-1 … m+2; transposed row
    # 2i reads input rows i-1, i and row 2i+1 reads row i, so rows 2a+1 … 2b-1 of a stripe
    # [a, b) are exact.
    a = max((r0 - 2) // 2, 0)
    return a, min((r1 + 3) // 2, h), r0 - 2 * a


def _conv(layer, x, w, bias):
    """3x3 conv (+ bias), or for up=2: transposed conv (``w`` given as [I, O, k, k], or as its
    :func:`ops.polyphase_kernels`) then the FIR."""
    if isinstance(w, Wino):
        return winograd.conv3x3_winograd(x, w.wt, w.bias16)
    if layer.up == 1:
        return F.conv2d(x, w, bias=bias, padding=layer.padding)
    # Zero insertion + true conv == stride-2 transposed conv without flip (weight [I, O, k, k]),
    # then the FIR with gain up² on the paddings of the official conv2d_resample.
    fw, fh = ops.get_filter_size(layer.resample_filter)
    kh, kw = layer.weight.shape[2:]
    up = layer.up
    px0 = layer.padding + (fw + up - 1) // 2 - (kw - 1)
    px1 = layer.padding + (fw - up) // 2 - (kw - up)
    py0 = layer.padding + (fh + up - 1) // 2 - (kh - 1)
    py1 = layer.padding + (fh - up) // 2 - (kh - up)
    pxt = max(min(-px0, -px1), 0)
    pyt = max(min(-py0, -py1), 0)
    if isinstance(w, list):
        y = ops.conv_transpose2d_polyphase(x, w, kh, kw, stride=up)
        if pyt or pxt:
            y = y[:, :, pyt:y.shape[2] - pyt, pxt:y.shape[3] - pxt]
    else:
        y = F.conv_transpose2d(x, w, stride=up, padding=[pyt, pxt])   # w is already [I, O, k, k]
    return ops.fir_filter_fast(y, layer.resample_filter, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt],
                               gain=up ** 2, bias=bias)


# ----------------------------------------------------------------------------- ToRGBLayer, Conv2dLayer


def torgb_layer(layer, x, styles):
    """``ToRGBLayer.forward`` on the fast path: styles [N, I] already scaled by ``weight_gain``;
    returns float32 [N, R, H, W]."""
    n, in_ch = styles.shape
    weight = layer.weight.float()
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
    y = y + layer.bias.float().reshape(1, -1, 1, 1)
    if layer.conv_clamp is not None:
        y = y.clamp_(-layer.conv_clamp, layer.conv_clamp)
    return y


def torgb_fused_params(layer, w):
    """(modulated weight [N, R, I], bias [R], clamp) of a ToRGBLayer for :func:`fused.post_rgb`,
    the fast path's maths (1x1 kernels; None otherwise, or while autograd records)."""
    if layer.weight.shape[-1] != 1 or records_grad(layer, w):
        return None
    styles = (layer.affine(w) * layer.weight_gain).float()                           # [N, I]
    wm = layer.weight.float()[:, :, 0, 0].unsqueeze(0) * styles.unsqueeze(1)        # [N, R, I]
    return wm.contiguous(), layer.bias.float(), layer.conv_clamp


def skip_conv(layer, x, gain):
    """``Conv2dLayer.forward`` on the fast path, or None where the reference runs: a linear 1x1
    upsampling conv without clamp (the resnet skip) commutes with the FIR, so channels mix at the
    low resolution before the upsampling."""
    w = layer.weight.to(x.dtype) * layer.weight_gain
    if not (w.shape[2:] == (1, 1) and layer.up > 1 and layer.down == 1
            and layer.activation == "linear" and layer.conv_clamp is None):
        return None
    b = layer.bias.to(x.dtype) if layer.bias is not None else None
    if x.is_contiguous(memory_format=torch.channels_last):
        w = w.contiguous(memory_format=torch.channels_last)
    y = ops.upsample2d_fast(F.conv2d(x, w), layer.resample_filter, up=layer.up)
    return ops.bias_act(y, b, gain=layer.act_gain * gain)
