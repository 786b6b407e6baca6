"""Analysis of a photo collection: who is the person, which photos to use, in which order.

:func:`analyze_collection` runs :func:`facereel.faces.analyze.analyze_faces` on every photo and
then decides, for the collection as a whole:

Target person
    With ``reference``: the identity of the largest face of that photo.  Without: every face
    votes for the faces within :data:`SAME_PERSON_DISTANCE` of its dlib descriptor; the face
    found (within that distance) in the most photos defines the person.  In each photo the face
    nearest to that person is chosen; the other faces are listed in the manifest, not used.

Probable other people (:data:`OTHER_PERSON_DISTANCE`)
    The element-wise median of the chosen faces' descriptors (over the photos within
    :data:`SAME_PERSON_DISTANCE` of the target, duplicates left out; as the time-lapse seed does
    with ArcFace features) is a robust centre of the person: each photo's distance to it is stored as ``other_distance`` and photos beyond the
    threshold are flagged ``other_person``.  Flags are recommendations, never deletions.

Duplicates
    Near-identical photos (the same shot resized, re-encoded, EXIF-rotated or cropped) are
    found on their aligned face crops, so that the geometry of the copy does not matter: two
    photos are duplicates when the same person's faces, aligned by their FFHQ quads (small
    grey thumbnails), match both in pixels (:data:`DUPLICATE_PIXEL_DISTANCE`) and in
    perceptual hash (:data:`DUPLICATE_HASH_DISTANCE`).  Both are compared only where both
    photos have real pixels (a crop that cuts into the face leaves padding in its aligned
    crop), after re-registering the two thumbnails with SIFT matches and a RANSAC similarity
    (landmarks of a cut face can be off by 10 % of the face).  The copy with the most face
    pixels (then image pixels, no EXIF rotation, bigger file, name) is kept.

Order
    EXIF date, else estimated age, else file name.  With ``birth_date`` the dates become real
    ages.  Without it, but with some dated photos, the birth date is inferred as the median of
    (date − estimated age) over the dated photos, so dated and undated photos fall on one age
    axis (``settings["birth_date_inferred"]``).  ``age`` holds the age used; ``order`` the rank.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from facereel.core.atomic import atomic_path
from facereel.core.errors import FacereelError
from facereel.core.progress import Progress
from facereel.faces.align import align_from_quad  # re-exported: aligned_crop warps a stored quad
from facereel.manifest import Manifest, PhotoEntry, order_key
from facereel.paths import cache_dir

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif", ".avif"}
)

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

#: Mean absolute grey-level difference (0..255, each crop minus its mean) between two aligned
#: 160×160 face thumbnails over the pixels both photos really have, after re-registering them
#: (:func:`crop_distance`).  Measured on the sample set: the resized, EXIF-rotated and cropped
#: copies lie at 1.5–2.0 from their originals (JPEG re-encoding and resampling); every pair of
#: different shots at 21–64, the same person's different photos included.  8 leaves room for
#: heavier recompression and stays far below different shots.
DUPLICATE_PIXEL_DISTANCE = 8.0

#: Hamming distance between 64-bit perceptual hashes (imagehash.phash) of the same masked,
#: registered thumbnails.  Copies on the sample set: 0–2; different shots: 16–36.
DUPLICATE_HASH_DISTANCE = 10

#: Descriptor distance under which two faces may be duplicates at all (cheap pre-filter; a
#: copy is the same person by definition, cut faces move the descriptor by up to ~0.3).
DUPLICATE_DESCRIPTOR_DISTANCE = SAME_PERSON_DISTANCE

THUMB = 160  # aligned grey thumbnails for the duplicate test

#: Matches needed (after RANSAC) to trust a feature registration of two thumbnails.
MIN_REGISTRATION_INLIERS = 12
#: Keypoints per thumbnail above which a failed registration means "different shots".
MIN_FEATURES = 30
_FACE_REGION = (0.2, 0.85, 0.2, 0.8)  # y0, y1, x0, x1 of the FFHQ crop holding the face

DEFAULT_MAX_PIXELS = 80_000_000
DEFAULT_MAX_BYTES = 100 * 2**20


class AnalyzeError(FacereelError, ValueError):
    """An input problem that stops the analysis (no photos found, unusable reference)."""


# ----------------------------------------------------------------------------- inputs


def collect_photo_paths(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Photo files named by ``inputs``: files as given, folders searched for image extensions.

    Folders are searched recursively (hidden files and folders skipped) and their photos
    sorted by path; explicitly named files are kept in the given order even when their
    extension is unusual (they are judged when read).  Missing paths are kept too, so that the
    analysis reports them as unreadable next to the photos that work.  Raises
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


# ----------------------------------------------------------------------------- per photo


@dataclass
class _Face:
    analysis: object                     # FaceAnalysis
    quad: np.ndarray | None              # [4, 2]
    thumb: np.ndarray | None = None      # [T, T] uint8 grey aligned crop
    valid: np.ndarray | None = None      # [T, T] bool: pixels that came from the photo
    features: tuple | None = None        # SIFT ([K, 2] points, [K, 128] descriptors), lazily


@dataclass
class _Photo:
    entry: PhotoEntry
    faces: list[_Face] = field(default_factory=list)
    file_bytes: int = 0
    orientation: int = 1


def _quad_side(quad: np.ndarray) -> float:
    q = np.asarray(quad, dtype=np.float64)
    return float(np.hypot(*(q[3] - q[0])) + np.hypot(*(q[1] - q[0]))) / 2


def quad_affine(quad: np.ndarray, size: int) -> np.ndarray:
    """[2, 3] affine map from photo pixels to an ``size``² crop of the FFHQ ``quad``.

    The quad's top-left, bottom-left and top-right corners go to (0, 0), (0, S), (S, 0): the
    FFHQ quad is a square, so three corners fix it (pixel-centre convention of cv2/PIL aside).
    """
    import cv2

    q = np.asarray(quad, dtype=np.float32)
    src = np.stack([q[0], q[1], q[3]])
    dst = np.array([[0, 0], [0, size], [size, 0]], dtype=np.float32)
    return cv2.getAffineTransform(src, dst)


def face_thumb(rgb: np.ndarray, quad: np.ndarray, size: int = THUMB) -> tuple[np.ndarray, np.ndarray]:
    """Grey aligned crop of ``quad`` ([S, S] uint8) and the mask of pixels inside the photo.

    The photo is first shrunk with area averaging so that the warp never skips pixels; a
    resized copy of a photo then gives the same thumbnail as the original.
    """
    import cv2

    quad = np.asarray(quad, dtype=np.float64)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    scale = min(1.0, 1.5 * size / max(_quad_side(quad), 1.0))
    if scale < 1.0:
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        grey = cv2.resize(grey, (nw, nh), interpolation=cv2.INTER_AREA)
        sx, sy = nw / w, nh / h
        quad = quad * np.array([sx, sy])
    m = quad_affine(quad, size)
    thumb = cv2.warpAffine(grey, m, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ones = np.ones(grey.shape, np.uint8)
    valid = cv2.warpAffine(ones, m, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0)
    valid = cv2.erode(valid, np.ones((5, 5), np.uint8)) > 0  # drop the interpolated border
    return thumb, valid


def _face_dict(det) -> dict:
    box = [int(v) for v in det.box]
    return {"box": box, "score": round(float(det.score), 4), "too_small": bool(det.too_small)}


def _analysis_quad(fa) -> np.ndarray | None:
    """The FFHQ quad of a face: from its alignment, else from its landmarks (no warp needed)."""
    al = getattr(fa, "alignment", None)
    if al is not None and getattr(al, "quad", None) is not None:
        return np.asarray(al.quad, dtype=np.float64)
    if getattr(fa, "landmarks", None) is None:
        return None
    from facereel.faces.align import eye_mouth_points, ffhq_quad

    quad = ffhq_quad(*eye_mouth_points(fa.landmarks))
    return quad if np.all(np.isfinite(quad)) and _quad_side(quad) >= 1 else None


def _analyze_one(path: Path, *, detector: str, landmarks: str, size: int, recipe: str, min_size: int,
                 max_pixels: int, max_bytes: int, timings: dict[str, float] | None = None) -> _Photo:
    from facereel.faces.analyze import analyze_faces
    from facereel.faces.io import load_image
    from facereel.faces.types import ImageLoadError

    entry = PhotoEntry(path=str(Path(os.path.abspath(path))))
    photo = _Photo(entry=entry)
    t0 = time.perf_counter()
    try:
        loaded = load_image(path, max_pixels=max_pixels, max_bytes=max_bytes)
    except ImageLoadError as exc:
        entry.flags = ["unreadable"]
        entry.error = _strip_name(str(exc), path)
        return photo
    finally:
        _add_time(timings, "load", t0)
    rgb = loaded.rgb
    entry.sha256 = loaded.sha256
    entry.height, entry.width = int(rgb.shape[0]), int(rgb.shape[1])
    entry.date = loaded.exif_date.isoformat(timespec="seconds") if loaded.exif_date else None
    photo.orientation = int(loaded.orientation or 1)
    try:
        photo.file_bytes = path.stat().st_size
    except OSError:
        photo.file_bytes = 0
    # No warps here: the quad comes from the landmarks, aligned crops are made on demand
    # (aligned_crop, cached), and the duplicate test uses its own small thumbnails.
    faces = analyze_faces(rgb, detector=detector, landmarks=landmarks, size=size, recipe=recipe,
                          min_size=min_size, align=False, timings=timings)
    t0 = time.perf_counter()
    entry.faces = [_face_dict(fa.detection) for fa in faces]
    for fa in faces:
        quad = _analysis_quad(fa)
        f = _Face(analysis=fa, quad=quad)
        if quad is not None and fa.descriptor is not None:
            f.thumb, f.valid = face_thumb(rgb, quad)
        photo.faces.append(f)
    if not faces:
        entry.flags = ["no_face"]
    _add_time(timings, "thumbnails", t0)
    return photo


def _add_time(timings: dict[str, float] | None, stage: str, t0: float) -> None:
    if timings is not None:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0


def _strip_name(msg: str, path: Path) -> str:
    """ImageLoadError messages start with the path; the manifest already has it."""
    for prefix in (f"{path}: ", f"{os.path.abspath(path)}: "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


# ----------------------------------------------------------------------------- collection


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


def _reference_descriptor(path: str | os.PathLike, **kw) -> np.ndarray:
    photo = _analyze_one(Path(path), **kw)
    if "unreadable" in photo.entry.flags:
        raise AnalyzeError(f"reference photo {path}: {photo.entry.error}")
    cand = _candidates(photo)
    if not cand:
        raise AnalyzeError(f"reference photo {path}: no usable face found")
    i = max(cand, key=lambda i: _quad_side(photo.faces[i].quad))
    if len(cand) > 1:
        log.warning("reference photo %s has %d faces; using the largest", path, len(cand))
    return _descriptor(photo.faces[i])


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


def _region_mask(t: int) -> np.ndarray:
    y0, y1, x0, x1 = (round(v * t) for v in _FACE_REGION)
    region = np.zeros((t, t), bool)
    region[y0:y1, x0:x1] = True
    return region


def _features(f: _Face) -> tuple[np.ndarray, np.ndarray | None]:
    """SIFT keypoints ([K, 2] positions) and descriptors of a thumbnail, over its real pixels."""
    if f.features is None:
        sift = _sift()
        kps, des = sift.detectAndCompute(f.thumb, f.valid.astype(np.uint8) * 255)
        pts = np.float32([k.pt for k in kps]).reshape(-1, 2)
        f.features = (pts, des)
    return f.features


@functools.lru_cache(maxsize=1)
def _sift():
    import cv2

    return cv2.SIFT_create(nfeatures=150)


def _register(a: _Face, b: _Face) -> np.ndarray | None:
    """[2, 3] similarity mapping ``b``'s thumbnail onto ``a``'s, or ``None``.

    Landmarks on a face cut by the photo's edge can be off by 10 % of the face, so the two
    aligned crops of one shot do not line up on their own.  SIFT matches (Lowe's ratio test)
    and a RANSAC similarity fit re-register them; copies of one shot give dozens of inliers,
    two different shots a handful of chance matches.
    """
    import cv2

    pa_, da = _features(a)
    pb, db = _features(b)
    if da is None or db is None or len(pa_) < 2 or len(pb) < 2:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(db, da, k=2)
    good = [m for m, n in (x for x in pairs if len(x) == 2) if m.distance < 0.75 * n.distance]
    if len(good) < MIN_REGISTRATION_INLIERS:
        return None
    src = pb[[m.queryIdx for m in good]]
    dst = pa_[[m.trainIdx for m in good]]
    m, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0)
    if m is None or int(inliers.sum()) < MIN_REGISTRATION_INLIERS:
        return None
    return m


def _masked_distance(a: np.ndarray, av: np.ndarray, b: np.ndarray, bv: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean |difference| of two grey crops over the shared face region, each minus its mean."""
    m = _region_mask(a.shape[0]) & av & bv
    if m.sum() < _region_mask(a.shape[0]).sum() / 3:
        return np.inf, m
    fa, fb = a[m].astype(np.float32), b[m].astype(np.float32)
    # Exposure-neutral: a re-encoded or colour-corrected copy may shift the mean level.
    return float(np.abs((fa - fa.mean()) - (fb - fb.mean())).mean()), m


def crop_distance(a: _Face, b: _Face, shift: int = 3) -> tuple[float, int | None]:
    """(mean |grey difference|, phash Hamming distance) of two faces' aligned thumbnails.

    ``b`` is brought onto ``a`` by the best of: the feature registration (:func:`_register`)
    and integer shifts of up to ``shift`` pixels.  Both measures only look at the face region
    where both crops hold real photo pixels; ``(inf, None)`` when that overlap covers less
    than a third of the face region.
    """
    import cv2
    import imagehash
    from PIL import Image

    t = a.thumb.shape[0]
    candidates = []
    m = _register(a, b)
    if m is not None:
        bt = cv2.warpAffine(b.thumb, m, (t, t), flags=cv2.INTER_LINEAR)
        bv = cv2.warpAffine(b.valid.astype(np.uint8), m, (t, t), flags=cv2.INTER_NEAREST) > 0
        candidates.append((bt, bv))
    elif min(len(_features(a)[0]), len(_features(b)[0])) >= MIN_FEATURES:
        # Both faces are textured enough for SIFT, yet nothing matched: not one shot.  This
        # early exit keeps the pairwise test cheap (one descriptor match per pair).
        return np.inf, None
    shifts = range(-shift, shift + 1) if m is None else (0,)  # a registration needs no search
    for dy in shifts:
        for dx in shifts:
            candidates.append((np.roll(b.thumb, (dy, dx), axis=(0, 1)), np.roll(b.valid, (dy, dx), axis=(0, 1))))
    best, best_mask, best_b = np.inf, None, None
    for bt, bv in candidates:
        d, mask = _masked_distance(a.thumb, a.valid, bt, bv)
        if d < best:
            best, best_mask, best_b = d, mask, bt
    if best_b is None:
        return np.inf, None
    y0, y1, x0, x1 = (round(v * t) for v in _FACE_REGION)

    def phash(img: np.ndarray):
        fill = float(img[best_mask].mean())
        return imagehash.phash(Image.fromarray(np.where(best_mask, img, fill)[y0:y1, x0:x1].astype(np.uint8)))

    return best, int(phash(a.thumb) - phash(best_b))


def _face_pixels(p: _Photo) -> float:
    """Side of the chosen face's quad in photo pixels, times the square root of the share of
    the face region the photo really holds (a crop that cuts the face counts for less)."""
    e = p.entry
    if e.quad is None:
        return 0.0
    f = p.faces[e.chosen]
    share = 1.0
    if f.valid is not None:
        t = f.valid.shape[0]
        y0, y1, x0, x1 = (round(v * t) for v in _FACE_REGION)
        share = float(f.valid[y0:y1, x0:x1].mean())
    return _quad_side(np.asarray(e.quad)) * np.sqrt(share)


def _best_copy(photos: Sequence[_Photo], members: Sequence[int]) -> int:
    """The copy to keep: the most face pixels (within 15 %, landmarks jitter between copies),
    then the most image pixels, no EXIF rotation, the bigger file, the first name."""
    face = {i: _face_pixels(photos[i]) for i in members}
    top = max(face.values())
    near = [i for i in members if face[i] >= 0.85 * top]

    def rank(i: int) -> tuple:
        p = photos[i]
        e = p.entry
        return (-(e.width or 0) * (e.height or 0), p.orientation != 1, -p.file_bytes, e.name, e.path)

    return min(near, key=rank)


def _find_duplicates(photos: Sequence[_Photo]) -> None:
    idx = [i for i, p in enumerate(photos)
           if p.entry.chosen is not None and p.faces[p.entry.chosen].thumb is not None]
    parent = {i: i for i in idx}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for k, i in enumerate(idx):
        fi = photos[i].faces[photos[i].entry.chosen]
        for j in idx[k + 1:]:
            fj = photos[j].faces[photos[j].entry.chosen]
            if np.linalg.norm(_descriptor(fi) - _descriptor(fj)) > DUPLICATE_DESCRIPTOR_DISTANCE:
                continue
            pix, ham = crop_distance(fi, fj)
            log.debug("duplicate test %s vs %s: pixels %.2f, phash %s", photos[i].entry.name,
                      photos[j].entry.name, pix, ham)
            if ham is not None and pix <= DUPLICATE_PIXEL_DISTANCE and ham <= DUPLICATE_HASH_DISTANCE:
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in idx:
        groups.setdefault(find(i), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        keep = _best_copy(photos, members)
        for i in members:
            if i != keep:
                e = photos[i].entry
                e.flags.append("duplicate")
                e.duplicate_of = photos[keep].entry.path
                if e.date is None:  # a copy often loses its EXIF; it is the same moment
                    e.date = photos[keep].entry.date


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


def _years_between(born: datetime, when: datetime) -> float:
    return (when - born).total_seconds() / (365.2425 * 86400)


def _parse_date(value: str | Date | datetime | None, what: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, Date):
        return datetime(value.year, value.month, value.day)
    try:
        return datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise AnalyzeError(f"{what} {value!r} is not a date like 1990-05-17") from None


def _assign_ages_and_order(photos: Sequence[_Photo], birth: datetime | None, settings: dict) -> None:
    entries = [p.entry for p in photos]
    if birth is None:
        offsets = [datetime.fromisoformat(e.date) - timedelta(days=365.2425 * e.age_estimated)
                   for e in entries if e.date and e.age_estimated is not None and e.usable(keep_flagged=True)
                   and "other_person" not in e.flags]
        if offsets:
            ts = np.median([o.timestamp() for o in offsets])
            birth_guess = datetime.fromtimestamp(float(ts))
            settings["birth_date_inferred"] = birth_guess.date().isoformat()
            birth = birth_guess
    for e in entries:
        if e.date and birth is not None:
            e.age = round(_years_between(birth, datetime.fromisoformat(e.date)), 2)
        elif e.age_estimated is not None:
            e.age = e.age_estimated
    for i, e in enumerate(sorted(entries, key=order_key)):
        e.order = i


def analyze_collection(
    inputs: Sequence[str | os.PathLike],
    *,
    reference: str | os.PathLike | None = None,
    birth_date: str | Date | None = None,
    size: int = 512,
    landmarks: str = "mediapipe",
    detector: str = "hog",
    recipe: str = "ffhq",
    min_size: int = 48,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
) -> Manifest:
    """Analyses every photo in ``inputs`` (files and folders) into a :class:`Manifest`.

    Bad photos never stop the run: they are flagged (``unreadable``, ``no_face``,
    ``face_too_small``) with a one-line ``error`` and logged.  Raises :class:`AnalyzeError`
    only for problems with the request itself: nothing to analyse, a bad ``birth_date``, or a
    ``reference`` photo without a usable face.  ``landmarks="dlib68"`` uses dlib's 68-point
    model, whose licence excludes commercial use.  ``timings`` (optional dict) accumulates
    seconds per stage: load, the stages of ``analyze_faces``, thumbnails, collection.
    """
    if size not in (256, 512, 1024):
        raise AnalyzeError(f"size must be 256, 512 or 1024, not {size}")
    birth = _parse_date(birth_date, "birth date")
    paths = collect_photo_paths(inputs)
    kw = dict(detector=detector, landmarks=landmarks, size=size, recipe=recipe, min_size=min_size,
              max_pixels=max_pixels, max_bytes=max_bytes)
    ref_desc = _reference_descriptor(reference, **kw) if reference is not None else None
    photos: list[_Photo] = []
    total = len(paths)
    if progress:
        progress(0, total)
    for n, path in enumerate(paths, 1):
        try:
            photo = _analyze_one(path, timings=timings, **kw)
        except (MemoryError, KeyboardInterrupt):
            raise
        except Exception as exc:  # one broken photo must not end a long batch
            log.debug("analysis of %s failed", path, exc_info=True)
            photo = _Photo(entry=PhotoEntry(path=str(Path(os.path.abspath(path))), flags=["unreadable"],
                                            error=f"analysis failed ({type(exc).__name__}: {exc})"))
        photos.append(photo)
        if photo.entry.error:
            log.warning("%s: %s", path, photo.entry.error)
        elif "no_face" in photo.entry.flags:
            log.warning("%s: no face found", path)
        if progress:
            progress(n, total)

    t0 = time.perf_counter()
    info: dict = {}
    target = ref_desc if ref_desc is not None else _target_descriptor(photos, info)
    for p in photos:
        _choose(p, target)
    _find_duplicates(photos)
    _flag_other_people(photos, target)
    settings = {
        "detector": detector, "landmarks": landmarks, "size": size, "recipe": recipe, "min_size": min_size,
        "same_person_distance": SAME_PERSON_DISTANCE, "other_person_distance": OTHER_PERSON_DISTANCE,
        "duplicate_pixel_distance": DUPLICATE_PIXEL_DISTANCE, "duplicate_hash_distance": DUPLICATE_HASH_DISTANCE,
        **info,
    }
    _assign_ages_and_order(photos, birth, settings)
    _add_time(timings, "collection", t0)
    for p in photos:
        for flag in ("face_too_small", "no_face"):
            if flag in p.entry.flags and p.entry.chosen is None and not p.entry.error:
                p.entry.error = "no face found" if flag == "no_face" else "face too small"
    return Manifest(
        settings=settings,
        photos=photos_entries(photos),
        reference=str(Path(os.path.abspath(reference))) if reference is not None else None,
        birth_date=birth.date().isoformat() if birth is not None else None,
    )


def photos_entries(photos: Sequence[_Photo]) -> list[PhotoEntry]:
    return [p.entry for p in photos]


# ----------------------------------------------------------------------------- aligned crops


def _crop_key(entry: PhotoEntry, size: int, recipe: str) -> str:
    quad = np.round(np.asarray(entry.quad, dtype=np.float64), 3).tolist()
    raw = f"{entry.sha256}|{quad}|{size}|{recipe}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def _file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def aligned_crop(entry: PhotoEntry, size: int = 512, recipe: str = "ffhq") -> np.ndarray:
    """The FFHQ-aligned crop ([S, S, 3] uint8) of a manifest photo's chosen face.

    Re-loads the photo (EXIF orientation applied) and aligns it with the stored ``quad``.
    Crops are cached as PNG in ``cache_dir("crops")`` keyed by the file's current sha256, the
    quad, the size and the recipe, so a hand-edited quad or a changed file makes a new crop.
    Raises ``ValueError`` (:class:`~facereel.faces.types.ImageLoadError` for a missing or
    unreadable photo) when there is nothing to align.
    """
    from PIL import Image

    from facereel.faces.io import load_image
    from facereel.faces.types import ImageLoadError

    if entry.quad is None:
        raise ValueError(f"{entry.path}: no chosen face to align")
    try:
        digest = _file_sha256(entry.path)
    except OSError as exc:
        raise ImageLoadError(f"{entry.path}: cannot read ({exc.strerror or exc})") from None
    if entry.sha256 and digest != entry.sha256:
        log.warning("%s changed since it was analysed; aligning with the stored quad anyway", entry.path)
    key = _crop_key(PhotoEntry(path=entry.path, sha256=digest, quad=entry.quad), size, recipe)
    cached = cache_dir("crops") / f"{key}.png"
    if cached.is_file():
        try:
            with Image.open(cached) as im:
                arr = np.asarray(im.convert("RGB"))
            if arr.shape == (size, size, 3):
                return arr
        except OSError:
            log.debug("bad cached crop %s, remaking it", cached)
    loaded = load_image(entry.path, max_pixels=DEFAULT_MAX_PIXELS, max_bytes=DEFAULT_MAX_BYTES)
    img = align_from_quad(loaded.rgb, np.asarray(entry.quad, dtype=np.float64), size=size, recipe=recipe).image
    with atomic_path(cached) as tmp:  # concurrent readers see the old file or the whole new one
        Image.fromarray(img).save(tmp, format="PNG")
    return img
