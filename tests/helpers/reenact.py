"""Test helpers for the reenactment tests (a cheap method of the real interface)."""

from __future__ import annotations

from facereel.reenact.base import ReenactMethod


class DriverCrop(ReenactMethod):
    """Test method: the driver's own aligned face (None when the frame shows none)."""

    name = "test"

    def prepare(self, target_rgb, options):
        from facereel.reenact.target import select_target_face

        self.options = options
        self.face = select_target_face(target_rgb, options)
        self.target = target_rgb
        self.prepared = True

    def drive(self, frame_rgb):
        from facereel.faces.align import align_face
        from facereel.reenact.paste import paste_back
        from facereel.reenact.target import face_landmarks

        lm = face_landmarks(frame_rgb)
        if lm is None:
            return None
        crop = align_face(frame_rgb, lm, size=self.options.size).image
        return paste_back(crop, self.target, self.face.alignment) if self.options.paste_back else crop


def sample_driver_frames(samples, per_photo: int = 3, size: tuple[int, int] = (480, 360)):
    """A short driver sequence from the real sample photos: each of the three photos of one person
    framed around its face (about 45 % of the frame's height) with a slow pan, roll and zoom,
    ``per_photo`` frames each; [H, W, 3] uint8 RGB frames."""
    import cv2
    import numpy as np
    from PIL import Image

    from facereel.faces.landmarks import landmarks_mediapipe
    from facereel.samples import SAME_PERSON

    w, h = size
    frames = []
    for name in SAME_PERSON:
        with Image.open(samples / name) as im:
            rgb = np.asarray(im.convert("RGB"))
        pts = landmarks_mediapipe(rgb).points
        c, side = pts.mean(0), np.ptp(pts[:, 1])
        for i in range(per_photo):
            t = i / max(1, per_photo)
            m = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), 5.0 * np.sin(2 * np.pi * t),
                                        0.45 * h / side * (1 + 0.05 * np.sin(2 * np.pi * t)))
            m[:, 2] += [w / 2 + 12 * np.sin(2 * np.pi * t) - c[0], h / 2 - c[1]]
            frames.append(cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT))
    return frames
