"""The findings of the security and fault probe of ``facereel serve`` (issue 17), one test each:
JSON bodies, unanalysed photos, crawl deadlines and gzip bombs, symlinks, NaN/Inf and ranges,
client-visible errors, concurrent uploads, accepted formats, the address filter, ``frames=true``
and a fast first ``/api/config``.  SIGTERM and slow clients need a real server:
test_web_server.py."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from facereel.web.app import create_app  # noqa: E402
from tests.helpers.web import (  # noqa: E402
    ROOT,
    FakePipelines,
    analysed_project,
    jpeg_bytes,
    new_project,
    png_bytes,
    sse,
    upload,
)


@pytest.fixture
def make_client(tmp_path):
    clients = []

    def make(**cfg):
        cfg.setdefault("data_dir", tmp_path / "data")
        cfg.setdefault("pipelines", FakePipelines())
        c = TestClient(create_app(cfg))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()


def thesis_upload(c, n, seed=0):
    r = c.post("/uploadFileAPI", files=[("image", (f"p{i}.jpg", jpeg_bytes(64, 64, seed=seed + i), "image/jpeg"))
                                        for i in range(n)])
    assert r.status_code == 200, r.text
    return r.json()


# ----------------------------------------------------------------------------- 1. JSON bodies

def test_json_bodies_are_capped_small_and_never_echoed(client):
    pid = analysed_project(client, 2)
    big = {"format": "gif", "engine": "morph", "padding": ["x" * 1000] * 600}   # ~600 kB
    r = client.post(f"/api/projects/{pid}/renders", json=big)
    assert r.status_code == 413 and "JSON body" in r.json()["detail"]
    # a 6 MB array never reaches the parser either, and the server keeps answering
    r = client.post("/generateGifAPI", content=b"[" + b"1," * 3_000_000 + b"1]",
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert client.get("/api/config").status_code == 200
    # a validation error names the field, never the value sent
    secret = "SECRET-INPUT-" + "y" * 50
    r = client.post(f"/api/projects/{pid}/renders", json={"format": "gif", "engine": secret})
    assert r.status_code == 422 and "engine" in r.json()["detail"] and secret not in r.text
    r = client.post("/generateGifAPI", json={"encoder": secret, "items": []})
    assert r.status_code == 422 and secret not in r.text
    r = client.post(f"/api/projects/{pid}/renders", content=b'{"format": "gif", "engine": ',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]


def test_json_is_parsed_off_the_event_loop(client, monkeypatch):
    from facereel.web import routing

    threads = []
    real = routing.loads

    def spy(body):
        threads.append(threading.current_thread().name)
        return real(body)

    monkeypatch.setattr(routing, "loads", spy)
    assert client.post("/api/projects", json={"name": "x"}).status_code == 201
    assert threads and threads[0] != threading.main_thread().name and "AnyIO" in threads[0]


# ----------------------------------------------------------------------------- 6. NaN, Infinity, ranges

@pytest.mark.parametrize("raw", [b'{"format": "gif", "opacity": NaN}', b'{"format": "gif", "opacity": Infinity}',
                                 b'{"format": "gif", "opacity": -Infinity}', b'{"format": "gif", "opacity": 1e999}'])
def test_nan_and_infinity_are_a_clean_422(client, raw):
    pid = analysed_project(client, 2)
    r = client.post(f"/api/projects/{pid}/renders", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"]
    iid = client.get(f"/api/projects/{pid}/items").json()[0]["id"]
    r = client.patch(f"/api/projects/{pid}/items/{iid}", content=b'{"age": NaN}',
                     headers={"content-type": "application/json"})
    assert r.status_code == 422 and "number" in r.json()["detail"]


def test_seed_generate_gif_validates_ranges_instead_of_clamping(client):
    rows = thesis_upload(client, 2)
    items = [{"id": i, "path": p, "age": a} for i, (p, a, _) in enumerate(rows, 1)]
    ok = {"encoder": "pixel", "size": "256", "frames": "3", "opacity": "50", "items": items}
    assert client.post("/generateGifAPI", json=ok).status_code == 200
    bad = [{"frames": 100000}, {"frames": "0"}, {"size": 99999}, {"size": "300"}, {"opacity": 101}, {"opacity": -1},
           {"frames": True}, {"size": True}, {"frames": "2.5"},
           {"items": [{**items[0], "age": -3}, items[1]]}, {"items": [{**items[0], "age": 1e308}, items[1]]},
           {"items": [{**items[0], "age": "-1e308"}, items[1]]}, {"items": items[:1]}]
    renders = len(client.app.state.web.pipelines.renders)
    for change in bad:
        r = client.post("/generateGifAPI", json={**ok, **change})
        assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith("text/plain"), (change, r.text)
        assert len(r.text) < 300
    for raw in (b'{"encoder": "pixel", "opacity": NaN, "items": []}', b'{"encoder": "pixel", "frames": 1e999}'):
        r = client.post("/generateGifAPI", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422
    assert len(client.app.state.web.pipelines.renders) == renders   # nothing was rendered clamped


def test_frames_true_is_refused(client):
    pid = analysed_project(client, 2)
    for bad in ({"frames": True}, {"size": True}, {"fps": False}, {"frames": "24"}):
        r = client.post(f"/api/projects/{pid}/renders", json={"format": "gif", **bad})
        assert r.status_code == 422, bad


# ----------------------------------------------------------------------------- 2. unanalysed photos

def test_unanalysed_photos_are_requeued_at_start_and_by_the_endpoint(tmp_path):
    data = tmp_path / "data"
    app = create_app({"data_dir": data, "pipelines": FakePipelines()})
    web = app.state.web
    pid = web.create_project()["id"]
    # as a kill during the analysis (or a 429 on upload) leaves them: stored, never analysed
    from facereel.web.uploads import validate_image

    for i in range(2):
        img = validate_image(jpeg_bytes(seed=40 + i), max_bytes=10**7, max_pixels=10**7)
        web.store_image(pid, img, f"k{i}.jpg")
    web.jobs.shutdown()
    web.db.close()
    with TestClient(create_app({"data_dir": data, "pipelines": FakePipelines()})) as c:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            items = c.get(f"/api/projects/{pid}/items").json()
            if all(i["state"] == "done" for i in items):
                break
            time.sleep(0.05)
        assert [i["state"] for i in items] == ["done", "done"] and all(i["thumb_url"] for i in items)
        # the endpoint (the page's button) does the same on demand
        r = c.post(f"/api/projects/{pid}/analyze")
        assert r.status_code == 202 and sse(c, r.json()["id"])[-1][0] == "done"
        empty = new_project(c)
        assert c.post(f"/api/projects/{empty}/analyze").status_code == 409


def test_a_failed_analysis_is_shown_as_failed_and_retried_by_reupload(make_client):
    class Broken(FakePipelines):
        fail = True

        def analyze(self, paths, *, size, progress=None):
            if self.fail:
                raise ValueError("the detector is broken today")
            return super().analyze(paths, size=size, progress=progress)

    pipes = Broken()
    c = make_client(pipelines=pipes)
    pid = new_project(c)
    photo = jpeg_bytes(seed=77)
    r = upload(c, pid, [("a.jpg", photo, "image/jpeg"), ("b.jpg", jpeg_bytes(seed=78), "image/jpeg")])
    assert sse(c, r.json()["job"]["id"])[-1][0] == "failed"
    items = c.get(f"/api/projects/{pid}/items").json()
    assert [i["state"] for i in items] == ["failed", "failed"]
    assert all("analysis failed" in i["error"] and "broken today" in i["error"] for i in items)
    # the same file again is not "already in the project": it is analysed again
    pipes.fail = False
    r = upload(c, pid, [("a.jpg", photo, "image/jpeg")])
    assert r.status_code == 201, r.text
    assert sse(c, r.json()["job"]["id"])[-1][0] == "done"
    assert [i["state"] for i in c.get(f"/api/projects/{pid}/items").json()] == ["done", "done"]
    # an analysed one still is a duplicate
    assert upload(c, pid, [("a.jpg", photo, "image/jpeg")]).status_code == 409


# ----------------------------------------------------------------------------- 3, 4. crawl downloads

class _Host:
    """An image host on 127.0.0.1 whose answers a test writes by hand."""

    def __init__(self, handler):

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                try:
                    handler(self)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *a: None
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_crawl_download_has_a_wall_clock_deadline():
    from facereel.web.crawl import download_image
    from facereel.web.uploads import UploadError

    body = jpeg_bytes(256, 256, seed=3)
    stop = threading.Event()

    def trickle(h):   # one byte every 20 ms: every read succeeds, the download never ends in time
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for b in body:
            if stop.is_set():
                return
            h.wfile.write(bytes([b]))
            h.wfile.flush()
            time.sleep(0.02)

    host = _Host(trickle)
    try:
        t0 = time.monotonic()
        with pytest.raises(UploadError, match="longer than 1 s"):
            download_image(host.url + "/x.jpg", timeout=5.0, total_timeout=1.0, max_bytes=10**7, max_pixels=10**7,
                           allow_private=True)
        assert time.monotonic() - t0 < 2.0
        # cancelling takes effect at the next byte, not the next 64 KiB
        flag = {"on": False}
        threading.Timer(0.3, lambda: flag.update(on=True)).start()
        t0 = time.monotonic()
        with pytest.raises(UploadError, match="cancelled"):
            download_image(host.url + "/x.jpg", timeout=5.0, total_timeout=30.0, max_bytes=10**7, max_pixels=10**7,
                           allow_private=True, cancelled=lambda: flag["on"])
        assert time.monotonic() - t0 < 1.5
    finally:
        stop.set()
        host.close()


def test_gzip_bombs_are_capped_while_they_inflate():
    import tracemalloc

    from facereel.web.crawl import download_image
    from facereel.web.uploads import UploadError

    bomb = gzip.compress(b"\xff\xd8\xff" + b"\0" * (200 * 1024 * 1024), 9)   # 200 MB -> ~200 kB
    good = jpeg_bytes(64, 64, seed=5)

    def serve(h):
        data = bomb if h.path == "/bomb.jpg" else gzip.compress(good)
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    host = _Host(serve)
    try:
        tracemalloc.start()
        with pytest.raises(UploadError, match="larger than"):
            download_image(host.url + "/bomb.jpg", timeout=5.0, total_timeout=10.0, max_bytes=2 * 1024 * 1024,
                           max_pixels=10**7, allow_private=True)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 40 * 1024 * 1024, peak   # never near the 200 MB it would inflate to
        # an honest gzip-encoded image still works
        img = download_image(host.url + "/ok.jpg", timeout=5.0, total_timeout=10.0, max_bytes=2 * 1024 * 1024,
                             max_pixels=10**7, allow_private=True)
        assert img.width == 64
    finally:
        host.close()


@pytest.mark.parametrize("address,allowed", [
    ("8.8.8.8", True), ("2606:4700:4700::1111", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.1.5", False), ("169.254.169.254", False),
    ("100.64.0.1", False), ("100.127.255.254", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("::1", False), ("fe80::1", False), ("fc00::1", False), ("::ffff:10.0.0.1", False), ("::ffff:8.8.8.8", True),
    ("2002:c0a8:0101::1", False), ("2002:0808:0808::1", False), ("64:ff9b::a00:1", False),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
])
def test_crawl_address_filter(address, allowed):
    import ipaddress

    from facereel.web.crawl import address_allowed

    assert address_allowed(ipaddress.ip_address(address)) is allowed


# ----------------------------------------------------------------------------- 5. symbolic links

def test_start_up_cleanup_and_serving_never_follow_symlinks(tmp_path):
    data, outside = tmp_path / "data", tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.mp4").write_bytes(b"keep me")
    (outside / "secret.jpg").write_bytes(jpeg_bytes(seed=1))
    with TestClient(create_app({"data_dir": data, "pipelines": FakePipelines()})) as c:
        rows = thesis_upload(c, 2)
        pid = analysed_project(c, 2)
        web = c.app.state.web
        pdir = web.data.pdir(pid)
        item = c.get(f"/api/projects/{pid}/items").json()[0]
    # renders/ becomes a link to a folder outside; a thumbnail and a storage face become links to a file outside
    import shutil

    shutil.rmtree(pdir / "renders")
    os.symlink(outside, pdir / "renders")
    thumb = pdir / "thumbs" / f"{item['id']}.jpg"
    thumb.unlink()
    os.symlink(outside / "secret.jpg", thumb)
    row = web.db.item_by_storage_name(rows[0][0])
    st_thumb = web.data.thumb_path(row)
    st_thumb.unlink()
    os.symlink(outside / "secret.jpg", st_thumb)
    web.db.close()
    with TestClient(create_app({"data_dir": data, "pipelines": FakePipelines()})) as c:
        assert (outside / "precious.mp4").read_bytes() == b"keep me"    # the sweep did not delete through it
        assert c.get(item["thumb_url"]).status_code == 404
        assert c.get(f"/storage/{rows[0][0]}").status_code == 404
        assert c.get(f"/storage/{rows[1][0]}").status_code == 200
    assert (outside / "secret.jpg").is_file()


# ----------------------------------------------------------------------------- 7. client-visible errors

def test_errors_carry_no_server_paths_or_reprs(make_client):
    from facereel.web.errors import public_message

    assert public_message("/home/u/.cache/facereel/web/projects/ab/photos/x.jpg: cannot decode") == \
        "x.jpg: cannot decode"
    assert "0x" not in public_message("cannot identify image file <_io.BytesIO object at 0x7f3a2b1c0d90>")

    class Leaky(FakePipelines):
        def render(self, manifest, output, options, **kw):
            raise ValueError(f"cannot open {manifest.photos[0].path} ({output})")

    c = make_client(pipelines=Leaky())
    pid = analysed_project(c, 2)
    job = c.post(f"/api/projects/{pid}/renders", json={"format": "gif", "size": 256, "frames": 2}).json()
    events = sse(c, job["id"])
    data_dir = str(c.app.state.web.data_dir)
    texts = [json.dumps(d) for _, d in events] + [c.get(f"/api/jobs/{job['id']}").text, c.get(f"/api/projects/{pid}").text]
    assert events[-1][0] == "failed" and "render failed" in events[-1][1]["error"]
    for t in texts:
        assert data_dir not in t and "/tmp/" not in t and "/photos/" not in t, t
    # a broken file: one line, no repr
    r = upload(c, pid, [("bad.jpg", b"\xff\xd8\xff" + b"garbage" * 10, "image/jpeg")])
    assert r.status_code in (415, 422) and " object at " not in r.text and "0x" not in r.text

    class Crashing(FakePipelines):
        def render(self, manifest, output, options, **kw):
            raise KeyError(str(output))

    c2 = make_client(pipelines=Crashing(), data_dir=c.app.state.web.data_dir.parent / "d2")
    pid = analysed_project(c2, 2)
    job = c2.post(f"/api/projects/{pid}/renders", json={"format": "gif", "size": 256, "frames": 2}).json()
    final = sse(c2, job["id"])[-1][1]
    assert final["error"] == "internal error (details are in the server log)"


# ----------------------------------------------------------------------------- 10. limits and formats

def test_concurrent_uploads_cannot_pass_the_item_limit(make_client):
    c = make_client(max_items_per_project=10)
    pid = new_project(c)

    def send(k):
        return upload(c, pid, [(f"{k}-{i}.jpg", jpeg_bytes(40, 30, seed=1000 + 10 * k + i), "image/jpeg")
                               for i in range(4)])

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(send, range(6)))
    accepted = sum(len(r.json().get("items", [])) for r in results if r.status_code == 201)
    assert accepted == 10 and c.app.state.web.db.count_items(pid) == 10
    assert len(list((c.app.state.web.data.pdir(pid) / "photos").iterdir())) == 10


def test_gif_uploads_are_refused_up_front_and_not_listed(client):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buf, format="GIF")
    pid = new_project(client)
    r = upload(client, pid, [("anim.gif", buf.getvalue(), "image/gif")])
    assert r.status_code == 415 and "GIF images are not accepted" in r.json()["detail"]
    assert "GIF" not in r.json()["detail"].split("accepted:")[1]
    assert upload(client, pid, [("ok.png", png_bytes(), "image/png")]).status_code == 201


def test_first_api_config_is_fast_and_loads_no_model(tmp_path):
    code = (
        "import sys, time\n"
        "from fastapi.testclient import TestClient\n"
        "from facereel.web.app import create_app\n"
        f"app = create_app({{'data_dir': {str(tmp_path / 'd')!r}}})\n"
        "with TestClient(app) as c:\n"
        "    t0 = time.perf_counter(); r = c.get('/api/config'); dt = time.perf_counter() - t0\n"
        "    assert r.status_code == 200, r.text\n"
        "print(dt, 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    seconds, torch_loaded = out.stdout.split()
    assert float(seconds) < 1.0 and torch_loaded == "False", out.stdout


# ----------------------------------------------------------------------------- the thesis' rules

def test_recommended_to_remove_needs_four_photos(make_client):
    class TwoPeople(FakePipelines):
        """Flags the brightest photo as another person, like the analysis does on Obama + Biden."""

        def analyze(self, paths, *, size, progress=None):
            m = super().analyze(paths, size=size, progress=progress)
            max(m.photos, key=lambda e: e.age_estimated).flags.append("other_person")
            return m

    c = make_client(pipelines=TwoPeople())
    two = thesis_upload(c, 2)
    assert [rec for _, _, rec in two] == [False, False]
    four = thesis_upload(c, 4, seed=20)
    assert sum(rec for _, _, rec in four) == 1
    # facereel's own page: with two photos nobody is "another person" either
    pid = analysed_project(c, 2)
    assert not any(i["recommended_remove"] for i in c.get(f"/api/projects/{pid}/items").json())


def test_items_of_several_uploads_render_together(client):
    a, b = thesis_upload(client, 2), thesis_upload(client, 1, seed=9)
    items = [{"id": n, "path": p, "age": str(a_) if n % 2 else a_} for n, (p, a_, _) in enumerate(a + b, 1)]
    items[0]["age"] = ""   # a cleared age field: the server's age is used
    r = client.post("/generateGifAPI", json={"encoder": "pixel", "size": 256, "frames": 2, "opacity": "100",
                                             "items": items})
    assert r.status_code == 200 and r.content[:3] == b"GIF", r.text
    last = client.app.state.web.pipelines.renders[-1]
    assert len(last["paths"]) == 3 and last["options"].opacity == 1.0 and last["engine"] == "morph"
    assert last["ages"] == sorted(last["ages"])


def test_flagged_photos_are_left_out_by_default_and_one_patch_puts_them_back(make_client):
    class Dup(FakePipelines):
        def analyze(self, paths, *, size, progress=None):
            m = super().analyze(paths, size=size, progress=progress)
            m.photos[0].flags.append("duplicate")
            return m

    c = make_client(pipelines=Dup())
    pid = analysed_project(c, 3)
    items = {i["filename"]: i for i in c.get(f"/api/projects/{pid}/items").json()}
    flagged = items["p0.jpg"]
    assert flagged["excluded"] and flagged["excluded_by"] == "recommendation"
    job = c.post(f"/api/projects/{pid}/renders", json={"format": "gif", "size": 256, "frames": 1}).json()
    assert sse(c, job["id"])[-1][0] == "done"
    assert len(c.app.state.web.pipelines.renders[-1]["paths"]) == 2
    r = c.patch(f"/api/projects/{pid}/items/{flagged['id']}", json={"excluded": False})
    assert r.json()["excluded"] is False and r.json()["excluded_by"] is None
    job = c.post(f"/api/projects/{pid}/renders", json={"format": "gif", "size": 256, "frames": 1}).json()
    assert sse(c, job["id"])[-1][0] == "done"
    assert len(c.app.state.web.pipelines.renders[-1]["paths"]) == 3
    # the user's choice survives a re-analysis
    r = upload(c, pid, [("new.jpg", jpeg_bytes(seed=99), "image/jpeg")])
    assert sse(c, r.json()["job"]["id"])[-1][0] == "done"
    again = {i["filename"]: i for i in c.get(f"/api/projects/{pid}/items").json()}
    assert again["p0.jpg"]["excluded"] is False


def test_order_is_by_date_when_known(client):
    import io

    from PIL import Image

    def dated(seed, when):
        im = Image.fromarray(__import__("numpy").random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype="uint8"))
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = when
        buf = io.BytesIO()
        im.save(buf, format="JPEG", exif=exif)
        return buf.getvalue()

    pid = new_project(client)
    files = [("late.jpg", dated(1, "2020:01:01 12:00:00"), "image/jpeg"),
             ("early.jpg", dated(2, "1990:01:01 12:00:00"), "image/jpeg"),
             ("undated.jpg", jpeg_bytes(seed=3), "image/jpeg")]
    r = upload(client, pid, files)
    assert sse(client, r.json()["job"]["id"])[-1][0] == "done"
    p = client.get(f"/api/projects/{pid}").json()
    by_name = {i["filename"]: i for i in p["items"]}
    assert by_name["early.jpg"]["age_source"] == "date" and by_name["undated.jpg"]["age_source"] == "estimate"
    assert by_name["late.jpg"]["age"] - by_name["early.jpg"]["age"] == pytest.approx(30.0, abs=0.11)
    dated_order = [i["filename"] for i in sorted(p["items"], key=lambda i: i["position"]) if i["age_source"] == "date"]
    assert dated_order == ["early.jpg", "late.jpg"]
    assert p["order"] == {"by": "date", "sources": {"date": 2, "user": 0, "estimate": 1}}
    # a typed age orders an undated photo; a dated photo keeps its date
    client.patch(f"/api/projects/{pid}/items/{by_name['undated.jpg']['id']}", json={"age": 0})
    first = sorted(client.get(f"/api/projects/{pid}/items").json(), key=lambda i: i["position"])[0]
    assert first["filename"] == "undated.jpg" and first["age_source"] == "user"
