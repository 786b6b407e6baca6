"""facereel.metrics on synthetic arrays (known answers) and on real photos (crossfade ghosts more than morph)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from facereel.metrics.ghosting import GhostReference, face_region, ghost_score, ghosting_curve
from facereel.metrics.identity import identity_curve, nearest_keyframes, similarity
from facereel.metrics.report import evaluate_frames, locate_keyframes, save_plot, summary, to_json
from facereel.metrics.smoothness import acd, frame_differences, landmark_jitter
from facereel.metrics.video_io import VideoReadError, probe_video, read_frames


def _bar_image(x0: int, size: int = 256) -> np.ndarray:
    """Grey frame with a bright band (left edge at x0) and a dark band 60 px to its right, full height.

    Only vertical edges, moving across themselves (an edge that slides along itself stays put,
    so it could not show a ghost)."""
    img = np.full((size, size, 3), 90, np.uint8)
    s = size / 256
    img[:, round(x0 * s):round((x0 + 30) * s)] = 220
    img[:, round((x0 + 60) * s):round((x0 + 80) * s)] = 20
    return img


def _blend(a, b, lam):
    return np.round((1 - lam) * a.astype(np.float64) + lam * b).astype(np.uint8)


# ----------------------------------------------------------------------------- ghosting


def test_ghost_of_a_dissolve_is_the_weaker_weight_and_a_moved_edge_has_none():
    a, b = _bar_image(80), _bar_image(110)          # the bar moved 30 px between the photos
    ref = GhostReference.build(a, b)
    assert ref.mask_a.sum() > 100 and ref.mask_b.sum() > 100
    # the keyframes themselves: all of A, none of B's distinctive edges (no ghost)
    ca, cb = ref.presence(a)
    assert ca == pytest.approx(1.0, abs=1e-6) and abs(cb) < 0.05
    assert ref.ghost(a) < 0.05 and ref.ghost(b) < 0.05
    for lam in (0.25, 0.5, 0.75):
        # a cross-dissolve shows both bars, weighted: ghost ≈ min(λ, 1-λ)
        assert ref.ghost(_blend(a, b, lam)) == pytest.approx(min(lam, 1 - lam), abs=0.03)
        # a morph moves the one bar to an in-between place: neither edge stays put
        moved = _bar_image(round(80 + lam * 30))
        assert ref.ghost(moved) < 0.08
    # identical keyframes have no distinctive edges: nothing can ghost
    assert ghost_score(a, a, a) == 0.0


def test_ghosting_curve_streams_and_skips_keyframes():
    a, b, c = _bar_image(80), _bar_image(110), _bar_image(70)
    gap = [1, 2, 3, 4, 5]
    frames = [a] + [_blend(a, b, i / 6) for i in gap] + [b] + [_blend(b, c, i / 6) for i in gap] + [c]
    listed = ghosting_curve(frames, [0, 6, 12])
    streamed = ghosting_curve(iter(frames), [0, 6, 12], [a, b, c])
    assert listed["ghost"] == streamed["ghost"]
    g = listed["ghost"]
    assert g[0] is None and g[6] is None and g[12] is None and len(g) == 13
    assert g[3] == pytest.approx(0.5, abs=0.03) and g[9] == pytest.approx(0.5, abs=0.03)
    assert g[1] < g[2] < g[3] and g[5] < g[4] < g[3]
    assert listed["mid_gap_mean"] > listed["mean"] > 0.3


def test_face_region_grows_and_clips():
    assert face_region([(100, 100, 150, 160), (90, 110, 140, 170)], (256, 256, 3), margin=0.2) == (78, 86, 163, 185)
    assert face_region([(0, 0, 250, 250)], (256, 256, 3)) == (0, 0, 256, 256)
    l, t, r, b = face_region([None], (200, 100, 3))
    assert 0 < l < r < 100 and 0 < t < b < 200


# ----------------------------------------------------------------------------- identity


def test_similarity_and_identity_curve():
    e = np.eye(128)
    assert similarity(e[0], e[0]) == 1.0
    assert similarity(e[0], e[1]) == pytest.approx(1 - math.sqrt(2))
    assert math.isnan(similarity(None, e[0]))
    k0, k1 = np.zeros(128), np.full(128, 0.05)        # |k1 - k0| = 0.05 * sqrt(128)
    mid = 0.5 * (k0 + k1)
    descs = [k0, 0.9 * k0 + 0.1 * k1, mid, None, k1]
    cur = identity_curve(descs, [0, 4])
    d = np.linalg.norm(k1 - k0)
    assert cur["nearest_keyframe"] == [0, 0, 0, 4, 4]  # tie at frame 2 goes to the earlier keyframe
    assert cur["similarity"][0] == 1.0 and cur["similarity"][4] == 1.0 and cur["similarity"][3] is None
    assert cur["similarity"][1] == pytest.approx(1 - 0.1 * d)
    assert cur["similarity"][2] == pytest.approx(1 - 0.5 * d)
    assert cur["no_face_frames"] == 1
    assert cur["in_between_mean"] == pytest.approx(1 - 0.3 * d)
    with pytest.raises(ValueError):
        identity_curve(descs, [0, 7])


def test_nearest_keyframes_unsorted_input():
    assert nearest_keyframes(7, [6, 0, 3]).tolist() == [0, 0, 1, 1, 1, 2, 2]


# ----------------------------------------------------------------------------- smoothness


def test_frame_differences_in_region():
    f0 = np.zeros((20, 20, 3), np.uint8)
    f1 = f0.copy()
    f1[5:10, 5:10] = 40                 # inside the region: 25 of 100 pixels change by 40
    f2 = f1.copy()
    f2[15:, 15:] = 255                  # outside the region: ignored
    r = frame_differences([f0, f1, f2], region=(5, 5, 15, 15))
    assert r["diffs"] == [pytest.approx(10.0), 0.0]
    assert r["mean"] == pytest.approx(5.0) and r["max"] == pytest.approx(10.0)


def test_acd_skips_missing_faces():
    a, b, c = np.zeros(128), np.full(128, 0.1), np.full(128, 0.3)
    assert acd([a, b, None, c]) == pytest.approx(0.1 * math.sqrt(128))
    assert acd([a, None]) is None


def test_landmark_jitter_drift_versus_shake():
    base = np.array([[10.0, 10.0], [50.0, 20.0]])
    drift = [base + [t * 1.5, 0] for t in range(10)]          # steady motion: no jitter
    assert landmark_jitter(drift)["px"] == pytest.approx(0.0, abs=1e-12)
    shake = [base + [(t % 2) * 2.0, 0] for t in range(11)]    # displacements +2, -2, ...: std 2
    r = landmark_jitter(shake, frame_side=100)
    assert r["px"] == pytest.approx(2.0) and r["relative"] == pytest.approx(0.02) and r["steps"] == 10
    assert landmark_jitter([base, None, base])["px"] is None


# ----------------------------------------------------------------------------- video io, locate, report


def test_read_back_a_written_video(tmp_path):
    from facereel.render.video import open_writer

    rng = np.random.default_rng(0)
    frames = [np.clip(_bar_image(60 + 4 * i, 128) + rng.integers(0, 5, (128, 128, 3)), 0, 255).astype(np.uint8)
              for i in range(12)]
    with open_writer(tmp_path / "v.mp4", "mp4", fps=12, size=(128, 128)) as w:
        for f in frames:
            w.write(f)
    info = probe_video(tmp_path / "v.mp4")
    assert (info.width, info.height) == (128, 128) and info.fps == pytest.approx(12)
    back = list(read_frames(tmp_path / "v.mp4"))
    assert len(back) == 12 and back[0].shape == (128, 128, 3) and back[0].dtype == np.uint8
    psnr = 10 * np.log10(255 ** 2 / np.mean((back[5].astype(float) - frames[5]) ** 2))
    assert psnr > 30
    # the keyframes are found again in the decoded video
    loc = locate_keyframes(read_frames(tmp_path / "v.mp4"), [frames[0], frames[7], frames[11]])
    assert loc["indices"] == [0, 7, 11] and loc["frames"] == 12 and min(loc["psnr"]) > 30


def test_unreadable_videos(tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video\n")
    with pytest.raises(VideoReadError, match="notes.mp4"):
        probe_video(tmp_path / "notes.mp4")
    with pytest.raises(VideoReadError, match="notes.mp4"):
        list(read_frames(tmp_path / "notes.mp4"))
    with pytest.raises(VideoReadError, match="does not exist"):
        probe_video(tmp_path / "missing.webm")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoReadError, match="without PNG"):
        list(read_frames(tmp_path / "empty"))


def test_evaluate_frames_without_faces_and_plot(tmp_path):
    from PIL import Image

    a, b = _bar_image(80), _bar_image(110)
    frames = [_blend(a, b, i / 6) for i in range(7)]
    rep = evaluate_frames(frames, [0, 6], identity=False, landmarks=None)
    assert rep["frames"] == 7 and "identity" not in rep
    g = rep["ghosting"]["ghost"]
    assert g[3] == pytest.approx(0.5, abs=0.05) and g[0] is None and g[6] is None
    # the dissolve changes every step by the same amount
    d = rep["smoothness"]["frame_diff"]
    assert len(d) == 6 and max(d) - min(d) < 1.0 and rep["smoothness"]["frame_diff_mean"] > 5
    names = [r[0] for r in summary(rep)]
    assert "ghosting mean" in names and "ACD" not in names
    png = save_plot(to_json(rep), tmp_path / "curve.png")
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 400
    with pytest.raises(ValueError, match="at least 2 keyframes"):
        evaluate_frames(frames, [3], identity=False, landmarks=None)
    with pytest.raises(ValueError, match="outside"):
        evaluate_frames(iter(frames), [0, 9], [a, b], identity=False, landmarks=None)


# ----------------------------------------------------------------------------- real photos


@pytest.fixture(scope="module")
def obama_keyframes():
    from facereel.pipelines.analyze import aligned_crop, analyze_collection
    from facereel.pipelines.timelapse import keyframe_landmarks
    from facereel.render.engines.base import Keyframe
    from facereel.samples import sample_path

    manifest = analyze_collection([sample_path(n) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")], size=256)
    entries = manifest.ordered(keep_flagged=True)
    assert len(entries) == 3
    kfs = [Keyframe(image=aligned_crop(e, size=256), label=e.name) for e in entries]
    keyframe_landmarks(kfs)
    return kfs


@pytest.mark.slow
def test_crossfade_ghosts_more_than_morph_on_real_photos(obama_keyframes):
    from facereel.pipelines.timelapse import render_frames
    from facereel.render.engines import get_engine
    from facereel.render.schedule import make_schedule

    sched = make_schedule(3, frames_per_gap=6)
    scores = {}
    for name in ("crossfade", "morph"):
        eng = get_engine(name)
        eng.prepare(obama_keyframes)
        frames = list(render_frames(eng, obama_keyframes, sched, opacity=0.5))
        rep = evaluate_frames(frames, sched.keyframe_indices, identity=False, landmarks=None)
        scores[name] = rep["ghosting"]
    cf, mo = scores["crossfade"], scores["morph"]
    # a pixel dissolve of real, aligned photos still shows both faces' edges mid-gap
    assert cf["mid_gap_mean"] > 0.2
    assert cf["mean"] > 2.5 * mo["mean"]
    assert cf["mid_gap_mean"] > 2.5 * mo["mid_gap_mean"]
    # frame by frame too: every in-between morph frame ghosts less than the dissolve at the same λ
    for gc, gm in zip(cf["ghost"], mo["ghost"]):
        assert (gc is None) == (gm is None)
        if gc is not None and gc > 0.15:
            assert gm < gc


@pytest.mark.slow
def test_identity_curve_on_real_photos(obama_keyframes):
    from facereel.pipelines.timelapse import render_frames
    from facereel.render.engines import get_engine
    from facereel.render.schedule import make_schedule

    sched = make_schedule(3, frames_per_gap=4)
    eng = get_engine("crossfade")
    eng.prepare(obama_keyframes)
    frames = list(render_frames(eng, obama_keyframes, sched, opacity=0.0))
    rep = evaluate_frames(frames, sched.keyframe_indices, landmarks="dlib5")
    ident = rep["identity"]
    sims = ident["similarity"]
    assert all(s is not None for s in sims)
    for k in sched.keyframe_indices:  # each keyframe against itself
        assert sims[k] == pytest.approx(1.0, abs=1e-6)
    # the same person throughout, dipping between photos
    assert min(sims) > 0.4
    assert sims[2] < sims[1] and sims[2] < sims[3] and sims[6] < sims[5]
    assert rep["smoothness"]["acd"] > 0 and rep["smoothness"]["landmark_jitter"]["px"] is not None


def test_evaluate_runs_the_tested_accumulators():
    """evaluate_frames is the one-shot functions in one pass: same numbers, frame for frame."""
    from facereel.metrics.accumulate import run
    from facereel.metrics.ghosting import GhostingCurve
    from facereel.metrics.smoothness import FrameDifferences

    a, b, c = _bar_image(80), _bar_image(110), _bar_image(70)
    frames = [a] + [_blend(a, b, i / 6) for i in range(1, 6)] + [b] + [_blend(b, c, i / 6) for i in range(1, 6)] + [c]
    rep = evaluate_frames(iter(frames), [0, 6, 12], [a, b, c], landmarks=None, identity=False)
    region = tuple(rep["face_region"])
    g = ghosting_curve(frames, [0, 6, 12], [a, b, c], region=region)
    assert rep["ghosting"] == g
    d = frame_differences(frames, region)
    assert rep["smoothness"]["frame_diff"] == d["diffs"] and rep["smoothness"]["frame_diff_mean"] == d["mean"]
    # several accumulators over one stream see each frame once, in order
    ghost, diff = GhostingCurve([0, 6, 12], [a, b, c], region), FrameDifferences(region)
    assert run(iter(frames), [ghost, diff]) == 13
    assert ghost.result() == g and diff.result()["diffs"] == d["diffs"]


@pytest.mark.slow
def test_head_ghosting_sees_the_hair_outline():
    """Head-region ghosting (face, hair, ears, neck) on real photos: a pixel dissolve of two
    photos of one person reads ~λ there too, and the mask covers more than the inner face."""
    from facereel.metrics.ghosting import GhostReference, head_mask
    from facereel.pipelines.timelapse import load_keyframes
    from facereel.samples import SAME_PERSON, sample_path

    kfs, _, _ = load_keyframes([str(sample_path(n)) for n in SAME_PERSON[:2]], size=256, keep_flagged=True)
    a, b = kfs[0].image, kfs[1].image
    m = head_mask(a, b)
    assert m is not None and 0.2 < m.mean() < 0.95
    ref = GhostReference.build(a, b, within=m)
    mid = cv2.addWeighted(a, 0.5, b, 0.5, 0.0)
    assert 0.3 < ref.ghost(mid) < 0.7
    assert ref.ghost(a) < 0.1


@pytest.mark.slow
def test_neck_ghosting_sees_the_collar():
    """Neck/shoulder ghosting on real photos: the region is the person below the chin, a pixel
    dissolve reads ~λ there, a keyframe itself ~0; the morph with its residual flow below the
    chin ghosts there less than without it."""
    from facereel.metrics.ghosting import GhostReference, head_mask, neck_mask
    from facereel.pipelines.timelapse import keyframe_landmarks, load_keyframes
    from facereel.render.engines.morph import MorphEngine
    from facereel.samples import SAME_PERSON, sample_path

    kfs, _, _ = load_keyframes([str(sample_path(n)) for n in SAME_PERSON[:2]], size=256, keep_flagged=True)
    a, b = kfs[0].image, kfs[1].image
    m, head = neck_mask(a, b), head_mask(a, b)
    assert m is not None and 0.02 < m.mean() < 0.5
    rows = np.nonzero(m.any(1))[0]
    assert rows.min() > 0.5 * m.shape[0] and rows.max() == m.shape[0] - 1  # from about the chin down
    ref = GhostReference.build(a, b, within=m)
    assert 0.3 < ref.ghost(cv2.addWeighted(a, 0.5, b, 0.5, 0.0)) < 0.7
    assert ref.ghost(a) < 0.1
    keyframe_landmarks(kfs)
    ghosts = []
    for residual in (False, True):
        e = MorphEngine(residual=residual)
        e.prepare(kfs)
        ghosts.append(ref.ghost(e.frame(0, 0.5)))
    assert ghosts[1] < ghosts[0]
    assert head is not None
