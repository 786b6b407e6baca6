"""``facereel edit PHOTO|SEED --direction NAME --strength A[..B] [--layers 0-7] -o grid.png|out.mp4``."""

from __future__ import annotations

from pathlib import Path

import typer

FLAGS = {"source": "PHOTO|SEED", "direction": "--direction", "strengths": "--strength", "layers": "--layers",
         "component": "--component", "max_strength": "--max-strength", "generator": "--generator",
         "inversion": "--inversion", "output": "--output", "frames": "--frames", "fps": "--fps", "size": "--size",
         "batch": "--batch", "psi": "--psi", "device": "--device"}


def edit(
    source: str = typer.Argument(..., help="A photo (aligned and inverted) or a seed."),
    direction: str = typer.Option(..., "--direction", "-d", help="Direction file or name (e4e-age, ...)."),
    strength: str = typer.Option("-3..3", "--strength", "-s",
                                 help="A, A..B (a sweep of --steps values; a video runs through it) or A,B,C."),
    steps: int = typer.Option(7, "--steps", help="Values in an A..B sweep of a grid."),
    layers: str = typer.Option(None, "--layers",
                               help="W+ layer mask: all, coarse, middle, fine, vs (first 8 of 18), 0-7, ..."),
    component: int = typer.Option(0, "--component", help="Component of a PCA/SeFa direction file."),
    max_strength: float = typer.Option(10.0, "--max-strength", help="Largest |strength| accepted."),
    generator: str = typer.Option("dcgan-digiface", "--generator", "-g", help="Weights name or checkpoint."),
    inversion: str = typer.Option("optimize", "--inversion", help="How a photo is inverted."),
    output: Path = typer.Option(Path("edit.png"), "--output", "-o", help="Grid image or video (.mp4/.webm/.gif)."),
    frames: int = typer.Option(48, "--frames", help="Frames of a video."),
    fps: float = typer.Option(24.0, "--fps"),
    size: int = typer.Option(0, "--size", help="Output frame size (0 = the generator's)."),
    batch: int = typer.Option(8, "--batch"),
    psi: float = typer.Option(1.0, "--psi", help="Truncation of a seed's face."),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Apply a direction with a strength (or a sweep) to a face; write a grid or a video."""
    from facereel.commands._latent import build, run
    from facereel.commands._ui import fail, out
    from facereel.core.errors import FacereelError
    from facereel.latent.edit import parse_strengths
    from facereel.options.edit import EditOptions
    from facereel.pipelines.latent import render_edit

    try:
        values = parse_strengths(strength, steps)
    except FacereelError as exc:
        fail(f"--strength: {exc}")
    opts = build(EditOptions, FLAGS, source=source, direction=direction, strengths=tuple(values), layers=layers,
                 component=component, max_strength=max_strength, generator=generator, inversion=inversion,
                 output=str(output), frames=frames, fps=fps, size=size, batch=batch, psi=psi, device=device)
    r = run(render_edit, opts, "editing", str(output))
    out.print(f"{r['output']} ({r['frames']} {'frames' if opts.is_video else 'images'}, {r['direction']}, "
              f"layers {r['layers'] or 'all'})", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("edit")(edit)
