"""``facereel timelapse`` (photos or a manifest → video) and ``facereel demo`` (the sample set)."""

from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path

import typer

from facereel.commands import _video


class _Engine(str, Enum):
    morph = "morph"
    crossfade = "crossfade"
    latent = "latent"


class _Timing(str, Enum):
    uniform = "uniform"
    age = "age"


class _Format(str, Enum):
    mp4 = "mp4"
    webm = "webm"
    gif = "gif"
    frames = "frames"


def register(app: typer.Typer) -> None:
    app.command("timelapse", no_args_is_help=True)(timelapse)
    app.command("demo")(demo)


def timelapse(
    inputs: list[Path] = typer.Argument(..., help="Photos, folders and/or videos, or one manifest (.json) from "
                                                   "`facereel analyze`.",
                                        show_default=False, metavar="PHOTOS_OR_MANIFEST..."),
    output: Path = typer.Option(..., "--output", "-o", help="Video file (.mp4, .webm, .gif) or a folder for PNG frames.",
                                show_default=False),
    engine: _Engine = typer.Option(
        _Engine.morph, "--engine", case_sensitive=False,
        help="morph (landmark morph), crossfade (pixel blend, the seed's baseline) or latent (StyleGAN "
             "inversion; the FFHQ StyleGAN checkpoints are NON-COMMERCIAL)."),
    frames: int = typer.Option(24, "--frames", min=1, help="Frames per gap between two photos (the mean gap with --timing age)."),
    timing: _Timing = typer.Option(_Timing.uniform, "--timing", case_sensitive=False,
                                   help="uniform, or age: frames per gap proportional to the age/date difference."),
    hold: int = typer.Option(0, "--hold", min=0, help="Extra still frames on each photo."),
    size: int = typer.Option(512, "--size", help="Frame size: 256, 512 or 1024."),
    fps: float = typer.Option(24.0, "--fps", help="Frames per second."),
    opacity: float = typer.Option(50.0, "--opacity", min=0.0, max=100.0,
                                  help="Peak opacity (%) of the real photo mixed into nearby in-between frames (seed Eq. 4-5)."),
    format: _Format | None = typer.Option(None, "--format", case_sensitive=False,
                                          help="Output format; by default from the output's suffix."),
    keep_flagged: bool = typer.Option(False, "--keep-flagged", help="Keep photos flagged as duplicates or other people."),
    stabilize: bool = typer.Option(False, "--stabilize", help="Smooth the face's position, scale and roll across photos."),
    generator: str | None = typer.Option(
        None, "--generator", help="--engine latent: generator weights name or checkpoint file (default: the offline "
                                  "DCGAN for optimize, the encoder's own decoder for psp/e4e/restyle/hybrid)."),
    method: str = typer.Option("optimize", "--method",
                               help="--engine latent: inversion method: optimize, psp, e4e, restyle or hybrid."),
    encoder: str | None = typer.Option(None, "--encoder",
                                       help="--engine latent: encoder weights name or .pt file for psp/e4e/restyle/hybrid."),
    steps: int = typer.Option(300, "--steps", min=1, help="--engine latent: optimisation steps (optimize/hybrid)."),
    interpolation: str | None = typer.Option(
        None, "--interpolation", help="--engine latent: linear (seed Eq. 2), slerp or spline (default: slerp for Z, "
                                      "spline for W+)."),
    blend: str = typer.Option("aligned", "--blend", help="--engine latent: keyframe blend: seed (Eq. 4-5 as is) or "
                                                         "aligned (keyframe warped onto the frame's landmarks first)."),
    every: int | None = _video.EVERY,
    interval: float | None = _video.INTERVAL,
    start_date: str | None = _video.START_DATE,
    end_date: str | None = _video.END_DATE,
    frame_folders: bool = _video.FRAME_FOLDERS,
    frame_rate: float = _video.FRAME_RATE,
) -> None:
    """Make a facial time-lapse video of one person from photos (or a manifest).

    Photos are analysed on the fly unless a manifest is given; duplicates and photos of other people are skipped (and listed) unless --keep-flagged. Keyframes are the aligned crops, shown exactly at their positions.

    --engine latent uses FFHQ StyleGAN weights, whose licences EXCLUDE COMMERCIAL USE.
    """
    from facereel.commands._ui import fail

    analyze_options = _analyze_options(every, interval, start_date, end_date, frame_folders, frame_rate)
    engine_kwargs = _latent_options(engine.value, generator=generator, method=method, encoder=encoder, steps=steps,
                                    interpolation=interpolation, blend=blend)
    try:
        result = _run_timelapse(inputs, output, engine=engine.value, frames=frames, timing=timing.value, hold=hold,
                                size=size, fps=fps, opacity=opacity / 100.0,
                                format=format.value if format else None, keep_flagged=keep_flagged,
                                stabilize=stabilize, engine_kwargs=engine_kwargs, analyze_options=analyze_options)
    except KeyboardInterrupt:
        fail("interrupted; no video was written", code=130)
    _summary(result)


