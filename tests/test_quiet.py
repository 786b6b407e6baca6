"""Third-party native log noise is kept off a command's stderr unless -v (issue 16), and
onnxruntime's telemetry is off before any session exists (issue 17 item 9)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from facereel.commands._quiet import is_noise, verbose_requested

SRC = str(Path(__file__).resolve().parents[1] / "src")

NOISY = [
    b"WARNING: Logging before InitGoogle() is written to STDERR",
    b"W0000 00:00:1796196904.972208    5641 face_landmarker_graph.cc:181] Sets FaceBlendshapesGraph "
    b"acceleration to xnnpack by default.",
    b"I0000 00:00:1700000000.000000    12 gl_context.cc:357] GL version: 3.2",
    b"W1202 07:09:14.123456  5645 inference_feedback_manager.cc:121] Feedback manager requires a model",
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    b"2026-12-02 07:09:14.123456 [W:onnxruntime:, session_state.cc:1166 VerifyEachNodeIsAssignedToAnEp] x",
]
KEPT = [
    b"E0000 00:00:1796196904.972208    5641 calculator_graph.cc:887] a real native error",
    b"error: no photo of the person found",
    b"Traceback (most recent call last):",
    b"analysing photos ---- 2/2",
]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_noise_patterns():
    assert all(is_noise(line) for line in NOISY)
    assert not any(is_noise(line) for line in KEPT)
    assert verbose_requested(["-v", "analyze", "x"]) and verbose_requested(["--verbose", "analyze"])
    assert not verbose_requested(["analyze", "-v"]) and not verbose_requested(["analyze", "x"])


def test_filter_drops_native_noise_and_passes_the_rest():
    """Native writes to fd 2 go through the filter; Python's stderr reaches the terminal as is."""
    code = textwrap.dedent("""
        import os, sys
        from facereel.commands._quiet import quiet_third_party
        quiet_third_party()
        for line in NOISY + KEPT:
            os.write(2, line + b"\\n")
        os.write(2, b"partial line without newline")
        sys.stderr.write("python stderr line\\n")
        """)
    res = subprocess.run([sys.executable, "-c", f"NOISY = {NOISY!r}\nKEPT = {KEPT!r}\n" + code],
                         capture_output=True, env=_env(), timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert [ln for ln in lines if ln in NOISY] == []
    for line in KEPT + [b"python stderr line", b"partial line without newline"]:
        assert line in lines, (line, res.stderr)


@pytest.fixture(scope="module")
def two_photos(samples):
    return [str(samples / "obama.jpg"), str(samples / "obama2.jpg")]


def test_a_command_has_a_clean_stderr(two_photos, tmp_path):
    """The real command line (MediaPipe runs in analysis and the morph): nothing but facereel's
    own progress and messages on stderr; with -v the native lines are let through."""
    out = tmp_path / "t.mp4"
    cmd = [sys.executable, "-m", "facereel.cli"]
    args = ["timelapse", *two_photos, "-o", str(out), "--frames", "2", "--size", "128"]
    res = subprocess.run(cmd + args, capture_output=True, env=_env(), timeout=600)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert out.is_file()
    text = res.stderr.decode(errors="replace")
    noise = [ln for ln in res.stderr.splitlines() if is_noise(ln)]
    assert not noise, text
    for word in ("W0000", "InitGoogle", "TensorFlow Lite", "onnxruntime", "absl", "Warning:"):
        assert word not in text, text
    assert not re.search(r"^\S+\.py:\d+: \w*Warning", text, re.M), text
    loud = subprocess.run(cmd + ["-v"] + args, capture_output=True, env=_env(), timeout=600)
    assert loud.returncode == 0
    assert len(loud.stderr) > len(res.stderr)   # debug logging (and any native lines) shown


def test_bad_input_is_still_one_clear_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "facereel.cli", "generate", "--batch", "0",
                          "-o", str(tmp_path / "g.png")], capture_output=True, env=_env(), timeout=300)
    assert res.returncode == 1
    assert res.stderr.decode().strip().splitlines() == ["error: --batch: must be a whole number >= 1, got 0"]


def test_onnxruntime_telemetry_off_before_any_session(monkeypatch, tmp_path):
    """faces._models makes every onnxruntime session, and turns telemetry off first."""
    import types

    from facereel.faces import _models

    calls = []
    fake = types.SimpleNamespace(
        disable_telemetry_events=lambda: calls.append("telemetry off"),
        set_default_logger_severity=lambda level: calls.append(f"severity {level}"),
        SessionOptions=lambda: types.SimpleNamespace(),
        GraphOptimizationLevel=types.SimpleNamespace(ORT_DISABLE_ALL="off"),
        InferenceSession=lambda *a, **k: calls.append("session") or "S",
    )
    monkeypatch.setitem(sys.modules, "onnxruntime", fake)
    _models._onnxruntime.cache_clear()
    try:
        assert _models.onnx_session(tmp_path / "m.onnx") == "S"
        _models.onnx_session(tmp_path / "m.onnx")
    finally:
        _models._onnxruntime.cache_clear()
    assert calls == ["telemetry off", "severity 3", "session", "session"]


def test_sessions_are_made_in_one_place():
    src = Path(SRC) / "facereel"
    makers = [str(p.relative_to(src)) for p in src.rglob("*.py") if "InferenceSession(" in p.read_text()]
    assert makers == ["faces/_models.py"]
