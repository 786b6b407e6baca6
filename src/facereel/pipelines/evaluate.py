"""Evaluate a rendered video against the manifest it was made from.

The manifest's kept photos become aligned crops at the video's frame size (the pipeline's job:
metrics take frames and crops only), then :func:`facereel.metrics.report.evaluate_video` finds
each crop's frame and measures the video.
"""

from __future__ import annotations

import os

import numpy as np

from facereel.metrics.report import EvaluateError
from facereel.metrics.report import evaluate_video as _evaluate_frames_of
from facereel.options.choices import SIZE_MAX, SIZE_MIN


def evaluate_video(video: str | os.PathLike, *, manifest=None, keyframes_every: int | None = None,
                   keep_flagged: bool = False, **kwargs) -> dict:
    """The report of ``video``; keyframes from ``manifest`` (a Manifest or its path) or every
    ``keyframes_every`` frames.  Other keywords go to :func:`facereel.metrics.report.evaluate_video`."""
    if (manifest is None) == (keyframes_every is None):
        raise EvaluateError("give either a manifest or keyframes_every")
    keyframes = None
    if manifest is not None:
        from facereel.metrics.video_io import probe_video

        keyframes = manifest_crops(manifest, probe_video(video), keep_flagged)
    return _evaluate_frames_of(video, keyframes=keyframes, keyframes_every=keyframes_every,
                               keep_flagged=keep_flagged, **kwargs)


def manifest_crops(manifest, info, keep_flagged: bool) -> tuple[list[np.ndarray], list[str]]:
    """(crops at the video's frame size, names) of the manifest's photos in order."""
    import cv2

    from facereel.manifest import Manifest, ManifestError, load_manifest

    if not isinstance(manifest, Manifest):
        try:
            manifest = load_manifest(manifest)
        except ManifestError as exc:
            raise EvaluateError(str(exc)) from None
    from facereel.pipelines.analyze import AnalyzeError, TooFewPhotos, load_aligned

    side = info.width if info.width == info.height and SIZE_MIN <= info.width <= SIZE_MAX else 256
    try:
        faces = load_aligned(manifest, size=side, keep_flagged=keep_flagged, min_photos=2)
    except TooFewPhotos:
        n = len(manifest.ordered(keep_flagged))
        raise EvaluateError(f"the manifest has {n} usable photo(s); at least 2 are needed") from None
    except AnalyzeError as exc:
        raise EvaluateError(str(exc)) from None
    crops = [c if (info.width, info.height) == (side, side)
             else cv2.resize(c, (info.width, info.height), interpolation=cv2.INTER_AREA) for c in faces.images]
    return crops, faces.names
