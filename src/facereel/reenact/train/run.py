"""``facereel reenact train DATA -o run/``: the thesis' training with the official pretrained parts.

* G: the FFHQ StyleGAN2 rosinality decoder (``stylegan2-ffhq-config-f``, as the thesis' Coach
  loads it), frozen; E_m from scratch; M with its official init (weights 1e-5, biases 1e-3).
* E_i: the frozen ReStyle-pSp FFHQ encoder (``restyle_psp_ffhq_encode``, 5 iterations) giving the
  identity codes cached with the crops.
* ID: the IR-SE50 ArcFace (``model_ir_se50``); LPIPS: AlexNet (or VGG16) + the v0.1 linear layers.

Everything is loaded strictly by official names; missing weights are named with the command that
downloads them.  All of these are NON-COMMERCIAL (FFHQ StyleGAN2, MS-Celeb-1M ArcFace) except LPIPS.
A second run into the same folder resumes from ``checkpoints/last.pt``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from facereel.core.progress import Progress

from ..base import ReenactError

log = logging.getLogger(__name__)

__all__ = ["train_from_folder"]


def _installed(name: str) -> Path:
    from facereel import weights

    p = weights.local_path(name)
    if p is None:
        raise ReenactError(f"training needs the {name} weights: facereel weights download {name}")
    return p


def train_from_folder(data: str | Path, run_dir: str | Path, options, *, resume: bool = True,
                      steps: int | None = None, progress: Progress | None = None) -> dict:
    from facereel.checkpoints.torch_files import read_rosinality
    from facereel.core.device import resolve_device
    from facereel.inversion.encoders import load_inverter, preprocess
    from facereel.nets.encoders import Backbone
    from facereel.nets.lpips import load_lpips
    from facereel.nets.pet import PoseExpressionTransfer
    from facereel.nets.rosinality import Generator

    from .data import PairSampler, build_dataset
    from .trainer import Trainer

    options = options.validate()
    device = resolve_device(options.device)
    run_dir = Path(run_dir)
    paths = {n: _installed(n) for n in ("stylegan2-ffhq-config-f", "restyle_psp_ffhq_encode", "model_ir_se50")}
    try:
        lp = load_lpips(options.lpips_net, options.lpips_normalization, device) if \
            (options.lpips or options.lpips_crop) else None
    except FileNotFoundError as exc:
        raise ReenactError(str(exc)) from None

    e_i = {"net": None}

    def identity_codes(crops):     # E_i loaded on the first clip that needs codes (not for a cached set)
        if e_i["net"] is None:
            e_i["net"] = load_inverter(paths["restyle_psp_ffhq_encode"], device=device)
        with torch.no_grad():
            return e_i["net"].run(preprocess(crops, device=device), 5).latents.float().cpu().numpy()

    ds = build_dataset(data, run_dir / "data", options, identity_encoder=identity_codes, progress=None)
    e_i["net"] = None

    spec = read_rosinality(paths["stylegan2-ffhq-config-f"])
    G = Generator(**spec.init_kwargs)
    G.load_state_dict(spec.state_dict, strict=True)
    net = PoseExpressionTransfer(G.size, decoder=G, pool_size=options.image_size)
    facenet = None
    if options.id:
        facenet = Backbone(112, 50, "ir_se", drop_ratio=0.6)
        facenet.load_state_dict(torch.load(paths["model_ir_se50"], map_location="cpu", weights_only=True), strict=True)
    trainer = Trainer(net, PairSampler(ds, options.seed), options, run_dir, facenet=facenet, lpips=lp, device=device)
    start = 0
    if resume and (run_dir / "checkpoints" / "last.pt").is_file():
        start = trainer.resume()
        log.info("resumed at step %d", start)
    hist = trainer.train(steps=steps, progress=progress)
    trainer.scalars.close()
    return {"run_dir": str(run_dir), "start_step": start, "step": trainer.step_count,
            "last_loss": hist[-1] if hist else None, "clips": len(ds.clips), "frames": ds.n_frames}
