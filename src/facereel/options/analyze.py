"""Options of the collection analysis (``facereel analyze``, and every command that takes photos).

:class:`AnalyzeOptions` holds how faces are found and aligned, whom to follow, the birth date,
and how videos (and folders of frames) are sampled into photos.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

from facereel.core.errors import OptionsError
from facereel.options import Options, check_choice, check_float, check_int
from facereel.options.choices import ALIGN_RECIPES, DETECTORS, LANDMARKS, SIZE_MAX, SIZE_MIN


def parse_date(field: str, value: str | date | datetime | None) -> datetime | None:
    """``value`` as a datetime (``YYYY-MM-DD`` or ISO 8601 date-time); None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    try:
        return datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise OptionsError(field, f"{value!r} is not a date like 1990-05-17") from None


@dataclasses.dataclass(frozen=True)
class AnalyzeOptions(Options):
    """How a collection is analysed.

    Video sampling (videos, and folders of frames when ``frame_folders``): one frame in
    ``every`` frames, or one every ``interval`` seconds (neither: one a second).  A frame's date
    is its timestamp added to ``start_date`` (with ``end_date`` too, the video's duration is
    spread over that range: a photo-a-day video), else to the container's creation time, else
    the file's date.  ``frame_rate`` times the frames of a frame folder.
    """

    size: int = 512
    landmarks: str = "mediapipe"
    detector: str = "hog"
    recipe: str = "ffhq"
    min_size: int = 48
    reference: str | None = None
    birth_date: str | None = None
    max_pixels: int = 80_000_000
    max_bytes: int = 100 * 2**20
    every: int | None = None
    interval: float | None = None
    start_date: str | None = None
    end_date: str | None = None
    frame_folders: bool = False
    frame_rate: float = 25.0

    def validate(self) -> AnalyzeOptions:
        check_int("size", self.size, SIZE_MIN, SIZE_MAX)
        check_choice("landmarks", self.landmarks, LANDMARKS)
        check_choice("detector", self.detector, DETECTORS)
        check_choice("recipe", self.recipe, ALIGN_RECIPES)
        check_int("min_size", self.min_size, 1)
        check_int("max_pixels", self.max_pixels, 1)
        check_int("max_bytes", self.max_bytes, 1)
        parse_date("birth_date", self.birth_date)
        if self.every is not None:
            check_int("every", self.every, 1)
        if self.interval is not None:
            check_float("interval", self.interval, 0.0, lo_open=True)
        if self.every is not None and self.interval is not None:
            raise OptionsError("interval", "give either every or interval, not both")
        start = parse_date("start_date", self.start_date)
        end = parse_date("end_date", self.end_date)
        if end is not None and start is None:
            raise OptionsError("end_date", "needs start_date too")
        if start is not None and end is not None and end <= start:
            raise OptionsError("end_date", f"{self.end_date} is not after start_date {self.start_date}")
        check_float("frame_rate", self.frame_rate, 0.0, lo_open=True)
        return self
