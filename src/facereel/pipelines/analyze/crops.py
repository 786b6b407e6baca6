"""Aligned face crops of a manifest's photos, cached on disk, and :func:`load_aligned`.

:func:`aligned_crop` makes one photo's FFHQ-aligned crop from its stored quad; crops are cached
as PNG in ``cache_dir("crops")`` keyed by the file's sha256 (and the frame, for a video), the
quad, the size and the recipe, so a hand-edited quad or a changed file makes a new crop.

:func:`load_aligned` is the one way from "photos, videos or a manifest" to aligned crops that
every command uses (time-lapse keyframes, inversion, evaluation).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facereel.core.atomic import atomic_path
from facereel.core.progress import Progress, report
from facereel.faces.align import align_from_quad
from facereel.manifest import Manifest, PhotoEntry
from facereel.options.analyze import AnalyzeOptions
from facereel.paths import cache_dir
from facereel.pipelines.analyze.inputs import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, AnalyzeError

log = logging.getLogger("facereel.pipelines.analyze")


def _crop_key(entry: PhotoEntry, size: int, recipe: str, fast: bool = False) -> str:
    quad = np.round(np.asarray(entry.quad, dtype=np.float64), 3).tolist()
    frame = "" if entry.frame is None else f"|frame {entry.frame}"
    raw = f"{entry.sha256}{frame}|{quad}|{size}|{recipe}{'|fast' if fast else ''}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


_digests: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, remembered per (path, size, mtime) for the process: a video's frames
    (and a photo asked for at several sizes) hash the file once."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _digests[key] = h.hexdigest()
    return _digests[key]


def _read_cached(path: Path, size: int) -> np.ndarray | None:
    from PIL import Image

    if not path.is_file():
        return None
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
    except OSError:
        log.debug("bad cached crop %s, remaking it", path)
        return None
    return arr if arr.shape == (size, size, 3) else None


def _store(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:  # concurrent readers see the old file or the whole new one
        Image.fromarray(img).save(tmp, format="PNG", compress_level=1)  # level 6 cost 0.2 s a 512 crop


def crop_cache_path(entry: PhotoEntry, size: int, recipe: str, digest: str | None = None, fast: bool = False) -> Path:
    digest = digest or entry.sha256
    key = _crop_key(PhotoEntry(path=entry.path, sha256=digest, quad=entry.quad, frame=entry.frame), size, recipe,
                    fast)
    return cache_dir("crops") / f"{key}.png"


def aligned_crop(entry: PhotoEntry, size: int = 512, recipe: str = "ffhq", *, rgb: np.ndarray | None = None,
                 fast: bool = False) -> np.ndarray:
    """The FFHQ-aligned crop ([S, S, 3] uint8) of a manifest photo's chosen face.

    Re-loads the photo (EXIF orientation applied; for a video entry, decodes its frame) unless
    ``rgb``, the photo's pixels, is given, and aligns it with the stored ``quad``.  ``fast``:
    the opt-in fast warp of :func:`~facereel.faces.align.align_from_quad` (pictures, not
    encoders; cached apart from the official crops).  Raises
    ``ValueError`` (:class:`~facereel.faces.types.ImageLoadError` for a missing or unreadable
    photo) when there is nothing to align.
    """
    from facereel.faces.io import load_image
    from facereel.faces.types import ImageLoadError

    if entry.quad is None:
        raise ValueError(f"{entry.path}: no chosen face to align")
    data = None
    try:
        if entry.frame is None and rgb is None:
            with open(entry.path, "rb") as f:  # read once: hashed here, decoded below on a cache miss
                data = f.read(DEFAULT_MAX_BYTES + 1)
            digest = hashlib.sha256(data).hexdigest()
        else:
            digest = file_sha256(entry.path)
    except OSError as exc:
        raise ImageLoadError(f"{entry.path}: cannot read ({exc.strerror or exc})") from None
    if entry.sha256 and digest != entry.sha256:
        log.warning("%s changed since it was analysed; aligning with the stored quad anyway", entry.path)
    fast = fast and recipe == "ffhq"
    cached = crop_cache_path(entry, size, recipe, digest, fast)
    hit = _read_cached(cached, size)
    if hit is not None:
        return hit
    if rgb is None:
        if entry.frame is not None:
            rgb = read_frame(entry)
        else:
            rgb = load_image(data, max_pixels=DEFAULT_MAX_PIXELS, max_bytes=DEFAULT_MAX_BYTES).rgb
    img = align_from_quad(rgb, np.asarray(entry.quad, dtype=np.float64), size=size, recipe=recipe, fast=fast).image
    _store(cached, img)
    return img


class TooFewPhotos(AnalyzeError):
    """Fewer usable photos than an operation needs (the message lists why photos were skipped)."""


def usable_photos(manifest: Manifest, keep_flagged: bool = False, min_photos: int = 1) -> list[PhotoEntry]:
    """The manifest's usable photos in order; fewer than ``min_photos`` is :class:`TooFewPhotos`."""
    entries = manifest.ordered(keep_flagged)
    if len(entries) < min_photos:
        skipped = manifest.skipped(keep_flagged)
        detail = "; ".join(f"{p.name}: {r}" for p, r in skipped)
        raise TooFewPhotos(
            f"needs at least {min_photos} usable photos, found {len(entries)}" + (f" (skipped {detail})" if detail else "")
            + ("" if keep_flagged or not skipped else "; --keep-flagged keeps flagged photos"))
    return entries


