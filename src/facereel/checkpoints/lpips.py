"""LPIPS with its official weights by name: :class:`facereel.nets.lpips.LPIPS` (the architecture)
filled from the weights table (a network never finds its own weights)."""

from __future__ import annotations

import torch


def load_lpips(net_type: str = "alex", normalization: str = "lpips", device="cpu"):
    """LPIPS with the official weights by name (``torchvision_alexnet``/``torchvision_vgg16`` +
    ``lpips_alex_v0.1``/``lpips_vgg_v0.1`` from :mod:`facereel.weights`; loaded strictly)."""
    from facereel import weights
    from facereel.nets.lpips import LPIPS, backbone_state, lin_state

    m = LPIPS(net_type, normalization)
    names = {"alex": ("torchvision_alexnet", "lpips_alex_v0.1"), "vgg": ("torchvision_vgg16", "lpips_vgg_v0.1")}[net_type]
    state = {"net.mean": m.net.mean, "net.std": m.net.std}
    for name, convert in zip(names, (backbone_state, lin_state)):
        path = weights.local_path(name)
        if path is None:
            raise FileNotFoundError(f"the {name} weights are not installed (facereel weights download {name})")
        state.update(convert(torch.load(path, map_location="cpu", weights_only=True)))
    m.load_state_dict(state, strict=True)
    return m.to(device).eval()


