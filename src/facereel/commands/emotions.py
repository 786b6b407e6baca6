"""``facereel emotions --face SEED|PHOTO --sequence auto|happy,surprise,neutral -o out.mp4`` and
``facereel emotions train VIDEOS... -o model.safetensors``."""

from __future__ import annotations

from pathlib import Path

import typer

FLAGS = {"face": "--face", "sequence": "--sequence", "model": "--model", "order": "--order", "length": "--length",
         "start": "--start", "directions": "--directions", "samples": "--samples", "strength": "--strength",
         "max_strength": "--max-strength", "layers": "--layers", "inbetween": "--inbetween",
         "generator": "--generator", "inversion": "--inversion", "seed": "--seed", "fps": "--fps", "size": "--size",
         "batch": "--batch", "output": "--output", "device": "--device"}
TRAIN_FLAGS = {"videos": "VIDEOS", "output": "--output", "every": "--every", "min_run": "--min-run",
               "hidden": "--hidden", "layers": "--layers", "dropout": "--dropout", "epochs": "--epochs",
               "seed": "--seed"}

emotions_app = typer.Typer(help="Emotion videos: keyframes along emotion directions, ordered by a sequence model.",
                           invoke_without_command=True)


@emotions_app.callback()
def emotions(
    ctx: typer.Context,
    face: str = typer.Option("0", "--face", help="A seed or a photo."),
    sequence: str = typer.Option("neutral,happy,surprise,neutral", "--sequence",
                                 help="Emotions in order, or auto (needs --model)."),
    model: Path = typer.Option(None, "--model", help="Emotion model from `facereel emotions train`."),
    order: str = typer.Option("lstm", "--order", help="auto: lstm or markov."),
    length: int = typer.Option(5, "--length", help="auto: emotions in the sequence."),
    start: str = typer.Option("neutral", "--start", help="auto: the first emotion."),
    directions: Path = typer.Option(None, "--directions", help="Folder of <emotion>.safetensors directions."),
    samples: int = typer.Option(1000, "--samples", help="Labelled samples when fitting the emotion directions."),
    strength: float = typer.Option(2.0, "--strength"),
    max_strength: float = typer.Option(10.0, "--max-strength"),
    layers: str = typer.Option("vs", "--layers", help="Layer mask (vs = first 8 of 18; z generators: all)."),
    inbetween: int = typer.Option(32, "--inbetween", help="Frames between two keyframes (VS: 32)."),
    generator: str = typer.Option("dcgan-digiface", "--generator", "-g"),
    inversion: str = typer.Option("optimize", "--inversion"),
    seed: int = typer.Option(0, "--seed"),
    fps: float = typer.Option(24.0, "--fps"),
    size: int = typer.Option(0, "--size"),
    batch: int = typer.Option(8, "--batch"),
    output: Path = typer.Option(Path("emotions.mp4"), "--output", "-o"),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Render an emotion video of a face."""
    if ctx.invoked_subcommand is not None:
        return
    from facereel.commands._latent import build, run
    from facereel.commands._ui import out
    from facereel.options.emotions import EmotionVideoOptions
    from facereel.pipelines.latent import render_emotions

    opts = build(EmotionVideoOptions, FLAGS, face=face,
                 sequence=tuple(s.strip().lower() for s in sequence.split(",") if s.strip()),
                 model=str(model) if model else None, order=order, length=length, start=start.strip().lower(),
                 directions=str(directions) if directions else None, samples=samples, strength=strength,
                 max_strength=max_strength, layers=layers, inbetween=inbetween, generator=generator,
                 inversion=inversion, seed=seed, fps=fps, size=size, batch=batch, output=str(output), device=device)
    r = run(render_emotions, opts, "emotions", str(output))
    out.print(f"{r['output']} ({r['frames']} frames: {' → '.join(r['sequence'])})", highlight=False)


@emotions_app.command("train")
def train(
    videos: list[Path] = typer.Argument(..., help="Videos of faces whose emotion sequences are learnt."),
    output: Path = typer.Option(Path("emotions.safetensors"), "--output", "-o"),
    every: int = typer.Option(3, "--every", help="Read every N-th frame."),
    min_run: int = typer.Option(2, "--min-run", help="Drop emotions seen on fewer sampled frames in a row."),
    hidden: int = typer.Option(64, "--hidden"),
    layers: int = typer.Option(4, "--layers", help="LSTM layers (VS: 4)."),
    dropout: float = typer.Option(0.2, "--dropout"),
    epochs: int = typer.Option(60, "--epochs"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train the LSTM and Markov emotion-order models on label sequences read from videos."""
    from facereel.commands._latent import build, run
    from facereel.commands._ui import fail, out
    from facereel.options.emotions import EmotionTrainOptions
    from facereel.pipelines.latent import train_emotion_models

    missing = [str(v) for v in videos if not v.exists()]
    if missing:
        fail(f"no such video: {missing[0]}")
    opts = build(EmotionTrainOptions, TRAIN_FLAGS, videos=tuple(str(v) for v in videos), output=str(output),
                 every=every, min_run=min_run, hidden=hidden, layers=layers, dropout=dropout, epochs=epochs, seed=seed)
    r = run(train_emotion_models, opts, "reading emotions", str(output))
    out.print(f"{r['output']} ({r['sequences']} sequences, {r['transitions']} transitions)", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(emotions_app, name="emotions")
