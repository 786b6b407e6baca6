"""The photo-collection manifest: what ``facereel analyze`` found, in a JSON file a person can edit.

Every later command (``timelapse``, the web app, ...) reads the collection back from this file,
so hand edits are honoured everywhere: change a photo's ``age``, its ``order`` or set
``"excluded": true`` and the next command follows.

File format (version 1)
=======================

A UTF-8 JSON object::

    {
      "version": 1,                       # MANIFEST_VERSION; other versions are refused
      "created": "2026-11-22T05:10:00+00:00",
      "settings": {...},                  # how the analysis ran (detector, landmarks, size,
                                          #   thresholds, inferred birth date, ...); informative
      "reference": "ref.jpg" | null,      # --reference photo, if any
      "birth_date": "1961-08-04" | null,  # --birth-date: dates become real ages
      "photos": [ <photo>, ... ]
    }

Each ``<photo>`` object (fields of :class:`PhotoEntry`):

``path``
    The photo file.  Relative paths are resolved against the manifest's folder (photos inside
    that folder are written relative, so the folder can be moved as a whole).
``sha256``
    Of the file bytes (keys the aligned-crop cache).  ``null`` when unreadable.
``date``
    When the photo was taken, ISO 8601 (``2004-07-27T20:00:00``), or ``null``.
``date_source``
    Where ``date`` came from: ``exif`` (``DateTimeOriginal``), ``video`` (a video frame: the
    container's creation time plus the frame's timestamp), ``start_date`` (a video frame: the
    user's start date plus its timestamp, or its share of the start–end range), ``file`` (a video
    frame: the file's modification time), ``duplicate`` (copied from ``duplicate_of``), or ``null``.
``frame``, ``time``
    For a frame of a video (``path`` is the video, or a folder of frames): its index in the
    video and its timestamp in seconds.  ``null`` for photos.
``width``, ``height``
    Pixel size after the EXIF orientation was applied.
``faces``
    Every detected face: ``{"box": [left, top, right, bottom], "score": s, "too_small": bool}``
    plus ``"distance"``, its dlib descriptor distance to the target person when known.
``chosen``
    Index into ``faces`` of the target person's face, or ``null``.
``landmarks``, ``landmarks_kind``
    The chosen face's landmarks in photo pixels: 478 MediaPipe points or 68 dlib points.
``landmarks5``
    dlib's 5 points of the chosen face (identity and age crops).
``quad``
    The FFHQ alignment quad of the chosen face, 4 (x, y) corners in photo pixels: top-left,
    bottom-left, bottom-right, top-right.  Aligned crops are re-made from it.
``age_estimated``, ``gender_female``
    The age net's expected age and probability of female.
``age``
    The age used for age timing and age-conditioned edits: the real age when the date and the
    birth date are known, else the photo's own estimate (which never depends on the other photos
    of the collection).  **Edit it freely.**
``age_source``
    Where ``age`` came from: ``birth_date`` (birth date + photo date), ``estimate``
    (``age_estimated``) or ``user`` (set by hand: an age that differs from what its source says
    is marked ``user`` when the manifest is read).
``pose``
    ``{"yaw": deg, "pitch": deg, "roll": deg}``; ``blendshapes``: MediaPipe's 52 scores.
``descriptor``
    dlib's 128-D identity descriptor of the chosen face.
``flags``
    Recommendations, never deletions: ``other_person`` (far from the collection's median
    face), ``duplicate`` (near-identical to ``duplicate_of``), ``no_face``,
    ``face_too_small``, ``unreadable`` (see ``error``).  Flagged photos are skipped unless a
    command is asked to keep them; delete a flag to keep that photo.
``duplicate_of``
    Path of the copy that is kept; ``duplicate_reason``: why that copy was kept.
    ``other_distance``: distance to the median descriptor.
``excluded``
    ``true`` to leave the photo out (the user's choice).  **Edit it freely.**
``order``
    Position in the sequence: by date; undated photos at birth date + age on the same axis
    (the birth date given, else ``settings["birth_date_inferred"]``), else by age, else by file
    name.  **Edit it freely**; commands sort usable photos by it (ties by path).  Editing ``age``
    alone does not move a photo: change ``order`` too, or call :meth:`Manifest.reorder`.
``error``
    Why the photo could not be used, one line.

Unknown keys are ignored, missing optional keys take their defaults, so older and hand-written
manifests keep working.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facereel.core.atomic import write_text
from facereel.core.errors import FacereelError

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1

FLAGS = ("other_person", "duplicate", "no_face", "face_too_small", "unreadable")
AGE_SOURCES = ("birth_date", "estimate", "user")

_REASONS = {
    "unreadable": "unreadable",
    "no_face": "no face found",
    "face_too_small": "face too small",
    "other_person": "probably another person",
    "duplicate": "duplicate",
}


class ManifestError(FacereelError, ValueError):
    """A manifest file that cannot be read: missing, not JSON, unknown version, wrong types."""


@dataclass
class PhotoEntry:
    path: str
    sha256: str | None = None
    date: str | None = None
    date_source: str | None = None
    frame: int | None = None
    time: float | None = None
    faces: list[dict] = field(default_factory=list)
    chosen: int | None = None
    landmarks: list[list[float]] | None = None
    landmarks_kind: str | None = None
    landmarks5: list[list[float]] | None = None
    quad: list[list[float]] | None = None
    age_estimated: float | None = None
    age: float | None = None
    age_source: str | None = None
    gender_female: float | None = None
    pose: dict | None = None
    blendshapes: dict | None = None
    flags: list[str] = field(default_factory=list)
    duplicate_of: str | None = None
    duplicate_reason: str | None = None
    other_distance: float | None = None
    excluded: bool = False
    order: int = 0
    error: str | None = None
    width: int | None = None
    height: int | None = None
    descriptor: list[float] | None = None

    @property
    def name(self) -> str:
        """The file name; ``video.mp4#120`` for frame 120 of a video."""
        name = Path(self.path).name
        return name if self.frame is None else f"{name}#{self.frame}"

    def usable(self, keep_flagged: bool = False) -> bool:
        """Has a chosen face with its quad, is not excluded and (unless ``keep_flagged``) unflagged.

        ``keep_flagged`` keeps duplicates, probable other people and too-small faces; photos
        without a chosen face or quad are never usable.
        """
        if self.excluded or self.chosen is None or self.quad is None:
            return False
        return keep_flagged or not self.flags

    def skip_reason(self, keep_flagged: bool = False) -> str | None:
        """One line saying why :meth:`usable` is false, or ``None`` when it is usable."""
        if self.usable(keep_flagged):
            return None
        if self.excluded:
            return "excluded by the user"
        if "unreadable" in self.flags:
            return f"unreadable: {self.error}" if self.error else "unreadable"
        if "no_face" in self.flags or not self.faces:
            return "no face found"
        if self.chosen is None or self.quad is None:
            if "face_too_small" in self.flags:
                return "face too small"
            return f"no usable face ({self.error})" if self.error else "no usable face"
        reasons = []
        for flag in self.flags:
            if flag == "duplicate" and self.duplicate_of:
                reasons.append(f"duplicate of {Path(self.duplicate_of).name}")
            elif flag == "other_person" and self.other_distance is not None:
                reasons.append(f"probably another person (distance {self.other_distance:.2f})")
            else:
                reasons.append(_REASONS.get(flag, flag))
        return "; ".join(reasons)


