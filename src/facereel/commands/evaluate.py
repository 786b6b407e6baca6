"""``facereel evaluate VIDEO --manifest M``: identity curve, ghosting and smoothness of a face video."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("evaluate", no_args_is_help=True)(evaluate)


def evaluate(
    video: Path = typer.Argument(..., help="The video (.mp4, .webm, .gif, …) or a folder of PNG frames.",
                                 show_default=False),
    manifest: Path | None = typer.Option(None, "--manifest", "-m", show_default=False,
                                         help="Manifest (.json) the video was made from: its aligned crops locate the keyframes."),
    every: int | None = typer.Option(None, "--keyframes-every", min=1, show_default=False,
                                     help="Instead of a manifest: keyframes at frames 0, N, 2N, … (videos of other tools)."),
    output: Path | None = typer.Option(None, "--output", "-o", show_default=False, help="Write the report as JSON here."),
    plot: Path | None = typer.Option(None, "--plot", show_default=False,
                                     help="Write the identity and ghosting curves as a PNG here."),
    keep_flagged: bool = typer.Option(False, "--keep-flagged", help="The video was made with --keep-flagged."),
    landmarks: str = typer.Option("mediapipe", "--landmarks", help="Landmarks for the jitter figure: mediapipe, dlib5 or none."),
    no_identity: bool = typer.Option(False, "--no-identity", help="Skip the dlib descriptors (identity curve, ACD): faster."),
) -> None:
    """Measure a face video: identity to the nearest keyframe (1 − dlib distance; the seed's Fig. 5.6), ghosting (double edges of both neighbouring photos; lower is better), frame differences, ACD and landmark jitter."""
    from facereel.commands._ui import console, fail, out

    if (manifest is None) == (every is None):
        fail("give --manifest (the manifest the video was made from) or --keyframes-every N")
    if landmarks not in ("mediapipe", "dlib5", "none"):
        fail(f"--landmarks must be mediapipe, dlib5 or none, not {landmarks!r}")
    if not video.exists():
        fail(f"{video} does not exist")
    if manifest is not None and not manifest.is_file():
        fail(f"manifest {manifest} does not exist")
    for target, what in ((output, "report"), (plot, "plot")):
        if target is not None:
            parent = target.expanduser().absolute().parent
            if not parent.is_dir():
                fail(f"cannot write the {what} to {target}: folder {parent} does not exist")
            if target.is_dir():
                fail(f"cannot write the {what} to {target}: it is a folder")
    if plot is not None and plot.suffix.lower() != ".png":
        fail(f"--plot must be a .png file, not {plot.name}")

    from facereel.core.atomic import write_text
    from facereel.metrics.report import EvaluateError, save_plot, summary, to_json
    from facereel.metrics.video_io import VideoReadError
    from facereel.pipelines.evaluate import evaluate_video

    lib_log = logging.getLogger("facereel.pipelines.analyze")
    old = lib_log.level
    lib_log.setLevel(logging.ERROR)
    try:
        with _two_bars() as (locate, measure):
            report = evaluate_video(video, manifest=manifest, keyframes_every=every, keep_flagged=keep_flagged,
                                    landmarks=None if landmarks == "none" else landmarks,
                                    identity=not no_identity, locate_progress=locate, progress=measure)
    except (EvaluateError, VideoReadError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    finally:
        lib_log.setLevel(old)

    report = to_json(report)
    if output is not None:
        try:
            write_text(output, json.dumps(report, indent=1) + "\n")
        except OSError as exc:
            fail(f"cannot write the report to {output} ({exc.strerror or exc})")
    if plot is not None:
        try:
            save_plot(report, plot, title=f"Identity along {video.name}")
        except OSError as exc:
            fail(f"cannot write the plot to {plot} ({exc.strerror or exc})")

    from rich.table import Table

    table = Table(title=f"{video.name}: {report['frames']} frames, keyframes at {report['keyframe_indices']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("note", style="dim")
    for row in summary(report):
        table.add_row(*row)
    out.print(table)
    if output is not None:
        console.print(f"report: {output}", highlight=False)
    if plot is not None:
        console.print(f"plot: {plot}", highlight=False)


def _two_bars():
    """One rich display with a bar per phase (rich allows one live display at a time)."""
    import contextlib

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from facereel.commands._ui import console

    @contextlib.contextmanager
    def bars():
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as prog:
            tasks = {}

            def callback(name):
                def cb(done, total):
                    if name not in tasks:
                        tasks[name] = prog.add_task(name, total=total)
                    prog.update(tasks[name], completed=done, total=total)
                return cb

            yield callback("locating keyframes"), callback("measuring frames")

    return bars()
