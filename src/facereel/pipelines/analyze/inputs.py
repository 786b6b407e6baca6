"""What the analysis is given: photo files, folders of photos, videos and folders of frames."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from facereel.core.errors import FacereelError
from facereel.options.choices import IMAGE_SUFFIXES, VIDEO_SUFFIXES

log = logging.getLogger("facereel.pipelines.analyze")

IMAGE_EXTENSIONS = frozenset(IMAGE_SUFFIXES)
VIDEO_EXTENSIONS = frozenset(VIDEO_SUFFIXES)

DEFAULT_MAX_PIXELS = 80_000_000
DEFAULT_MAX_BYTES = 100 * 2**20


class AnalyzeError(FacereelError, ValueError):
    """An input problem that stops the analysis (no photos found, unusable reference, bad dates)."""


def is_video(path: str | os.PathLike) -> bool:
    """A video file by its suffix (its content is judged when it is read)."""
    p = Path(path)
    return p.suffix.lower() in VIDEO_EXTENSIONS and not p.is_dir()


def collect_photo_paths(inputs: Iterable[str | os.PathLike], *, frame_folders: bool = False) -> list[Path]:
    """Photo and video files named by ``inputs``: files as given, folders searched for image extensions.

    Folders are searched recursively (hidden files and folders skipped) and their photos
    sorted by path; explicitly named files are kept in the given order even when their
    extension is unusual (they are judged when read).  Missing paths are kept too, so that the
    analysis reports them as unreadable next to the photos that work.  With ``frame_folders``
    a folder is one item, the frames of a video (its images in name order).  Raises
    :class:`AnalyzeError` when nothing at all is found (e.g. only empty folders).
    """
    paths: list[Path] = []
    empty: list[str] = []
    for item in inputs:
        p = Path(item).expanduser()
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                empty.append(str(p))
                log.warning("%s: no photos in this folder (looked for %s)", p, ", ".join(sorted(IMAGE_EXTENSIONS)))
            elif frame_folders:
                paths.append(p)
                continue
            paths.extend(found)
        else:
            paths.append(p)
    seen: set[str] = set()
    unique = []
    for p in paths:
        key = os.path.abspath(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    if not unique:
        if empty:
            raise AnalyzeError(f"no photos found in {', '.join(empty)}")
        raise AnalyzeError("no photos given")
    return unique
