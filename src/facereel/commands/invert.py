"""``facereel invert PHOTOS_OR_MANIFEST --generator NAME --method ... -o latents.npz``.

Writes one ``.npz`` with ``latents`` [N, ...] in the generator's native space (z [N, z_dim] for
the DCGAN, w+ [N, num_ws, w_dim] for StyleGAN), ``names`` [N] (file names, in manifest order),
``mse`` [N] (pixel MSE of the reconstruction in [-1, 1] units, at the generator's resolution),
and the settings as 0-d string arrays (``generator``, ``method``, ``encoder``, ``latent_kind``).
Latents come from the on-disk cache when the same image was inverted with the same settings.
"""

from __future__ import annotations

from pathlib import Path

import typer

from facereel.commands import _video
from facereel.options.choices import SIZE_MAX, SIZE_MIN

METHOD_HELP = ("optimize (any generator; the offline default DCGAN works out of the box), psp, e4e, restyle "
               "(official encoders, weights via `facereel weights download`), or hybrid (an encoder's output "
               "refined by optimisation).")


#: LatentOptions field → the flag that sets it
FLAGS = {"generator": "--generator", "method": "--method", "encoder": "--encoder", "steps": "--steps",
         "iterations": "--iterations", "restarts": "--restarts", "seed": "--seed", "device": "--device"}


def register(app: typer.Typer) -> None:
    app.command("invert", no_args_is_help=True)(invert)


