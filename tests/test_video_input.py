"""Issue 20, video input everywhere photos are accepted: videos made here from the sample photos.

Each "still" of a test video is one sample photo (letterboxed to 640x480) shown for 5 frames at
5 fps, so a video is a photo-a-day clip in miniature: sampling every 2 frames sees each still
2-3 times (the repeats are dropped), black stills have no face, a blurred still is blurry.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facereel.samples import sample_path

W, H, FPS, PER = 640, 480, 5, 5


def _still(name: str | None, blur: bool = False) -> np.ndarray:
    import cv2
    from PIL import Image

    if name is None:
        return np.zeros((H, W, 3), np.uint8)
    with Image.open(sample_path(name)) as im:
        im = im.convert("RGB")
        s = min(W / im.width, H / im.height)
        im = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
    canvas = Image.new("RGB", (W, H), (40, 40, 40))
    canvas.paste(im, ((W - im.width) // 2, (H - im.height) // 2))
    img = np.asarray(canvas)
    return cv2.GaussianBlur(img, (0, 0), 6) if blur else img


def make_video(path: Path, stills, per: int = PER, fps: int = FPS, creation_time: str | None = None) -> Path:
    """An H.264 MP4 of ``stills`` (sample names, None for black, ("name", "blur")), ``per`` frames each."""
    import av

    with av.open(str(path), "w") as c:
        if creation_time:
            c.metadata["creation_time"] = creation_time
        st = c.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = W, H, "yuv420p"
        for item in stills:
            name, blur = (item if isinstance(item, tuple) else (item, None))
            frame = av.VideoFrame.from_ndarray(_still(name, blur == "blur"), format="rgb24")
            for _ in range(per):
                for p in st.encode(frame):
                    c.mux(p)
        for p in st.encode():
            c.mux(p)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("video_input")
    mp.setenv("FACEREEL_HOME", str(root / "home"))
    d = root / "in"
    d.mkdir()
    clip = make_video(d / "clip.mp4", ["obama.jpg", "obama2.jpg", None, "obama3.jpg", ("obama2.jpg", "blur")])
    faceless = make_video(d / "faceless.mp4", [None, None], per=3)
    yield {"root": root, "clip": clip, "faceless": faceless}
    mp.undo()


@pytest.mark.slow
def test_video_frames_become_dated_photos_with_drop_reasons(videos):
    from facereel.pipelines.analyze import analyze_collection

    m = analyze_collection([videos["clip"]], every=2, start_date="2020-01-01")
    (v,) = m.settings["videos"]
    assert v["sampled"] == 13 and v["kept"] == 3 and v["date_source"] == "start_date"
    reasons = {d["frame"]: d["reason"] for d in v["dropped"]}
    assert reasons[2].startswith("repeats frame 0") and reasons[10] == "no face"
    assert reasons[12].startswith("repeats frame 10")  # a faceless still is analysed once
    assert reasons[20].startswith("blurry")
    kept = m.ordered()
    assert [e.frame for e in kept] == [0, 6, 16] and all(e.path == str(videos["clip"]) for e in kept)
    assert [e.time for e in kept] == [0.0, 1.2, 3.2]
    assert [e.date for e in kept] == ["2020-01-01T00:00:00", "2020-01-01T00:00:01", "2020-01-01T00:00:03"]
    assert kept[0].name == "clip.mp4#0" and all(e.age_source == "estimate" for e in kept)


@pytest.mark.slow
def test_a_date_range_is_spread_over_the_video_and_interval_sampling(videos):
    from facereel.pipelines.analyze import analyze_collection

    m = analyze_collection([videos["clip"]], interval=1.0, start_date="2000-01-01", end_date="2010-01-01")
    kept = m.ordered()
    # 25 frames at 5 fps (5 s): one a second -> frames 0, 5, 10, 15, 20; 10 years over 5 s: 2 years a second
    assert [e.frame for e in kept] == [0, 5, 15]
    assert [e.date[:4] for e in kept] == ["2000", "2001", "2005"]
    assert m.settings["videos"][0]["sampled"] == 5


@pytest.mark.slow
def test_bad_video_input_is_one_line(videos, tmp_path):
    from facereel.pipelines.analyze import AnalyzeError, analyze_collection

    with pytest.raises(AnalyzeError, match=r"faceless.mp4: no usable face in any of its 2 sampled frames \(1 no face"):
        analyze_collection([videos["faceless"]])
    with pytest.raises(AnalyzeError, match="after today"):
        analyze_collection([videos["clip"]], start_date="2999-01-01")
    with pytest.raises(AnalyzeError, match="end date: .* is not after start_date"):
        analyze_collection([videos["clip"]], start_date="2010-01-01", end_date="2000-01-01")
    with pytest.raises(AnalyzeError, match="apply to videos"):
        analyze_collection([sample_path("obama.jpg")], every=3)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(AnalyzeError, match="cannot read bad.mp4 as a video"):
        analyze_collection([bad])


@pytest.mark.slow
def test_frames_of_a_video_give_the_same_crops_streamed_or_one_by_one(videos):
    from facereel.pipelines.analyze import aligned_crop, analyze_collection, load_aligned
    from facereel.pipelines.analyze.crops import read_frame

    m = analyze_collection([videos["clip"]], every=2)
    faces = load_aligned(m, size=128)
    assert [e.frame for e in faces.entries] == [0, 6, 16]
    entry = faces.entries[1]
    frame = read_frame(entry)
    assert frame.shape == (H, W, 3)
    # the stream (one decode for all) and the seek (aligned_crop alone, cache bypassed) agree
    from facereel.faces.align import align_from_quad

    direct = align_from_quad(frame, np.asarray(entry.quad), size=128, recipe="ffhq").image
    assert np.array_equal(faces.images[1], direct)
    assert np.array_equal(aligned_crop(entry, size=128), direct)


@pytest.mark.slow
def test_a_folder_of_frames(videos, tmp_path):
    from PIL import Image

    from facereel.pipelines.analyze import analyze_collection

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, name in enumerate(["obama.jpg", "obama.jpg", "obama3.jpg", None]):
        Image.fromarray(_still(name)).save(folder / f"f{i:03d}.png")
    m = analyze_collection([folder], frame_folders=True, every=1, frame_rate=2.0, start_date="2021-06-01")
    kept = m.ordered()
    assert [Path(e.path).name for e in kept] == ["f000.png", "f002.png"] and [e.time for e in kept] == [0.0, 1.0]
    assert kept[1].date == "2021-06-01T00:00:01" and kept[1].frame is None
    reasons = [d["reason"] for d in m.settings["videos"][0]["dropped"]]
    assert reasons[0].startswith("repeats frame 0") and reasons[1] == "no face"


def test_sampling_holds_one_frame_at_a_time(tmp_path, monkeypatch):
    """A long video streams: peak Python memory stays far below the decoded video's size."""
    import tracemalloc

    import facereel.pipelines.analyze.frames as frames
    from facereel.options.analyze import AnalyzeOptions
    from facereel.pipelines.analyze.frames import analyze_video, plan_sampling

    video = make_video(tmp_path / "long.mp4", ["obama.jpg", "obama2.jpg"] * 10, per=6)  # 120 frames, 110 MB decoded
    monkeypatch.setattr(frames, "analyze_pixels", lambda photo, rgb, **kw: photo)  # no faces: cheap
    opts = AnalyzeOptions(every=1).validate()
    plan = plan_sampling(video, opts)
    tracemalloc.start()
    list(analyze_video(plan, opts))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert plan.sampled == 120
    assert peak < 12 * W * H * 3, peak / 2**20  # a handful of frames, not 120


