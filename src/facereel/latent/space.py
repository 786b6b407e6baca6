"""What a direction or an edit needs to know about a generator's latent space.

* ``z`` (DCGAN): latents [N, z_dim]; one "layer" (num_ws = 1), so no layer masks.
* ``w`` (StyleGAN2/3, rosinality): directions live in the mapped W space [w_dim]; edits add them
  to the W+ code [N, num_ws, w_dim] on all layers or a layer mask.

Generators are identified by their name plus the shape of their space (``dcgan-digiface``,
``stylegan2-ffhq-1024``; a file's stem for checkpoints given by path), so a direction file made
for one generator is refused on another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facereel.core.errors import FacereelError


class LatentSpaceError(FacereelError):
    """A direction, mask or latent that does not fit the generator it is used with."""


@dataclass(frozen=True)
class Space:
    generator: str       # generator id (its name)
    kind: str            # "z" | "w"
    dim: int             # latent width (z_dim for "z", w_dim for "w")
    num_ws: int          # layers of per-layer styles (1 for "z")

    def to_dict(self) -> dict:
        return {"generator": self.generator, "latent_space": self.kind, "dim": self.dim, "num_ws": self.num_ws}


def space_of(G) -> Space:
    """The :class:`Space` of a :class:`facereel.nets.base.FaceGenerator`."""
    if G.latent_kind == "z":
        return Space(str(G.name), "z", int(G.z_dim), 1)
    return Space(str(G.name), "w", int(G.w_dim), int(G.num_ws))


def native_to_fit(G, latents):
    """Native latents (z [N, z] or w+ [N, num_ws, w]) → the space directions are fitted in, [N, dim].

    W+ codes are averaged over layers (for sampled codes every layer holds the same w)."""
    if G.latent_kind == "z":
        return latents.reshape(latents.shape[0], -1)
    return latents.mean(1) if latents.ndim == 3 else latents


def fit_to_native(G, codes):
    """[N, dim] codes of the fit space → native latents (w broadcast to every layer of W+)."""
    if G.latent_kind == "z":
        return codes
    return codes[:, None, :].expand(codes.shape[0], G.num_ws, codes.shape[1]).contiguous()


def to_uint8(images) -> np.ndarray:
    """[N, 3, H, W] float images in [-1, 1] (torch) → [N, H, W, 3] uint8."""
    import torch

    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
