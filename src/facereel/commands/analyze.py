"""``facereel analyze``: find the person in a photo collection and write the manifest."""

from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path

import typer

from facereel.commands import _video
from facereel.options.choices import DETECTORS, LANDMARKS, SIZE_MAX, SIZE_MIN

DEFAULT_MANIFEST = "facereel-manifest.json"

_Landmarks = Enum("_Landmarks", {c: c for c in LANDMARKS}, type=str)
_Detector = Enum("_Detector", {c: c for c in DETECTORS}, type=str)


def register(app: typer.Typer) -> None:
    app.command("analyze", no_args_is_help=True)(analyze)


def analyze(
    photos: list[Path] = typer.Argument(..., help="Photos, folders of photos (searched recursively) and/or videos.",
                                        show_default=False),
    output: Path = typer.Option(Path(DEFAULT_MANIFEST), "--output", "-o",
                                help="Where to write the JSON manifest (edit it by hand: age, order, excluded)."),
    reference: Path | None = typer.Option(None, "--reference", "-r",
                                          help="A photo of the person to follow (else: the face in most photos)."),
    birth_date: str | None = typer.Option(None, "--birth-date", "-b", metavar="YYYY-MM-DD",
                                          help="The person's birth date: photo dates become real ages."),
    size: int = typer.Option(
        512, "--size", help=f"Aligned crop size in pixels ({SIZE_MIN} to {SIZE_MAX}): recorded in the manifest as the "
                            "default frame size of `facereel timelapse`; faces smaller than it are named."),
    landmarks: _Landmarks = typer.Option(
        "mediapipe", "--landmarks",
        help="mediapipe (478 points, Apache-2.0) or dlib68 (dlib's 68-point model: its licence "
             "EXCLUDES COMMERCIAL USE).", case_sensitive=False),
    detector: _Detector = typer.Option("hog", "--detector", help="dlib HOG (fast) or CNN (mmod, slower).",
                                       case_sensitive=False),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON on stdout instead of a table."),
    every: int | None = _video.EVERY,
    interval: float | None = _video.INTERVAL,
    start_date: str | None = _video.START_DATE,
    end_date: str | None = _video.END_DATE,
    frame_folders: bool = _video.FRAME_FOLDERS,
    frame_rate: float = _video.FRAME_RATE,
) -> None:
    """Analyse a photo collection: faces, identity, age, duplicates, order -> a JSON manifest.

    The target person is the one in most photos (or --reference). Photos of probably someone else, duplicates, photos without a usable face and unreadable files are flagged, never deleted; edit the manifest to change any decision.

    Videos are sampled (--every K frames or --interval SECONDS): a frame's date is its timestamp after --start-date, the video's creation time or its file date; repeated, blurry and faceless frames are dropped.

    --landmarks dlib68 uses dlib's 68-point model, whose licence EXCLUDES COMMERCIAL USE.
    """
    from facereel.commands._ui import fail
    from facereel.core.errors import OptionsError
    from facereel.options.analyze import AnalyzeOptions

    if reference is not None and not reference.is_file():
        fail(f"reference photo {reference}: file not found")
    try:
        options = AnalyzeOptions(
            size=size, landmarks=landmarks.value, detector=detector.value,
            reference=None if reference is None else str(reference), birth_date=birth_date,
            **_video.sampling_fields(every, interval, start_date, end_date, frame_folders, frame_rate)).validate()
    except OptionsError as exc:
        fail(_video.options_message(exc))
    # Problems are printed as one line each below; keep the library's own log lines quiet.
    lib_log = logging.getLogger("facereel.pipelines.analyze")
    old_level = lib_log.level
    lib_log.setLevel(logging.ERROR)
    try:
        _analyze(photos, output, options, as_json)
    finally:
        lib_log.setLevel(old_level)


