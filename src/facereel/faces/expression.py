"""Expression (MediaPipe blendshape scores) and head pose (yaw, pitch, roll) helpers."""

from __future__ import annotations

import math

import numpy as np

from facereel.faces.types import Landmarks

#: The 52 ARKit-style blendshape names MediaPipe's Face Landmarker reports, in its order.
BLENDSHAPE_NAMES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)


def head_pose(matrix: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from MediaPipe's 4x4 facial transformation matrix.

    The matrix maps the canonical face model into MediaPipe's camera space (x right, y up,
    z towards the viewer).  Its rotation is decomposed as R = Rz(roll) @ Ry(yaw) @ Rx(pitch):

    * yaw: turn about the vertical axis; positive when the face points towards the image's
      right (the subject looks to their left; the nose tip moves right of the face centre);
    * pitch: nod; positive when the chin goes down;
    * roll: in-plane tilt; positive when the head tilts counter-clockwise in the image.

    A frontal face is (0, 0, 0); a mirrored photo negates yaw and roll.
    """
    m = np.asarray(matrix, dtype=np.float64)[:3, :3]
    # Remove any scale the solver left in (rows/cols of a scaled rotation have equal norms).
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    yaw = math.degrees(math.asin(float(np.clip(-r[2, 0], -1.0, 1.0))))
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return yaw, pitch, roll


def expression_scores(landmarks: Landmarks) -> dict[str, float]:
    """The blendshape scores (0..1) of MediaPipe landmarks; empty for dlib landmarks."""
    return {k: float(v) for k, v in landmarks.blendshapes.items()}


def smile_score(landmarks: Landmarks) -> float | None:
    """Mean of the two mouth-smile blendshapes, or None without blendshapes."""
    b = landmarks.blendshapes
    if "mouthSmileLeft" not in b or "mouthSmileRight" not in b:
        return None
    return 0.5 * (float(b["mouthSmileLeft"]) + float(b["mouthSmileRight"]))