def invert(
    inputs: list[Path] = typer.Argument(..., help="Photos, folders and/or videos, or one manifest (.json) from "
                                                   "`facereel analyze`.",
                                        show_default=False, metavar="PHOTOS_OR_MANIFEST..."),
    output: Path = typer.Option(Path("latents.npz"), "--output", "-o", help="Output .npz file."),
    generator: str | None = typer.Option(
        None, "--generator", "-g",
        help="Generator weights name (`facereel weights list`) or checkpoint file. Default: dcgan-digiface for "
             "optimize, the encoder's own decoder for psp/e4e/restyle/hybrid. The DigiFace DCGAN and all FFHQ "
             "StyleGAN weights (also inside the official encoder checkpoints) are NON-COMMERCIAL."),
    method: str = typer.Option("optimize", "--method", "-m", help=METHOD_HELP),
    encoder: str | None = typer.Option(None, "--encoder", help="Encoder weights name or .pt file (psp/e4e/restyle/hybrid)."),
    steps: int = typer.Option(300, "--steps", min=1, help="Optimisation steps (optimize, hybrid)."),
    iterations: int | None = typer.Option(None, "--iterations", min=1, help="ReStyle refinement iterations."),
    restarts: int | None = typer.Option(None, "--restarts", min=1,
                                        help="Random starts per image in Z space (default 8; DCGAN inversion has "
                                             "poor local minima)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the optimisation (random starts)."),
    size: int | None = typer.Option(
        None, "--size", show_default=False,
        help=f"Aligned crop size for photos ({SIZE_MIN} to {SIZE_MAX}; default: the generator's resolution, at least "
             "256, which is what `facereel timelapse --engine latent` inverts, so its cache is shared)."),
    aligned: bool = typer.Option(False, "--aligned", help="Inputs are already aligned square face crops: no face "
                                                          "detection, the images are used as they are."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Invert again even when cached latents exist."),
    device: str = typer.Option("auto", "--device", help="'auto', 'cpu' or 'cuda'."),
    every: int | None = _video.EVERY,
    interval: float | None = _video.INTERVAL,
    start_date: str | None = _video.START_DATE,
    end_date: str | None = _video.END_DATE,
    frame_folders: bool = _video.FRAME_FOLDERS,
    frame_rate: float = _video.FRAME_RATE,
) -> None:
    """Invert face photos into a generator's latent space and save the latents (.npz)."""
    from facereel.commands._ui import console, fail, options_failure, out, progress_bar
    from facereel.core.errors import FacereelError, OptionsError
    from facereel.options.latent import LatentOptions

    try:
        options = LatentOptions(generator=generator, method=method, encoder=encoder, steps=steps,
                                iterations=iterations, restarts=restarts, seed=seed, device=device,
                                use_cache=not no_cache).validate()
    except OptionsError as exc:
        options_failure(exc, FLAGS)
    if size is not None and not SIZE_MIN <= size <= SIZE_MAX:
        fail(f"--size must be a whole number from {SIZE_MIN} to {SIZE_MAX}, not {size}")
    if output.suffix.lower() != ".npz":
        fail(f"the output must be a .npz file (got {output.name})")
    if not output.parent.exists():
        fail(f"the output folder {output.parent} does not exist")
    missing = [p for p in inputs if not p.expanduser().exists()]
    if missing:
        fail(f"{', '.join(map(str, missing))}: no such file or folder")

    from facereel.options.analyze import AnalyzeOptions

    try:
        analyze_options = AnalyzeOptions(
            **_video.sampling_fields(every, interval, start_date, end_date, frame_folders, frame_rate)).validate()
    except OptionsError as exc:
        fail(_video.options_message(exc))

    import numpy as np

    from facereel.inversion.api import model_id
    from facereel.pipelines.invert import identity_warning, load_inverter, reconstruction_identity

    try:
        inverter = load_inverter(options)    # a missing or bad checkpoint is one line, before any work
    except FacereelError as exc:
        fail(str(exc))
    images, names, skipped = _load_inputs(inputs, size=size or inverter.crop_size, aligned=aligned,
                                          options=analyze_options)
    for path, reason in skipped:
        console.print(f"[yellow]skipped[/] {Path(path).name}: {reason}", highlight=False)
    if not images:
        fail("no usable face in the input")
    try:
        with progress_bar(f"inverting {len(images)} faces ({method})") as progress:
            latents = inverter(images, progress)
    except FacereelError as exc:
        fail(str(exc))
    except (OSError, RuntimeError, ValueError) as exc:
        fail(f"inversion failed: {exc}")
    except KeyboardInterrupt:
        fail("interrupted; nothing was written", code=130)

    gen = inverter.generator
    mse = _reconstruction_mse(gen, latents, images)
    data = {
        "latents": latents.numpy().astype(np.float32),
        "names": np.array(names),
        "mse": mse,
        "generator": np.array(model_id(gen)),
        "method": np.array(method),
        "encoder": np.array(encoder or ""),
        "latent_kind": np.array(gen.latent_kind),
    }
    from facereel.core.atomic import atomic_write

    try:
        with atomic_write(output, "wb") as f:
            np.savez(f, **data)
    except OSError as exc:
        fail(f"could not write {output}: {exc}")
    warning = identity_warning(reconstruction_identity(inverter, latents, images, names), options, model_id(gen))
    if warning:
        console.print(f"[yellow]warning[/] {warning}", highlight=False, soft_wrap=True)
    out.print(f"wrote [bold]{output}[/]: {len(names)} latents {tuple(latents.shape[1:])} ({gen.latent_kind}) with "
              f"{method} into {model_id(gen)}; reconstruction MSE median {float(np.median(mse)):.4f}", highlight=False)


def _load_inputs(inputs: list[Path], *, size: int, aligned: bool, options=None):
    """(uint8 crops [S, S, 3], names, skipped (path, reason)) from aligned images, photos, videos or a manifest."""
    from facereel.commands._ui import fail, progress_bar
    from facereel.pipelines.analyze import AnalyzeError, analysis_options, collect_photo_paths

    if aligned:
        import numpy as np

        from facereel.faces.io import load_image

        try:
            paths = collect_photo_paths(inputs)
        except (AnalyzeError, OSError) as exc:
            fail(str(exc))
        images, names = [], []
        for p in paths:
            try:
                img = np.asarray(load_image(p).rgb)
            except Exception as exc:  # noqa: BLE001 - unreadable files get one line each
                fail(f"cannot read {p.name}: {exc}")
            if img.ndim != 3 or img.shape[0] != img.shape[1]:
                fail(f"{p.name} is not a square image ({img.shape[1]}x{img.shape[0]}); --aligned needs face crops")
            images.append(img[..., :3])
            names.append(p.name)
        return images, names, []

    import logging

    from facereel.pipelines.analyze import load_aligned

    lib_log = logging.getLogger("facereel.pipelines.analyze")
    old = lib_log.level
    lib_log.setLevel(logging.ERROR)
    try:
        # every photo with a face is inverted (a flagged duplicate or other person is still a face)
        with progress_bar("analysing photos") as progress:
            faces = load_aligned(inputs, analysis_options(options, size=size), keep_flagged=True, skip_failed=True, min_photos=0,
                                 analysis_progress=progress)
    except (AnalyzeError, OSError) as exc:
        fail(str(exc))
    finally:
        lib_log.setLevel(old)
    return faces.images, faces.names, faces.skipped


def _reconstruction_mse(gen, latents, images):
    """[N] MSE between G(latent) and the target resized to the generator's resolution, in [-1, 1] units."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    out = []
    with torch.inference_mode():
        for i in range(0, len(images), 8):
            lat = latents[i:i + 8].to(gen.device)
            rec = gen.synthesize(lat).float().cpu()
            tgt = torch.from_numpy(np.stack(images[i:i + 8])).permute(0, 3, 1, 2).float() / 127.5 - 1
            if tgt.shape[-1] != rec.shape[-1]:
                tgt = F.interpolate(tgt, size=rec.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
            out.append((rec - tgt).square().mean(dim=(1, 2, 3)))
    return torch.cat(out).numpy()
