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

from ..plan import ExecutionPlan, resolve
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

    def forward(self, x: torch.Tensor, plan: ExecutionPlan | None = None) -> torch.Tensor:
        if self._use_fused(plan):
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

    def _input(self, x: torch.Tensor, plan: ExecutionPlan | None = None) -> torch.Tensor:
        if self._use_fused(plan):
            return run_input_layer(self._fused["input"], x)
        return self.input_layer(x)

    def pyramid(self, x: torch.Tensor, plan: ExecutionPlan | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """c1 (after unit 6: 128ch, H/4), c2 (unit 20: 256ch, H/8), c3 (unit 23: 512ch, H/16)."""
        plan = resolve(plan, self.plan)
        x = self._input(x, plan)
        c1 = c2 = None
        for i, unit in enumerate(self.body):
            x = unit(x, plan)
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


# ---------------------------------------------------------------------------------------------
# Grouped heads: the map2style heads that read one feature map (pSp: 3 coarse on c3, 4 middle on
# p2, the fine ones on p1) run level by level together.  Level 0 is one convolution with the heads'
# weights concatenated along the outputs (one im2col of the shared map instead of one per head);
# level l > 0 maps [N, G*C, h, w] to [N, G*O, h/2, w/2] as a grouped convolution (groups = heads),
# or as one batched GEMM per level on small maps (im2col per head, [G, O, C*9] x [G, C*9, N*L]);
# the 2x2 -> 1x1 tail reads its 4 taps per head ([G, N, 4C] x [G, 4C, O]) and the EqualLinears are
# one bmm [G, N, O] x [G, O, O].  Same sums as the per-head path, in other GEMM blockings (equal up
# to float rounding).  To keep the memory of the ~1 GB of head weights single, fuse() stores the
# conv weights of each group and level in one [G*O, C, 3, 3] tensor and points each head's
# Parameter at its slice (values and names unchanged).


def _regroup(convs: list[nn.Conv2d]) -> tuple[torch.Tensor, torch.Tensor]:
    """The convs' weights [G*O, C, 3, 3] and biases [G*O] in one tensor each; every conv's Parameters
    become views of their slices (no copy remains)."""
    w = torch.cat([c.weight.detach() for c in convs])
    b = torch.cat([c.bias.detach() for c in convs])
    o = convs[0].out_channels
    for g, c in enumerate(convs):
        c.weight.data = w[g * o:(g + 1) * o]
        c.bias.data = b[g * o:(g + 1) * o]
    return w, b


@torch.no_grad()
def _group_plan(blocks: list[GradualStyleBlock]) -> dict:
    g, o = len(blocks), blocks[0].out_c
    levels = []
    for li in range(len(blocks[0].convs) // 2):
        w, b = _regroup([blk.convs[2 * li] for blk in blocks])
        levels.append((w, b, w.view(g, o, -1)))
    w, b, _ = levels[-1]
    tail = w.view(g, o, -1, 3, 3)[:, :, :, 1:, 1:].reshape(g, o, -1).contiguous()   # taps (1..2, 1..2)
    eff = [blk.linear.effective() for blk in blocks]
    return {"heads": g, "out": o, "levels": levels, "tail": tail,
            "linear": (torch.stack([e[0] for e in eff]).contiguous(), torch.stack([e[1] for e in eff]).view(g, 1, o))}


def _final_size(h: int, w: int, levels: int) -> tuple[int, int]:
    for _ in range(levels):
        h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
    return h, w


def _group_level(x: torch.Tensor, p: dict, li: int) -> torch.Tensor:
    """Level ``li`` of a group: x [N, C, h, w] (li = 0, the shared map) or [N, G*C, h, w] ->
    [N, G*O, h', w'] before the activation."""
    g, o = p["heads"], p["out"]
    w, b, mats = p["levels"][li]
    n, c, h, wd = x.shape
    last = li == len(p["levels"]) - 1
    if li == 0:
        if last and (h, wd) == (2, 2):
            return F.linear(x.flatten(1), p["tail"].view(g * o, -1), b).view(n, g * o, 1, 1)
        if h <= _IM2COL_MAX_INPUT and wd <= _IM2COL_MAX_INPUT:
            return _conv_s2_im2col(x, w.view(g * o, -1), b)
        return F.conv2d(x, w, b, 2, 1)
    ci = c // g
    if last and (h, wd) == (2, 2):
        y = torch.baddbmm(b.view(g, 1, o), x.reshape(n, g, ci * 4).transpose(0, 1), p["tail"].transpose(1, 2))
        return y.transpose(0, 1).reshape(n, g * o, 1, 1)                               # [G, N, O] -> [N, G*O, 1, 1]
    if h <= _IM2COL_MAX_INPUT and wd <= _IM2COL_MAX_INPUT:
        ho, wo = (h - 1) // 2 + 1, (wd - 1) // 2 + 1
        cols = F.unfold(x.reshape(n * g, ci, h, wd), 3, padding=1, stride=2)            # [N*G, C*9, L]
        cols = cols.view(n, g, ci * 9, ho * wo).permute(1, 2, 0, 3).reshape(g, ci * 9, n * ho * wo)
        y = torch.baddbmm(b.view(g, o, 1), mats, cols)                                 # [G, O, N*L]
        return y.view(g, o, n, ho, wo).permute(2, 0, 1, 3, 4).reshape(n, g * o, ho, wo)
    return F.conv2d(x, w, b, 2, 1, groups=g)


def _run_group(p: dict, x: torch.Tensor) -> torch.Tensor:
    """The group's heads on their shared map x [N, C, H, W] -> [N, G, O]."""
    for li in range(len(p["levels"])):
        x = F.leaky_relu(_group_level(x, p, li), 0.01)
    n, g, o = x.shape[0], p["heads"], p["out"]
    lw, lb = p["linear"]
    y = torch.baddbmm(lb, x.reshape(n, g, o).transpose(0, 1), lw.transpose(1, 2))      # [G, N, O]
    return y.transpose(0, 1)


class GradualStyleEncoder(_IRSEEncoder):
    """pSp encoder (FPN + map2style heads).  ``forward``: [N, input_nc, 256, 256] -> [N, n_styles, 512].

    After ``fuse()``, a fast plan with ``grouped_heads`` runs the heads of each pyramid level
    together on a team of two or more intra-op threads (see the grouped heads above)."""

    coarse_ind = 3
    middle_ind = 7
    # whether forward runs grouped heads (e4e's forward reads its heads one by one)
    _grouped_heads = True

    def __init__(self, num_layers: int = 50, mode: str = "ir_se", input_nc: int = 3,
                 n_styles: int | None = 18, stylegan_size: int | None = None):
        super().__init__(num_layers, mode, input_nc)
        self.style_count = _style_count(n_styles, stylegan_size)
        self.styles = nn.ModuleList(
            GradualStyleBlock(512, 512, 16 if i < self.coarse_ind else 32 if i < self.middle_ind else 64)
            for i in range(self.style_count))
        self.latlayer1 = nn.Conv2d(256, 512, kernel_size=1, stride=1, padding=0)
        self.latlayer2 = nn.Conv2d(128, 512, kernel_size=1, stride=1, padding=0)

    def _head_ranges(self) -> list[tuple[int, int]]:
        """The heads of each pyramid level: [start, stop) on c3, p2, p1."""
        bounds = [0, min(self.coarse_ind, self.style_count), min(self.middle_ind, self.style_count),
                  self.style_count]
        return [(a, b) for a, b in zip(bounds, bounds[1:])]

    @torch.no_grad()
    def fuse(self):
        groups = {}
        if self._grouped_heads:
            for a, b in self._head_ranges():
                if b - a > 1:
                    groups[a] = _group_plan(list(self.styles[a:b]))      # before the heads' own fuse()
        super().fuse()
        for a, p in groups.items():
            # the heads' own tail and linear weights as slices of the group's (one copy of each)
            for g, blk in enumerate(self.styles[a:a + p["heads"]]):
                blk._fused["tail2x2"] = (p["tail"][g], blk._fused["tail2x2"][1])
                blk._fused["linear"] = (p["linear"][0][g], p["linear"][1][g, 0])
        self._fused["groups"] = groups
        return self

    def _level_heads(self, feat: torch.Tensor, a: int, b: int, plan: ExecutionPlan) -> list[torch.Tensor]:
        """Heads a..b-1 on their map: [N, 512] each."""
        # On one intra-op thread (SAM's concurrent branches) the heads one by one measured faster:
        # grouping pays on a team of threads, where each op is one fork/join.
        grouped = self._use_fused(plan) and plan.grouped_heads and torch.get_num_threads() > 1
        group = self._fused.get("groups", {}).get(a) if grouped else None
        if group is not None and _final_size(*feat.shape[-2:], len(group["levels"])) == (1, 1):
            return list(_run_group(group, feat).unbind(1))
        return [self.styles[j](feat, plan) for j in range(a, b)]

    def forward(self, x: torch.Tensor, plan: ExecutionPlan | None = None) -> torch.Tensor:
        plan = resolve(plan, self.plan)
        c1, c2, c3 = self.pyramid(x, plan)
        (a0, b0), (a1, b1), (a2, b2) = self._head_ranges()
        latents = self._level_heads(c3, a0, b0, plan)
        if self.style_count > self.coarse_ind:
            p2 = upsample_add(c3, self.latlayer1(c2))
            latents += self._level_heads(p2, a1, b1, plan)
            if self.style_count > self.middle_ind:
                p1 = upsample_add(p2, self.latlayer2(c1))
                latents += self._level_heads(p1, a2, b2, plan)
        return torch.stack(latents, dim=1)


class Encoder4Editing(GradualStyleEncoder):
    """e4e encoder: w = repeat(w0) + [0, Delta_1, ..., Delta_{n-1}].  ``progressive_stage`` (default 18
    = inference) limits the offsets to Delta_1..Delta_stage, as in e4e's progressive training."""

    _grouped_heads = False

    def __init__(self, num_layers: int = 50, mode: str = "ir_se", stylegan_size: int | None = 1024,
                 n_styles: int | None = None, input_nc: int = 3, progressive_stage: int = 18):
        super().__init__(num_layers, mode, input_nc, n_styles=n_styles,
                         stylegan_size=stylegan_size if n_styles is None else None)
        self.progressive_stage = int(progressive_stage)

    def forward(self, x: torch.Tensor, plan: ExecutionPlan | None = None) -> torch.Tensor:
        plan = resolve(plan, self.plan)
        c1, c2, c3 = self.pyramid(x, plan)
        w0 = self.styles[0](c3, plan)
        w = w0.unsqueeze(1).repeat(1, self.style_count, 1)
        features, p2 = c3, None
        for i in range(1, min(self.progressive_stage + 1, self.style_count)):
            if i == self.coarse_ind:
                p2 = upsample_add(c3, self.latlayer1(c2))
                features = p2
            elif i == self.middle_ind:
                features = upsample_add(p2, self.latlayer2(c1))
            w[:, i] += self.styles[i](features, plan)
        return w
