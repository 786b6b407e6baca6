"""Evaluation columns on the real sample photos as a short driving sequence."""

from __future__ import annotations

import math
import shutil

import numpy as np

from facereel.options.reenact import ReenactOptions
from facereel.reenact.evaluate import aspect_ratios, evaluate_methods, score
from tests.helpers.reenact import DriverCrop


def test_aspect_ratios_open_mouth_and_eyes():
    pts = np.zeros((478, 2))
    for (o, i), lids in (((33, 133), ((160, 144), (158, 153))), ((362, 263), ((385, 380), (387, 373)))):
        pts[o], pts[i] = (0, 0), (10, 0)
        for u, lo in lids:
            pts[u], pts[lo] = (5, -1.5), (5, 1.5)
    pts[105], pts[334] = (5, -5), (5, -5)
    pts[61], pts[291] = (0, 20), (20, 20)
    for u, lo in ((13, 14), (81, 178), (311, 402)):
        pts[u], pts[lo] = (10, 18), (10, 22)
    eyes, brows, mouth = aspect_ratios(pts)
    assert math.isclose(eyes, 0.3) and math.isclose(mouth, 0.2) and brows > 0.4


def test_evaluate_table_on_the_sample_photos(tmp_path, samples):
    d = tmp_path / "drv"
    d.mkdir()
    for i, n in enumerate(("obama.jpg", "obama2.jpg", "obama3.jpg")):
        shutil.copy(samples / n, d / f"{i}.jpg")
    res = evaluate_methods(d, samples / "biden.jpg", ["warp", "learned"], ReenactOptions(size=256),
                           factories={"warp": DriverCrop})
    rows = {r["name"]: r for r in res["rows"]}
    ceil = rows["ceiling (output = driver)"]
    assert ceil["pose_mae"] == 0 and ceil["frames"] == 3
    assert math.isclose(ceil["ratio_corr"], 1.0) or math.isnan(ceil["ratio_corr"])
    cross, self_ = rows["warp"], rows["warp (self)"]
    # the test method outputs the driver's own face: pose follows it closely, identity is the driver's
    assert cross["pose_mae"] < 5 and self_["pose_mae"] < 5
    assert cross["csim_driver_dlib"] > cross["csim_dlib"]
    assert self_["csim_dlib"] > cross["csim_dlib"]
    assert "error" in rows["learned"] and "\n" not in rows["learned"]["error"]


def test_score_without_faces_is_nan():
    from facereel.reenact.evaluate import FrameObservation

    t = FrameObservation(0, 0, (0.3, 0.5, 0.1), {}, None)
    row = score([None, None], [None, None], t)
    assert row["no_face"] == 2 and math.isnan(row["pose_mae"])