@dataclass
class Manifest:
    version: int = MANIFEST_VERSION
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    settings: dict = field(default_factory=dict)
    photos: list[PhotoEntry] = field(default_factory=list)
    reference: str | None = None
    birth_date: str | None = None

    def ordered(self, keep_flagged: bool = False) -> list[PhotoEntry]:
        """Usable photos sorted by ``order`` (ties by path)."""
        return sorted((p for p in self.photos if p.usable(keep_flagged)), key=lambda p: (p.order, p.path))

    def skipped(self, keep_flagged: bool = False) -> list[tuple[PhotoEntry, str]]:
        """Photos :meth:`ordered` leaves out, each with a one-line reason."""
        out = []
        for p in sorted(self.photos, key=lambda p: (p.order, p.path)):
            reason = p.skip_reason(keep_flagged)
            if reason is not None:
                out.append((p, reason))
        return out

    def by_path(self, path: str | os.PathLike) -> PhotoEntry | None:
        target = os.path.abspath(os.fspath(path))
        for p in self.photos:
            if os.path.abspath(p.path) == target:
                return p
        return None

    def reorder(self) -> None:
        """Recomputes ``order`` from the dates and ages (see ``order`` in the module docstring)."""
        born = self.birth_date or self.settings.get("birth_date_inferred")
        birth = _years(born) if born else None
        for i, p in enumerate(sorted(self.photos, key=lambda p: order_key(p, birth))):
            p.order = i

    def mark_user_ages(self) -> None:
        """Sets ``age_source = "user"`` where ``age`` differs from what its recorded source gives."""
        birth = _years(self.birth_date) if self.birth_date else None
        for p in self.photos:
            if p.age is None or p.age_source == "user":
                continue
            if p.age_source == "estimate":
                expected = p.age_estimated
            elif p.age_source == "birth_date":
                expected = _years(p.date) - birth if (p.date and birth is not None) else None
            else:
                continue
            if expected is None or abs(float(p.age) - float(expected)) > 0.01:
                p.age_source = "user"


