"""Tiny seeded encoder checkpoints in the official repositories' ``.pt`` layout (the real classes,
small decoders), for tests that need "the weights installed" without the FFHQ files."""

from __future__ import annotations

from pathlib import Path

import torch


def _small_heads(enc: torch.nn.Module) -> torch.nn.Module:
    """Scale the style heads down so the codes stay near the average face (a usable picture)."""
    with torch.no_grad():
        for m in enc.modules():
            if isinstance(m, torch.nn.Linear) or type(m).__name__ == "EqualLinear":
                m.weight.mul_(0.01)
    return enc


def write_psp_checkpoint(path: Path, seed: int = 0) -> Path:
    """pixel2style2pixel layout: GradualStyleEncoder (IR-SE50) + a rosinality 64 px decoder (10 styles),
    ``latent_avg`` [10, 512], ``opts`` as pSp writes them."""
    from facereel.nets.encoders import GradualStyleEncoder
    from facereel.nets.rosinality import Generator

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        dec = Generator(64, 512, 2, channel_multiplier=1)
        enc = _small_heads(GradualStyleEncoder(50, "ir_se", input_nc=3, n_styles=dec.n_latent))
        latent_avg = dec.mean_latent(512)[0].expand(dec.n_latent, -1).clone()
    state = {**{f"encoder.{k}": v for k, v in enc.state_dict().items()},
             **{f"decoder.{k}": v for k, v in dec.state_dict().items()}}
    opts = {"encoder_type": "GradualStyleEncoder", "input_nc": 3, "output_size": 64, "label_nc": 0,
            "start_from_latent_avg": True, "dataset_type": "ffhq_encode"}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "latent_avg": latent_avg, "opts": opts}, path)
    return path


def write_restyle_sg3_checkpoint(path: Path, seed: int = 0) -> Path:
    """stylegan3-editing layout: ReStyle-pSp BackboneEncoder + a StyleGAN3-R 16 px decoder,
    ``latent_avg`` = w_avg [512]."""
    from facereel.nets.encoders import BackboneEncoder
    from facereel.nets.stylegan3 import Generator as SG3

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = SG3(z_dim=512, c_dim=0, w_dim=512, img_resolution=16, img_channels=3, mapping_kwargs={"num_layers": 2},
                channel_base=2048, channel_max=32, conv_kernel=1, use_radial_filters=True, num_layers=4,
                magnitude_ema_beta=0.5 ** (32 / 20000), output_scale=0.25)
        enc = _small_heads(BackboneEncoder(50, "ir_se", n_styles=G.num_ws, input_nc=6))
        latent_avg = 0.1 * torch.randn(512)
    state = {**{f"encoder.{k}": v for k, v in enc.state_dict().items()},
             **{f"decoder.{k}": v for k, v in G.state_dict().items()}}
    opts = {"encoder_type": "BackboneEncoder", "input_nc": 6, "output_size": 1024, "n_iters_per_batch": 2}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "latent_avg": latent_avg, "opts": opts}, path)
    return path
