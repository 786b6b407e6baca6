"""The video-sampling flags every command that takes photos shares (analyze, timelapse, invert).

Each command declares them with these defaults and turns them into
:class:`~facereel.options.analyze.AnalyzeOptions` fields with :func:`sampling_fields`.
"""

from __future__ import annotations

import typer

#: AnalyzeOptions field -> the flag a user typed (for error messages)
FLAGS = {"every": "--every", "interval": "--interval", "start_date": "--start-date", "end_date": "--end-date",
         "frame_folders": "--frame-folders", "frame_rate": "--frame-rate", "size": "--size",
         "birth_date": "--birth-date", "reference": "--reference", "landmarks": "--landmarks",
         "detector": "--detector"}

EVERY = typer.Option(None, "--every", min=1, show_default=False, rich_help_panel="Video input",
                     help="Videos: analyse one frame in K (default: one a second).")
INTERVAL = typer.Option(None, "--interval", min=0.001, show_default=False, rich_help_panel="Video input",
                        help="Videos: analyse one frame every SECONDS.")
START_DATE = typer.Option(None, "--start-date", metavar="YYYY-MM-DD", show_default=False,
                          rich_help_panel="Video input",
                          help="Videos: the date of the first frame; a frame's date is it plus the frame's timestamp "
                               "(default: the video's creation time, else its file date).")
END_DATE = typer.Option(None, "--end-date", metavar="YYYY-MM-DD", show_default=False, rich_help_panel="Video input",
                        help="Videos: with --start-date, the date of the last frame: the video's duration is spread "
                             "over the range (a photo-a-day video).")
FRAME_FOLDERS = typer.Option(False, "--frame-folders", rich_help_panel="Video input",
                             help="Read each folder as the frames of one video (images in name order).")
FRAME_RATE = typer.Option(25.0, "--frame-rate", min=0.001, rich_help_panel="Video input",
                          help="Frames per second of a folder of frames (their timestamps).")


def sampling_fields(every, interval, start_date, end_date, frame_folders, frame_rate) -> dict:
    return {"every": every, "interval": interval, "start_date": start_date, "end_date": end_date,
            "frame_folders": bool(frame_folders), "frame_rate": float(frame_rate)}


def options_message(exc) -> str:
    """An OptionsError's line with the field named as its flag."""
    return exc.message_for(FLAGS)


def print_video_summary(manifest) -> None:
    """One line per sampled video: frames sampled, kept, and why the others were dropped."""
    from facereel.commands._ui import console

    for v in manifest.settings.get("videos", []):
        reasons: dict[str, int] = {}
        for d in v.get("dropped", []):
            key = d["reason"].split(" (")[0].split(" frame")[0]
            reasons[key] = reasons.get(key, 0) + 1
        why = ", ".join(f"{n} {r}" for r, n in reasons.items())
        name = v["path"].rsplit("/", 1)[-1]
        console.print(f"[cyan]video[/] {name}: {v['sampled']} frames sampled, {v['kept']} kept"
                      + (f"; dropped {why}" if why else "") + f" (dates from {v.get('date_source') or 'nowhere'})",
                      highlight=False)
