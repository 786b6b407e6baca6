"""``facereel directions fit|list|show``: latent directions from labelled samples, and the public ones."""

from __future__ import annotations

from pathlib import Path

import typer

FIT_FLAGS = {"ray": "--ray", "generator": "--generator", "label": "--label", "samples": "--samples", "seed": "--seed",
             "batch": "--batch", "method": "--method", "condition_on": "--condition-on",
             "components": "--components", "layers": "--layers", "psi": "--psi", "output": "--output",
             "device": "--device"}

directions_app = typer.Typer(help="Latent directions: fit from labelled samples, list, show.", no_args_is_help=True)


@directions_app.command("fit")
def fit(
    generator: str = typer.Option("dcgan-digiface", "--generator", "-g",
                                  help="Weights name or checkpoint (dcgan-digiface works offline; NON-COMMERCIAL)."),
    label: str = typer.Option("age", "--label", "-l",
                              help="age, gender, smile, yaw, pitch, roll, an emotion (angry, disgust, fear, happy, "
                                   "sad, surprise, neutral) or a MediaPipe blendshape name."),
    samples: int = typer.Option(1000, "--samples", "-n", help="Seeded samples to label and fit on."),
    seed: int = typer.Option(0, "--seed", help="First seed (samples use seed, seed+1, ...)."),
    method: str = typer.Option("auto", "--method", "-m",
                               help="auto, linear, logistic, svm, pairwise, pca (GANSpace) or sefa."),
    condition_on: str = typer.Option("", "--condition-on",
                                     help="Labels to project out (InterFaceGAN conditional), e.g. gender,smile."),
    components: int = typer.Option(10, "--components", help="Components kept by pca/sefa."),
    layers: str = typer.Option(None, "--layers", help="SeFa: the W+ layers whose styles are factorised."),
    psi: float = typer.Option(1.0, "--psi", help="Truncation of the samples."),
    batch: int = typer.Option(32, "--batch", help="Samples per forward pass."),
    output: Path = typer.Option(Path("direction.safetensors"), "--output", "-o", help="Direction file to write."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    ray: str | None = typer.Option(None, "--ray", metavar="auto|ADDRESS", show_default=False,
                                   help="Label the samples on a Ray cluster ('auto': a running one, else local)."),
) -> None:
    """Sample, label with the offline models and fit a direction; write it as a direction file."""
    from facereel.commands._latent import build, run
    from facereel.commands._ui import out
    from facereel.options.directions import DirectionFitOptions
    from facereel.pipelines.latent import fit_direction_file

    opts = build(DirectionFitOptions, FIT_FLAGS, generator=generator, label=label, samples=samples, seed=seed,
                 batch=batch, method=method,
                 condition_on=tuple(x.strip() for x in condition_on.split(",") if x.strip()),
                 components=components, layers=layers, psi=psi, output=str(output), device=device, ray=ray)
    d = run(fit_direction_file, opts, f"fitting {opts.label if opts.method not in ('pca', 'sefa') else opts.method}",
            str(output))
    m = {k: v for k, v in d.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    out.print(f"{output}: {d.label} ({d.method}, {d.k} vector(s), {d.latent_space} space of {d.generator}) "
              + " ".join(f"{k}={v:.3g}" for k, v in m.items()), highlight=False)


@directions_app.command("list")
def list_() -> None:
    """The public direction files (weights table) and whether each is downloaded."""
    from facereel import weights as W
    from facereel.commands._ui import out
    from facereel.pipelines.latent import direction_names

    for name in direction_names():
        e = W.TABLE[name]
        out.print(f"{name:22s} {W.status(name):18s} {e.license_short}  {e.description}", highlight=False)


@directions_app.command("show")
def show(direction: str = typer.Argument(..., help="A direction file or a downloaded direction name.")) -> None:
    """The header of a direction file: generator, latent space, layers, label, method, fit metrics."""
    import json

    from facereel.commands._ui import fail, out
    from facereel.core.errors import FacereelError
    from facereel.pipelines.latent import resolve_direction

    try:
        d = resolve_direction(direction)
    except FacereelError as exc:
        fail(str(exc))
    out.print(json.dumps(d.header(), indent=2, sort_keys=True, default=str), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(directions_app, name="directions")
