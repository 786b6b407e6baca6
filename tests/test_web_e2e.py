"""The web app with the real pipelines (analysis, aligned crops, time-lapse) on the sample
photos, through the seed's endpoints, and ``facereel serve`` itself."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")


@pytest.mark.slow
def test_seed_endpoints_with_the_real_pipelines(tmp_path, samples):
    from fastapi.testclient import TestClient
    from PIL import Image

    from facereel.web.app import create_app
    from facereel.web.pipeline import Pipelines

    names = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]
    with TestClient(create_app({"data_dir": tmp_path / "data"})) as c:
        r = c.post("/uploadFile", files=[("image", (n, (samples / n).read_bytes(), "image/jpeg")) for n in names])
        assert r.status_code == 200, r.text
        rows = r.json()
        assert len(rows) == 4
        recommended = {bool(rec) for _, _, rec in rows}
        assert recommended == {True, False}
        assert sum(rec for _, _, rec in rows) == 1          # biden.jpg, another person
        ages = [a for _, a, _ in rows]
        assert all(15 < a < 90 for a in ages)
        for path, _, _ in rows:
            img = c.get(f"/storage/{path}")
            assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
            assert Image.open(io.BytesIO(img.content)).size == (256, 256)

        keep = [{"path": p, "age": a} for p, a, rec in rows if not rec]
        gif = c.post("/generateGif", json={"encoder": "pixel", "frames": 3, "opacity": 50, "size": 256, "items": keep})
        assert gif.status_code == 200, gif.text
        assert gif.headers["content-type"] == "image/gif"
        with Image.open(io.BytesIO(gif.content)) as im:
            assert im.format == "GIF" and im.size == (256, 256) and im.n_frames >= 3 * (len(keep) - 1)

        ok, _ = Pipelines().latent_status("psp")
        if not ok:
            r = c.post("/generateGif", json={"encoder": "psp", "frames": 3, "size": 256, "items": keep})
            assert r.status_code == 422 and "weights" in r.text


@pytest.mark.slow
def test_real_latent_options_shape():
    from facereel.web.pipeline import Pipelines

    opts = Pipelines().latent_options()
    assert set(opts) == {"generators", "methods", "needs"}
    ok, reason = Pipelines().latent_status("psp")
    assert ok or ("psp" in reason and "not installed" in reason)
    ok, reason = Pipelines().latent_status(None, "no-such-generator")
    assert not ok and "not installed" in reason


def _non_loopback_address() -> str | None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))   # no packet is sent; picks the outgoing interface
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


def test_facereel_serve_binds_loopback_and_stops_cleanly(tmp_path):
    from tests.helpers.web import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "facereel.cli", "serve", "--port", str(port), "--data-dir",
                             str(tmp_path / "data")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        ok = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ok = httpx.get(f"http://127.0.0.1:{port}/api/config", timeout=2).status_code == 200
            except httpx.HTTPError:
                pass
            if ok:
                break
            time.sleep(0.2)
        assert ok, "facereel serve did not answer"
        assert (tmp_path / "data" / "facereel.sqlite3").is_file()
        # not reachable through this machine's other addresses
        other = _non_loopback_address()
        if other is not None:
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://{other}:{port}/api/config", timeout=2)
        # a page of another site cannot reach it through a rebound DNS name
        r = httpx.get(f"http://127.0.0.1:{port}/api/config", headers={"Host": f"attacker.example:{port}"}, timeout=5)
        assert r.status_code == 400
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    text = out.decode(errors="replace")
    assert f"http://127.0.0.1:{port}/" in text
    assert "Traceback" not in text


def test_facereel_serve_reports_a_busy_port(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "facereel.cli", "serve", "--port", str(port), "--data-dir",
                            str(tmp_path / "data")], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr + r.stdout
