"""Small networks with non-trivial weights, and the comparison the fast == reference tests use."""

from __future__ import annotations

import torch


def tiny(architecture="skip", c_dim=0, res=32, seed=0, **kw):
    """A StyleGAN2 generator small enough for CPU tests, every tensor filled (seeded)."""
    from facereel.nets.stylegan2 import Generator

    torch.manual_seed(seed)
    G = Generator(z_dim=16, c_dim=c_dim, w_dim=24, img_resolution=res, img_channels=3,
                  mapping_kwargs=dict(num_layers=2), channel_base=256, channel_max=32,
                  architecture=architecture, num_fp16_res=0, **kw).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():   # non-trivial values everywhere (defaults leave biases/noise at 0)
        for name, t in G.state_dict().items():
            if name.endswith("resample_filter"):
                continue
            r = torch.randn(t.shape, generator=g)
            if name.endswith("affine.bias"):
                r = 1 + 0.1 * r
            elif name.endswith(("bias", "noise_strength", "w_avg")):
                r = 0.3 * r
            t.copy_(r)
    return G


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1)).item()
