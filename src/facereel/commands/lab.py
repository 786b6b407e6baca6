"""``facereel lab linearity SOURCES... -o REPORT_DIR``: is ageing linear in the generator's latent space?"""

from __future__ import annotations

from pathlib import Path

import typer

from facereel.commands import _video

lab_app = typer.Typer(help="Analyses of latent paths (the ageing-linearity lab).", no_args_is_help=True)

FLAGS = {**_video.FLAGS, "pairs": "--pairs", "spans": "--spans", "span_tolerance": "--span-tolerance",
         "window": "--window", "direction": "--direction", "regression": "--regression", "alpha": "--alpha",
         "age_weight": "--age-weight", "components": "--components", "heldout_fraction": "--heldout",
         "people": "--people", "method": "--method", "generator": "--generator", "encoder": "--encoder",
         "steps": "--steps", "device": "--device", "ray": "--ray", "batch_size": "--batch-size",
         "workers": "--workers"}


def register(app: typer.Typer) -> None:
    app.add_typer(lab_app, name="lab")


@lab_app.command("linearity", no_args_is_help=True)
def linearity(
    sources: list[Path] = typer.Argument(..., metavar="SOURCES...", show_default=False,
                                         help="Photos, folders, videos, or one manifest (.json)."),
    output: Path = typer.Option(Path("lab_report"), "--output", "-o", help="Report folder (report.html, CSVs, "
                                "plots, latents; an interrupted run resumes from it)."),
    pairs: str | None = typer.Option(None, "--pairs", metavar="A:B,...", show_default=False,
                                     help="Start:end ages in years (default: youngest:oldest)."),
    spans: str | None = typer.Option(None, "--spans", metavar="Y,...", show_default=False,
                                     help="Spans in years for the all-pairs analysis (default: 1/4 and 1/2 of the range)."),
    span_tolerance: float = typer.Option(0.5, "--span-tolerance", help="Years a pair's span may differ from --spans."),
    window: int = typer.Option(1, "--window", help="Average this many consecutive latents (age order) first."),
    direction: str | None = typer.Option(None, "--direction", show_default=False,
                                         help="Age direction (.npy / .npz) used as the interpolator beside the line."),
    regression: str = typer.Option("ridge", "--regression", help="ridge, lasso or none."),
    alpha: float = typer.Option(10.0, "--alpha", help="Regression penalty."),
    age_weight: float = typer.Option(1.0, "--age-weight", help="Weight of the age inputs of the regression."),
    components: int = typer.Option(64, "--components", help="Principal components the regression works in."),
    heldout: float = typer.Option(0.2, "--heldout", help="Oldest share of the latents held out to test the regression."),
    people: bool = typer.Option(False, "--people", help="Each source is another person (leave-one-person-out)."),
    method: str = typer.Option("optimize", "--method", "-m", help="Inversion: optimize, psp, e4e, restyle or hybrid."),
    generator: str | None = typer.Option(None, "--generator", "-g", show_default=False,
                                         help="Generator (default dcgan-digiface for optimize; NON-COMMERCIAL weights)."),
    encoder: str | None = typer.Option(None, "--encoder", show_default=False, help="Encoder weights name or file."),
    steps: int = typer.Option(300, "--steps", help="Optimisation steps."),
    size: int = typer.Option(256, "--size", help="Aligned crop size (64-2048)."),
    birth_date: str | None = typer.Option(None, "--birth-date", metavar="YYYY-MM-DD", show_default=False,
                                          help="Ages from photo dates (else the age model's estimates)."),
    every: int | None = _video.EVERY,
    interval: float | None = _video.INTERVAL,
    start_date: str | None = _video.START_DATE,
    end_date: str | None = _video.END_DATE,
    frame_folders: bool = _video.FRAME_FOLDERS,
    frame_rate: float = _video.FRAME_RATE,
    ray: str | None = typer.Option(None, "--ray", metavar="auto|ADDRESS", show_default=False,
                                   help="Run the inversions on a Ray cluster: 'auto' (a running one, else local) "
                                        "or its address (ray://host:10001)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Items per batch (one batch is lost with a lost worker)."),
    workers: int | None = typer.Option(None, "--workers", show_default=False, help="Ray actors (default: one per CPU)."),
    device: str = typer.Option("auto", "--device", help="'auto', 'cpu' or 'cuda'."),
) -> None:
    """Measure how far straight lines (and an age direction) in latent space stay from a person's real latents."""
    from facereel.commands._ui import fail, out, progress_bar
    from facereel.core.errors import FacereelError, OptionsError
    from facereel.options.analyze import AnalyzeOptions
    from facereel.options.batch import BatchOptions
    from facereel.options.lab import LinearityOptions, parse_floats, parse_pairs

    try:
        opts = LinearityOptions(
            pairs=parse_pairs(pairs), spans=parse_floats("spans", spans), span_tolerance=span_tolerance,
            window=window, direction=direction, regression=None if regression == "none" else regression,
            alpha=alpha, age_weight=age_weight, components=components, heldout_fraction=heldout, people=people,
            size=size, method=method, generator=generator, encoder=encoder, steps=steps, device=device).validate()
        an = AnalyzeOptions(size=size, birth_date=birth_date,
                            **_video.sampling_fields(every, interval, start_date, end_date, frame_folders,
                                                     frame_rate)).validate()
        bo = BatchOptions(ray=ray, batch_size=batch_size, workers=workers).validate()
    except OptionsError as exc:
        fail(exc.message_for(FLAGS))
    for s in sources:
        if not s.exists():
            fail(f"{s} does not exist")
    if output.exists() and not output.is_dir():
        fail(f"{output} exists and is not a folder")

    from facereel.pipelines.lab import run_linearity

    try:
        # one bar: the analysis of the photos, then the inversions (rich allows one live display)
        with progress_bar(f"analysing, then inverting ({opts.method})") as bar:
            res = run_linearity(sources, output, opts, analyze=an, batch=bo, progress=bar, analysis_progress=bar)
    except FacereelError as exc:
        fail(f"{exc} (finished latents are kept in {output / 'latents'}; rerun to continue)"
             if (output / "latents").is_dir() else str(exc))
    except KeyboardInterrupt:
        fail(f"interrupted; the latents computed so far are kept in {output / 'latents'}: rerun to continue", code=130)
    d = res.data
    for p, reason in d.skipped:
        out.print(f"[yellow]skipped[/] {Path(str(p)).name}: {reason}", highlight=False)
    for p in res.pairs + res.direction_pairs:
        s = p.summary()
        out.print(f"{p.start_age:5.1f} -> {p.end_age:5.1f} y ({p.interpolator}): mean error {s['mean_error']:.4g} "
                  f"({100 * s['mean_relative']:.1f} % of the chord) over {s['n']} latents", highlight=False)
    if res.regression:
        r = res.regression
        out.print(f"regression ({r['kind']}): held-out error {r['mean_error']:.4g} against {r['baseline_error']:.4g} "
                  f"for no change (x{r['ratio']:.2f})", highlight=False)
    out.print(f"wrote [bold]{res.report}[/] ({len(d.latents)} latents of {d.generator}, ages "
              f"{d.ages.min():.1f}-{d.ages.max():.1f})", highlight=False)
