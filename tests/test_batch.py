"""The batch layer: in process and on a local Ray cluster, resume, a worker killed mid-run."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from facereel.batch.runner import Stage, run_batch
from facereel.batch.store import BatchError, ResultStore
from facereel.options import OptionsError
from facereel.options.batch import BatchOptions


class Square(Stage):
    name = "square"

    def __init__(self, log_dir: str | None = None, stop_at: str | None = None, kill_once_at: str | None = None):
        self.log_dir, self.stop_at, self.kill_once_at = log_dir, stop_at, kill_once_at
        self.calls = 0
        self.ready = False

    def signature(self) -> str:
        return "square:v1"

    def setup(self) -> None:
        self.ready = True

    def process(self, items):
        assert self.ready, "setup() runs before the first batch"
        out = []
        for it in items:
            if it["key"] == self.stop_at:
                raise KeyboardInterrupt
            if it["key"] == self.kill_once_at:
                marker = Path(self.log_dir) / "killed"
                if not marker.exists():
                    marker.write_text(str(os.getpid()))
                    os.kill(os.getpid(), signal.SIGKILL)      # the worker dies mid-batch
            self.calls += 1
            if self.log_dir:
                (Path(self.log_dir) / f"{it['key']}.{os.getpid()}").touch()
            x = float(it["x"])
            out.append({"error": "negative"} if x < 0 else {"y": np.full(3, x * x, np.float32), "pid": os.getpid()})
        return out


def _items(n, neg=()):
    return [{"key": f"k{i}", "x": -1.0 if i in neg else float(i)} for i in range(n)]


def test_local_run_stores_results_and_a_rerun_computes_nothing(tmp_path):
    store = ResultStore(tmp_path / "s", "square:v1")
    stage = Square()
    seen = []
    rep = run_batch(_items(10, neg={3}), stage, store, BatchOptions(batch_size=4),
                    progress=lambda d, t: seen.append((d, t)))
    assert (rep.total, rep.done_before, rep.computed) == (10, 0, 10)
    assert rep.errors == [("k3", "negative")]
    assert seen[-1] == (10, 10)
    np.testing.assert_array_equal(store.get("k7")["y"], np.full(3, 49, np.float32))
    again = Square()
    rep2 = run_batch(_items(10, neg={3}), again, store)
    assert (rep2.done_before, rep2.computed, again.calls) == (10, 0, 0)


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    store = ResultStore(tmp_path / "s", "square:v1")
    with pytest.raises(KeyboardInterrupt):
        run_batch(_items(12), Square(stop_at="k9"), store, BatchOptions(batch_size=3))
    assert sorted(p.name.split(".")[0] for p in store.folder.glob("*.npz")) == sorted(f"k{i}" for i in range(9))   # batches k0-2, k3-5, k6-8
    assert not [p for p in store.folder.iterdir() if ".tmp" in p.name]      # no half-written file
    rest = Square()
    rep = run_batch(_items(12), rest, store, BatchOptions(batch_size=3))
    assert (rep.done_before, rep.computed, rest.calls) == (9, 3, 3)


def test_stores_refuse_mixing_and_options_validate(tmp_path):
    ResultStore(tmp_path / "s", "square:v1")
    with pytest.raises(BatchError, match="another stage or model"):
        ResultStore(tmp_path / "s", "invert:other-generator")
    with pytest.raises(BatchError, match="unique"):
        run_batch([{"key": "a", "x": 1}, {"key": "a", "x": 2}], Square(), ResultStore(tmp_path / "t", "square:v1"))
    with pytest.raises(OptionsError, match="batch_size"):
        BatchOptions(batch_size=0).validate()
    with pytest.raises(OptionsError, match="ray"):
        BatchOptions(ray=" ").validate()


@pytest.fixture(scope="module")
def ray_cluster():
    import ray  # a dependency of the test extras: its absence fails the suite, it does not skip
    # Workers unpickle this module's stage by value (they cannot import the tests package).
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_run_matches_local_and_loads_models_once_per_actor(tmp_path, ray_cluster):
    logs = tmp_path / "log"
    logs.mkdir()
    store = ResultStore(tmp_path / "ray", "square:v1")
    rep = run_batch(_items(24, neg={5}), Square(log_dir=str(logs)), store, BatchOptions(ray="auto", batch_size=4))
    assert (rep.computed, rep.backend) == (24, "ray")
    assert rep.errors == [("k5", "negative")]
    local = ResultStore(tmp_path / "local", "square:v1")
    run_batch(_items(24, neg={5}), Square(), local)
    for i in range(24):
        a, b = store.get(f"k{i}"), local.get(f"k{i}")
        assert set(a) == set(b)
        if "y" in a:
            np.testing.assert_array_equal(a["y"], b["y"])
    pids = {int(p.name.split(".")[1]) for p in logs.iterdir()}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2        # ran on the actors, not the driver


@pytest.mark.slow
def test_ray_worker_killed_mid_run_costs_only_its_batch(tmp_path, ray_cluster):
    logs = tmp_path / "log"
    logs.mkdir()
    store = ResultStore(tmp_path / "ray", "square:v1")
    rep = run_batch(_items(20), Square(log_dir=str(logs), kill_once_at="k9"), store,
                    BatchOptions(ray="auto", batch_size=2, workers=2))
    assert (logs / "killed").is_file()                            # a worker really died
    assert rep.computed == 20 and not rep.errors
    for i in range(20):
        assert store.get(f"k{i}")["y"][0] == i * i
    killed_pid = int((logs / "killed").read_text())
    redone = [p for p in logs.iterdir() if p.name.startswith("k9.")]
    assert redone and all(int(p.name.split(".")[1]) != killed_pid for p in redone)


def test_video_frames_seek_to_the_wanted_frames(tmp_path):
    """Frames decoded after a seek are the same frames as a decode from the start."""
    import av

    from facereel.batch.stages import _video_frames

    path = tmp_path / "v.mp4"
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=25, options={"g": "10"})
        st.width = st.height = 64
        st.pix_fmt = "yuv420p"
        for i in range(60):
            f = np.zeros((64, 64, 3), np.uint8)
            f[:] = 4 * i                                 # frame i is identifiable by its grey level
            for p in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    got = _video_frames(str(path), [33, 47, 52])
    assert sorted(got) == [33, 47, 52]
    for i, img in got.items():
        assert abs(float(img.mean()) - 4 * i) < 1.5
    assert sorted(_video_frames(str(path), [0, 5])) == [0, 5]


def _reference_labels(n):
    from facereel.checkpoints.loaders import load_generator
    from facereel.latent.labels import FaceLabeller, sample_labelled
    from facereel.latent.space import to_uint8

    G = load_generator("dcgan-digiface", device="cpu")
    lab = FaceLabeller.for_labels(["age"])
    import torch

    with torch.inference_mode():
        lab.calibrate(to_uint8(G.synthesize(G.sample(list(range(16))))))
    try:
        return sample_labelled(G, n, seed=3, batch=7, labeller=lab)
    finally:
        lab.close()


def test_labelled_samples_through_the_batch_layer_match_in_process(tmp_path):
    from facereel.batch.stages import sample_labelled_batched

    X, labels = sample_labelled_batched("dcgan-digiface", 10, ["age"], tmp_path / "s", seed=3, device="cpu",
                                        options=BatchOptions(batch_size=4))
    X0, labels0 = _reference_labels(10)
    np.testing.assert_allclose(X, X0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(labels["age"], labels0["age"], rtol=0, atol=1e-4)


@pytest.mark.slow
def test_labelled_samples_on_ray_match_in_process(tmp_path, ray_cluster):
    from facereel.batch.stages import sample_labelled_batched

    X, labels = sample_labelled_batched("dcgan-digiface", 10, ["age"], tmp_path / "s", seed=3, device="cpu",
                                        options=BatchOptions(ray="auto", batch_size=3))
    X0, labels0 = _reference_labels(10)
    np.testing.assert_allclose(X, X0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(labels["age"], labels0["age"], rtol=0, atol=1e-4)


# ----------------------------------------------------------------------------- many videos


def _walk_options(**kw):
    from facereel.options.walk import WalkOptions

    return WalkOptions(**{"mode": "random", "frames": 8, "keypoints": 2, "batch": 4, "device": "cpu", **kw}).validate()


def _frames(path):
    from facereel.metrics.video_io import read_frames

    return np.stack(list(read_frames(str(path))))


def test_many_walks_in_process_resume_and_match_single_renders(tmp_path):
    from facereel.options.batch import BatchRenderOptions
    from facereel.pipelines.latent import render_walk, render_walks

    opts = _walk_options()
    render = BatchRenderOptions(out_dir=str(tmp_path / "v"), seeds=(0, 1, 2)).validate()
    rep = render_walks(opts, render, BatchOptions(batch_size=2))
    assert (rep.total, rep.computed, rep.errors, rep.backend) == (3, 3, [], "local")
    videos = sorted((tmp_path / "v").glob("*.mp4"))
    assert [p.name for p in videos] == ["random-seed0.mp4", "random-seed1.mp4", "random-seed2.mp4"]
    assert not [p for p in (tmp_path / "v").iterdir() if ".tmp" in p.name]
    single = render_walk(dataclasses_replace(opts, seed=1, output=str(tmp_path / "one.mp4")))
    a, b = _frames(tmp_path / "v" / "random-seed1.mp4"), _frames(tmp_path / "one.mp4")
    assert a.shape == b.shape == (8, 64, 64, 3) and single["frames"] == 8
    np.testing.assert_array_equal(a, b)                        # the batch renders the same video
    assert np.abs(a[0].astype(int) - _frames(videos[0])[0].astype(int)).mean() > 5   # seeds differ
    mtimes = {p.name: p.stat().st_mtime_ns for p in videos}
    rep2 = render_walks(opts, render)
    assert (rep2.done_before, rep2.computed) == (3, 0)
    assert {p.name: p.stat().st_mtime_ns for p in videos} == mtimes   # nothing rewritten
    videos[2].unlink()                                         # a deleted video is rendered again
    rep3 = render_walks(opts, render)
    assert (rep3.done_before, rep3.computed) == (2, 1) and videos[2].is_file()
    with pytest.raises(BatchError, match="another stage or model"):   # other settings: another folder
        render_walks(_walk_options(frames=9), render)


def dataclasses_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


def test_a_failed_video_is_reported_the_rest_written_and_a_rerun_retries_it(tmp_path):
    from facereel.batch.render import render_many
    from facereel.pipelines.latent import WalkJob

    out = tmp_path / "v"
    items = [{"key": "a", "seed": 0, "output": str(out / "a.mp4")},
             {"key": "bad", "seed": 1, "output": str(out / "bad.xyz")},      # no writer for .xyz
             {"key": "c", "seed": 2, "output": str(out / "c.mp4")}]
    rep = render_many(items, WalkJob(_walk_options()), out)
    assert [k for k, _ in rep.errors] == ["bad"] and "xyz" in rep.errors[0][1]
    assert (out / "a.mp4").is_file() and (out / "c.mp4").is_file() and not (out / "bad.xyz").exists()
    items[1]["output"] = str(out / "bad.mp4")
    rep2 = render_many(items, WalkJob(_walk_options()), out)
    assert (rep2.done_before, rep2.computed, rep2.errors) == (2, 1, [])
    assert _frames(out / "bad.mp4").shape[0] == 8


def _manifest(folder, n, seed):
    import cv2

    from facereel.manifest import Manifest, PhotoEntry, save_manifest

    folder.mkdir(parents=True, exist_ok=True)
    photos = []
    for i in range(n):
        img = cv2.GaussianBlur((np.random.default_rng(seed + i).random((96, 96, 3)) * 255).astype(np.uint8), (0, 0), 3)
        cv2.imwrite(str(folder / f"p{i}.png"), img)
        photos.append(PhotoEntry(path=str(folder / f"p{i}.png"), chosen=0, quad=[[16, 16], [16, 80], [80, 80], [80, 16]],
                                 faces=[{"box": [16, 16, 80, 80]}], order=i))
    return save_manifest(Manifest(photos=photos), folder / f"person{seed}.json")


def test_timelapses_of_several_manifests(tmp_path):
    from facereel.options.batch import BatchRenderOptions
    from facereel.options.timelapse import TimelapseOptions
    from facereel.pipelines.timelapse import render_timelapses

    ms = [_manifest(tmp_path / "a", 3, 0), _manifest(tmp_path / "b", 2, 10), tmp_path / "missing.json"]
    opts = TimelapseOptions(engine="crossfade", frames_per_gap=4, size=64).validate()
    render = BatchRenderOptions(out_dir=str(tmp_path / "v")).validate()
    rep = render_timelapses(ms, opts, render)
    assert [k for k, _ in rep.errors] == ["missing"]
    assert _frames(tmp_path / "v" / "person0.mp4").shape[0] == 9 and _frames(tmp_path / "v" / "person10.mp4").shape[0] == 5
    assert (render_timelapses(ms[:2], opts, render).computed, render_timelapses(ms[:2], opts, render).done_before) == (0, 2)


@pytest.mark.slow
def test_many_walks_on_ray_match_in_process(tmp_path, ray_cluster):
    from facereel.options.batch import BatchRenderOptions
    from facereel.pipelines.latent import render_walks

    opts = _walk_options()
    ray_out = BatchRenderOptions(out_dir=str(tmp_path / "ray"), seeds=(3, 4, 5)).validate()
    rep = render_walks(opts, ray_out, BatchOptions(ray="auto", batch_size=1, workers=2))
    assert (rep.computed, rep.errors, rep.backend) == (3, [], "ray")
    local = BatchRenderOptions(out_dir=str(tmp_path / "local"), seeds=(3, 4, 5)).validate()
    render_walks(opts, local)
    for s in (3, 4, 5):
        np.testing.assert_array_equal(_frames(tmp_path / "ray" / f"random-seed{s}.mp4"),
                                      _frames(tmp_path / "local" / f"random-seed{s}.mp4"))
    rep2 = render_walks(opts, ray_out, BatchOptions(ray="auto", batch_size=1))
    assert (rep2.done_before, rep2.computed) == (3, 0)
