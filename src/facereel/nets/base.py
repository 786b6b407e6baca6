"""``FaceGenerator``: one protocol over every generator facereel can drive.

Images are [N, 3, H, W] float tensors in [-1, 1] (not clamped by the networks themselves).
Latents: ``latent_kind`` is "z" (DCGAN: [N, z_dim] or [N, z_dim, 1, 1] as the net wants),
"w" ([N, w_dim]) or "w+" ([N, num_ws, w_dim]).  ``sample(seeds)`` draws one latent per seed
with its own generator (``torch.Generator().manual_seed(seed)``) so a seed always gives the
same face whatever the batch.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class FaceGenerator(Protocol):
    name: str
    latent_kind: str          # "z" | "w" | "w+"
    z_dim: int
    w_dim: int                # == z_dim for generators without a mapping network
    num_ws: int               # 1 for z/w generators
    resolution: int
    device: torch.device

    def sample(self, seeds: list[int], truncation_psi: float = 1.0) -> torch.Tensor:
        """Latents in the generator's native inversion space (w+ for StyleGAN, z for DCGAN)."""

    def mapping(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """z [N, z_dim] -> the native latent (identity for DCGAN)."""

    def synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        """Native latents -> images [N, 3, R, R] in [-1, 1].

        Must stay differentiable w.r.t. ``latents`` (no inference_mode/no_grad inside):
        optimisation inversion back-propagates through it.  Renderers wrap calls in
        ``torch.inference_mode()`` themselves.
        """

    @property
    def w_avg(self) -> torch.Tensor:
        """Mean latent in native space ([num_ws, w_dim] for w+, zeros for z)."""