@dataclass
class AlignedFaces:
    """Aligned crops of a collection, in manifest order."""

    images: list[np.ndarray]                       # [S, S, 3] uint8 each
    entries: list[PhotoEntry]                      # the photo of each image
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)
    manifest: Manifest | None = None

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]


def _is_manifest_path(p: str | os.PathLike) -> bool:
    return Path(p).suffix.lower() == ".json"


def resolve_manifest(source, options: AnalyzeOptions | None = None, *, progress: Progress | None = None) -> Manifest:
    """A :class:`Manifest` from a Manifest, one manifest path (.json), or photos/videos/folders
    (analysed with ``options``).  Raises :class:`AnalyzeError` with one line."""
    from facereel.manifest import ManifestError, load_manifest

    if isinstance(source, Manifest):
        return source
    if isinstance(source, (str, os.PathLike)):
        source = [source]
    paths = [Path(p) for p in source] if source else []
    if not paths:
        raise AnalyzeError("no photos given")
    manifests = [p for p in paths if _is_manifest_path(p)]
    if manifests:
        if len(paths) != 1:
            raise AnalyzeError("give either one manifest (.json) or photos/folders, not both")
        try:
            return load_manifest(manifests[0])
        except ManifestError as exc:
            raise AnalyzeError(str(exc)) from None
    from facereel.pipelines.analyze import collection

    return collection.analyze_collection(paths, options, progress=progress)


#: crops made at once by :func:`load_aligned`
CROP_THREADS = 2


