"""Plain data returned by :mod:`facereel.faces` (numpy arrays, JSON-friendly via ``to_dict``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from facereel.core.errors import FacereelError


class ImageLoadError(FacereelError, ValueError):
    """A file that is not a readable image, or one refused by the size/pixel limits."""


@dataclass
class LoadedImage:
    rgb: np.ndarray                      # [H, W, 3] uint8, EXIF orientation applied
    path: str | None = None
    format: str | None = None            # "JPEG", "PNG", ...
    exif_date: datetime | None = None    # EXIF DateTimeOriginal (naive local time)
    orientation: int = 1                 # EXIF orientation tag that was applied (1 = none)
    sha256: str | None = None            # of the file bytes


@dataclass
class Detection:
    box: tuple[int, int, int, int]       # left, top, right, bottom in image pixels
    score: float
    too_small: bool = False              # below the minimum face size: reported, never dropped


@dataclass
class Landmarks:
    points: np.ndarray                   # [N, 2] float64 (x, y) in image pixels; N = 478 (MediaPipe) or 68 (dlib)
    kind: str                            # "mediapipe" | "dlib68"
    blendshapes: dict[str, float] = field(default_factory=dict)  # MediaPipe's 52 scores
    yaw: float | None = None             # degrees
    pitch: float | None = None
    roll: float | None = None
    pose_matrix: np.ndarray | None = None  # [4, 4] MediaPipe facial transformation matrix


@dataclass
class Alignment:
    """FFHQ alignment of one face: the crop and the transform that maps it back onto the photo."""

    image: np.ndarray                    # [S, S, 3] uint8
    quad: np.ndarray                     # [4, 2] float64, oriented quad in original-image coordinates
    recipe: str                          # "ffhq" | "psp"
    size: int

    def crop_to_photo(self, xy: np.ndarray) -> np.ndarray:
        """Maps [N, 2] crop pixel coordinates to original-photo coordinates (bilinear quad map)."""
        xy = np.asarray(xy, dtype=np.float64)
        u = xy[..., 0:1] / self.size
        v = xy[..., 1:2] / self.size
        q0, q1, q2, q3 = self.quad  # top-left, bottom-left, bottom-right, top-right (FFHQ order)
        return (1 - u) * (1 - v) * q0 + (1 - u) * v * q1 + u * v * q2 + u * (1 - v) * q3


@dataclass
class FaceAnalysis:
    """Everything known about one detected face."""

    detection: Detection
    landmarks: Landmarks | None = None
    landmarks5: np.ndarray | None = None     # [5, 2] dlib 5-point (identity, age chips)
    alignment: Alignment | None = None
    descriptor: np.ndarray | None = None     # [128] float64 dlib ResNet descriptor
    age: float | None = None                 # expectation over the age net's bins
    gender_female: float | None = None       # probability
