"""``facereel age PHOTO --from 5 --to 80 -o life.mp4 [--method sam|direction] [--weights FILE]``."""

from __future__ import annotations

from pathlib import Path

import typer

from facereel.options.choices import AGE_METHODS, INTERPOLATIONS

FLAGS = {"photo": "PHOTO", "output": "--output", "age_from": "--from", "age_to": "--to", "method": "--method",
         "step": "--step", "photo_age": "--photo-age", "weights": "--weights", "generator": "--generator",
         "direction": "--direction", "inversion": "--inversion", "frames_per_year": "--frames-per-year",
         "fps": "--fps", "size": "--size", "opacity": "--opacity", "interpolation": "--interpolation",
         "batch": "--batch", "device": "--device", "lifespan.max_strength": "--max-strength",
         "lifespan.identity_guard": "--identity-guard", "lifespan.layers": "--layers"}


def age(
    photo: Path = typer.Argument(..., help="One photo of a face."),
    age_from: float = typer.Option(5.0, "--from", help="First age of the video (0..100)."),
    age_to: float = typer.Option(80.0, "--to", help="Last age of the video (0..100, above --from)."),
    output: Path = typer.Option(Path("life.mp4"), "--output", "-o", help="Video (.mp4, .webm, .gif)."),
    method: str = typer.Option("sam", "--method", help=f"How the face is aged: {', '.join(AGE_METHODS)}."),
    weights: str = typer.Option(None, "--weights", metavar="FILE",
                                help="sam: a local SAM checkpoint (default: the sam_ffhq_aging weights)."),
    step: float = typer.Option(10.0, "--step", help="Years between generated keyframes."),
    photo_age: float = typer.Option(None, "--photo-age", help="The photo's age (default: estimated)."),
    generator: str = typer.Option("stylegan2-ffhq-config-f", "--generator", "-g",
                                  help="direction: the generator the photo is inverted into."),
    direction: str = typer.Option("e4e-age", "--direction", "-d", help="direction: an age direction file or name."),
    inversion: str = typer.Option("optimize", "--inversion", help="direction: how the photo is inverted."),
    max_strength: float = typer.Option(6.0, "--max-strength", help="direction: largest strength searched."),
    identity_guard: float = typer.Option(None, "--identity-guard",
                                         help="direction: largest identity distance to the unedited face."),
    layers: str = typer.Option(None, "--layers", help="direction: W+ layer mask (all, coarse, vs, 0-7, ...)."),
    frames_per_year: float = typer.Option(2.0, "--frames-per-year", help="Frames per year of age."),
    fps: float = typer.Option(24.0, "--fps"),
    size: int = typer.Option(512, "--size", help="Frame size in pixels."),
    opacity: float = typer.Option(50.0, "--opacity", min=0.0, max=100.0,
                                  help="Peak opacity (%) of the real photo blended in at its own age."),
    interpolation: str = typer.Option("linear", "--interpolation",
                                      help=f"W+ path between keyframes: {', '.join(INTERPOLATIONS)}."),
    batch: int = typer.Option(4, "--batch"),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """One photo, a lifetime: the face aged from --from to --to (SAM, or an age direction)."""
    from facereel.commands._latent import build, run
    from facereel.commands._ui import out
    from facereel.options.lifespan import AgeOptions, LifespanOptions
    from facereel.pipelines.age import render_age

    lifespan = LifespanOptions(max_strength=max_strength, identity_guard=identity_guard, layers=layers)
    opts = build(AgeOptions, FLAGS, photo=str(photo), output=str(output), age_from=age_from, age_to=age_to,
                 method=method, step=step, photo_age=photo_age, weights=weights, generator=generator,
                 direction=direction, inversion=inversion, frames_per_year=frames_per_year, fps=fps, size=size,
                 opacity=opacity / 100.0, interpolation=interpolation, batch=batch, device=device,
                 lifespan=lifespan)
    r = run(render_age, opts, "ageing", str(output))
    where = (f"the photo at {r['photo_age']:.0f} blended in" if r["photo_keyframe"] is not None
             else "the photo's age is outside the range: not blended in" if r["photo_age"] is not None
             else "no age estimate for the photo: not blended in")
    out.print(f"{r['output']} ({r['frames']} frames, ages {', '.join(map(str, r['ages']))}; {r['method']}; {where})",
              highlight=False)


def register(app: typer.Typer) -> None:
    app.command("age")(age)
