"""A tiny seeded SAM checkpoint in the official ``sam_ffhq_aging.pt`` layout (the real classes: two
IR-SE50 GradualStyleEncoders, input_nc 4 and 3, and a small rosinality decoder)."""

from __future__ import annotations

from pathlib import Path

import torch


def make_sam(size: int = 16, seed: int = 0):
    """A seeded :class:`facereel.nets.sam.SAM` whose codes stay near the decoder's average face
    (style heads scaled down, so its pictures are faces, not noise)."""
    from facereel.nets.rosinality import Generator
    from facereel.nets.sam import SAM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        dec = Generator(size, 512, 2, channel_multiplier=1)
        net = SAM(size, decoder=dec)
        with torch.no_grad():
            for enc, gain in ((net.encoder, 0.05), (net.pretrained_encoder, 0.01)):
                for m in enc.modules():
                    if type(m).__name__ == "EqualLinear":
                        m.weight.mul_(gain)
            # a louder age channel, so that the target age visibly moves the code of a random network
            net.encoder.input_layer[0].weight[:, 3].mul_(20)
            net.latent_avg.copy_(dec.mean_latent(512)[0].expand(net.n_styles, -1))
    return net.eval()


def write_sam_checkpoint(path: Path, size: int = 16, seed: int = 0, net=None) -> Path:
    """``{'state_dict': {encoder.*, decoder.*, pretrained_encoder.*}, 'opts', 'latent_avg'}`` as
    SAM's ``coach_aging.py`` saves it."""
    net = make_sam(size, seed) if net is None else net
    opts = {"dataset_type": "ffhq_aging", "input_nc": 4, "label_nc": 0, "output_size": size,
            "start_from_latent_avg": False, "start_from_encoded_w_plus": True, "target_age": "uniform_random",
            "use_weighted_id_loss": True, "pretrained_psp_path": "pretrained_models/psp_ffhq_encode.pt",
            "device": "cuda"}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": net.state_dict(), "opts": opts, "latent_avg": net.latent_avg.clone()}, path)
    return path