def _years(value: str) -> float:
    """An ISO date as years on the proleptic Gregorian axis (365.2425-day years)."""
    d = datetime.fromisoformat(value)
    return (d.toordinal() + (d.hour * 3600 + d.minute * 60 + d.second) / 86400) / 365.2425


def order_key(p: PhotoEntry, birth: float | None = None) -> tuple:
    """Sort key.  With ``birth`` (years, :func:`_years`): one time axis, the date, else birth +
    age (a hand-set age, ``age_source`` "user", places a dated photo too).  Without: by age
    (dates break ties), then dated photos by date.  Then by name."""
    tail = (p.time or 0.0, Path(p.path).name, p.path)
    if birth is not None:
        if p.age is not None and (p.date is None or p.age_source == "user"):
            return (0, birth + float(p.age), p.date or "", *tail)
        if p.date is not None:
            return (0, _years(p.date), p.date, *tail)
    elif p.age is not None:
        return (0, float(p.age), p.date or "", *tail)
    elif p.date is not None:
        return (1, 0.0, p.date, *tail)
    return (2, 0.0, "", *tail)


# ----------------------------------------------------------------------------- (de)serialisation

_ENTRY_FIELDS = {f.name for f in fields(PhotoEntry)}


def _json_safe(value: Any) -> Any:
    """numpy scalars/arrays and NaN → plain JSON values."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _rel(path: str | None, base: Path) -> str | None:
    """Photos inside the manifest's folder are written relative to it, others absolute."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_absolute():
        p = Path.cwd() / p
    p = Path(os.path.normpath(p))
    try:
        return p.relative_to(base).as_posix()
    except ValueError:
        return str(p)


def _resolve(path: str | None, base: Path) -> str | None:
    if path is None:
        return None
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else Path(os.path.normpath(base / p)))


def manifest_to_dict(manifest: Manifest, base: str | os.PathLike | None = None) -> dict:
    """The JSON object of a manifest; paths relative to ``base`` when inside it."""
    basep = Path(os.path.normpath(Path(base).absolute())) if base is not None else None
    conv = (lambda s: _rel(s, basep)) if basep is not None else (lambda s: s)
    photos = []
    for p in manifest.photos:
        d = asdict(p)
        d["path"] = conv(p.path)
        d["duplicate_of"] = conv(p.duplicate_of)
        photos.append(_json_safe(d))
    return {
        "version": manifest.version,
        "created": manifest.created,
        "settings": _json_safe(manifest.settings),
        "reference": conv(manifest.reference),
        "birth_date": manifest.birth_date,
        "photos": photos,
    }


