"""Reconstruction losses for optimisation inversion.

Every loss takes generated and target images [N, 3, H, W] in [-1, 1] and returns a per-sample
loss [N] (so restarts and per-image early stopping can pick winners sample by sample).

* ``mse``: pixel MSE, optionally weighted by a face mask [N or 1, 1, H, W].
* ``face``: the offline face-feature loss — squared distances between the activations of the
  CC0 age network (:mod:`facereel.nets.agenet`) on the central face chip of both images.  It
  always works offline and sees facial structure that pixel MSE under-weights.
* ``lpips``: only when LPIPS backbone weights are present locally (``lpips`` package with its
  weights already on disk); never downloaded behind the user's back.
* ``id``: identity loss with the IR-SE50 ArcFace backbone when ``model_ir_se50`` is installed
  (``facereel weights download model_ir_se50``), with pSp's crop (rows 35:223, cols 32:220 of the
  256 image, pooled to 112).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F

from facereel.core.errors import FacereelError

log = logging.getLogger(__name__)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class LossUnavailable(FacereelError, RuntimeError):
    """A loss whose network or package is not installed (LPIPS, the identity network)."""

    http_status = 503


def mse_loss(mask: torch.Tensor | None = None) -> LossFn:
    def loss(gen: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        d = (gen - target).square()
        if mask is None:
            return d.mean(dim=(1, 2, 3))
        m = F.interpolate(mask.to(gen), size=gen.shape[-2:], mode="bilinear", align_corners=False) if mask.shape[-1] != gen.shape[-1] else mask.to(gen)
        return (d * m).sum(dim=(1, 2, 3)) / (m.sum(dim=(1, 2, 3)).clamp_min(1e-8) * gen.shape[1])
    return loss


def face_chip(images: torch.Tensor, size: int = 64) -> torch.Tensor:
    """The central face region of FFHQ-aligned images (roughly dlib's 5-point chip with padding 0.2)."""
    h, w = images.shape[-2:]
    top, bottom = int(round(0.22 * h)), int(round(0.88 * h))
    left, right = int(round(0.17 * w)), int(round(0.83 * w))
    chip = images[..., top:bottom, left:right]
    return F.interpolate(chip, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def face_feature_loss(device: torch.device | str = "cpu") -> LossFn:
    from facereel.nets.agenet import load_package_net, normalise_m11

    net = load_package_net("age", str(device))
    for p in net.parameters():
        p.requires_grad_(False)
    names = net.relu_outputs()

    def loss(gen: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fg = net.features(normalise_m11(face_chip(gen)), names)
        with torch.no_grad():
            ft = net.features(normalise_m11(face_chip(target)), names)
        return sum((a - b).square().mean(dim=(1, 2, 3)) for a, b in zip(fg, ft)) / len(names)

    return loss


def lpips_loss(device: torch.device | str = "cpu") -> LossFn:
    """LPIPS if the ``lpips`` package and its backbone weights are already on disk; else LossUnavailable."""
    try:
        import lpips  # type: ignore
    except ImportError as exc:
        raise LossUnavailable("LPIPS needs the 'lpips' package and its backbone weights on disk") from exc
    import os

    # The backbone comes from torchvision's cache; refuse rather than trigger a download.
    hub = os.path.join(torch.hub.get_dir(), "checkpoints")
    if not os.path.isdir(hub) or not any(n.startswith(("vgg16", "alexnet")) for n in os.listdir(hub)):
        raise LossUnavailable(f"LPIPS backbone weights not found in {hub}; they are never downloaded automatically")
    net = lpips.LPIPS(net="vgg", verbose=False).to(device).eval()

    def loss(gen, target):
        return net(gen, target).view(-1)

    return loss


def id_loss(device: torch.device | str = "cpu") -> LossFn:
    """1 − cos(ArcFace(gen), ArcFace(target)) with IR-SE50 (needs ``model_ir_se50``)."""
    from facereel.nets.encoders.irse import Backbone
    from facereel.weights import installed_path

    path = installed_path("model_ir_se50")
    if path is None:
        raise LossUnavailable("identity loss needs model_ir_se50: run `facereel weights download model_ir_se50`")
    net = Backbone(input_size=112, num_layers=50, drop_ratio=0.6, mode="ir_se")
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net = net.to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)

    def embed(x):
        x = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False) if x.shape[-1] != 256 else x
        return net(F.adaptive_avg_pool2d(x[:, :, 35:223, 32:220], (112, 112)))

    def loss(gen, target):
        with torch.no_grad():
            et = embed(target)
        return 1 - (embed(gen) * et).sum(-1)

    return loss


def build_losses(weights: dict[str, float], device="cpu", mask: torch.Tensor | None = None) -> list[tuple[float, LossFn]]:
    """[(weight, fn)] for the named losses with weight > 0; unavailable optional losses are skipped with a warning."""
    makers = {"mse": lambda: mse_loss(mask), "face": lambda: face_feature_loss(device),
              "lpips": lambda: lpips_loss(device), "id": lambda: id_loss(device)}
    out = []
    for name, w in weights.items():
        if not w:
            continue
        if name not in makers:
            raise ValueError(f"unknown loss {name!r}; choose from {', '.join(makers)}")
        try:
            out.append((float(w), makers[name]()))
        except LossUnavailable as exc:
            if name in ("mse", "face"):
                raise
            log.warning("%s loss skipped: %s", name, exc)
    if not out:
        raise ValueError("no loss selected")
    return out
