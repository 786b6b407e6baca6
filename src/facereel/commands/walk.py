"""``facereel walk random|coarse|fine|loop --generator G --seed S --frames N -o out.mp4``."""

from __future__ import annotations

from pathlib import Path

import typer

FLAGS = {"mode": "MODE", "generator": "--generator", "seed": "--seed", "frames": "--frames",
         "keypoints": "--keypoints", "loop_space": "--loop-space", "even": "--even/--no-even", "psi": "--psi",
         "fps": "--fps", "size": "--size", "batch": "--batch", "output": "--output", "device": "--device"}


def walk(
    mode: str = typer.Argument("random", help="random, coarse, fine or loop."),
    generator: str = typer.Option("dcgan-digiface", "--generator", "-g", help="Weights name or checkpoint."),
    seed: int = typer.Option(0, "--seed", help="Seed of the walk (same seed, same video)."),
    frames: int = typer.Option(120, "--frames", "-n"),
    keypoints: int = typer.Option(6, "--keypoints", help="Seeded points the spline passes through."),
    loop_space: str = typer.Option("z", "--loop-space", help="loop: z (great circle) or w (closed spline)."),
    even: bool = typer.Option(True, "--even/--no-even", help="Even out the per-frame image change."),
    psi: float = typer.Option(1.0, "--psi"),
    fps: float = typer.Option(24.0, "--fps"),
    size: int = typer.Option(0, "--size", help="Output frame size (0 = the generator's)."),
    batch: int = typer.Option(8, "--batch"),
    output: Path = typer.Option(Path("walk.mp4"), "--output", "-o"),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Render a seeded, reproducible walk through the latent space."""
    from facereel.commands._latent import build, run
    from facereel.commands._ui import out
    from facereel.options.walk import WalkOptions
    from facereel.pipelines.latent import render_walk

    opts = build(WalkOptions, FLAGS, mode=mode, generator=generator, seed=seed, frames=frames, keypoints=keypoints,
                 loop_space=loop_space, even=even, psi=psi, fps=fps, size=size, batch=batch, output=str(output),
                 device=device)
    r = run(render_walk, opts, f"{mode} walk", str(output))
    out.print(f"{r['output']} ({r['frames']} frames, {mode} walk, seed {seed}, {r['generator']})", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("walk")(walk)
