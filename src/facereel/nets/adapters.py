"""``FaceGenerator`` adapters for NVIDIA StyleGAN2 / StyleGAN3 generators (w+ latent space).

``NVFaceGenerator(G)`` wraps a :class:`facereel.nets.stylegan2.Generator` or a StyleGAN3
``Generator`` (anything with ``mapping``/``synthesis``, ``z_dim``, ``c_dim``, ``w_dim``,
``num_ws``, ``img_resolution``).  Official FFHQ checkpoints are NVIDIA non-commercial.
"""

from __future__ import annotations

import inspect
import logging

import numpy as np
import torch

from facereel.core.device import resolve_device

from . import ops
from .plan import resolve

log = logging.getLogger(__name__)

__all__ = ["NVFaceGenerator"]


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class NVFaceGenerator:
    """:class:`facereel.nets.base.FaceGenerator` over an NVIDIA StyleGAN2/3 generator.

    * latents are w+ ``[N, num_ws, w_dim]``; ``sample(seeds)`` draws z per seed with its own
      ``torch.Generator().manual_seed(seed)`` (``rng="numpy"`` uses
      ``np.random.RandomState(seed).randn(z_dim)`` instead, the official ``gen_images.py``
      draw, so a seed gives the official face), then maps with truncation ``psi``;
    * ``synthesize`` runs the synthesis network with ``noise_mode='const'`` (deterministic) and
      stays differentiable (inversion back-propagates through it);
    * ``dtype=torch.bfloat16`` opts into the bfloat16 synthesis path where the network has one
      (the ``dtype`` of its :class:`~facereel.nets.plan.ExecutionPlan`).
    """

    latent_kind = "w+"

    def __init__(self, G: torch.nn.Module, name: str = "stylegan2", device=None,
                 dtype: torch.dtype | None = None, rng: str = "torch", noise_mode: str = "const"):
        if rng not in ("torch", "numpy"):
            raise ValueError(f"rng must be 'torch' or 'numpy', not {rng!r}")
        self.device = resolve_device(device)
        self.G = G.to(self.device).eval().requires_grad_(False)
        self.name = name
        self.z_dim = int(G.z_dim)
        self.c_dim = int(getattr(G, "c_dim", 0))
        self.w_dim = int(G.w_dim)
        self.num_ws = int(G.num_ws)
        self.resolution = int(G.img_resolution)
        self.dtype = dtype
        self.rng = rng
        self.noise_mode = noise_mode
        synth = G.synthesis.forward
        self._synth_kwargs: dict = {}
        if _accepts(synth, "noise_mode"):
            self._synth_kwargs["noise_mode"] = noise_mode
        if dtype is not None and dtype != torch.float32:
            if getattr(G.synthesis, "reduced_precision", False):
                if dtype == torch.bfloat16 and not ops.has_native_bf16(self.device):
                    log.warning("bfloat16 requested on %s without native bfloat16 (AVX-512 BF16/AMX "
                                "or a bf16 GPU): it runs emulated, far slower than float32", self.device)
            else:
                log.warning("%s has no reduced-precision path; running float32", type(G).__name__)
                self.dtype = None

    # -- latents -------------------------------------------------------------------------
    def _z(self, seed: int) -> torch.Tensor:
        if self.rng == "numpy":
            return torch.from_numpy(np.random.RandomState(int(seed)).randn(self.z_dim)).float()
        return torch.randn(self.z_dim, generator=torch.Generator().manual_seed(int(seed)))

    def sample(self, seeds: list[int], truncation_psi: float = 1.0, c: torch.Tensor | None = None,
               truncation_cutoff: int | None = None) -> torch.Tensor:
        """One w+ per seed [N, num_ws, w_dim] (seeded per sample: independent of the batch)."""
        zs = [self._z(s) for s in seeds]
        z = torch.stack(zs) if zs else torch.empty(0, self.z_dim)
        return self.mapping(z.to(self.device), truncation_psi, c=c, truncation_cutoff=truncation_cutoff)

    def mapping(self, z: torch.Tensor, truncation_psi: float = 1.0, c: torch.Tensor | None = None,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """z [N, z_dim] (+ label c [N, c_dim], zeros when omitted) -> w+ [N, num_ws, w_dim]."""
        z = z.to(self.device, torch.float32)
        if c is None:
            c = torch.zeros(z.shape[0], self.c_dim, device=self.device)
        return self.G.mapping(z, c.to(self.device, torch.float32), truncation_psi=truncation_psi,
                              truncation_cutoff=truncation_cutoff)

    def synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        """w+ [N, num_ws, w_dim] (or w [N, w_dim], broadcast) -> images [N, 3, R, R] (float32)."""
        ws = latents.to(self.device, torch.float32)
        if ws.ndim == 2:
            ws = ws.unsqueeze(1).repeat(1, self.num_ws, 1)
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"expected w+ latents [N, {self.num_ws}, {self.w_dim}], got {tuple(latents.shape)}")
        kw = self._synth_kwargs
        if self.dtype is not None and self.dtype != torch.float32:
            # The network's (or the process default) plan, in reduced precision.
            kw = dict(kw, plan=resolve(None, getattr(self.G.synthesis, "plan", None)).replace(dtype=self.dtype))
        img = self.G.synthesis(ws, **kw)
        return img.float()

    def preview(self, latents: torch.Tensor, resolution: int) -> torch.Tensor | None:
        """A low-resolution view of :meth:`synthesize`'s images, [N, 3, r, r] with r ≤
        ``resolution``, made by the synthesis blocks up to r only (StyleGAN2's skip image, see
        ``SynthesisNetwork.preview``); None where the network has no such image (StyleGAN3, the
        'orig'/'resnet' architectures): render in full then."""
        fn = getattr(self.G.synthesis, "preview", None)
        if fn is None or self.dtype not in (None, torch.float32):
            return None
        ws = latents.to(self.device, torch.float32)
        if ws.ndim == 2:
            ws = ws.unsqueeze(1).repeat(1, self.num_ws, 1)
        img = fn(ws, resolution, noise_mode=self.noise_mode)
        return None if img is None else img.float()

    @property
    def w_avg(self) -> torch.Tensor:
        """The mapping network's moving average of w, repeated: [num_ws, w_dim]."""
        return self.G.mapping.w_avg.detach().float().reshape(1, self.w_dim).repeat(self.num_ws, 1)

    def __repr__(self) -> str:
        return (f"NVFaceGenerator(name={self.name!r}, resolution={self.resolution}, num_ws={self.num_ws}, "
                f"w_dim={self.w_dim}, device={self.device}, dtype={self.dtype})")
