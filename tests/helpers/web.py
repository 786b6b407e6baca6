"""Helpers of the web tests: a stand-in pipeline, a real uvicorn server in a subprocess, a fake
search server on 127.0.0.1, and small image builders.

Run as a script it serves the app: ``python tests/helpers/web.py --data-dir D --port P
[--fake [--frame-delay S]]`` (the restart test kills that process mid-render).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parents[2]  # the repository


# ----------------------------------------------------------------------------- images

def jpeg_bytes(w: int = 64, h: int = 48, seed: int = 0, exif_gps: bool = False) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    buf = io.BytesIO()
    if exif_gps:
        exif = Image.Exif()
        exif[0x010F] = "FakeCam"                              # Make
        exif.get_ifd(0x8769)[0x9003] = "2004:07:27 20:00:00"  # DateTimeOriginal
        exif.get_ifd(0x8825)[2] = (50.0, 5.0, 0.0)            # GPSLatitude
        exif.get_ifd(0x8825)[1] = "N"
        im.save(buf, format="JPEG", exif=exif, quality=90)
    else:
        im.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def png_bytes(w: int = 40, h: int = 30, seed: int = 1) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def bomb_png(side: int = 60000) -> bytes:
    """A valid PNG announcing side x side pixels whose compressed data is tiny (zlib of zeros)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)   # 8-bit greyscale
    raw = zlib.compress(b"\x00" * (side + 1) * 64, 9)            # a few rows; a decoder would want all
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


# ----------------------------------------------------------------------------- fake pipeline

class FakePipelines:
    """Stand-in for :class:`facereel.web.pipeline.Pipelines`: every photo has one face whose age
    is the photo's mean brightness / 2; renders write a GIF frame by frame, slowly if asked,
    to a file that grows while it renders (like a real video writer)."""

    def __init__(self, frame_delay: float = 0.0):
        self.frame_delay = frame_delay
        self.renders: list[dict] = []

    def analyze(self, paths, *, size, progress=None):
        from facereel.faces.io import load_image
        from facereel.manifest import Manifest, PhotoEntry

        entries = []
        for n, p in enumerate(paths, 1):
            img = load_image(p)
            h, w = img.rgb.shape[:2]
            e = PhotoEntry(path=str(p), sha256=img.sha256, faces=[{"box": [0, 0, w, h], "score": 1.0}], chosen=0,
                           quad=[[0, 0], [0, h], [w, h], [w, 0]], age_estimated=float(img.rgb.mean() / 2),
                           width=w, height=h)
            e.age = e.age_estimated
            entries.append(e)
            if progress:
                progress(n, len(paths))
        m = Manifest(photos=entries)
        m.reorder()
        return m

    def thumbnail(self, entry, size):
        from PIL import Image

        with Image.open(entry.path) as im:
            return np.asarray(im.convert("RGB").resize((size, size)))

    def latent_status(self, method=None, generator=None, encoder=None):
        return False, "the latent engine needs weights that are not installed (fake)"

    def timelapse_error(self):
        return (ValueError,)

    def render(self, manifest, output, options, *, progress=None, prepare_progress=None):
        from PIL import Image

        engine, frames, size = options.engine, options.frames_per_gap, options.size
        entries = manifest.ordered()
        if len(entries) < 2:
            raise ValueError("need two photos")
        self.renders.append({"engine": engine, "frames": frames, "size": size, "paths": [e.path for e in entries],
                             "ages": [e.age for e in entries], "options": options})
        total = frames * (len(entries) - 1) + 1
        if prepare_progress:
            prepare_progress(len(entries), len(entries))
        with open(output, "wb") as f:
            for i in range(total):
                f.write(b"\0" * 1024)         # a partial, unplayable file while rendering
                f.flush()
                if progress:
                    progress(i + 1, total)
                if self.frame_delay:
                    time.sleep(self.frame_delay)
        ims = [Image.new("RGB", (size, size), (int(255 * i / total), 0, 0)) for i in range(min(total, 8))]
        ims[0].save(output, format="GIF", save_all=True, append_images=ims[1:], duration=40, loop=0)


