"""IR / IR-SE ResNet bodies (ArcFace "improved residual" units) and the ArcFace ``Backbone``.

Architecture of Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition"
(CVPR 2019), section 3 / Fig. 7 of the InsightFace paper ("IR" unit: BN-Conv-PReLU-Conv-BN) with the
squeeze-and-excitation gate of Hu et al. (CVPR 2018).  Parameter names follow the layout used by the
pSp / e4e / ReStyle repositories (``input_layer.0.weight``, ``body.{i}.res_layer.{j}.*``,
``body.{i}.shortcut_layer.{j}.*``, ``output_layer.{j}.*``) so their checkpoints and the IR-SE50
identity model (``model_ir_se50.pth``) load by name.

Every module has two execution paths:

* the plain path (training, before :meth:`fuse`, or under a reference
  :class:`~facereel.nets.plan.ExecutionPlan`), which runs the layers as declared, in the official
  order;
* a fused inference path built by ``fuse()`` (BatchNorm after a convolution / linear layer folded into
  it, SE gate and residual add in one ``addcmul``), which the tests check against the plain path to
  <= 1e-5 relative.  It runs under a fast plan (the default) once ``fuse()`` has prepared it.  The
  fused path is differentiable with respect to the input (identity losses need that) but not with
  respect to the weights; ``train()`` / ``load_state_dict()`` / ``to()`` drop it.

The plan of a call: the ``plan=`` of ``forward``, else the module's ``plan`` attribute (None by
default), else the process default (:func:`facereel.nets.plan.resolve`); an encoder resolves it once
and hands it to its units.
"""

from __future__ import annotations

from collections import namedtuple

import torch
import torch.nn.functional as F
from torch import nn

from .. import winograd
from ..plan import ExecutionPlan, resolve

__all__ = [
    "Unit", "get_blocks", "SEModule", "BottleneckIR", "BottleneckIRSE", "make_body", "Backbone",
    "FusableMixin", "fold_bn", "run_body",
]

# One residual unit: input channels, output channels ("depth"), stride of its second conv.
Unit = namedtuple("Unit", ["in_channel", "depth", "stride"])

# Units per stage for the IR-50/100/152 bodies (stage widths 64, 128, 256, 512; first unit of each
# stage downsamples by 2).
_STAGE_UNITS = {50: (3, 4, 14, 3), 100: (3, 13, 30, 3), 152: (3, 8, 36, 3)}


def _winograd_plan(w: torch.Tensor, bias: torch.Tensor | None = None):
    """(G w G^T, bias) for a conv that may run as Winograd, or None when its channels are too few
    (:func:`facereel.nets.winograd.worthwhile`)."""
    if w.shape[1] < winograd.MIN_CHANNELS:
        return None
    return winograd.winograd_weight(w), None if bias is None else winograd.winograd_bias(bias)


def conv3x3(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, wino) -> torch.Tensor:
    """Stride-1, pad-1 3x3 conv: Winograd where planned and worthwhile for this map and no gradient
    is recorded; oneDNN's direct conv otherwise."""
    if wino is not None and winograd.worthwhile(x) and winograd.usable(x):
        return winograd.conv3x3_winograd(x, *wino)
    return F.conv2d(x, w, bias, 1, 1)


def get_blocks(num_layers: int) -> list[list[Unit]]:
    """The four stages of units of an IR-``num_layers`` body."""
    if num_layers not in _STAGE_UNITS:
        raise ValueError(f"num_layers must be one of {sorted(_STAGE_UNITS)}, got {num_layers}")
    widths = ((64, 64), (64, 128), (128, 256), (256, 512))
    stages = []
    for (cin, depth), n in zip(widths, _STAGE_UNITS[num_layers]):
        stages.append([Unit(cin, depth, 2)] + [Unit(depth, depth, 1) for _ in range(n - 1)])
    return stages


