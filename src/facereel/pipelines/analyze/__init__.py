"""Analysis of a photo collection: who is the person, which photos to use, in which order.

:func:`analyze_collection` runs :func:`facereel.faces.analyze.analyze_faces` on every photo (and
on frames sampled from videos) and then decides, for the collection as a whole.  The rooms:

* :mod:`.inputs` — files, folders, videos; :class:`AnalyzeError`;
* :mod:`.photo` — the per-photo stage (read, detect, landmarks, identity, age);
* :mod:`.frames` — video files and frame folders sampled into photos (blurry, repeated and
  faceless frames dropped with reasons);
* :mod:`.identity` — the target person (vote or ``reference``), the chosen face, other people;
* :mod:`.duplicates` — near-identical photos and which copy to keep;
* :mod:`.ordering` — ages (and where each came from) and the order;
* :mod:`.crops` — the aligned-crop cache and :func:`load_aligned`, the one way from photos,
  videos or a manifest to aligned crops;
* :mod:`.collection` — the orchestration.
"""

from facereel.faces.align import align_from_quad  # re-exported: aligned_crop warps a stored quad
from facereel.pipelines.analyze.collection import analysis_options, analyze_collection
from facereel.pipelines.analyze.crops import AlignedFaces, TooFewPhotos, aligned_crop, load_aligned, resolve_manifest
from facereel.pipelines.analyze.duplicates import (
    DUPLICATE_DESCRIPTOR_DISTANCE,
    DUPLICATE_HASH_DISTANCE,
    DUPLICATE_PIXEL_DISTANCE,
    crop_distance,
)
from facereel.pipelines.analyze.identity import OTHER_PERSON_DISTANCE, SAME_PERSON_DISTANCE
from facereel.pipelines.analyze.inputs import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    AnalyzeError,
    collect_photo_paths,
    is_video,
)
from facereel.pipelines.analyze.photo import face_thumb

__all__ = [
    "DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "DUPLICATE_DESCRIPTOR_DISTANCE", "DUPLICATE_HASH_DISTANCE",
    "DUPLICATE_PIXEL_DISTANCE", "IMAGE_EXTENSIONS", "OTHER_PERSON_DISTANCE", "SAME_PERSON_DISTANCE",
    "AlignedFaces", "AnalyzeError", "TooFewPhotos", "align_from_quad", "aligned_crop", "analysis_options", "analyze_collection",
    "collect_photo_paths", "crop_distance", "face_thumb", "is_video", "load_aligned", "resolve_manifest",
]
