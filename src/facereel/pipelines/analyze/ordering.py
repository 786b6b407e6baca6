"""Ages and order.

``age`` is a photo's own: with a birth date, the years from it to the photo's date (source
``birth_date``); else the age net's estimate for that face (source ``estimate``), which depends
on that photo alone.  A birth date after the date of a photo of the person is refused.

The order is one time axis: dated photos by date; undated ones at birth date + estimated age,
where the birth date is the one given or, without it, inferred as the median of (date −
estimated age) over the dated photos (``settings["birth_date_inferred"]``: it places undated
photos, it never changes an age); then by age, then by file name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from facereel.manifest import order_key
from facereel.pipelines.analyze.inputs import AnalyzeError
from facereel.pipelines.analyze.photo import _Photo


def _years_between(born: datetime, when: datetime) -> float:
    return (when - born).total_seconds() / (365.2425 * 86400)


def _axis_years(d: datetime) -> float:
    return (d.toordinal() + (d.hour * 3600 + d.minute * 60 + d.second) / 86400) / 365.2425


def _of_the_person(e) -> bool:
    return e.usable(keep_flagged=True) and "other_person" not in e.flags


def check_birth_date(photos: Sequence[_Photo], birth: datetime) -> None:
    """Raises :class:`AnalyzeError` naming the photos of the person dated before ``birth``."""
    early = sorted((e.date, e.name) for e in (p.entry for p in photos)
                   if e.date and _of_the_person(e) and datetime.fromisoformat(e.date) < birth)
    if early:
        named = ", ".join(f"{name} ({date[:10]})" for date, name in early[:5])
        more = f" and {len(early) - 5} more" if len(early) > 5 else ""
        raise AnalyzeError(f"the birth date {birth.date().isoformat()} is after the date of {named}{more}")


def infer_birth_date(entries: Sequence) -> datetime | None:
    """The median of (date − estimated age) over the dated photos of the person (manifest
    entries), or None when no photo has both."""
    offsets = [datetime.fromisoformat(e.date) - timedelta(days=365.2425 * e.age_estimated)
               for e in entries if e.date and e.age_estimated is not None and _of_the_person(e)]
    if not offsets:
        return None
    return datetime.fromtimestamp(float(np.median([o.timestamp() for o in offsets])))


def ages_from_dates(manifest) -> None:
    """Every dated photo's ``age`` on one time axis: years since the birth date (given, else
    :func:`infer_birth_date`, recorded as ``settings["birth_date_inferred"]``).  For front ends that
    order and show dated photos by date (the web page); ``analyze`` itself keeps estimates."""
    given = datetime.fromisoformat(manifest.birth_date) if manifest.birth_date else None
    born = given or infer_birth_date(manifest.photos)
    if born is None:
        return
    if given is None:
        manifest.settings["birth_date_inferred"] = born.date().isoformat()
    for e in manifest.photos:
        if e.date:
            e.age = round(_years_between(born, datetime.fromisoformat(e.date)), 2)


def _assign_ages_and_order(photos: Sequence[_Photo], birth: datetime | None, settings: dict) -> None:
    entries = [p.entry for p in photos]
    axis_birth = birth
    if birth is not None:
        check_birth_date(photos, birth)
    else:
        axis_birth = infer_birth_date(entries)
        if axis_birth is not None:
            settings["birth_date_inferred"] = axis_birth.date().isoformat()
    for e in entries:
        if e.date and birth is not None and "other_person" not in e.flags:
            e.age = round(_years_between(birth, datetime.fromisoformat(e.date)), 2)
            e.age_source = "birth_date"
        elif e.age_estimated is not None:
            e.age, e.age_source = e.age_estimated, "estimate"
    b = _axis_years(axis_birth) if axis_birth is not None else None
    for i, e in enumerate(sorted(entries, key=lambda e: order_key(e, b))):
        e.order = i