def _analyze_options(*sampling):
    """The analysis options of photo and video inputs (sampling flags), checked before any work."""
    from facereel.commands._ui import fail
    from facereel.core.errors import OptionsError
    from facereel.options.analyze import AnalyzeOptions

    try:
        return AnalyzeOptions(**_video.sampling_fields(*sampling)).validate()
    except OptionsError as exc:
        fail(_video.options_message(exc))


def _latent_options(engine: str, *, generator, method, encoder, steps, interpolation, blend) -> dict | None:
    """The latent engine's keyword arguments, checked before any work (one-line errors)."""
    from facereel.commands._ui import fail

    given = [f"--{n}" for n, v in (("generator", generator), ("encoder", encoder), ("interpolation", interpolation))
             if v is not None] + (["--method"] if method != "optimize" else []) + (["--blend"] if blend != "aligned" else [])
    if engine != "latent":
        if given:
            fail(f"{', '.join(given)} only apply to --engine latent")
        return None
    from facereel.inversion.api import METHODS
    from facereel.latent.interpolate import METHODS as PATHS

    if method not in METHODS:
        fail(f"unknown --method {method!r}; choose one of {', '.join(METHODS)}")
    if interpolation is not None and interpolation not in PATHS:
        fail(f"unknown --interpolation {interpolation!r}; choose one of {', '.join(PATHS)}")
    if blend not in ("seed", "aligned"):
        fail(f"unknown --blend {blend!r}; choose seed or aligned")
    if encoder is not None and method == "optimize":
        fail("--encoder needs --method psp, e4e, restyle or hybrid")
    if method != "optimize":  # a missing or bad encoder: one line before any work (the engine reuses it)
        from facereel.inversion.api import InversionError, InversionSettings, load_encoder

        try:
            load_encoder(InversionSettings(method=method, encoder=encoder))
        except InversionError as exc:
            fail(str(exc))
    return {"generator": generator, "method": method, "encoder": encoder, "steps": steps,
            "interpolation": interpolation, "blend": blend}


def _run_timelapse(inputs, output, *, engine, frames, timing, hold, size, fps, opacity, format, keep_flagged,
                   stabilize, writer_options=None, engine_kwargs=None, analyze_options=None):
    """Validates everything first, then analyses / prepares / renders with progress bars."""
    import time

    from facereel.commands._ui import console, fail, progress_bar
    from facereel.pipelines.timelapse import (
        TimelapseError,
        TimelapseResult,
        load_keyframes,
        plan_timelapse,
        validate_options,
    )
    from facereel.render.video import VideoError, check_output, open_writer

    t0 = time.perf_counter()
    try:
        out_path, fmt = check_output(output, format)
        validate_options(engine=engine, frames=frames, timing=timing, hold=hold, size=size, fps=fps, opacity=opacity)
        load_keyframes(inputs, size=size, keep_flagged=keep_flagged, check_only=True, analyze_options=analyze_options)
    except (TimelapseError, VideoError) as exc:
        fail(str(exc))
    # per-photo analysis warnings are summarised below; keep the analysis log quiet
    lib_log = logging.getLogger("facereel.pipelines.analyze")
    old_level = lib_log.level
    lib_log.setLevel(logging.ERROR)
    source = inputs
    try:
        if not (len(inputs) == 1 and Path(inputs[0]).suffix.lower() == ".json"):
            from facereel.pipelines.analyze import AnalyzeError, analysis_options, analyze_collection

            try:
                opts = analysis_options(analyze_options, size=size)
                with progress_bar("analysing photos") as progress:
                    source = analyze_collection(inputs, opts, progress=progress)
            except AnalyzeError as exc:
                fail(str(exc))
            _video.print_video_summary(source)
        with progress_bar("preparing keyframes") as progress:
            job = plan_timelapse(source, engine=engine, frames=frames, timing=timing, hold=hold, size=size, fps=fps,
                                 opacity=opacity, keep_flagged=keep_flagged, stabilize=stabilize,
                                 prepare_progress=progress, engine_kwargs=engine_kwargs)
    except TimelapseError as exc:
        fail(str(exc))
    except (OSError, RuntimeError, ValueError) as exc:  # a model that cannot be loaded, a photo that vanished
        fail(f"time-lapse failed: {exc}")
    finally:
        lib_log.setLevel(old_level)
    for path, reason in job.skipped:
        console.print(f"[yellow]skipped[/] {Path(path).name}: {reason}", highlight=False)
    if timing == "age" and job.timing != "age":
        console.print("[yellow]note[/] some photos have no age or date: used uniform timing", highlight=False)
    s = job.size
    try:
        with progress_bar(f"rendering ({engine})", total=len(job)) as progress, \
                open_writer(out_path, fmt, fps=fps, size=(s, s), **(writer_options or {})) as w:
            for f in job.frames(progress):
                w.write(f)
    except (VideoError, OSError) as exc:
        fail(f"could not write {out_path}: {exc}")
    except (RuntimeError, ValueError) as exc:  # the engine failed mid-way; nothing was left behind
        fail(f"rendering failed: {exc}")
    return TimelapseResult(
        path=out_path, format=fmt, frames=w.count, fps=float(fps), size=s, engine=engine, timing=job.timing,
        keyframe_indices=job.schedule.keyframe_indices, keyframes=[k.label for k in job.keyframes],
        skipped=job.skipped, gaps=list(job.schedule.gaps), seconds=time.perf_counter() - t0,
    ), job


