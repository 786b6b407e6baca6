"""The 64×64 DCGAN face generator of the ``gan-face-generate`` package, as a :class:`FaceGenerator`.

Architecture (Radford et al. 2016, "Unsupervised Representation Learning with Deep Convolutional
GANs", Fig. 1): z [N, nz, 1, 1] → ConvTranspose 4×4 (stride 1) → 4×4 → four ConvTranspose 4×4
(stride 2, pad 1) doubling the resolution each time → 64×64, BatchNorm + ReLU between, tanh at the
end.  Parameter names are those of the package (``main.{0,1,3,4,...,12}.*``) so its state dict
loads strictly.

Licences: the package's code is MIT; its weights (``weights.tar`` inside the installed package)
were trained on DigiFace-1M, whose licence is **non-commercial research only**.  Where that file
lives is :func:`facereel.weights.digiface_weights_path`; :func:`facereel.checkpoints.loaders.load_dcgan_digiface`
loads it into this architecture.  Images generated
with ``dcgan-digiface`` are therefore for non-commercial use only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from facereel.core.device import resolve_device

log = logging.getLogger(__name__)

#: what the package's inference script uses (nz=100, ngf=64, nc=3).
Z_DIM = 100
NGF = 64
CHANNELS = 3


class DCGANGenerator(nn.Module):
    """z [N, nz, 1, 1] → image [N, nc, 64, 64] in (-1, 1).

    ``main`` is an ``nn.Sequential`` whose indices match the package's: a ConvTranspose at 0, 3,
    6, 9, 12, BatchNorm at 1, 4, 7, 10, ReLU at 2, 5, 8, 11 and Tanh at 13.
    """

    def __init__(self, nz: int = Z_DIM, ngf: int = NGF, nc: int = CHANNELS) -> None:
        super().__init__()
        self.nz, self.ngf, self.nc = nz, ngf, nc
        # channel widths per stage: 4×4: 8·ngf, 8×8: 4·ngf, 16×16: 2·ngf, 32×32: ngf
        widths = [ngf * 8, ngf * 4, ngf * 2, ngf]
        layers: list[nn.Module] = []
        in_ch = nz
        for i, out_ch in enumerate(widths):
            # first layer: 1×1 → 4×4 (stride 1, no padding); then ×2 upsampling (stride 2, pad 1)
            stride, pad = (1, 0) if i == 0 else (2, 1)
            layers += [
                nn.ConvTranspose2d(in_ch, out_ch, 4, stride, pad, bias=False),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(True),
            ]
            in_ch = out_ch
        layers += [nn.ConvTranspose2d(in_ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim == 2:  # [N, nz] → [N, nz, 1, 1]
            z = z[:, :, None, None]
        return self.main(z)


def read_dcgan_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The generator state dict of a gan-face-generate checkpoint (``{'netG_state_dict': ...}``)."""
    ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(ckpt, dict) and "netG_state_dict" in ckpt:
        ckpt = ckpt["netG_state_dict"]
    if not isinstance(ckpt, dict) or "main.0.weight" not in ckpt:
        raise ValueError(f"{path} does not hold a DCGAN generator state dict")
    return dict(ckpt)


def build_dcgan(state: dict[str, torch.Tensor]) -> DCGANGenerator:
    """A :class:`DCGANGenerator` sized from ``state`` (nz, ngf, nc read off the tensor shapes)."""
    w0 = state["main.0.weight"]  # [nz, 8·ngf, 4, 4]
    last = state["main.12.weight"]  # [ngf, nc, 4, 4]
    net = DCGANGenerator(nz=w0.shape[0], ngf=w0.shape[1] // 8, nc=last.shape[1])
    net.load_state_dict(state, strict=True)
    return net.eval().requires_grad_(False)


class DCGANFaceGenerator:
    """:class:`facereel.nets.base.FaceGenerator` over a :class:`DCGANGenerator`.

    The latent space is z itself (``latent_kind = "z"``, no mapping network, ``num_ws = 1``).
    Truncation in z scales the latent towards its mean 0 (the z-space truncation trick).
    BatchNorm runs in eval mode (running statistics), as the package's inference script does.
    """

    latent_kind = "z"
    num_ws = 1

    def __init__(self, net: DCGANGenerator, name: str = "dcgan", device: str | torch.device | None = None):
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval().requires_grad_(False)
        self.name = name
        self.z_dim = net.nz
        self.w_dim = net.nz
        self.resolution = 64

    def sample(self, seeds: list[int], truncation_psi: float = 1.0) -> torch.Tensor:
        zs = [torch.randn(self.z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        z = torch.stack(zs) if zs else torch.empty(0, self.z_dim)
        return self.mapping(z.to(self.device), truncation_psi)

    def mapping(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        return z * truncation_psi if truncation_psi != 1.0 else z

    def synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        # Differentiable on purpose (inversion back-propagates through it); callers that only
        # render wrap it in torch.inference_mode().
        z = latents.to(self.device, torch.float32).reshape(latents.shape[0], self.z_dim, 1, 1)
        return self.net(z)

    @property
    def w_avg(self) -> torch.Tensor:
        return torch.zeros(self.z_dim, device=self.device)
