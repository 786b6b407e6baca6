"""Optimisation-based inversion: find latents whose generated images match target photos.

Works with any :class:`facereel.nets.base.FaceGenerator`.  Spaces:

* ``z``  — the Gaussian input latent (the only space of the DCGAN; for StyleGAN, through mapping).
  Z has poor local minima for small GANs, so several random restarts are run in one batch and
  the best start per image is continued (``restarts``).
* ``w``  — one w [N, w_dim] broadcast to all layers (StyleGAN).
* ``w+`` — one w per layer [N, num_ws, w_dim] (StyleGAN; the time-lapse seed's space).

The start is the mean latent (``init="mean"``), a given latent tensor (e.g. an encoder's
output: the hybrid method), or random draws (``init="random"``, the default for Z).
Optimisation is seeded and deterministic, reports ``progress(step, steps)``, and stops early on
a plateau of the mean loss.  Only latents are optimised: the generators run with their stored
(constant) noise maps.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from facereel.core.progress import Progress
from facereel.inversion.losses import build_losses

log = logging.getLogger(__name__)


@dataclass
class InversionResult:
    latents: torch.Tensor            # native latents of the generator: [N, ...] (z or w+)
    space: str                       # the space that was optimised
    loss: torch.Tensor               # [N] final weighted loss per image
    mse: torch.Tensor                # [N] final pixel MSE per image (in [-1, 1] units)
    steps: int
    history: list[float] = field(default_factory=list)   # mean loss per step
    images: torch.Tensor | None = None                    # [N, 3, R, R] in [-1, 1]


def _to_targets(targets, resolution: int, device) -> torch.Tensor:
    """uint8 [N, H, W, 3] arrays or [-1, 1] tensors [N, 3, H, W] → [N, 3, R, R] float in [-1, 1]."""
    import numpy as np

    if isinstance(targets, (list, tuple)):
        targets = np.stack([np.asarray(t) for t in targets])
    if isinstance(targets, np.ndarray):
        if targets.dtype != np.uint8:
            raise ValueError("numpy targets must be uint8 [N, H, W, 3]")
        t = torch.from_numpy(targets).permute(0, 3, 1, 2).float() / 127.5 - 1
    else:
        t = targets.float()
    t = t.to(device)
    if t.shape[-1] != resolution or t.shape[-2] != resolution:
        t = F.interpolate(t, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)
    return t


def _space_of(generator, space: str | None) -> str:
    kind = generator.latent_kind
    if space is None:
        return "z" if kind == "z" else "w+"
    if kind == "z" and space != "z":
        raise ValueError(f"{generator.name} only has a Z latent space")
    if space not in ("z", "w", "w+"):
        raise ValueError(f"unknown latent space {space!r}; choose z, w or w+")
    return space


def invert(
    generator,
    targets,
    *,
    space: str | None = None,
    init: str | torch.Tensor = "auto",
    steps: int = 300,
    lr: float | None = None,
    restarts: int | None = None,
    restart_steps: int | None = None,
    loss_weights: dict[str, float] | None = None,
    mask: torch.Tensor | None = None,
    seed: int = 0,
    patience: int = 60,
    min_delta: float = 1e-4,
    progress: Progress | None = None,
) -> InversionResult:
    """Inverts ``targets`` (uint8 [N, H, W, 3] or [-1, 1] [N, 3, H, W]) into ``generator``'s latent space."""
    device = generator.device
    space = _space_of(generator, space)
    target = _to_targets(targets, generator.resolution, device)
    n = target.shape[0]
    if init == "auto":
        init = "random" if space == "z" else "mean"
    if restarts is None:
        restarts = 8 if (space == "z" and isinstance(init, str) and init == "random") else 1
    if lr is None:
        lr = 0.1 if space == "z" else 0.02
    losses = build_losses(loss_weights or {"mse": 1.0}, device=device, mask=mask)
    gen = torch.Generator(device="cpu").manual_seed(seed)

    # --- the variable, in the chosen space -------------------------------------------------
    def start(count: int) -> torch.Tensor:
        if isinstance(init, torch.Tensor):
            x = init.detach().to(device).float()
            if space == "w" and x.ndim == 3:
                x = x.mean(1)
            if space == "w+" and x.ndim == 2:
                x = x[:, None].repeat(1, generator.num_ws, 1)
            if x.shape[0] != count:
                x = x.repeat(count // x.shape[0], *([1] * (x.ndim - 1)))
            return x.clone()
        if space == "z":
            shape = generator.sample([0]).shape[1:]
            if init == "mean":
                return torch.zeros(count, *shape, device=device)
            return torch.randn(count, *shape, generator=gen).to(device)
        w_avg = generator.w_avg.to(device).float()             # [num_ws, w_dim]
        base = w_avg.mean(0) if space == "w" else w_avg
        x = base.unsqueeze(0).repeat(count, *([1] * base.ndim))
        if init == "random":
            x = x + 0.5 * torch.randn(x.shape, generator=gen).to(device)
        return x

    def synth(x: torch.Tensor) -> torch.Tensor:
        if space == "w":
            x = x[:, None].repeat(1, generator.num_ws, 1)
        elif space == "z" and generator.latent_kind != "z":
            x = generator.mapping(x)
        return generator.synthesize(x)

    def native(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if space == "w":
                return x[:, None].repeat(1, generator.num_ws, 1)
            if space == "z" and generator.latent_kind != "z":
                return generator.mapping(x)
            return x

    def per_sample_loss(images: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        return sum(w * fn(images, tgt) for w, fn in losses)

    total = steps + (restart_steps or max(steps // 4, 1)) * (restarts > 1)
    done = 0
    history: list[float] = []

    # --- restarts: R random starts per image in one batch, keep the best per image ---------
    if restarts > 1:
        r_steps = restart_steps or max(steps // 4, 1)
        x = start(n * restarts).requires_grad_(True)       # [R·N, ...], restart-major
        tgt = target.repeat(restarts, 1, 1, 1)
        opt = torch.optim.Adam([x], lr=lr)
        for _ in range(r_steps):
            opt.zero_grad(set_to_none=True)
            loss = per_sample_loss(synth(x), tgt)
            loss.sum().backward()
            opt.step()
            history.append(float(loss.detach().mean()))
            done += 1
            if progress:
                progress(done, total)
        with torch.no_grad():
            final = per_sample_loss(synth(x), tgt).view(restarts, n)
            best = final.argmin(0)                            # [N] winning restart per image
            x0 = x.detach().view(restarts, n, *x.shape[1:])[best, torch.arange(n)]
        log.debug("restart losses per image: %s", final.min(0).values.tolist())
    else:
        x0 = start(n)

    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    best_mean, since = math.inf, 0
    step = 0
    for step in range(1, steps + 1):
        # cosine ramp-down of the learning rate over the last quarter (as the SG2 projector)
        t = step / steps
        for g in opt.param_groups:
            g["lr"] = lr * (0.5 - 0.5 * math.cos(math.pi * min(1.0, (1 - t) / 0.25)))
        opt.zero_grad(set_to_none=True)
        loss = per_sample_loss(synth(x), target)
        loss.sum().backward()
        opt.step()
        mean = float(loss.detach().mean())
        history.append(mean)
        done += 1
        if progress:
            progress(done, total)
        if mean < best_mean * (1 - min_delta):
            best_mean, since = mean, 0
        else:
            since += 1
            if since >= patience:
                log.info("inversion stopped on a plateau after %d steps (loss %.5f)", step, mean)
                break

    with torch.no_grad():
        images = synth(x)
        final = per_sample_loss(images, target)
        mse = (images - target).square().mean(dim=(1, 2, 3))
    if progress:
        progress(total, total)
    return InversionResult(latents=native(x.detach()).cpu(), space=space, loss=final.cpu(), mse=mse.cpu(),
                           steps=step, history=history, images=images.cpu())
