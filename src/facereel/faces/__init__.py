"""Face analysis of single photos: load, detect, landmarks, align, identity, age, expression.

Models load lazily on first use and are cached per process.  See :mod:`facereel.faces.types`
for the data every stage returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from facereel.faces.analyze import analyze_faces

__all__ = ["analyze_faces"]


def __getattr__(name: str) -> Any:
    # Lazy: `import facereel.faces` must not pull in dlib, cv2 or mediapipe.
    if name == "analyze_faces":
        from facereel.faces.analyze import analyze_faces

        return analyze_faces
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
