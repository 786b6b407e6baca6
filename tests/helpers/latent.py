"""Small seeded StyleGAN2 generators of the real classes for the latent tests."""

from __future__ import annotations

import torch

from facereel.nets.adapters import NVFaceGenerator
from facereel.nets.rosinality import Generator as RosGenerator
from facereel.nets.rosinality import RosinalityFaceGenerator
from facereel.nets.stylegan2 import Generator as NVGenerator


def tiny_nv(seed=0):
    torch.manual_seed(seed)
    G = NVGenerator(z_dim=16, c_dim=0, w_dim=24, img_resolution=32, img_channels=3,
                    mapping_kwargs=dict(num_layers=2), channel_base=256, channel_max=32, num_fp16_res=0).eval()
    return NVFaceGenerator(G, name="tiny-sg2", device="cpu")


def tiny_ros(seed=0):
    torch.manual_seed(seed)
    return RosinalityFaceGenerator(RosGenerator(32, 24, 2, channel_multiplier=1).eval(), name="tiny-ros", device="cpu")
