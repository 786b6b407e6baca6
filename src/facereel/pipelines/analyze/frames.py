"""Video input: frames sampled from a video file (PyAV) or a folder of frames become photos."""

from __future__ import annotations

from facereel.pipelines.analyze.inputs import AnalyzeError


def plan_sampling(path, options):
    raise AnalyzeError(f"{path}: video input is not supported yet")


def check_videos(plans, photos) -> None:
    return None
