"""``facereel timelapse`` (photos or a manifest → video) and ``facereel demo`` (the sample set).

The command builds :class:`~facereel.options.timelapse.TimelapseOptions` from its flags (opacity:
percent here, 0–1 in the library), words option errors in flags (:data:`FLAGS`) and calls
:func:`facereel.pipelines.timelapse.render_timelapse`.
"""

from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path

import typer

from facereel.commands import _video
from facereel.options.choices import ENGINES, SIZE_MAX, SIZE_MIN, TIMINGS, VIDEO_FORMATS

_Engine = Enum("_Engine", {c: c for c in ENGINES}, type=str)
_Timing = Enum("_Timing", {c: c for c in TIMINGS}, type=str)
_Format = Enum("_Format", {c: c for c in VIDEO_FORMATS}, type=str)

#: TimelapseOptions field → the flag that sets it
FLAGS = {
    "engine": "--engine", "frames_per_gap": "--frames", "timing": "--timing", "hold": "--hold", "size": "--size",
    "fps": "--fps", "opacity": "--opacity", "format": "--format", "keep_flagged": "--keep-flagged",
    "stabilize": "--stabilize", "latent.generator": "--generator", "latent.method": "--method",
    "latent.encoder": "--encoder", "latent.steps": "--steps", "latent.interpolation": "--interpolation",
    "latent.blend": "--blend", "extend_to": "--extend-to", "extend_direction": "--extend-direction",
}
DEFAULT_SIZE = 512


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
        "morph", "--engine", case_sensitive=False,
        help="morph (landmark morph), crossfade (pixel blend, the seed's baseline) or latent (StyleGAN "
             "inversion; the FFHQ StyleGAN checkpoints are NON-COMMERCIAL)."),
    frames: int = typer.Option(24, "--frames", min=1, help="Frames per gap between two photos (the mean gap with --timing age)."),
    timing: _Timing = typer.Option("uniform", "--timing", case_sensitive=False,
                                   help="uniform, or age: frames per gap proportional to the age/date difference."),
    hold: int = typer.Option(0, "--hold", min=0, help="Extra still frames on each photo."),
    size: int | None = typer.Option(
        None, "--size", show_default=False,
        help=f"Frame size in pixels, any whole number from {SIZE_MIN} to {SIZE_MAX} (default: the manifest's size "
             f"from `facereel analyze --size`, else {DEFAULT_SIZE})."),
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
    extend_to: str | None = typer.Option(None, "--extend-to", show_default=False,
                                         help="--engine latent: extend before the first and after the last photo "
                                              "to these ages, e.g. 5,80 (along --extend-direction)."),
    extend_direction: str | None = typer.Option(None, "--extend-direction", show_default=False,
                                                help="--engine latent: age direction for --extend-to: a file from "
                                                     "`facereel directions fit` or a name (e4e-age)."),
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
    from facereel.commands._ui import fail, options_failure
    from facereel.core.errors import OptionsError
    from facereel.options.analyze import AnalyzeOptions
    from facereel.options.timelapse import LatentOptions, TimelapseOptions

    try:
        analyze_options = AnalyzeOptions(
            **_video.sampling_fields(every, interval, start_date, end_date, frame_folders, frame_rate)).validate()
    except OptionsError as exc:
        fail(_video.options_message(exc))

    given = [f"--{n}" for n, v in (("generator", generator), ("encoder", encoder), ("interpolation", interpolation))
             if v is not None] + (["--method"] if method != "optimize" else []) + (["--blend"] if blend != "aligned" else [])
    if engine.value != "latent" and given:
        fail(f"{', '.join(given)} only apply to --engine latent")
    try:
        options = TimelapseOptions(
            engine=engine.value, frames_per_gap=frames, timing=timing.value, hold=hold,
            size=size if size is not None else _manifest_size(inputs), fps=fps, opacity=opacity / 100.0,
            format=format.value if format else None, keep_flagged=keep_flagged, stabilize=stabilize,
            latent=LatentOptions(generator=generator, method=method, encoder=encoder, steps=steps,
                                 interpolation=interpolation, blend=blend),
            extend_to=extend_to, extend_direction=extend_direction,
        ).validate()
    except OptionsError as exc:
        options_failure(exc, FLAGS)
    try:
        result = run_timelapse(inputs, output, options, analyze_options=analyze_options)
    except KeyboardInterrupt:
        fail("interrupted; no video was written", code=130)
    print_summary(result)