def load_aligned(
    source,
    options: AnalyzeOptions | None = None,
    *,
    size: int | None = None,
    keep_flagged: bool = False,
    min_photos: int = 1,
    skip_failed: bool = False,
    fast: bool = False,
    progress: Progress | None = None,
    analysis_progress: Progress | None = None,
) -> AlignedFaces:
    """Aligned crops of the usable photos of ``source`` (Manifest, manifest path, or photos,
    videos and folders, analysed with ``options``), in manifest order.

    ``size`` defaults to ``options.size`` (512); the recipe is ``options.recipe``.  Fewer than
    ``min_photos`` usable photos is :class:`TooFewPhotos`, listing why photos were skipped.
    A crop that cannot be made is an error, or with ``skip_failed`` one more skipped photo.
    Frames of one video are decoded in one pass, not one seek each.  ``fast``: the fast warp
    (:func:`aligned_crop`), for crops that are shown rather than encoded.
    """
    options = options or AnalyzeOptions()
    size = int(size or options.size)
    manifest = resolve_manifest(source, options, progress=analysis_progress)
    entries = usable_photos(manifest, keep_flagged, min_photos)
    skipped = [(p.path, reason) for p, reason in manifest.skipped(keep_flagged)]
    fast = fast and options.recipe == "ffhq"
    frames = _decode_video_frames(entries, size, options.recipe, fast)
    images, kept = [], []
    # Two crops at a time: JPEG decoding, Pillow's warp, OpenCV's blur, PNG encoding and the cache
    # file's fsync all release the GIL, so a second thread uses the second core.  Results are
    # taken in manifest order; every crop is computed exactly as one at a time would be.
    from concurrent.futures import ThreadPoolExecutor

    def crop(e: PhotoEntry) -> np.ndarray:
        return aligned_crop(e, size=size, recipe=options.recipe, rgb=frames.pop(id(e), None), fast=fast)

    pool = ThreadPoolExecutor(max_workers=CROP_THREADS)
    try:
        results = [(e, pool.submit(crop, e)) for e in entries]
    finally:
        pool.shutdown(wait=False)  # the queued crops still run; results are awaited below
    for n, (e, fut) in enumerate(results, 1):
        try:
            img = fut.result()
        except (OSError, ValueError) as exc:
            if not skip_failed:
                pool.shutdown(cancel_futures=True)
                raise AnalyzeError(f"{e.name}: cannot make the aligned crop ({exc})") from None
            skipped.append((e.path, f"cannot make the aligned crop ({exc})"))
            continue
        images.append(img)
        kept.append(e)
        report(progress, n, len(entries))
    return AlignedFaces(images=images, entries=kept, skipped=skipped, manifest=manifest)


def _decode_video_frames(entries: Sequence[PhotoEntry], size: int, recipe: str, fast: bool) -> dict[int, np.ndarray]:
    """{id(entry): frame pixels} for video entries whose crop is not cached yet.

    Holds only the frames of those entries (the ones being made into crops); the video is
    streamed once.
    """
    todo: dict[str, list[PhotoEntry]] = {}
    for e in entries:
        if e.frame is None or e.quad is None:
            continue
        try:
            if _read_cached(crop_cache_path(e, size, recipe, file_sha256(e.path), fast), size) is not None:
                continue
        except OSError:
            continue  # aligned_crop reports it
        todo.setdefault(e.path, []).append(e)
    if not todo:
        return {}
    out: dict[int, np.ndarray] = {}
    for path, es in todo.items():
        for e, rgb in read_frames_at(path, es):
            out[id(e)] = rgb
    return out


def read_frames_at(path: str | os.PathLike, entries: Sequence[PhotoEntry]) -> Iterator[tuple[PhotoEntry, np.ndarray]]:
    """(entry, [H, W, 3] uint8 frame) for video entries of ``path``, decoding the video once,
    in frame order; stops after the last one wanted."""
    want: dict[int, list[PhotoEntry]] = {}
    for e in entries:
        want.setdefault(int(e.frame), []).append(e)
    if not want:
        return
    last = max(want)
    from facereel.faces.types import ImageLoadError
    from facereel.pipelines.analyze.frames import _decoded

    try:
        for i, _t, frame in _decoded(Path(path)):
            if i in want:
                rgb = frame.to_ndarray(format="rgb24")
                for e in want.pop(i):
                    yield e, rgb
            if i >= last or not want:
                break
    except AnalyzeError as exc:
        raise ImageLoadError(str(exc)) from None
    if want:
        raise ImageLoadError(f"{Path(path).name}: frames {sorted(want)[:5]} are past the end of the video")


def read_frame(entry: PhotoEntry) -> np.ndarray:
    """The pixels of one video entry's frame."""
    for _e, rgb in read_frames_at(entry.path, [entry]):
        return rgb
    raise ValueError(f"{entry.name}: frame not found")
