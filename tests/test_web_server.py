"""The web app under a real uvicorn server on 127.0.0.1 (a subprocess, random free port):
upload fuzzing while other requests are served, path traversal with raw request targets,
and the restart after a kill in the middle of a render."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from tests.helpers.web import ServerProcess, bomb_png, jpeg_bytes, raw_get  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("web") / "data", fake=True)
    srv.start()
    yield srv
    srv.stop()


def test_binds_loopback_and_serves_the_page(server):
    r = httpx.get(server.url + "/", timeout=10)
    assert r.status_code == 200 and "facereel" in r.text
    assert httpx.get(server.url + "/openapi.json", timeout=10).json()["info"]["title"] == "facereel"


def test_upload_fuzz_while_serving(server):
    pid = httpx.post(server.url + "/api/projects", json={}, timeout=10).json()["id"]
    url = f"{server.url}/api/projects/{pid}/photos"
    bad = [
        ("empty.jpg", b"", 400),
        ("truncated.jpg", jpeg_bytes(300, 300)[:700], 422),
        ("bomb.png", bomb_png(), 413),
        ("wrong-ext.jpg", b"%PDF-1.4 not a photo at all", 415),
        ("big.jpg", b"\xff\xd8\xff" + b"\0" * (21 * 1024 * 1024), 413),   # over the 20 MiB default
    ]
    stop = threading.Event()
    pings: list[int] = []

    def ping():
        with httpx.Client(timeout=10) as c:
            while not stop.is_set():
                pings.append(c.get(server.url + "/api/config").status_code)
                time.sleep(0.02)

    t = threading.Thread(target=ping)
    t.start()
    try:
        def send(case):
            name, data, _ = case
            return httpx.post(url, files=[("files", (name, data, "image/jpeg"))], timeout=60)

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(send, bad * 2))
    finally:
        stop.set()
        t.join(10)
    for (name, _, status), r in zip(bad * 2, results):
        assert r.status_code == status, (name, r.status_code, r.text[:200])
        assert r.json()["detail"], name
    assert pings and set(pings) == {200}
    # still healthy, and a good photo still goes through
    r = httpx.post(url, files=[("files", ("ok.jpg", jpeg_bytes(seed=4), "image/jpeg"))], timeout=30)
    assert r.status_code == 201


def test_chunked_body_over_the_limit_is_cut_off(server):
    pid = httpx.post(server.url + "/api/projects", json={}, timeout=10).json()["id"]
    sent = 0

    def body():   # no Content-Length: the server must count the streamed bytes
        nonlocal sent
        yield b"--x\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.jpg\"\r\n\r\n\xff\xd8\xff"
        for _ in range(2000):             # 2000 MiB if nobody stops it
            sent += 1
            yield b"\0" * (1024 * 1024)

    try:
        r = httpx.post(f"{server.url}/api/projects/{pid}/photos", content=body(), timeout=60,
                       headers={"content-type": "multipart/form-data; boundary=x"})
        assert r.status_code == 413
    except httpx.HTTPError:
        pass   # the server may close the connection while we still send: also a refusal
    assert sent < 300
    assert httpx.get(server.url + "/api/config", timeout=10).status_code == 200


@pytest.mark.parametrize("target", [
    "/static/../app.py",
    "/static/%2e%2e/app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e%2f%2e%2e%2fweb%2fapp.py",
    "/static/....//app.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/storage/../facereel.sqlite3",
    "/storage/..%2ffacereel.sqlite3",
    "/storage/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/storage/..%5c..%5cfacereel.sqlite3",
    "/api/projects/..%2f..%2ffacereel.sqlite3/items",
    "/api/jobs/..%2f..%2ffacereel.sqlite3/result",
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
])
def test_path_traversal_is_refused(server, target):
    status, body = raw_get(server.port, target)
    assert status in (400, 404, 405), (target, status)
    for secret in (b"SQLite format", b"root:x:0:0", b"def create_app", b"import "):
        assert secret not in body, target


def test_no_directory_listing(server):
    for target in ("/static/", "/static", "/storage/", "/storage", "/api/", "/api/projects/"):
        status, body = raw_get(server.port, target)
        assert status in (307, 404, 405), target   # 307: /static -> /static/, which is a 404
        assert b"app.js" not in body and b"index.html" not in body


def test_cors_is_off(server):
    r = httpx.options(server.url + "/api/projects", headers={"Origin": "http://192.168.1.50",
                                                            "Access-Control-Request-Method": "POST"}, timeout=10)
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.slow
def test_restart_after_a_kill_during_a_render(tmp_path, samples):
    """SIGKILL the server (real pipelines) while it renders an MP4; the next start marks the job
    failed and no half-written file exists anywhere."""
    from fastapi.testclient import TestClient

    from facereel.web.app import create_app

    data = tmp_path / "data"
    # the analysis runs in this process (its models are loaded once for all tests), the render
    # in the server that gets killed
    with TestClient(create_app({"data_dir": data})) as tc:
        pid = tc.post("/api/projects", json={}).json()["id"]
        r = tc.post(f"/api/projects/{pid}/photos",
                    files=[("files", (n, (samples / n).read_bytes(), "image/jpeg")) for n in ("obama.jpg", "obama2.jpg")])
        job = r.json()["job"]
        deadline = time.monotonic() + 180
        while tc.get(f"/api/jobs/{job['id']}").json()["status"] != "done" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(i["thumb_url"] for i in tc.get(f"/api/projects/{pid}/items").json())
    srv = ServerProcess(data).start()
    try:
        c = httpx.Client(base_url=srv.url, timeout=60)
        render = c.post(f"/api/projects/{pid}/renders",
                        json={"engine": "morph", "frames": 240, "size": 256, "format": "mp4"}).json()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            st = c.get(f"/api/jobs/{render['id']}").json()
            if st["status"] == "running" and st["message"] == "rendering" and st["done"] >= 3:
                break
            time.sleep(0.05)
        assert st["status"] == "running", st
        assert c.get(f"/api/jobs/{render['id']}/result").status_code == 409
        c.close()
    finally:
        srv.kill()
    partial = [p for p in (data / "tmp").rglob("*") if p.is_file()]
    assert partial and all(".mp4" in p.name for p in partial)   # the kill left a half-written video

    srv2 = ServerProcess(data).start()
    try:
        c = httpx.Client(base_url=srv2.url, timeout=30)
        st = c.get(f"/api/jobs/{render['id']}").json()
        assert st["status"] == "failed" and "server stopped" in st["error"]
        assert c.get(f"/api/jobs/{render['id']}/result").status_code == 404
        hist = c.get(f"/api/projects/{pid}/renders").json()
        assert hist[0]["id"] == render["id"] and hist[0]["status"] == "failed"
        assert not list((data / "tmp").rglob("*")) and not list((data / "projects" / pid / "renders").iterdir())
        # the project renders again after the restart
        again = c.post(f"/api/projects/{pid}/renders", json={"frames": 2, "size": 256, "format": "gif"}).json()
        deadline = time.monotonic() + 120
        while c.get(f"/api/jobs/{again['id']}").json()["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
        res = c.get(f"/api/jobs/{again['id']}/result")
        assert res.status_code == 200 and res.content[:3] == b"GIF"
        c.close()
    finally:
        srv2.stop()


def test_sigterm_is_graceful(tmp_path):
    """SIGTERM during a render: the job ends failed with a message (not "running"), its partial
    file is removed, and an open SSE stream gets its final event before the server exits."""
    data = tmp_path / "data"
    srv = ServerProcess(data, fake=True, frame_delay=0.05).start()
    events: list[tuple[str, dict]] = []
    try:
        c = httpx.Client(base_url=srv.url, timeout=30)
        pid = c.post("/api/projects", json={}).json()["id"]
        up = c.post(f"/api/projects/{pid}/photos",
                    files=[("files", (f"{i}.jpg", jpeg_bytes(seed=i), "image/jpeg")) for i in range(2)]).json()
        deadline = time.monotonic() + 20
        while c.get(f"/api/jobs/{up['job']['id']}").json()["status"] != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
        job = c.post(f"/api/projects/{pid}/renders", json={"frames": 200, "size": 256, "format": "gif"}).json()

        def follow():
            import json

            with httpx.stream("GET", f"{srv.url}/api/jobs/{job['id']}/events", timeout=30) as r:
                kind = None
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        events.append((kind, json.loads(line[6:])))

        t = threading.Thread(target=follow)
        t.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and c.get(f"/api/jobs/{job['id']}").json()["done"] < 5:
            time.sleep(0.05)
        assert any((data / "tmp").rglob("*.gif"))   # a partial file exists now
        c.close()
        t0 = time.monotonic()
        srv.proc.terminate()
        srv.proc.wait(20)
        stopped_in = time.monotonic() - t0
        t.join(10)
    finally:
        srv.kill()
    assert stopped_in < 10
    assert events and events[-1][0] == "failed" and "server stopped" in events[-1][1]["error"], events[-1:]
    assert not list((data / "tmp").rglob("*")) and not list((data / "projects" / pid / "renders").iterdir())
    from facereel.web.db import Database

    row = Database(data / "facereel.sqlite3").get_job(job["id"])
    assert row["status"] == "failed" and "server stopped" in row["error"]
    assert "Traceback" not in srv.log()


def test_slow_clients_are_cut_off(tmp_path):
    import socket

    with ServerProcess(tmp_path / "data", fake=True, extra=["--header-timeout", "1", "--body-timeout", "1"]) as srv:
        # headers trickled one line every 0.3 s: closed after about a second, not held forever
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            t0 = time.monotonic()
            closed = False
            for i in range(40):
                try:
                    s.sendall(f"X-Slow-{i}: 1\r\n".encode())
                    s.settimeout(0.3)
                    if s.recv(1) == b"":
                        closed = True
                        break
                except TimeoutError:
                    continue
                except OSError:
                    closed = True
                    break
            assert closed and time.monotonic() - t0 < 4
        # a body that stalls: 408
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(b"POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{\"name\": ")
            t0 = time.monotonic()
            answer = s.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - t0 < 4
        # normal clients are not affected
        assert httpx.get(srv.url + "/api/config", timeout=10).status_code == 200
