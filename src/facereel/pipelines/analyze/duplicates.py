"""Near-identical photos: the same shot resized, re-encoded, EXIF-rotated or cropped.

Duplicates are found on their aligned face crops, so that the geometry of the copy does not
matter: two photos are duplicates when the same person's faces, aligned by their FFHQ quads
(small grey thumbnails), match both in pixels (:data:`DUPLICATE_PIXEL_DISTANCE`) and in
perceptual hash (:data:`DUPLICATE_HASH_DISTANCE`).  Both are compared only where both photos
have real pixels (a crop that cuts into the face leaves padding in its aligned crop), after
re-registering the two thumbnails with SIFT matches and a RANSAC similarity (landmarks of a cut
face can be off by 10 % of the face).

The copy kept is the best-dated one (an EXIF date beats a date from anywhere else, which beats
none), then the one with the most face pixels (within 15 %), then image pixels, no EXIF
rotation, the bigger file, the name; each dropped copy records the kept one and why
(``duplicate_of``, ``duplicate_reason``).  Frames sampled from one video are not compared with
each other here (consecutive repeats are dropped while sampling, :mod:`.frames`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facereel.pipelines.analyze.identity import SAME_PERSON_DISTANCE, _descriptor
from facereel.pipelines.analyze.photo import _Face, _Photo, _quad_side

log = logging.getLogger("facereel.pipelines.analyze")

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

#: Matches needed (after RANSAC) to trust a feature registration of two thumbnails.
MIN_REGISTRATION_INLIERS = 12
#: Keypoints per thumbnail above which a failed registration means "different shots".
MIN_FEATURES = 30
_FACE_REGION = (0.2, 0.85, 0.2, 0.8)  # y0, y1, x0, x1 of the FFHQ crop holding the face


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


def _date_rank(p: _Photo) -> int:
    """2: an EXIF date, 1: a date from elsewhere (a video's timestamp, the user's start date,
    the file), 0: none.  Taken before a copy inherits the kept photo's date."""
    e = p.entry
    if e.date is None:
        return 0
    return 2 if e.date_source in (None, "exif") else 1


def _best_copy(photos: Sequence[_Photo], members: Sequence[int]) -> tuple[int, dict[int, str]]:
    """(the copy to keep, {dropped copy: why the kept one won}).

    The best-dated copy first (:func:`_date_rank`): the date puts the photo in its place in the
    time-lapse, and a copy often loses its EXIF.  Among those, the most face pixels (within
    15 %, landmarks jitter between copies), then the most image pixels, no EXIF rotation, the
    bigger file, the first name.
    """
    rank = {i: _date_rank(photos[i]) for i in members}
    top_rank = max(rank.values())
    dated = [i for i in members if rank[i] == top_rank]
    face = {i: _face_pixels(photos[i]) for i in members}
    top = max(face[i] for i in dated)
    near = [i for i in dated if face[i] >= 0.85 * top]

    def order(i: int) -> tuple:
        p = photos[i]
        e = p.entry
        return (-(e.width or 0) * (e.height or 0), p.orientation != 1, -p.file_bytes, e.name, e.path)

    keep = min(near, key=order)
    k = photos[keep]
    what = {2: "an EXIF date", 1: f"a date ({k.entry.date_source})", 0: "no date"}
    reasons = {}
    for i in members:
        if i == keep:
            continue
        p = photos[i]
        if rank[i] < rank[keep]:
            mine = "has none" if rank[i] == 0 else f"only a date from {p.entry.date_source}"
            why = f"it has {what[rank[keep]]}, this copy {mine}"
        elif face[i] < 0.85 * top:
            why = f"it shows the face larger ({face[keep]:.0f} px against {face[i]:.0f} px)"
        elif (p.entry.width or 0) * (p.entry.height or 0) < (k.entry.width or 0) * (k.entry.height or 0):
            why = f"it has more pixels ({k.entry.width}x{k.entry.height} against {p.entry.width}x{p.entry.height})"
        else:
            why = "it is as good and comes first (upright, bigger file, name)"
        reasons[i] = f"{k.entry.name} kept: {why}"
    return keep, reasons


def _same_video(a, b) -> bool:
    """Both entries are frames of one video file or one frame folder."""
    if a.time is None or b.time is None:
        return False
    if a.frame is not None or b.frame is not None:
        return a.path == b.path
    return Path(a.path).parent == Path(b.path).parent


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
            if _same_video(photos[i].entry, photos[j].entry):
                continue  # frames of one video: consecutive repeats were dropped while sampling
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
        keep, reasons = _best_copy(photos, members)
        kept = photos[keep].entry
        for i, why in reasons.items():
            e = photos[i].entry
            e.flags.append("duplicate")
            e.duplicate_of = kept.path
            e.duplicate_reason = why
            if e.date is None and kept.date is not None:  # the same moment: the copy lost its EXIF
                e.date, e.date_source = kept.date, "duplicate"