@pytest.mark.slow
def test_cli_analyze_timelapse_and_invert_take_a_video(videos, tmp_path):
    from typer.testing import CliRunner

    from facereel.cli import app

    runner = CliRunner()
    manifest = tmp_path / "m.json"
    r = runner.invoke(app, ["analyze", str(videos["clip"]), "--every", "2", "--start-date", "2020-01-01",
                            "-o", str(manifest)])
    assert r.exit_code == 0, r.output
    assert "clip.mp4: 13 frames sampled, 3 kept; dropped" in r.output and "blurry" in r.output
    data = json.loads(manifest.read_text())
    assert [p["frame"] for p in data["photos"]] == [0, 6, 16]

    out = tmp_path / "t.mp4"
    r = runner.invoke(app, ["timelapse", str(videos["clip"]), "--every", "2", "--frames", "3", "--size", "256",
                            "--engine", "crossfade", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file() and "from 3 photos" in r.output

    r = runner.invoke(app, ["invert", str(manifest), "--size", "256", "--steps", "1", "--restarts", "1",
                            "-o", str(tmp_path / "l.npz")])
    assert r.exit_code == 0, r.output
    import numpy as np_

    names = list(np_.load(tmp_path / "l.npz")["names"])
    assert names == ["clip.mp4#0", "clip.mp4#6", "clip.mp4#16"]

    r = runner.invoke(app, ["analyze", str(videos["faceless"]), "-o", str(tmp_path / "f.json")])
    assert r.exit_code != 0 and "no usable face" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["analyze", str(videos["clip"]), "--end-date", "2020-01-01", "-o", str(tmp_path / "g.json")])
    assert r.exit_code != 0 and "--end-date: needs start_date too" in r.output
