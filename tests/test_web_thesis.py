"""The time-lapse thesis' web client against a real ``facereel serve`` (uvicorn on 127.0.0.1):
its requests replayed byte for byte — URLs, the multipart body Chromium builds from its
``for (const property in files)`` loop (the FileList's ``item`` method included, as text), its
JSON bodies with sizes/frames/opacity as the text of its inputs, items of two uploads, an
``Origin`` of another port — with and without ``--cors-origin``.  The pipelines are the
stand-in here; test_web_browser.py drives a page with the real ones."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from tests.helpers.web import ServerProcess, free_port, jpeg_bytes  # noqa: E402

BOUNDARY = "----WebKitFormBoundaryq8XqvUeK2yHnPk1f"


def client_origin() -> str:
    return f"http://127.0.0.1:{free_port()}"


def multipart(files: list[tuple[str, bytes]]) -> bytes:
    """The body of ``data.append('image', files[property])`` for every property of a FileList, as
    Chromium encodes it: each file, then the ``item`` method stringified."""
    out = b""
    for name, data in files:
        out += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
                f"Content-Type: image/jpeg\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nfunction item() {{ [native code] }}\r\n".encode()
    return out + f"--{BOUNDARY}--\r\n".encode()


def xhr_headers(origin: str, **extra) -> dict:
    return {"Accept": "application/json, text/plain, */*", "Origin": origin, "Referer": origin + "/",
            "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-site", **extra}


def preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(url, headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "content-type",
                                       "Sec-Fetch-Mode": "cors"}, timeout=10)


#: the client's four default cards (Result components a-d): encoder, size, frames, opacity as text
CARDS = [("psp", "512", "24", "0"), ("psp", "512", "24", "50"), ("restyle", "512", "24", "50"),
         ("pixel", "512", "24", "100")]


@pytest.fixture(scope="module")
def origin():
    return client_origin()


@pytest.fixture(scope="module")
def server(tmp_path_factory, origin):
    srv = ServerProcess(tmp_path_factory.mktemp("thesis") / "data", fake=True, frame_delay=0.01,
                        extra=["--cors-origin", origin])
    srv.start()
    yield srv
    srv.stop()


def upload(server, origin, files):
    body = multipart(files)
    return httpx.post(server.url + "/uploadFileAPI", content=body, timeout=60,
                      headers=xhr_headers(origin, **{"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}))


def test_the_thesis_client_end_to_end(server, origin):
    # two uploads, as the client keeps adding items: 2 photos, then 3
    first = upload(server, origin, [(f"a{i}.jpg", jpeg_bytes(96, 96, seed=i)) for i in range(2)])
    second = upload(server, origin, [(f"b{i}.jpg", jpeg_bytes(96, 96, seed=10 + i)) for i in range(3)])
    for r in (first, second):
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == origin
    rows = first.json() + second.json()
    assert len(rows) == 5
    items = []
    for n, (path, age, recommended) in enumerate(rows, 1):
        assert isinstance(path, str) and isinstance(age, int) and recommended is False   # < 4 photos per upload
        # <img src=BASE + "/storage/" + path>: no Origin, a Referer of the client's page
        img = httpx.get(f"{server.url}/storage/{path}", headers={"Referer": origin + "/", "Sec-Fetch-Dest": "image",
                                                                 "Sec-Fetch-Mode": "no-cors"}, timeout=10)
        assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
        assert img.headers["cross-origin-resource-policy"] == "cross-origin"
        items.append({"id": n, "path": path, "age": age})
    items[1]["age"] = str(items[1]["age"] + 1)   # an edited age field sends its text
    items.sort(key=lambda it: float(it["age"]))
    # a page of any other origin still cannot embed them
    other = httpx.get(f"{server.url}/storage/{rows[0][0]}", headers={"Referer": "http://evil.example/"}, timeout=10)
    assert other.headers["cross-origin-resource-policy"] == "same-origin"

    url = server.url + "/generateGifAPI"
    pre = preflight(url, origin)
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == origin
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "content-type" in pre.headers["access-control-allow-headers"].lower()
    for encoder, size, frames, opacity in CARDS:
        data = {"encoder": encoder, "size": size, "frames": frames, "opacity": opacity, "items": items}
        body = json.dumps(data, separators=(",", ":")).encode()   # JSON.stringify
        r = httpx.post(url, content=body, timeout=120,
                       headers=xhr_headers(origin, **{"Content-Type": "application/json"}))
        assert r.headers["access-control-allow-origin"] == origin
        if encoder == "pixel":
            assert r.status_code == 200 and r.headers["content-type"] == "image/gif" and r.content[:6] == b"GIF89a"
        else:   # no weights on this (stand-in) server: a short plain message
            assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith("text/plain")
            assert "weights" in r.text and len(r.text) < 300
    # the same, with frames as the number the client's input sets after an edit, and the names
    # without the suffix
    r = httpx.post(server.url + "/generateGif", json={"encoder": "pixel", "size": 256, "frames": 3, "opacity": 100,
                                                      "items": items[:2]},
                   headers=xhr_headers(origin), timeout=60)
    assert r.status_code == 200 and r.content[:3] == b"GIF"
    log = server.log()
    assert "generateGif" in log and "rendering" in log    # progress went to the server log


def test_name_search_answers_cors(server, origin):
    pre = preflight(server.url + "/uploadNameAPI", origin)
    assert pre.status_code == 204
    r = httpx.post(server.url + "/uploadNameAPI", content=b'{"celebrityName":"Barack Obama"}', timeout=30,
                   headers=xhr_headers(origin, **{"Content-Type": "application/json"}))
    assert r.status_code == 503 and r.headers["access-control-allow-origin"] == origin
    assert "FACEREEL_GOOGLE_API_KEY" in r.text


def test_without_cors_origin_the_client_is_refused_and_the_log_says_why(tmp_path):
    origin = client_origin()
    with ServerProcess(tmp_path / "data", fake=True) as srv:
        pre = preflight(srv.url + "/generateGifAPI", origin)
        assert pre.status_code == 403 and "access-control-allow-origin" not in pre.headers
        r = httpx.post(srv.url + "/uploadFileAPI", content=multipart([("a.jpg", jpeg_bytes(seed=1))]), timeout=30,
                       headers=xhr_headers(origin, **{"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}))
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
        # same-origin requests (facereel's own page) are unaffected
        assert httpx.post(srv.url + "/api/projects", json={}, headers={"Origin": srv.url}, timeout=10).status_code == 201
        deadline = time.monotonic() + 5
        while "refused a cross-origin" not in srv.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = srv.log()
    assert f"from origin {origin}" in log and "--cors-origin" in log


def test_origins_match_exactly_and_star_allows_any(tmp_path):
    allowed = client_origin()
    as_localhost = allowed.replace("127.0.0.1", "localhost")
    with ServerProcess(tmp_path / "a", fake=True, extra=["--cors-origin", allowed]) as srv:
        r = preflight(srv.url + "/generateGifAPI", as_localhost)
        assert r.status_code == 403     # another origin for the browser, so for us too: and the log names it
        deadline = time.monotonic() + 5
        while as_localhost not in srv.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert f"from origin {as_localhost}" in srv.log() and allowed in srv.log()
    with ServerProcess(tmp_path / "b", fake=True, extra=["--cors-origin", "*"]) as srv:
        for origin in (allowed, as_localhost, "http://192.168.1.7:5173"):
            assert preflight(srv.url + "/generateGifAPI", origin).headers["access-control-allow-origin"] == origin
            r = httpx.post(srv.url + "/uploadFileAPI", content=multipart([("a.jpg", jpeg_bytes(seed=3))]), timeout=30,
                           headers=xhr_headers(origin, **{"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}))
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == origin, r.text
        path = r.json()[0][0]
        img = httpx.get(f"{srv.url}/storage/{path}", timeout=10)   # no Referer at all
        assert img.headers["cross-origin-resource-policy"] == "cross-origin"
