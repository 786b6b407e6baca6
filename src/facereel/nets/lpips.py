"""LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric",
CVPR 2018), v0.1, as pSp and the pose-and-expression-transfer thesis compute it.

    d(x, y) = sum_l mean_hw( w_l · (n(f_l(x)) - n(f_l(y)))² ),   n(f) = f / (||f||_channels + 1e-10)

f_l are the ReLU outputs of torchvision's AlexNet (relu1..relu5) or VGG16 (relu1_2 .. relu5_3)
``features``, after the input z-score with shift [-.030, -.088, -.188] and scale [.458, .448, .450];
w_l the 1x1 "linear" layers of the official v0.1 weights.  The loss is summed over layers and
batch and divided by the batch size (pSp's ``LPIPS.forward``).

Parameter names: the backbone is ``net.layers.{i}.*`` (torchvision's ``features.{i}.*``), the
linear layers ``lin.{l}.1.weight`` (the official ``lin{l}.model.1.weight`` renamed as pSp does).
:func:`backbone_state` / :func:`lin_state` convert the official files.

``normalization="pet"`` reproduces the thesis' copy, whose channel norm is
sqrt(sum f² + 1e8 - 1) (a typo for an epsilon; it makes n(f) ≈ f / 1e4); the default is the official one.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LPIPS", "alexnet_features", "vgg16_features", "backbone_state", "lin_state", "CHANNELS"]

CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
# 1-based positions in ``features`` after which the feature maps are taken (pSp's target_layers)
TARGET_LAYERS = {"alex": (2, 5, 8, 10, 12), "vgg": (4, 9, 16, 23, 30)}


def alexnet_features() -> nn.Sequential:
    """torchvision ``alexnet().features`` (same indices, so its state dict loads by name)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))


def vgg16_features() -> nn.Sequential:
    """torchvision ``vgg16().features`` (configuration D)."""
    layers: list[nn.Module] = []
    c = 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
            c = v
    return nn.Sequential(*layers)


class _Backbone(nn.Module):
    def __init__(self, net_type: str):
        super().__init__()
        self.layers = alexnet_features() if net_type == "alex" else vgg16_features()
        self.target_layers = TARGET_LAYERS[net_type]
        self.register_buffer("mean", torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None])
        self.register_buffer("std", torch.tensor([0.458, 0.448, 0.450])[None, :, None, None])


class LPIPS(nn.Module):
    """``forward(x, y)``: images [N, 3, H, W] in [-1, 1] -> scalar loss (sum over layers / N)."""

    def __init__(self, net_type: str = "alex", normalization: str = "lpips"):
        super().__init__()
        if net_type not in CHANNELS:
            raise ValueError(f"net_type must be 'alex' or 'vgg', got {net_type!r}")
        if normalization not in ("lpips", "pet"):
            raise ValueError(f"normalization must be 'lpips' or 'pet', got {normalization!r}")
        self.net_type = net_type
        self.normalization = normalization
        self.net = _Backbone(net_type)
        self.lin = nn.ModuleList(nn.Sequential(nn.Identity(), nn.Conv2d(c, 1, 1, 1, 0, bias=False))
                                 for c in CHANNELS[net_type])
        self.requires_grad_(False)

    def _normalize(self, f: torch.Tensor) -> torch.Tensor:
        if self.normalization == "pet":
            return f / (torch.sqrt(torch.sum(f ** 2, dim=1, keepdim=True) + 1e8 - 1) + 1e-10)
        return f / (torch.sqrt(torch.sum(f ** 2, dim=1, keepdim=True)) + 1e-10)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.net.mean) / self.net.std
        out = []
        last = self.net.target_layers[-1]
        for i, layer in enumerate(self.net.layers, 1):
            x = layer(x)
            if i in self.net.target_layers:
                out.append(self._normalize(x))
            if i == last:
                break
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx, fy = self.features(x), self.features(y)
        res = [lin((a - b) ** 2).mean((2, 3), True) for a, b, lin in zip(fx, fy, self.lin)]
        return torch.sum(torch.cat(res, 0)) / x.shape[0]


def backbone_state(torchvision_state: dict) -> dict:
    """torchvision alexnet/vgg16 state dict -> ``net.layers.*`` names (classifier dropped)."""
    return {"net.layers." + k[len("features."):]: v for k, v in torchvision_state.items() if k.startswith("features.")}


def lin_state(official_state: dict) -> dict:
    """Official LPIPS v0.1 ``lin{l}.model.1.weight`` -> ``lin.{l}.1.weight`` (pSp's renaming)."""
    return {"lin." + k.replace("lin", "").replace("model.", ""): v for k, v in official_state.items()}