def _manifest_size(inputs: list[Path]) -> int:
    """The ``size`` a manifest was analysed for (``facereel analyze --size``), else the default."""
    if len(inputs) == 1 and inputs[0].suffix.lower() == ".json" and inputs[0].is_file():
        from facereel.manifest import ManifestError, load_manifest

        try:
            size = load_manifest(inputs[0]).settings.get("size")
        except ManifestError:
            return DEFAULT_SIZE          # the pipeline reports the bad manifest
        if isinstance(size, int) and SIZE_MIN <= size <= SIZE_MAX:
            return size
    return DEFAULT_SIZE


def run_timelapse(inputs, output, options, writer_options=None, analyze_options=None):
    """``render_timelapse`` with progress bars; one clear line (no traceback) for any failure."""
    from facereel.commands._ui import console, fail, staged_progress
    from facereel.core.errors import FacereelError
    from facereel.pipelines.timelapse import render_timelapse

    # per-photo analysis warnings are summarised by the skipped lines below; keep that log quiet
    lib_log = logging.getLogger("facereel.pipelines.analyze")
    old_level = lib_log.level
    lib_log.setLevel(logging.ERROR)
    try:
        with staged_progress() as stage:
            result = render_timelapse(inputs, output, options, analysis_progress=stage("analysing photos"),
                                      prepare_progress=stage("preparing keyframes"),
                                      progress=stage(f"rendering ({options.engine})"), writer_options=writer_options,
                                      analyze_options=analyze_options)
    except FacereelError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"could not write {output}: {exc}" if Path(getattr(exc, "filename", "") or "") == Path(output)
             else f"time-lapse failed: {exc}")
    except (RuntimeError, ValueError) as exc:  # a model that cannot be loaded, an engine that failed mid-way
        fail(f"time-lapse failed: {exc}")
    finally:
        lib_log.setLevel(old_level)
    if result.manifest is not None:
        _video.print_video_summary(result.manifest)
    for path, reason in result.skipped:
        console.print(f"[yellow]skipped[/] {Path(path).name}: {reason}", highlight=False)
    for line in result.warnings:
        console.print(f"[yellow]warning[/] {line}", highlight=False, soft_wrap=True)
    return result


def print_summary(result) -> None:
    from facereel.commands._ui import out

    out.print(
        f"wrote [bold]{result.path}[/] ({result.format}, {result.frames} frames, {result.size}x{result.size}, "
        f"{result.fps:g} fps, {result.frames / result.fps:.1f} s) from {len(result.keyframes)} photos "
        f"with the {result.engine} engine in {result.seconds:.1f} s",
        highlight=False,
    )


def demo(
    output_dir: Path = typer.Option(Path("demo_out"), "--output", "-o", help="Folder for the demo's files."),
    size: int = typer.Option(DEFAULT_SIZE, "--size", help=f"Frame size in pixels ({SIZE_MIN} to {SIZE_MAX})."),
    frames: int = typer.Option(24, "--frames", min=1, help="Frames per gap."),
) -> None:
    """Run the whole job on the sample photos: analysis, a morph time-lapse MP4, a contact sheet.

    The sample set is three photos of one person plus one of another person, to show the other-person flag (that photo is skipped). Writes manifest.json, timelapse.mp4, contact_sheet.png and timelapse.json into the folder.
    """
    import json

    from facereel.commands._ui import console, fail, options_failure, out, progress_bar
    from facereel.core.errors import OptionsError
    from facereel.options.analyze import AnalyzeOptions
    from facereel.options.timelapse import TimelapseOptions
    from facereel.samples import OTHER_PERSON, SAME_PERSON, SamplesUnavailable, sample_path

    try:
        options = TimelapseOptions(engine="morph", frames_per_gap=frames, size=size, format="mp4").validate()
    except OptionsError as exc:
        options_failure(exc, FLAGS)
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
            manifest = analyze_collection(photos, AnalyzeOptions(size=size).validate(), progress=progress)
    except AnalyzeError as exc:
        fail(str(exc))
    finally:
        lib_log.setLevel(old_level)
    manifest_path = save_manifest(manifest, output_dir / "manifest.json")

    video = output_dir / "timelapse.mp4"
    try:
        result = run_timelapse([manifest_path], video, options)
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
    print_summary(result)
    console.print(f"contact sheet: {sheet}", highlight=False)
    out.print(f"demo files in [bold]{output_dir}[/]: manifest.json, timelapse.mp4, contact_sheet.png, timelapse.json",
              highlight=False)
