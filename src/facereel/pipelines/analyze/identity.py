"""Whom the collection is of: the target person, the chosen face per photo, probable other people.

Target person
    With ``reference``: the identity of the largest face of that photo, which must match a face
    in the collection (within :data:`SAME_PERSON_DISTANCE`); a reference matched in only a
    minority of the photos is a warning.  Without: every face votes for the faces within
    :data:`SAME_PERSON_DISTANCE` of its dlib descriptor; the face found (within that distance)
    in the most photos defines the person.  In each photo the face nearest to that person is
    chosen; the other faces are listed in the manifest, not used.

Probable other people (:data:`OTHER_PERSON_DISTANCE`)
    The element-wise median of the chosen faces' descriptors (over the photos within
    :data:`SAME_PERSON_DISTANCE` of the target, duplicates left out; as the time-lapse seed does
    with ArcFace features) is a robust centre of the person: each photo's distance to it is
    stored as ``other_distance`` and photos beyond the threshold are flagged ``other_person``.
    Flags are recommendations, never deletions.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facereel.options.analyze import AnalyzeOptions
from facereel.pipelines.analyze.inputs import AnalyzeError
from facereel.pipelines.analyze.photo import _Face, _Photo, _quad_side

log = logging.getLogger("facereel.pipelines.analyze")

#: dlib's own decision threshold for "same person" between two descriptors (its ResNet was
#: trained so that 0.6 separates identities; 99.38 % on LFW).  Used between single faces.
SAME_PERSON_DISTANCE = 0.6


#: Threshold on the distance of a chosen face to the element-wise median descriptor.
#: The median of one person's descriptors sits near the centre of that person's cluster, so
#: distances to it are smaller than pairwise ones: same-person pairs of dlib descriptors lie at
#: about 0.2–0.55 and different people at 0.65–0.9, which puts the same person at roughly
#: 0.15–0.4 from the median and other people at 0.6 and beyond.  Measured on the sample set
#: (HOG + MediaPipe + dlib 5-point chips): pairwise, obama's three photos are 0.32–0.43 apart
#: and 0.81–0.89 from biden and the astronaut; from the median of the obama photos, the obama
#: photos and their copies lie at 0.17–0.30, biden at 0.82 and the astronaut at 0.83.  0.5 sits
#: in the gap with room on both sides, and on the lenient side for the larger spread of a
#: time-lapse (childhood to old age moves descriptors further from the centre than lighting or
#: expression do); the flag is only a recommendation.
OTHER_PERSON_DISTANCE = 0.5


def _descriptor(f: _Face) -> np.ndarray | None:
    d = getattr(f.analysis, "descriptor", None)
    return None if d is None else np.asarray(d, dtype=np.float64)


def _candidates(photo: _Photo) -> list[int]:
    """Faces that may be chosen: with a descriptor and a quad; big enough ones first."""
    ok = [i for i, f in enumerate(photo.faces) if _descriptor(f) is not None and f.quad is not None]
    big = [i for i in ok if not photo.faces[i].analysis.detection.too_small]
    return big or ok


def _target_descriptor(photos: Sequence[_Photo], info: dict | None = None) -> np.ndarray | None:
    """The identity present in most photos: the face whose same-person neighbourhood
    (within :data:`SAME_PERSON_DISTANCE`) spans the most photos; its centre is the median of
    the nearest such face in each of those photos."""
    faces = [(pi, _descriptor(p.faces[i])) for pi, p in enumerate(photos) for i in _candidates(p)]
    if not faces:
        return None
    X = np.stack([d for _, d in faces])                     # [F, 128]
    owner = np.array([pi for pi, _ in faces])               # [F]
    sq = (X * X).sum(1)
    # [F, F] Euclidean distances via |a|² + |b|² - 2 a·b (no [F, F, 128] intermediate)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * X @ X.T, 0.0))
    best, best_key = 0, None
    for a in range(len(faces)):
        near = dist[a] < SAME_PERSON_DISTANCE
        support = len(set(owner[near].tolist()))
        key = (support, -float(dist[a][near].sum()))
        if best_key is None or key > best_key:
            best, best_key = a, key
    support = best_key[0]
    with_faces = len(set(owner.tolist()))
    if info is not None:
        info["target_support"] = [support, with_faces]
    if with_faces > 1 and support * 2 <= with_faces:
        log.warning("no person appears in most photos (the most frequent face is in %d of %d); "
                    "following the first such face; give a reference photo to choose", support, with_faces)
    members = []
    for pi in set(owner.tolist()):
        idx = np.flatnonzero((owner == pi) & (dist[best] < SAME_PERSON_DISTANCE))
        if len(idx):
            members.append(idx[np.argmin(dist[best][idx])])
    return np.median(X[members], axis=0)


def _reference_descriptor(path: str | os.PathLike, options: AnalyzeOptions) -> np.ndarray:
    from facereel.pipelines.analyze import photo as photo_stage

    photo = photo_stage.analyze_photo(Path(path), options=options)
    if "unreadable" in photo.entry.flags:
        raise AnalyzeError(f"reference photo {path}: {photo.entry.error}")
    cand = _candidates(photo)
    if not cand:
        raise AnalyzeError(f"reference photo {path}: no usable face found")
    i = max(cand, key=lambda i: _quad_side(photo.faces[i].quad))
    if len(cand) > 1:
        log.warning("reference photo %s has %d faces; using the largest", path, len(cand))
    return _descriptor(photo.faces[i])


def check_reference(photos: Sequence[_Photo], target: np.ndarray, reference: str | os.PathLike,
                    info: dict) -> None:
    """Raises :class:`AnalyzeError` when the reference matches no face of the collection (the
    message lists each photo's nearest distance); warns when it matches only a minority."""
    nearest: list[tuple[float, str]] = []
    for p in photos:
        ds = [float(np.linalg.norm(_descriptor(p.faces[i]) - target)) for i in _candidates(p)]
        if ds:
            nearest.append((min(ds), p.entry.name))
    if not nearest:
        return  # no faces at all: each photo is flagged on its own
    matched = sum(d < SAME_PERSON_DISTANCE for d, _ in nearest)
    info["reference_support"] = [matched, len(nearest)]
    if matched == 0:
        listed = ", ".join(f"{name} {d:.2f}" for d, name in sorted(nearest)[:12])
        more = f" and {len(nearest) - 12} more" if len(nearest) > 12 else ""
        raise AnalyzeError(
            f"the reference photo {Path(reference).name} matches no face in the collection (nearest "
            f"descriptor distances: {listed}{more}; the same person is below {SAME_PERSON_DISTANCE})")
    if matched * 2 <= len(nearest):
        log.warning("the reference photo %s matches a face in only %d of %d photos", Path(reference).name,
                    matched, len(nearest))


def _choose(photo: _Photo, target: np.ndarray | None) -> None:
    e = photo.entry
    if not photo.faces:
        return
    for f, d in zip(photo.faces, e.faces):
        desc = _descriptor(f)
        if desc is not None and target is not None:
            d["distance"] = round(float(np.linalg.norm(desc - target)), 4)
    cand = _candidates(photo)
    if not cand:
        if all(f.analysis.detection.too_small for f in photo.faces):
            e.flags.append("face_too_small")
            e.error = "every face is below the minimum size"
        else:
            e.flags.append("no_face")
            e.error = "faces found but no landmarks/descriptor"
        return
    if target is None:
        i = max(cand, key=lambda i: _quad_side(photo.faces[i].quad))
    else:
        i = min(cand, key=lambda i: float(np.linalg.norm(_descriptor(photo.faces[i]) - target)))
    f = photo.faces[i]
    fa = f.analysis
    e.chosen = i
    if fa.detection.too_small:
        e.flags.append("face_too_small")
    e.quad = f.quad.tolist()
    lm = fa.landmarks
    if lm is not None:
        e.landmarks = np.asarray(lm.points, dtype=np.float64).round(3).tolist()
        e.landmarks_kind = lm.kind
        if lm.yaw is not None or lm.pitch is not None or lm.roll is not None:
            e.pose = {k: (None if v is None else round(float(v), 3))
                      for k, v in (("yaw", lm.yaw), ("pitch", lm.pitch), ("roll", lm.roll))}
        if lm.blendshapes:
            e.blendshapes = {k: round(float(v), 5) for k, v in lm.blendshapes.items()}
    if fa.landmarks5 is not None:
        e.landmarks5 = np.asarray(fa.landmarks5, dtype=np.float64).round(3).tolist()
    if fa.age is not None:
        e.age_estimated = round(float(fa.age), 2)
    if fa.gender_female is not None:
        e.gender_female = round(float(fa.gender_female), 4)
    e.descriptor = [round(float(v), 6) for v in _descriptor(f)]

def _flag_other_people(photos: Sequence[_Photo], target: np.ndarray | None) -> np.ndarray | None:
    chosen = [p for p in photos if p.entry.chosen is not None]
    if not chosen:
        return None
    core = [p for p in chosen if "duplicate" not in p.entry.flags] or chosen
    if target is not None:
        # The median over the target person's photos only: other people (even 50 % of a small
        # collection) must not pull the centre towards themselves.
        near = [p for p in core
                if np.linalg.norm(np.asarray(p.entry.descriptor) - target) < SAME_PERSON_DISTANCE]
        core = near or core
    centre = np.median(np.stack([np.asarray(p.entry.descriptor) for p in core]), axis=0)
    for p in chosen:
        e = p.entry
        e.other_distance = round(float(np.linalg.norm(np.asarray(e.descriptor) - centre)), 4)
        if e.other_distance > OTHER_PERSON_DISTANCE:
            e.flags.append("other_person")
    return centre

