"""Crawl by name against a fake Custom Search server on 127.0.0.1 that serves JSON results and
images, slow and broken ones included."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from facereel.web.app import create_app  # noqa: E402
from facereel.web.crawl import CrawlError, GoogleCustomSearch, age_queries, crawl, download_image  # noqa: E402
from facereel.web.uploads import UploadError  # noqa: E402
from tests.helpers.web import FakePipelines, FakeSearch, jpeg_bytes, png_bytes  # noqa: E402

GOOD = [jpeg_bytes(64, 64, seed=s) for s in range(4)]


def make_search(slow_delay=2.0):
    routes = {
        "/kid.jpg": (200, "image/jpeg", GOOD[0], 0),
        "/teen.png": (200, "image/png", png_bytes(50, 50, seed=7), 0),
        "/young.jpg": (200, "application/octet-stream", GOOD[1], 0),       # wrong type header: content decides
        "/adult.jpg": (200, "image/jpeg", GOOD[2], 0),
        "/copy-of-kid.jpg": (200, "image/jpeg", GOOD[0], 0),               # same bytes, other URL
        "/slow.jpg": (200, "image/jpeg", GOOD[3], slow_delay),             # trickles: times out
        "/broken.jpg": (200, "image/jpeg", GOOD[3][:300], 0),              # truncated JPEG
        "/page.jpg": (200, "text/html", b"<html>an error page</html>", 0),
        "/huge.jpg": (200, "image/jpeg", b"\xff\xd8\xff" + b"0" * 300_000, 0),
        "/gone.jpg": (500, "text/plain", b"server error", 0),
    }
    results = {
        "as a kid": ["/kid.jpg", "/slow.jpg", "/broken.jpg"],
        "as a teenager": ["/teen.png", "/page.jpg", "/missing.jpg"],
        "young": ["/young.jpg", "/huge.jpg", "/kid.jpg"],                 # a URL seen before
        "photo of": ["/adult.jpg", "/copy-of-kid.jpg", "/gone.jpg"],
    }
    return FakeSearch(routes, results)


def test_age_queries_are_the_seeds_four():
    assert age_queries("  Ada   Lovelace ") == [
        "photo of Ada Lovelace as a kid", "photo of Ada Lovelace as a teenager",
        "photo of young Ada Lovelace", "photo of Ada Lovelace"]


def test_crawl_keeps_good_images_and_survives_slow_and_broken_ones():
    with make_search() as fake:
        provider = GoogleCustomSearch("test-key", "test-cx", endpoint=fake.endpoint)
        t0 = time.monotonic()
        res = crawl("Ada Lovelace", provider, per_query=3, max_images=10, timeout=1.0, total_timeout=2.0,
                    max_bytes=200_000, allow_private=True, parallel=6)
        elapsed = time.monotonic() - t0
    assert len(fake.queries) == 4
    assert [q["q"] for q in fake.queries] == age_queries("Ada Lovelace")
    for q in fake.queries:
        assert q["searchType"] == "image" and q["imgType"] == "face" and q["num"] == "3" and q["safe"] == "active"
        assert q["key"] == "test-key" and q["cx"] == "test-cx"
    kept = sorted(d.url.rsplit("/", 1)[1] for d in res.images)
    assert kept == ["adult.jpg", "kid.jpg", "teen.png", "young.jpg"]
    reasons = {url.rsplit("/", 1)[1]: why for url, why in res.errors}
    assert set(reasons) == {"slow.jpg", "broken.jpg", "page.jpg", "missing.jpg", "huge.jpg", "gone.jpg",
                            "copy-of-kid.jpg"}
    assert "took longer" in reasons["slow.jpg"] or "timed out" in reasons["slow.jpg"]
    assert "truncated" in reasons["broken.jpg"] or "readable" in reasons["broken.jpg"]
    assert "not an image" in reasons["page.jpg"]
    assert "404" in reasons["missing.jpg"] and "500" in reasons["gone.jpg"]
    assert "larger" in reasons["huge.jpg"] and "duplicate" in reasons["copy-of-kid.jpg"]
    # the kid photo was fetched once although two queries returned it
    assert fake.hits.count("/kid.jpg") == 1
    assert elapsed < 8.0   # parallel, each bounded: one slow image does not hold the rest


def test_crawl_reports_provider_errors():
    with make_search() as fake:
        bad = GoogleCustomSearch("wrong-key", "test-cx", endpoint=fake.endpoint)
        with pytest.raises(CrawlError, match="403.*API key not valid"):
            crawl("Ada", bad, allow_private=True)
        nothing = FakeSearch({}, {})
        with nothing:
            with pytest.raises(CrawlError, match="no photos"):
                crawl("Ada", GoogleCustomSearch("test-key", "test-cx", endpoint=nothing.endpoint), allow_private=True)
    with pytest.raises(CrawlError, match="FACEREEL_GOOGLE_API_KEY"):
        GoogleCustomSearch("", "")
    with pytest.raises(CrawlError, match="empty"):
        crawl("   ", object())


def test_downloads_refuse_local_network_addresses_by_default():
    with make_search() as fake:
        with pytest.raises(UploadError, match="local network"):
            download_image(fake.url + "/kid.jpg", timeout=1, total_timeout=2, max_bytes=10**6, max_pixels=10**7)
        assert "/kid.jpg" not in fake.hits
    for url in ("file:///etc/passwd", "ftp://example.com/a.jpg"):
        with pytest.raises(UploadError, match="scheme"):
            download_image(url, timeout=1, total_timeout=2, max_bytes=10**6, max_pixels=10**7)


def test_redirects_are_followed_and_checked_hop_by_hop():
    with make_search() as fake:
        fake.routes["/moved.jpg"] = (302, "text/plain", b"/kid.jpg", 0)
        fake.routes["/sneaky.jpg"] = (302, "text/plain", b"file:///etc/passwd", 0)
        fake.routes["/loop.jpg"] = (302, "text/plain", b"/loop.jpg", 0)
        img = download_image(fake.url + "/moved.jpg", timeout=1, total_timeout=2, max_bytes=10**6,
                             max_pixels=10**7, allow_private=True)
        assert img.sha256 == __import__("hashlib").sha256(GOOD[0]).hexdigest()
        with pytest.raises(UploadError, match="scheme"):
            download_image(fake.url + "/sneaky.jpg", timeout=1, total_timeout=2, max_bytes=10**6,
                           max_pixels=10**7, allow_private=True)
        with pytest.raises(UploadError, match="redirects"):
            download_image(fake.url + "/loop.jpg", timeout=1, total_timeout=2, max_bytes=10**6,
                           max_pixels=10**7, allow_private=True)


def test_the_checked_address_is_the_one_connected_to(monkeypatch):
    """DNS rebinding: the name is resolved once per hop, by the check, and the connection goes to
    that address.  Here the "DNS server" answers the check with the (declared public) test server
    and any other lookup with a local address; the download must reach the test server and no
    other lookup of the name may happen.  The server still sees the name in ``Host``."""
    import socket
    import types

    import facereel.web.crawl as crawl_mod

    real = socket.getaddrinfo
    checked: list[str] = []
    rebound: list[str] = []

    def answer(log, addr):
        def getaddrinfo(host, port, *a, **kw):
            if host != "photos.example":
                return real(host, port, *a, **kw)
            log.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, port))]
        return getaddrinfo

    monkeypatch.setattr(crawl_mod, "socket", types.SimpleNamespace(getaddrinfo=answer(checked, "127.0.0.1"),
                                                                   SOCK_STREAM=socket.SOCK_STREAM))
    monkeypatch.setattr(socket, "getaddrinfo", answer(rebound, "10.1.2.3"))     # what the HTTP client would get
    monkeypatch.setattr(crawl_mod, "address_allowed", lambda ip: str(ip) == "127.0.0.1")
    with make_search() as fake:
        fake.routes["/moved.jpg"] = (302, "text/plain", b"/kid.jpg", 0)
        port = fake.url.rsplit(":", 1)[1]
        img = download_image(f"http://photos.example:{port}/moved.jpg", timeout=1, total_timeout=5,
                             max_bytes=10**6, max_pixels=10**7)
        assert img.sha256 == __import__("hashlib").sha256(GOOD[0]).hexdigest()
        assert fake.hits[-2:] == ["/moved.jpg", "/kid.jpg"]
        assert fake.hosts[-2:] == [f"photos.example:{port}"] * 2
    assert checked == ["photos.example"] * 2 and rebound == []      # one check per hop, no second lookup


@pytest.fixture
def crawl_client(tmp_path):
    fake = make_search()
    fake.__enter__()
    app = create_app({"data_dir": tmp_path / "data", "pipelines": FakePipelines(), "google_api_key": "test-key",
                      "google_cse_id": "test-cx", "search_endpoint": fake.endpoint, "crawl_allow_private": True,
                      "crawl_timeout": 1.0, "crawl_total_timeout": 2.0, "crawl_max_bytes": 200_000})
    with TestClient(app) as c:
        yield c, fake
    fake.__exit__(None, None, None)


def _events(client, jid):
    out = []
    with client.stream("GET", f"/api/jobs/{jid}/events") as r:
        for line in r.iter_lines():
            if line.startswith("event: "):
                ev = line[7:]
            elif line.startswith("data: "):
                out.append((ev, json.loads(line[6:])))
    return out


def test_crawl_endpoint_adds_analysed_items(crawl_client):
    c, fake = crawl_client
    pid = c.post("/api/projects").json()["id"]
    r = c.post(f"/api/projects/{pid}/crawl", json={"name": "Ada Lovelace"})
    assert r.status_code == 202, r.text
    events = _events(c, r.json()["id"])
    assert events[-1][0] == "done", events[-1]
    assert "4 photos downloaded" in events[-1][1]["message"]
    items = c.get(f"/api/projects/{pid}/items").json()
    assert len(items) == 4 and all(i["analyzed"] and i["thumb_url"] for i in items)
    assert {i["source_url"].rsplit("/", 1)[1] for i in items} == {"kid.jpg", "teen.png", "young.jpg", "adult.jpg"}
    # crawled photos are stored like uploads: re-encoded, metadata-free
    photo = c.get(items[0]["photo_url"])
    assert photo.status_code == 200 and photo.headers["content-type"] in ("image/jpeg", "image/png")


def test_crawl_endpoint_failure_is_visible(crawl_client):
    c, fake = crawl_client
    fake.key = "another-key"   # the provider now refuses ours
    pid = c.post("/api/projects").json()["id"]
    job = c.post(f"/api/projects/{pid}/crawl", json={"name": "Ada"}).json()
    events = _events(c, job["id"])
    assert events[-1][0] == "failed" and "crawl failed" in events[-1][1]["error"] and "403" in events[-1][1]["error"]
    assert c.get("/api/config").status_code == 200


def test_seed_upload_name(crawl_client):
    c, fake = crawl_client
    r = c.post("/uploadName", json={"celebrityName": "Ada Lovelace"})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert len(rows) == 4
    for path, age, recommended in rows:
        assert c.get(f"/storage/{path}").status_code == 200
        assert isinstance(age, int) and isinstance(recommended, bool)
    assert c.post("/uploadName", json={}).status_code == 422
