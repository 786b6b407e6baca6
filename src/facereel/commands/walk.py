"""``facereel walk random|coarse|fine|loop --generator G --seed S --frames N -o out.mp4``, or many
walks at once: ``--seeds 0-99 --out-dir DIR [--ray auto|ADDRESS]`` (one video per seed, through the
batch layer: resumable, optionally on a Ray cluster)."""

from __future__ import annotations

from pathlib import Path

import typer

FLAGS = {"mode": "MODE", "generator": "--generator", "seed": "--seed", "frames": "--frames",
         "keypoints": "--keypoints", "loop_space": "--loop-space", "even": "--even/--no-even", "psi": "--psi",
         "fps": "--fps", "size": "--size", "batch": "--batch", "output": "--output", "device": "--device",
         "seeds": "--seeds", "out_dir": "--out-dir", "format": "--format", "ray": "--ray", "workers": "--workers"}


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
    seeds: str | None = typer.Option(None, "--seeds", metavar="0-99,120,...", show_default=False,
                                     help="Many walks: one video per seed into --out-dir (finished ones are skipped)."),
    out_dir: Path | None = typer.Option(None, "--out-dir", show_default=False,
                                        help="Folder of the --seeds videos (<mode>-seed<S>.<format>); on a Ray cluster "
                                             "a folder every node sees."),
    format: str = typer.Option("mp4", "--format", help="--seeds videos: mp4, webm or gif."),
    ray: str | None = typer.Option(None, "--ray", metavar="auto|ADDRESS", show_default=False,
                                   help="Render the --seeds videos on a Ray cluster: 'auto' (a running one, else "
                                        "local) or its address (ray://host:10001)."),
    workers: int | None = typer.Option(None, "--workers", show_default=False, help="Ray actors (default: one per CPU)."),
) -> None:
    """Render a seeded, reproducible walk through the latent space (or one per seed with --seeds)."""
    from facereel.commands._latent import build, run
    from facereel.commands._ui import fail, out
    from facereel.options.walk import WalkOptions
    from facereel.pipelines.latent import render_walk

    if (seeds is None) != (out_dir is None):
        fail("--seeds and --out-dir go together (one video per seed into the folder)")
    if seeds is None and (ray is not None or workers is not None):
        fail("--ray and --workers apply to --seeds ... --out-dir")
    opts = build(WalkOptions, FLAGS, mode=mode, generator=generator, seed=seed, frames=frames, keypoints=keypoints,
                 loop_space=loop_space, even=even, psi=psi, fps=fps, size=size, batch=batch, output=str(output),
                 device=device)
    if seeds is not None:
        _walks(opts, seeds, out_dir, format, ray, workers)
        return
    r = run(render_walk, opts, f"{mode} walk", str(output))
    out.print(f"{r['output']} ({r['frames']} frames, {mode} walk, seed {seed}, {r['generator']})", highlight=False)


def _walks(opts, seeds: str, out_dir: Path, format: str, ray: str | None, workers: int | None) -> None:
    from facereel.commands._latent import build, run
    from facereel.commands._ui import fail, out
    from facereel.core.errors import OptionsError
    from facereel.options.batch import BatchOptions, BatchRenderOptions, parse_seeds
    from facereel.pipelines.latent import render_walks

    try:
        seed_list = parse_seeds(seeds)
    except OptionsError as exc:
        fail(exc.message_for(FLAGS))
    render = build(BatchRenderOptions, FLAGS, out_dir=str(out_dir), format=format, seeds=seed_list)
    # one video per Ray batch: a lost worker costs one video
    bo = build(BatchOptions, FLAGS, ray=ray, batch_size=1, workers=workers)
    try:
        rep = run(lambda o, progress: render_walks(o, render, bo, progress=progress), opts,
                  f"{opts.mode} walks", str(out_dir / "probe.mp4"))
    except KeyboardInterrupt:
        fail(f"interrupted; the finished videos are kept in {out_dir}: rerun to continue", code=130)
    for key, reason in rep.errors:
        out.print(f"[red]failed[/] {key}: {reason}", highlight=False)
    out.print(f"{out_dir}: {rep.computed - len(rep.errors)} walks rendered, {rep.done_before} already there, "
              f"{len(rep.errors)} failed ({rep.backend})", highlight=False)
    if rep.errors:
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    app.command("walk")(walk)