# ----------------------------------------------------------------------------- real server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``facereel`` web app under uvicorn in a subprocess on 127.0.0.1 (bounded start-up)."""

    def __init__(self, data_dir: Path, fake: bool = False, frame_delay: float = 0.0, extra: list[str] | None = None,
                 log_path: Path | None = None, env: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.env = env or {}
        self.fake = fake
        self.frame_delay = frame_delay
        self.extra = extra or []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or (self.data_dir.parent / f"server-{self.port}.log")
        self.proc: subprocess.Popen | None = None

    def log(self) -> str:
        """What the server wrote to its log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 60.0) -> ServerProcess:
        import httpx

        cmd = [sys.executable, str(Path(__file__).resolve()), "--data-dir", str(self.data_dir), "--port", str(self.port)]
        if self.fake:
            cmd += ["--fake", "--frame-delay", str(self.frame_delay)]
        cmd += self.extra
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "2", **self.env}
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/api/config", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"server did not start in {timeout} s: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to clean up (a crash, a power cut)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        with contextlib.suppress(Exception):
            self._log.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        with contextlib.suppress(Exception):
            self._log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def raw_get(port: int, target: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET with the request target sent byte for byte (no client-side ``..`` normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body


# ----------------------------------------------------------------------------- fake search

class FakeSearch:
    """A Custom Search JSON API look-alike plus an image host, on 127.0.0.1.

    ``routes`` maps image paths to (status, content-type, body, delay seconds) and
    ``results`` maps a query substring to the list of paths it returns."""

    def __init__(self, routes: dict[str, tuple[int, str, bytes, float]], results: dict[str, list[str]],
                 key: str = "test-key", cx: str = "test-cx"):
        self.routes = routes
        self.results = results
        self.key, self.cx = key, cx
        self.queries: list[dict] = []
        self.hits: list[str] = []
        self.hosts: list[str] = []       # the Host header of every request
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                u = urlsplit(self.path)
                outer.hits.append(u.path)
                outer.hosts.append(self.headers.get("Host", ""))
                if u.path == "/customsearch/v1":
                    q = {k: v[0] for k, v in parse_qs(u.query).items()}
                    outer.queries.append(q)
                    if q.get("key") != outer.key or q.get("cx") != outer.cx:
                        return self._send(403, "application/json",
                                          json.dumps({"error": {"code": 403, "message": "API key not valid"}}).encode())
                    links = []
                    for frag, paths in outer.results.items():
                        if frag in q.get("q", ""):
                            links = paths
                            break
                    items = [{"link": f"{outer.url}{p}", "title": p} for p in links[: int(q.get("num", 10))]]
                    return self._send(200, "application/json", json.dumps({"items": items}).encode())
                route = outer.routes.get(u.path)
                if route is None:
                    return self._send(404, "text/plain", b"not found")
                status, ctype, body, delay = route
                if delay:
                    # headers first, then the body trickles: only a read timeout can stop it
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    try:
                        for i in range(0, len(body), 256):
                            time.sleep(delay)
                            self.wfile.write(body[i:i + 256])
                            self.wfile.flush()
                    except OSError:
                        pass
                    return
                self._send(status, ctype, body)

            def _send(self, status, ctype, body):
                self.send_response(status)
                if 300 <= status < 400:   # a redirect's body is its target
                    self.send_header("Location", body.decode())
                    body = b""
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None   # clients that hang up are expected
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.endpoint = self.url + "/customsearch/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- API client steps

def sse(client, jid, timeout=30):
    """All events of a job's SSE stream as (event, data) pairs."""
    events = []
    with client.stream("GET", f"/api/jobs/{jid}/events") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))
    return events


def new_project(client):
    r = client.post("/api/projects", json={"name": "t"})
    assert r.status_code == 201
    return r.json()["id"]


def upload(client, pid, files):
    return client.post(f"/api/projects/{pid}/photos", files=[("files", f) for f in files])


def analysed_project(client, n=3):
    pid = new_project(client)
    r = upload(client, pid, [(f"p{i}.jpg", jpeg_bytes(64 + 8 * i, 48, seed=i), "image/jpeg") for i in range(n)])
    assert r.status_code == 201, r.text
    events = sse(client, r.json()["job"]["id"])
    assert events[-1][0] == "done", events
    return pid


# ----------------------------------------------------------------------------- script: serve

def _serve() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fake", action="store_true")
    ap.add_argument("--frame-delay", type=float, default=0.0)
    ap.add_argument("--search-endpoint", default=None, help="a FakeSearch endpoint (key test-key, cx test-cx)")
    ap.add_argument("--cors-origin", action="append", default=[])
    ap.add_argument("--header-timeout", type=float, default=None)
    ap.add_argument("--body-timeout", type=float, default=None)
    args = ap.parse_args()
    from facereel.web.app import create_app
    from facereel.web.server import log_to_stderr, serve

    cfg = {"data_dir": args.data_dir}
    if args.fake:
        cfg["pipelines"] = FakePipelines(frame_delay=args.frame_delay)
    if args.search_endpoint:
        cfg.update(google_api_key="test-key", google_cse_id="test-cx", search_endpoint=args.search_endpoint,
                   crawl_allow_private=True, crawl_timeout=2.0, crawl_total_timeout=4.0)
    if args.cors_origin:
        cfg["cors_origins"] = args.cors_origin
    if args.header_timeout is not None:
        cfg["header_timeout"] = args.header_timeout
    if args.body_timeout is not None:
        cfg["body_timeout"] = args.body_timeout
    log_to_stderr()
    serve(create_app(cfg), "127.0.0.1", args.port)


if __name__ == "__main__":
    _serve()