def fold_bn(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm as y = a*x + b: returns (a, b), both [C]."""
    inv = torch.rsqrt(bn.running_var + bn.eps)
    a = inv if bn.weight is None else bn.weight * inv
    b = -bn.running_mean * a
    if bn.bias is not None:
        b = b + bn.bias
    return a, b


class FusableMixin:
    """Holds an optional fused inference plan and drops it whenever the weights may change."""

    _fused: object | None = None
    # How this module runs (None: the process default), see facereel.nets.plan.
    plan: ExecutionPlan | None = None

    def _drop_fused(self):
        for m in self.modules():
            if isinstance(m, FusableMixin):
                object.__setattr__(m, "_fused", None)

    def train(self, mode: bool = True):
        if mode:
            self._drop_fused()
        return super().train(mode)

    def load_state_dict(self, *args, **kwargs):
        self._drop_fused()
        return super().load_state_dict(*args, **kwargs)

    def _apply(self, fn, *args, **kwargs):
        self._drop_fused()
        return super()._apply(fn, *args, **kwargs)

    def _use_fused(self, plan: ExecutionPlan | None = None) -> bool:
        """Whether this call runs the fused path: prepared by ``fuse()``, eval mode, and a fast
        plan (``plan``, already resolved by the caller, else this module's or the default)."""
        return self._fused is not None and not self.training and resolve(plan, self.plan).fast


class SEModule(nn.Module):
    """Squeeze-and-excitation gate: x * sigmoid(fc2(relu(fc1(mean_hw(x)))))."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, padding=0, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, padding=0, bias=False)
        self.sigmoid = nn.Sigmoid()

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] -> [N, C, 1, 1] gate values."""
        s = self.avg_pool(x)
        return self.sigmoid(self.fc2(self.relu(self.fc1(s))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class _Bottleneck(FusableMixin, nn.Module):
    """IR unit: res = BN -> conv3x3 -> PReLU -> conv3x3(stride) -> BN [-> SE]; out = res + shortcut."""

    se = False

    def __init__(self, in_channel: int, depth: int, stride: int):
        super().__init__()
        self.stride = stride
        if in_channel == depth:
            # A 1x1 max-pool with stride s is plain subsampling x[..., ::s, ::s].
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channel, depth, (1, 1), stride, bias=False), nn.BatchNorm2d(depth))
        layers = [
            nn.BatchNorm2d(in_channel),
            nn.Conv2d(in_channel, depth, (3, 3), (1, 1), 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, (3, 3), stride, 1, bias=False),
            nn.BatchNorm2d(depth),
        ]
        if self.se:
            layers.append(SEModule(depth, 16))
        self.res_layer = nn.Sequential(*layers)

    @torch.no_grad()
    def fuse(self):
        """Folds the BatchNorms that follow a convolution (exact up to rounding)."""
        bn0, conv1, prelu, conv2, bn2 = list(self.res_layer)[:5]
        a0, b0 = fold_bn(bn0)
        a2, b2 = fold_bn(bn2)
        plan = {
            # Pre-activation BN stays an affine map: folding it into a zero-padded conv is not exact
            # at the borders.
            "a0": a0.view(1, -1, 1, 1).contiguous(), "b0": b0.view(1, -1, 1, 1).contiguous(),
            "w1": _cl(conv1.weight.detach()), "prelu": prelu.weight.detach(),
            "w2": _cl(conv2.weight * a2.view(-1, 1, 1, 1)), "bias2": b2.contiguous(),
            "shortcut": None,
        }
        plan["wino1"] = _winograd_plan(plan["w1"])
        plan["wino2"] = _winograd_plan(plan["w2"], plan["bias2"]) if self.stride == 1 else None
        if isinstance(self.shortcut_layer, nn.Sequential):
            conv, bn = self.shortcut_layer
            a, b = fold_bn(bn)
            plan["shortcut"] = (_cl(conv.weight * a.view(-1, 1, 1, 1)), b.contiguous())
        if self.se:
            se = self.res_layer[5]
            plan["se"] = (se.fc1.weight.detach(), se.fc2.weight.detach())
        object.__setattr__(self, "_fused", plan)
        return self

    def _forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        p = self._fused
        s = self.stride
        if p["shortcut"] is None:
            shortcut = x[:, :, ::s, ::s] if s > 1 else x
        else:
            shortcut = F.conv2d(x, p["shortcut"][0], p["shortcut"][1], stride=s)
        r = torch.addcmul(p["b0"], x, p["a0"])
        r = conv3x3(r, p["w1"], None, p["wino1"])
        r = F.prelu(r, p["prelu"])
        if s == 1:
            r = conv3x3(r, p["w2"], p["bias2"], p["wino2"])
        else:
            r = F.conv2d(r, p["w2"], p["bias2"], s, 1)
        if self.se:
            fc1, fc2 = p["se"]
            g = r.mean((2, 3), keepdim=True)
            g = torch.sigmoid(F.conv2d(F.relu(F.conv2d(g, fc1)), fc2))
            return torch.addcmul(shortcut, r, g)
        return r + shortcut

    def forward(self, x: torch.Tensor, plan: ExecutionPlan | None = None) -> torch.Tensor:
        if self._use_fused(plan):
            return self._forward_fused(x)
        return self.res_layer(x) + self.shortcut_layer(x)


class BottleneckIR(_Bottleneck):
    se = False


class BottleneckIRSE(_Bottleneck):
    se = True


def run_body(body: nn.Sequential, x: torch.Tensor, plan: ExecutionPlan) -> torch.Tensor:
    """``body(x)`` with one plan for every unit."""
    for unit in body:
        x = unit(x, plan)
    return x


def make_body(num_layers: int = 50, mode: str = "ir_se") -> nn.Sequential:
    """``body`` of the IR / IR-SE ResNet: a Sequential of units, indices as in the official layout."""
    if mode not in ("ir", "ir_se"):
        raise ValueError(f"mode must be 'ir' or 'ir_se', got {mode!r}")
    unit = BottleneckIRSE if mode == "ir_se" else BottleneckIR
    return nn.Sequential(*[unit(*u) for stage in get_blocks(num_layers) for u in stage])


def make_input_layer(in_channels: int) -> nn.Sequential:
    """``input_layer``: conv3x3 (no bias) -> BN -> PReLU, 64 channels."""
    return nn.Sequential(nn.Conv2d(in_channels, 64, (3, 3), 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))


def _cl(w: torch.Tensor) -> torch.Tensor:
    """Conv weights stored channels-last, the layout oneDNN uses for channels-last activations
    (otherwise every call converts them)."""
    return w.detach().contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def fuse_input_layer(layer: nn.Sequential) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    conv, bn, prelu = layer
    a, b = fold_bn(bn)
    return _cl(conv.weight * a.view(-1, 1, 1, 1)), b.contiguous(), prelu.weight.detach()


def run_input_layer(fused, x: torch.Tensor) -> torch.Tensor:
    """Fused input layer; the fused body runs channels-last (NHWC), measured faster for the
    64-256 channel convolutions of the IR-SE body on CPU."""
    w, b, p = fused
    x = x.contiguous(memory_format=torch.channels_last)
    return F.prelu(F.conv2d(x, w, b, 1, 1), p)


class Backbone(FusableMixin, nn.Module):
    """ArcFace IR-SE50 embedding network (the identity model of pSp's ID loss, ``model_ir_se50.pth``).

    ``forward``: [N, 3, input_size, input_size] face crops in [-1, 1] -> l2-normalised [N, 512].
    The pSp ID loss feeds the 256x256 aligned image cropped to rows 35:223, cols 32:220 and
    average-pooled to 112x112 (see :func:`facereel.inversion.encoders.arcface_crop`).
    """

    def __init__(self, input_size: int = 112, num_layers: int = 50, mode: str = "ir_se",
                 drop_ratio: float = 0.4, affine: bool = True):
        super().__init__()
        if input_size not in (112, 224):
            raise ValueError("input_size should be 112 or 224")
        self.input_layer = make_input_layer(3)
        final = 7 if input_size == 112 else 14
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(512), nn.Dropout(drop_ratio), nn.Flatten(),
            nn.Linear(512 * final * final, 512), nn.BatchNorm1d(512, affine=affine))
        self.body = make_body(num_layers, mode)

    @torch.no_grad()
    def fuse(self):
        for unit in self.body:
            unit.fuse()
        bn2d, _, _, lin, bn1d = self.output_layer
        a_in, b_in = fold_bn(bn2d)
        a_out, b_out = fold_bn(bn1d)
        hw = lin.in_features // a_in.numel()
        # Linear(BN2d(x)) with the per-channel affine expanded over the C*H*W flattening order,
        # then BN1d(y) = a_out*y + b_out: one Linear, no padding involved, so the fold is exact.
        a_flat = a_in.repeat_interleave(hw)
        b_flat = b_in.repeat_interleave(hw)
        w = lin.weight * a_flat[None, :] * a_out[:, None]
        b = (lin.weight @ b_flat + lin.bias) * a_out + b_out
        object.__setattr__(self, "_fused", {
            "input": fuse_input_layer(self.input_layer), "w": w.contiguous(), "b": b.contiguous()})
        return self

    def forward(self, x: torch.Tensor, plan: ExecutionPlan | None = None) -> torch.Tensor:
        plan = resolve(plan, self.plan)
        if self._use_fused(plan):
            x = run_input_layer(self._fused["input"], x)
            x = run_body(self.body, x, plan)
            x = F.linear(x.flatten(1), self._fused["w"], self._fused["b"])
        else:
            x = self.input_layer(x)
            x = run_body(self.body, x, plan)
            x = self.output_layer(x)
        return x / torch.norm(x, 2, 1, True)
