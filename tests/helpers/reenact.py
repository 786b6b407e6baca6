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
