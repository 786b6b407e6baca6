"""``facereel generate --weights NAME|PATH --seeds 0-7 --psi 0.7 -o grid.png``."""

from __future__ import annotations

import math
from pathlib import Path

import typer

#: GenerateOptions field → the flag a user typed
FLAGS = {"weights": "--weights", "seeds": "--seeds", "psi": "--psi", "cols": "--cols", "batch": "--batch",
         "output": "--output", "device": "--device", "official_seeds": "--official-seeds"}


def parse_seeds(text: str) -> list[int]:
    """``"0-7"``, ``"1,5,9"``, ``"0-3,10"`` → a list of seeds (ranges inclusive)."""
    import re

    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise ValueError(f"empty seed range {part!r}")
            seeds.extend(range(lo, hi + 1))
        elif part.isdigit():
            seeds.append(int(part))
        else:
            raise ValueError(f"not a seed or range: {part!r}")
    if not seeds:
        raise ValueError("no seeds given")
    return seeds


def image_grid(images, cols: int | None = None, pad: int = 2):
    """[N, 3, H, W] in [-1, 1] → uint8 [rows·(H+pad)+pad, cols·(W+pad)+pad, 3] grid (black gaps)."""
    import numpy as np
    import torch

    n, _, h, w = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    arr = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    arr = arr.permute(0, 2, 3, 1).numpy()
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = arr[i]
    return grid


def generate(
    weights: str = typer.Option("dcgan-digiface", "--weights", "-w",
                                help="Weights name (`facereel weights list`) or a checkpoint file. The default "
                                     "DCGAN (DigiFace-1M) works offline; its weights are NON-COMMERCIAL, as are "
                                     "all FFHQ StyleGAN weights."),
    seeds: str = typer.Option("0-7", "--seeds", "-s", help="Seeds: '0-7', '1,5,9' or '0-3,10'."),
    psi: float = typer.Option(1.0, "--psi", help="Truncation psi (1 = none; 0.7 is a common choice)."),
    cols: int = typer.Option(0, "--cols", help="Grid columns (0 = square-ish)."),
    output: Path = typer.Option(Path("grid.png"), "--output", "-o", help="Output image (PNG/JPEG)."),
    device: str = typer.Option("auto", "--device", help="'auto', 'cpu' or 'cuda'."),
    batch: int = typer.Option(8, "--batch", help="Images per forward pass."),
    official_seeds: bool = typer.Option(False, "--official-seeds",
                                        help="NVIDIA StyleGAN only: draw z as the official gen_images.py does "
                                             "(numpy RandomState(seed)), so a seed gives the official face."),
) -> None:
    """Generate faces for the given seeds and save them as one grid image."""
    from facereel.commands._ui import fail, out
    from facereel.core.atomic import atomic_path, check_writable
    from facereel.core.errors import FacereelError, OptionsError
    from facereel.options.generate import GenerateOptions

    try:
        seed_list = parse_seeds(seeds)
    except ValueError as exc:
        fail(f"bad --seeds {seeds!r}: {exc}")
    try:
        opts = GenerateOptions(weights=weights, seeds=tuple(seed_list), psi=psi, cols=cols, batch=batch,
                               output=str(output), device=device, official_seeds=official_seeds).validate()
        check_writable(output)
    except OptionsError as exc:
        fail(exc.message_for(FLAGS))
    except FacereelError as exc:
        fail(str(exc))

    import torch
    from PIL import Image

    from facereel.checkpoints.loaders import load_generator
    from facereel.core.device import resolve_device

    try:
        G = load_generator(opts.weights, device=resolve_device(opts.device))
    except (FacereelError, FileNotFoundError, ImportError) as exc:
        fail(str(exc))
    if opts.official_seeds:
        if not hasattr(G, "rng"):
            fail(f"--official-seeds applies to NVIDIA StyleGAN weights only, not {G.name}")
        G.rng = "numpy"
    imgs = []
    with torch.inference_mode():
        for i in range(0, len(opts.seeds), opts.batch):
            lat = G.sample(list(opts.seeds[i:i + opts.batch]), truncation_psi=opts.psi)
            imgs.append(G.synthesize(lat).float().cpu())
    grid = image_grid(torch.cat(imgs), cols=opts.cols or None)
    try:
        with atomic_path(output) as tmp:
            Image.fromarray(grid).save(tmp, format=Image.registered_extensions()[output.suffix.lower()])
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    out.print(f"{output} ({len(opts.seeds)} images, {G.resolution}px, {G.name})", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