def save_manifest(manifest: Manifest, path: str | os.PathLike) -> Path:
    """Writes ``manifest`` as JSON atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    folder = path.absolute().parent
    text = json.dumps(manifest_to_dict(manifest, folder), indent=2, ensure_ascii=False, allow_nan=False)
    return write_text(path, text + "\n")


def _check(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ManifestError(f"{where}: {msg}")


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _points(value: Any, where: str, name: str, n: int | None = None) -> list[list[float]] | None:
    if value is None:
        return None
    ok = isinstance(value, list) and all(
        isinstance(pt, list) and len(pt) == 2 and all(_is_num(c) for c in pt) for pt in value
    )
    _check(ok, where, f"'{name}' must be a list of [x, y] pairs")
    if n is not None:
        _check(len(value) == n, where, f"'{name}' must have {n} points, not {len(value)}")
    return [[float(c) for c in pt] for pt in value]


def entry_from_dict(d: Any, where: str = "photo", base: Path | None = None) -> PhotoEntry:
    """Validates one photo object (see the module docstring) into a :class:`PhotoEntry`."""
    _check(isinstance(d, dict), where, "must be a JSON object")
    _check(isinstance(d.get("path"), str) and d["path"] != "", where, "'path' must be a non-empty string")
    unknown = set(d) - _ENTRY_FIELDS
    if unknown:
        log.debug("%s: ignoring unknown keys %s", where, sorted(unknown))
    kw = {k: v for k, v in d.items() if k in _ENTRY_FIELDS}
    for key in ("sha256", "date", "date_source", "landmarks_kind", "duplicate_of", "duplicate_reason", "error",
                "age_source"):
        _check(kw.get(key) is None or isinstance(kw[key], str), where, f"'{key}' must be a string or null")
    _check(kw.get("age_source") in (None, *AGE_SOURCES), where,
           f"'age_source' must be one of {', '.join(AGE_SOURCES)} or null")
    for key in ("age_estimated", "age", "gender_female", "other_distance", "time"):
        _check(kw.get(key) is None or _is_num(kw[key]), where, f"'{key}' must be a number or null")
        if kw.get(key) is not None:
            kw[key] = float(kw[key])
    for key in ("width", "height", "frame"):
        _check(kw.get(key) is None or isinstance(kw[key], int), where, f"'{key}' must be an integer or null")
    if kw.get("date") is not None:
        try:
            datetime.fromisoformat(kw["date"])
        except ValueError:
            raise ManifestError(f"{where}: 'date' {kw['date']!r} is not ISO 8601 (YYYY-MM-DD[THH:MM:SS])") from None
    faces = kw.get("faces", [])
    _check(isinstance(faces, list), where, "'faces' must be a list")
    for i, face in enumerate(faces):
        ok = isinstance(face, dict) and isinstance(face.get("box"), list) and len(face["box"]) == 4 and all(
            _is_num(c) for c in face["box"]
        )
        _check(ok, where, f"faces[{i}] must be an object with 'box': [left, top, right, bottom]")
    kw["faces"] = faces
    chosen = kw.get("chosen")
    _check(chosen is None or (isinstance(chosen, int) and not isinstance(chosen, bool)), where,
           "'chosen' must be an integer or null")
    if chosen is not None:
        _check(0 <= chosen < len(faces), where, f"'chosen' = {chosen} is not an index into 'faces' ({len(faces)})")
    kw["landmarks"] = _points(kw.get("landmarks"), where, "landmarks")
    kw["landmarks5"] = _points(kw.get("landmarks5"), where, "landmarks5", 5)
    kw["quad"] = _points(kw.get("quad"), where, "quad", 4)
    for key in ("pose", "blendshapes"):
        _check(kw.get(key) is None or isinstance(kw[key], dict), where, f"'{key}' must be an object or null")
    desc = kw.get("descriptor")
    _check(desc is None or (isinstance(desc, list) and all(_is_num(c) for c in desc)), where,
           "'descriptor' must be a list of numbers or null")
    flags = kw.get("flags", [])
    _check(isinstance(flags, list) and all(isinstance(f, str) for f in flags), where, "'flags' must be a list of strings")
    bad = [f for f in flags if f not in FLAGS]
    _check(not bad, where, f"unknown flags {bad}; known: {', '.join(FLAGS)}")
    kw["flags"] = list(flags)
    _check(isinstance(kw.get("excluded", False), bool), where, "'excluded' must be true or false")
    order = kw.get("order", 0)
    _check(_is_num(order), where, "'order' must be a number")
    kw["order"] = int(order) if float(order).is_integer() else order  # fractional orders sort too
    if base is not None:
        kw["path"] = _resolve(kw["path"], base)
        kw["duplicate_of"] = _resolve(kw.get("duplicate_of"), base)
    if kw.get("age") is not None and kw.get("age_source") is None:
        kw["age_source"] = "user"  # an age written without a source: set by hand
    return PhotoEntry(**kw)


def manifest_from_dict(data: Any, base: str | os.PathLike | None = None, where: str = "manifest") -> Manifest:
    _check(isinstance(data, dict), where, "must be a JSON object")
    version = data.get("version")
    _check(version is not None, where, "no 'version' field: not a facereel manifest")
    _check(version == MANIFEST_VERSION, where,
           f"manifest version {version!r} is not supported (this facereel reads version {MANIFEST_VERSION})")
    photos = data.get("photos")
    _check(isinstance(photos, list), where, "'photos' must be a list")
    settings = data.get("settings", {}) or {}
    _check(isinstance(settings, dict), where, "'settings' must be an object")
    for key in ("reference", "birth_date", "created"):
        _check(data.get(key) is None or isinstance(data[key], str), where, f"'{key}' must be a string or null")
    if data.get("birth_date"):
        try:
            datetime.fromisoformat(data["birth_date"])
        except ValueError:
            raise ManifestError(f"{where}: 'birth_date' {data['birth_date']!r} is not ISO 8601 (YYYY-MM-DD)") from None
    basep = Path(base).absolute() if base is not None else None
    entries = [entry_from_dict(p, f"{where}: photos[{i}]", basep) for i, p in enumerate(photos)]
    manifest = Manifest(
        version=version,
        created=data.get("created") or "",
        settings=settings,
        photos=entries,
        reference=_resolve(data.get("reference"), basep) if basep is not None else data.get("reference"),
        birth_date=data.get("birth_date"),
    )
    manifest.mark_user_ages()
    return manifest


def load_manifest(path: str | os.PathLike) -> Manifest:
    """Reads and validates a manifest; relative paths are resolved against its folder.

    Raises :class:`ManifestError` with one clear line for a missing file, bad JSON, an unknown
    version or fields of the wrong type.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return manifest_from_dict(data, path.absolute().parent, where=str(path))