def _summary(result_job) -> None:
    from facereel.commands._ui import out

    result, job = result_job
    out.print(
        f"wrote [bold]{result.path}[/] ({result.format}, {result.frames} frames, {result.size}x{result.size}, "
        f"{result.fps:g} fps, {result.frames / result.fps:.1f} s) from {len(result.keyframes)} photos "
        f"with the {result.engine} engine in {result.seconds:.1f} s",
        highlight=False,
    )


def demo(
    output_dir: Path = typer.Option(Path("demo_out"), "--output", "-o", help="Folder for the demo's files."),
    size: int = typer.Option(512, "--size", help="Frame size: 256, 512 or 1024."),
    frames: int = typer.Option(24, "--frames", min=1, help="Frames per gap."),
) -> None:
    """Run the whole job on the sample photos: analysis, a morph time-lapse MP4, a contact sheet.

    The sample set is three photos of one person plus one of another person, to show the other-person flag (that photo is skipped). Writes manifest.json, timelapse.mp4, contact_sheet.png and timelapse.json into the folder.
    """
    import json

    from facereel.commands._ui import console, fail, out, progress_bar
    from facereel.samples import OTHER_PERSON, SAME_PERSON, SamplesUnavailable, sample_path

    if size not in (256, 512, 1024):
        fail(f"--size must be 256, 512 or 1024, not {size}")
    try:
        photos = [sample_path(n) for n in (*SAME_PERSON, OTHER_PERSON)]
    except SamplesUnavailable as exc:
        fail(str(exc))
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create {output_dir}: {exc}")

    from facereel.core.atomic import write_text
    from facereel.manifest import save_manifest
    from facereel.pipelines.analyze import AnalyzeError, aligned_crop, analyze_collection

    lib_log = logging.getLogger("facereel.pipelines.analyze")
    old_level = lib_log.level
    lib_log.setLevel(logging.ERROR)
    try:
        with progress_bar("analysing sample photos", total=len(photos)) as progress:
            manifest = analyze_collection(photos, size=size, progress=progress)
    except AnalyzeError as exc:
        fail(str(exc))
    finally:
        lib_log.setLevel(old_level)
    manifest_path = save_manifest(manifest, output_dir / "manifest.json")

    video = output_dir / "timelapse.mp4"
    try:
        result, job = _run_timelapse([manifest_path], video, engine="morph", frames=frames, timing="uniform", hold=0,
                                     size=size, fps=24.0, opacity=0.5, format="mp4", keep_flagged=False,
                                     stabilize=False)
    except KeyboardInterrupt:
        fail("interrupted; no video was written", code=130)

    from facereel.render.contact_sheet import SheetItem, save_contact_sheet

    items = []
    for e in sorted(manifest.photos, key=lambda p: (p.order, p.path)):
        img = None
        if e.quad is not None:
            try:
                img = aligned_crop(e, size=size)
            except (OSError, ValueError):
                img = None
        lines = []
        if e.age is not None:
            lines.append(f"age {e.age:.1f}" + (f" (est. {e.age_estimated:.0f})" if e.age_estimated is not None
                                               and abs(e.age_estimated - e.age) >= 0.5 else ""))
        elif e.age_estimated is not None:
            lines.append(f"est. age {e.age_estimated:.0f}")
        if e.date:
            lines.append(str(e.date)[:10])
        reason = e.skip_reason(False)
        lines.append("skipped" if reason else "keyframe")
        items.append(SheetItem(image=img, title=e.name, lines=lines, flags=list(e.flags)))
    sheet = output_dir / "contact_sheet.png"
    save_contact_sheet(sheet, items, thumb=192,
                       title=f"facereel demo: {len(manifest.photos)} photos, {len(result.keyframes)} keyframes")
    summary = {
        "video": video.name, "frames": result.frames, "fps": result.fps, "size": result.size, "engine": result.engine,
        "keyframes": result.keyframes, "keyframe_indices": result.keyframe_indices, "gaps": result.gaps,
        "skipped": [{"photo": Path(p).name, "reason": r} for p, r in result.skipped], "manifest": manifest_path.name,
    }
    write_text(output_dir / "timelapse.json", json.dumps(summary, indent=2) + "\n")
    _summary((result, job))
    console.print(f"contact sheet: {sheet}", highlight=False)
    out.print(f"demo files in [bold]{output_dir}[/]: manifest.json, timelapse.mp4, contact_sheet.png, timelapse.json",
              highlight=False)