def _analyze(photos, output, options, as_json) -> None:
    import json

    from facereel.commands._ui import console, fail, out, progress_bar
    from facereel.manifest import ManifestError, manifest_to_dict, save_manifest
    from facereel.pipelines.analyze import AnalyzeError, analyze_collection, collect_photo_paths

    paths, problems = [], []
    for item in photos:  # one at a time, so that an empty folder among others is one line
        try:
            paths.extend(collect_photo_paths([item], frame_folders=options.frame_folders))
        except AnalyzeError as exc:
            problems.append(str(exc))
    if not paths:
        fail("; ".join(problems) or "no photos given")
    for problem in problems:
        console.print(f"[yellow]skipped[/] {problem}", highlight=False)
    try:
        with progress_bar("analysing photos", total=len(paths)) as progress:
            manifest = analyze_collection(paths, options, progress=progress)
    except AnalyzeError as exc:
        fail(str(exc))
    except (OSError, RuntimeError) as exc:  # a model file that cannot be found or loaded
        fail(f"analysis failed: {exc}")
    try:
        save_manifest(manifest, output)
    except (OSError, TypeError, ValueError, ManifestError) as exc:
        fail(f"cannot write {output}: {exc}")

    _video.print_video_summary(manifest)
    support = manifest.settings.get("target_support")
    if support and support[1] > 1 and support[0] * 2 <= support[1]:
        console.print(f"[yellow]note[/] no person is in most photos (the most frequent face is in {support[0]} "
                      f"of {support[1]}); use --reference PHOTO to choose whom to follow", highlight=False)
    ref = manifest.settings.get("reference_support")
    if ref and ref[0] * 2 <= ref[1]:
        console.print(f"[yellow]warning[/] the reference photo matches a face in only {ref[0]} of {ref[1]} photos; "
                      "the others are flagged as other people", highlight=False)
    usable = manifest.ordered()
    if as_json:
        out.print_json(json.dumps(manifest_to_dict(manifest, output.absolute().parent)))
    else:
        out.print(_table(manifest))
    for entry, reason in manifest.skipped():
        console.print(f"[yellow]skipped[/] {entry.name}: {reason}", highlight=False)
    from facereel.pipelines.timelapse import small_face_warning

    small = small_face_warning(usable, options.size)
    if small:
        console.print(f"[yellow]warning[/] {small} (--size)", highlight=False, soft_wrap=True)
    console.print(f"{len(usable)} of {len(manifest.photos)} photos usable; manifest written to {output}",
                  highlight=False)
    if not usable:
        fail("no usable photo of the person remains (see the reasons above)")


def _table(manifest):
    from rich.table import Table

    t = Table(title="facereel analyze", show_lines=False)
    t.add_column("#", justify="right")
    t.add_column("photo", overflow="fold")
    t.add_column("date", no_wrap=True)
    t.add_column("age", justify="right", no_wrap=True)
    t.add_column("flags", overflow="fold")
    t.add_column("chosen face", overflow="fold")
    for e in sorted(manifest.photos, key=lambda e: (e.order, e.path)):
        if e.chosen is not None:
            l, top, r, b = e.faces[e.chosen]["box"]
            face = f"{e.chosen + 1} of {len(e.faces)}, {r - l + 1}px at ({l},{top})"
        else:
            face = f"none of {len(e.faces)}" if e.faces else "-"
        age = "" if e.age is None else f"{e.age:.1f}"
        if e.age is not None and e.date is None:
            age += "?"
        flags = ", ".join(e.flags)
        if "duplicate" in e.flags and e.duplicate_of:
            flags = flags.replace("duplicate", f"duplicate of {Path(e.duplicate_of).name}")
        if e.excluded:
            flags = ", ".join(x for x in ("excluded", flags) if x)
        style = None if e.usable() else "dim"
        t.add_row(str(e.order), e.name, (e.date or "")[:10], age, flags or "ok", face, style=style)
    t.caption = "age: from the date (and birth date); '?' = estimated from the face"
    return t
