"""facereel.core: the one atomic write, the device rule, the error base (issue 15, deliverable 5)."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import stat
import threading

import pytest

from facereel.core.atomic import atomic_path, atomic_write, check_writable, write_bytes, write_text
from facereel.core.device import resolve_device
from facereel.core.errors import FacereelError


def test_atomic_write_lands_whole_or_not_at_all(tmp_path):
    out = tmp_path / "sub" / "report.json"
    write_text(out, "old\n")
    with pytest.raises(RuntimeError), atomic_write(out, "w") as f:
        f.write("half of the new")
        raise RuntimeError("interrupted")
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.json"]   # no temporary left
    write_bytes(out, b"new")
    assert out.read_bytes() == b"new"
    with pytest.raises(ValueError):
        with atomic_write(out, "a"):
            pass


def test_temp_names_are_unique_keep_the_suffix_and_live_beside_the_target(tmp_path):
    target = tmp_path / "video.mp4"
    names = []
    with atomic_path(target) as a, atomic_path(target) as b:
        names += [a, b]
        assert a != b and a.parent == b.parent == tmp_path
        assert a.suffix == ".mp4" and a.name.startswith(".video.")
        a.write_bytes(b"a")
        b.write_bytes(b"b")
    # the inner block finishes first: the last writer to finish wins, whole
    assert target.read_bytes() == b"a" and not any(p.exists() for p in names)


def test_concurrent_writers_never_mix(tmp_path):
    target = tmp_path / "x.bin"

    def writer(k):
        for _ in range(20):
            write_bytes(target, bytes([k]) * 50_000)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    data = target.read_bytes()
    assert len(data) == 50_000 and len(set(data)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_outputs_get_the_mode_a_plain_open_gives(tmp_path):
    old = os.umask(0o027)
    try:
        write_text(tmp_path / "a.txt", "x")
        with atomic_path(tmp_path / "frames", directory=True) as d:
            (d / "f.png").write_bytes(b"")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "frames").stat().st_mode) == 0o750
    assert (tmp_path / "frames" / "f.png").is_file()


def test_directory_replaces_the_old_folder_as_a_whole(tmp_path):
    target = tmp_path / "frames"
    target.mkdir()
    (target / "old.png").write_bytes(b"")
    with pytest.raises(KeyboardInterrupt), atomic_path(target, directory=True) as d:
        (d / "new.png").write_bytes(b"")
        raise KeyboardInterrupt
    assert [p.name for p in target.iterdir()] == ["old.png"]
    with atomic_path(target, directory=True) as d:
        (d / "new.png").write_bytes(b"")
    assert [p.name for p in target.iterdir()] == ["new.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]


def test_check_writable(tmp_path):
    assert check_writable(tmp_path / "a" / "b" / "out.png") == tmp_path / "a" / "b"
    (tmp_path / "file").write_text("")
    with pytest.raises(FacereelError, match="cannot write"):
        check_writable(tmp_path / "file" / "out.png")       # a file where a folder should be


def test_resolve_device():
    import torch

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    want = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    assert resolve_device("auto") == resolve_device(None) == resolve_device(" AUTO ") == want
    with pytest.raises(FacereelError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(FacereelError, match="no CUDA"):
            resolve_device("cuda:0")


#: exceptions used for control flow, not errors a user sees
CONTROL_FLOW = {"facereel.web.jobs.JobCancelled", "facereel.web.guard._TooLarge", "facereel.web.guard._Stalled"}


def test_every_library_error_is_a_facereel_error():
    import facereel

    bad = []
    for info in pkgutil.walk_packages(facereel.__path__, "facereel."):
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == mod.__name__
                    and f"{mod.__name__}.{name}" not in CONTROL_FLOW and not issubclass(obj, FacereelError)):
                bad.append(f"{mod.__name__}.{name}")
            if inspect.isclass(obj) and issubclass(obj, FacereelError) and obj.__module__ == mod.__name__:
                assert 400 <= obj.http_status < 600, (name, obj.http_status)
    assert not bad, bad
    # the names and the other bases stay, so `except ValueError` callers keep working
    from facereel.manifest import ManifestError
    from facereel.pipelines.timelapse import TimelapseError
    from facereel.render.video import VideoError

    assert all(issubclass(e, ValueError) for e in (ManifestError, TimelapseError, VideoError))
