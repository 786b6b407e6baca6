"""Video in, video out: streaming, held frames, audio, face choice and every bad input (one line, no file)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from facereel.options.reenact import ReenactOptions
from facereel.reenact.base import NoFaceError, ReenactError
from facereel.reenact.runner import reenact_video
from tests.helpers.reenact import DriverCrop


def _frames_dir(tmp_path, samples, names=("obama.jpg", "obama2.jpg", "obama3.jpg"), blank=True) -> Path:
    d = tmp_path / "driver"
    d.mkdir()
    for i, n in enumerate(names):
        shutil.copy(samples / n, d / f"{i:03d}{Path(n).suffix}")
    if blank:
        from PIL import Image

        Image.fromarray(np.zeros((200, 200, 3), np.uint8)).save(d / "002b.png")   # no face, 3rd in order
    return d


def _read(path):
    import av

    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]
        has_audio = bool(c.streams.audio)
    return frames, has_audio


def test_folder_driver_holds_frames_without_face(tmp_path, samples):
    out = tmp_path / "out.mp4"
    rep = reenact_video(_frames_dir(tmp_path, samples), samples / "biden.jpg", out,
                        ReenactOptions(size=128), method=DriverCrop())
    assert rep.frames == 4 and rep.no_face_frames == 1 and not rep.audio
    frames, _ = _read(out)
    assert len(frames) == 4 and frames[0].shape == (128, 128, 3)
    # the frame without a face repeats the one before it
    assert np.abs(frames[3].astype(int) - frames[2].astype(int)).mean() < 3
    assert "only face" in rep.target_face


def test_paste_back_has_the_target_photo_size(tmp_path, samples):
    from facereel.faces.io import load_image

    out = tmp_path / "pb.mp4"
    tgt = load_image(samples / "biden.jpg").rgb
    reenact_video(samples / "obama.jpg", samples / "biden.jpg", out, ReenactOptions(size=128, paste_back=True),
                  method=DriverCrop())
    frames, _ = _read(out)
    h, w = tgt.shape[:2]
    assert len(frames) == 1 and frames[0].shape[:2] == (h + h % 2, w + w % 2)


def _video_with_audio(path: Path, images, fps=5, audio=True):
    import av
    from PIL import Image

    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 320, 320, "yuv420p"
        a = c.add_stream("aac", rate=16000) if audio else None
        for i, img in enumerate(images):
            arr = np.asarray(Image.fromarray(img).resize((320, 320)))
            f = av.VideoFrame.from_ndarray(arr, format="rgb24")
            f.pts = i
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
        if a is not None:
            t = np.arange(int(16000 * len(images) / fps)) / 16000
            samples_ = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            af = av.AudioFrame.from_ndarray(samples_, format="flt", layout="mono")
            af.sample_rate = 16000
            for p in a.encode(af):
                c.mux(p)
            for p in a.encode(None):
                c.mux(p)


def test_video_driver_keeps_audio(tmp_path, samples):
    from facereel.faces.io import load_image

    imgs = [load_image(samples / n).rgb for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    drv = tmp_path / "drv.mp4"
    _video_with_audio(drv, imgs)
    out = tmp_path / "out.mp4"
    rep = reenact_video(drv, samples / "biden.jpg", out, ReenactOptions(size=96), method=DriverCrop())
    frames, has_audio = _read(out)
    assert rep.audio and has_audio and len(frames) == 3 and rep.fps == 5
    out2 = tmp_path / "silent.mp4"
    rep2 = reenact_video(drv, samples / "biden.jpg", out2, ReenactOptions(size=96, keep_audio=False),
                         method=DriverCrop())
    assert not rep2.audio and not _read(out2)[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drv.mp4", "out.mp4", "silent.mp4"]


def test_two_faces_pick_largest_or_reference(tmp_path, samples):
    from PIL import Image

    from facereel.faces.io import load_image

    big = load_image(samples / "biden.jpg").rgb
    small = np.asarray(Image.fromarray(load_image(samples / "obama.jpg").rgb).resize((big.shape[1] // 2, big.shape[0] // 2)))
    canvas = np.zeros((big.shape[0], big.shape[1] + small.shape[1], 3), np.uint8)
    canvas[:, :big.shape[1]] = big
    canvas[:small.shape[0], big.shape[1]:] = small
    group = tmp_path / "group.png"
    Image.fromarray(canvas).save(group)
    rep = reenact_video(samples / "obama2.jpg", group, tmp_path / "a.mp4", ReenactOptions(size=64), method=DriverCrop())
    assert "face 1 of 2" in rep.target_face and "largest" in rep.target_face
    rep = reenact_video(samples / "obama2.jpg", group, tmp_path / "b.mp4",
                        ReenactOptions(size=64, reference=str(samples / "obama3.jpg")), method=DriverCrop())
    assert "face 2 of 2" in rep.target_face and "reference" in rep.target_face


@pytest.mark.parametrize("case", ["undecodable", "missing", "target-no-face", "driver-no-face", "bad-target"])
def test_bad_input_one_line_no_output(tmp_path, samples, case):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 120, 3), 90, np.uint8)).save(blank)
    driver, target = samples / "obama.jpg", samples / "biden.jpg"
    if case == "undecodable":
        driver = tmp_path / "broken.mp4"
        driver.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    elif case == "missing":
        driver = tmp_path / "nope.mp4"
    elif case == "target-no-face":
        target = blank
    elif case == "driver-no-face":
        driver = blank
    elif case == "bad-target":
        target = tmp_path / "t.jpg"
        target.write_bytes(b"not a jpeg")
    out = tmp_path / "out.mp4"
    with pytest.raises(ReenactError) as e:
        reenact_video(driver, target, out, ReenactOptions(size=64), method=DriverCrop())
    assert "\n" not in str(e.value)
    if case == "target-no-face":
        assert isinstance(e.value, NoFaceError)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith((".out", "out"))]


def test_cli_default_command_and_errors(tmp_path, samples):
    from typer.testing import CliRunner

    from facereel.cli import app

    r = CliRunner().invoke(app, ["reenact", str(tmp_path / "nope.mp4"), str(samples / "biden.jpg"),
                                 "-o", str(tmp_path / "o.mp4")])
    assert r.exit_code == 1 and "does not exist" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["reenact", str(samples / "obama.jpg"), str(samples / "biden.jpg"),
                                 "--smoothing", "2", "-o", str(tmp_path / "o.mp4")])
    assert r.exit_code == 1 and "--smoothing" in r.output
    r = CliRunner().invoke(app, ["reenact", "--help"])
    assert r.exit_code == 0 and "run" in r.output


def test_learned_refuses_a_checkpoint_of_another_kind(tmp_path):
    import torch

    from facereel.reenact.network import load_transfer_network

    p = tmp_path / "psp.pt"
    torch.save({"state_dict": {"encoder.x": torch.zeros(1), "decoder.input.input": torch.zeros(1, 512, 4, 4)},
                "opts": {}}, p)
    with pytest.raises(ReenactError, match="not a pose-and-expression-transfer checkpoint.*mapping_net"):
        load_transfer_network(p)


class _Constant(DriverCrop):
    """Cheap method: a constant output per frame (no landmark model), to measure the runner itself."""

    def drive(self, frame_rgb):
        return np.full((64, 64, 3), int(frame_rgb[0, 0, 0]), np.uint8)


def _flat_video(path, n):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 256, 256, "yuv420p"
        for i in range(n):
            f = av.VideoFrame.from_ndarray(np.full((256, 256, 3), i % 250, np.uint8), format="rgb24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def test_frames_stream_with_flat_memory(tmp_path, samples):
    import tracemalloc

    peaks = {}
    for n in (30, 150):
        drv = tmp_path / f"v{n}.mp4"
        _flat_video(drv, n)
        tracemalloc.start()
        rep = reenact_video(drv, samples / "biden.jpg", tmp_path / f"o{n}.mp4", ReenactOptions(size=64),
                            method=_Constant())
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert rep.frames == n
    # 120 more decoded frames would be 23 MB more; streaming keeps the peak where it was
    assert peaks[150] < peaks[30] + 8e6, peaks
