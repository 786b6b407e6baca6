"""Web API with FastAPI's TestClient: projects, uploads (fuzzed), items, jobs, SSE, renders,
security, persistence.  The pipelines are a stand-in here (tests/helpers/web.py) so the
server machinery is tested on its own; test_web_e2e.py runs the real ones."""

from __future__ import annotations

import io
import re
import sqlite3
import time

import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from facereel.web.app import create_app  # noqa: E402
from tests.helpers.web import (  # noqa: E402
    FakePipelines,
    analysed_project,
    bomb_png,
    jpeg_bytes,
    new_project,
    png_bytes,
    sse,
    upload,
)

HEX32 = re.compile(r"^[0-9a-f]{32}$")


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


# ----------------------------------------------------------------------------- projects

def test_project_ids_are_128_bit_and_unguessable(client):
    ids = {new_project(client) for _ in range(5)}
    assert len(ids) == 5 and all(HEX32.match(i) for i in ids)
    assert client.get("/api/projects/" + "0" * 32).status_code == 404
    assert client.get("/api/projects/not-an-id").status_code == 404


def test_upload_analyse_and_list_items_sorted_by_age(client):
    pid = analysed_project(client, 3)
    items = client.get(f"/api/projects/{pid}/items").json()
    assert len(items) == 3
    assert all(it["analyzed"] and it["thumb_url"] for it in items)
    ages = [it["age"] for it in items]
    assert ages == sorted(ages)
    assert [it["position"] for it in items] == [0, 1, 2]
    thumb = client.get(items[0]["thumb_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    from PIL import Image

    assert Image.open(io.BytesIO(thumb.content)).size == (256, 256)


def test_sse_streams_progress_then_done(client):
    pid = new_project(client)
    r = upload(client, pid, [(f"p{i}.jpg", jpeg_bytes(seed=i), "image/jpeg") for i in range(4)])
    events = sse(client, r.json()["job"]["id"])
    kinds = [e for e, _ in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) <= {"progress"}
    assert events[-1][1]["done"] == events[-1][1]["total"] == 4


def test_edit_age_excluded_and_position(client):
    pid = analysed_project(client, 3)
    items = client.get(f"/api/projects/{pid}/items").json()
    first, last = items[0], items[-1]
    # a new age re-sorts the grid
    r = client.patch(f"/api/projects/{pid}/items/{first['id']}", json={"age": 99})
    assert r.status_code == 200 and r.json()["age"] == 99 and r.json()["age_user"] == 99
    order = [it["id"] for it in client.get(f"/api/projects/{pid}/items").json()]
    assert order[-1] == first["id"]
    # moving by hand makes the order manual: a later age edit no longer moves things
    r = client.patch(f"/api/projects/{pid}/items/{last['id']}", json={"position": 0})
    assert r.json()["position"] == 0
    client.patch(f"/api/projects/{pid}/items/{last['id']}", json={"age": 120})
    assert client.get(f"/api/projects/{pid}/items").json()[0]["id"] == last["id"]
    r = client.patch(f"/api/projects/{pid}/items/{last['id']}", json={"excluded": True})
    assert r.json()["excluded"] is True
    r = client.patch(f"/api/projects/{pid}/items/{last['id']}", json={"reset_age": True})
    assert r.json()["age_user"] is None and r.json()["age"] == r.json()["age_estimated"]
    # validation
    assert client.patch(f"/api/projects/{pid}/items/{last['id']}", json={"age": -3}).status_code == 422
    assert client.patch(f"/api/projects/{pid}/items/{last['id']}", json={"bogus": 1}).status_code == 422
    assert client.patch(f"/api/projects/{pid}/items/{'f' * 32}", json={"age": 3}).status_code == 404
    # sort-by-age restores the order by age
    items = client.post(f"/api/projects/{pid}/sort-by-age").json()
    assert [i["age"] for i in items] == sorted(i["age"] for i in items)


def test_item_of_another_project_is_not_reachable(client):
    a, b = analysed_project(client, 2), new_project(client)
    iid = client.get(f"/api/projects/{a}/items").json()[0]["id"]
    assert client.get(f"/api/projects/{b}/items/{iid}/thumb").status_code == 404
    assert client.patch(f"/api/projects/{b}/items/{iid}", json={"age": 3}).status_code == 404


def test_delete_project_removes_every_file(client, tmp_path):
    pid = analysed_project(client, 2)
    job = client.post(f"/api/projects/{pid}/renders", json={"engine": "morph", "frames": 2, "size": 256,
                                                            "format": "gif"}).json()
    assert sse(client, job["id"])[-1][0] == "done"
    pdir = tmp_path / "data" / "projects" / pid
    assert any(pdir.rglob("*.jpg")) and any(pdir.rglob("*.gif"))
    assert client.delete(f"/api/projects/{pid}").status_code == 204
    assert not pdir.exists()
    assert client.get(f"/api/projects/{pid}").status_code == 404
    assert client.get(f"/api/jobs/{job['id']}/result").status_code == 404


# ----------------------------------------------------------------------------- uploads

@pytest.mark.parametrize("name,data,status,words", [
    ("empty.jpg", b"", 400, "empty"),
    ("truncated.jpg", jpeg_bytes(256, 256)[:600], 422, "truncated"),
    ("bomb.png", bomb_png(), 413, "limit"),
    ("notes.jpg", b"just some text pretending to be a photo", 415, "not an image"),
    ("page.png", b"<html><body>hi</body></html>", 415, "not an image"),
])
def test_upload_fuzz_gets_4xx_with_message(make_client, name, data, status, words):
    c = make_client(max_pixels=20_000_000)
    pid = new_project(c)
    r = upload(c, pid, [(name, data, "image/jpeg")])
    assert r.status_code == status, r.text
    body = r.json()
    assert words in body["detail"].lower() and name in body["detail"]
    assert body["rejected"][0]["filename"] == name
    # the server keeps serving, and nothing was stored
    assert c.get("/api/config").status_code == 200
    assert c.get(f"/api/projects/{pid}/items").json() == []


def test_oversized_file_and_body_are_refused(make_client):
    c = make_client(max_upload_bytes=100_000, max_files_per_request=2)
    pid = new_project(c)
    big = jpeg_bytes(600, 600, seed=3)
    assert len(big) > 100_000
    r = upload(c, pid, [("big.jpg", big, "image/jpeg")])
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    # the whole body beyond max_request_bytes is cut off by the middleware before parsing
    huge = b"\xff\xd8\xff" + b"0" * (c.app.state.web.cfg.max_request_bytes + 10)
    r = c.post(f"/api/projects/{pid}/photos", content=huge,
               headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    assert c.get("/api/config").status_code == 200


def test_type_is_decided_by_content_not_extension(client, tmp_path):
    pid = new_project(client)
    r = upload(client, pid, [("holiday.gif", png_bytes(), "text/plain"), ("x.txt", jpeg_bytes(seed=9), "text/plain")])
    assert r.status_code == 201, r.text
    assert len(r.json()["items"]) == 2 and r.json()["rejected"] == []
    stored = sorted(p.suffix for p in (tmp_path / "data" / "projects" / pid / "photos").iterdir())
    assert stored == [".jpg", ".png"]


def test_mixed_upload_lists_rejected_files(client):
    pid = new_project(client)
    r = upload(client, pid, [("ok.jpg", jpeg_bytes(seed=1), "image/jpeg"), ("bad.jpg", b"nope", "image/jpeg")])
    assert r.status_code == 201
    assert [i["filename"] for i in r.json()["items"]] == ["ok.jpg"]
    assert r.json()["rejected"][0]["filename"] == "bad.jpg"
    # the same file again is refused as a duplicate
    r = upload(client, pid, [("again.jpg", jpeg_bytes(seed=1), "image/jpeg")])
    assert r.status_code == 409 and "already" in r.json()["detail"]


def test_stored_copy_has_no_exif_or_gps_but_keeps_the_date(client, tmp_path):
    from PIL import Image

    original = jpeg_bytes(80, 60, seed=5, exif_gps=True)
    with Image.open(io.BytesIO(original)) as im:
        assert im.getexif().get_ifd(0x8825)  # the test photo does carry GPS
    pid = new_project(client)
    r = upload(client, pid, [("gps.jpg", original, "image/jpeg")])
    item = r.json()["items"][0]
    assert item["exif_date"] == "2004-07-27T20:00:00"
    photo = client.get(item["photo_url"]).content
    with Image.open(io.BytesIO(photo)) as im:
        assert not im.getexif() and "exif" not in im.info
    assert b"FakeCam" not in photo and b"Exif" not in photo
    stored = next((tmp_path / "data" / "projects" / pid / "photos").iterdir()).read_bytes()
    assert stored == photo


def test_filenames_are_sanitised(client):
    pid = new_project(client)
    r = upload(client, pid, [("../../etc/passwd.jpg", jpeg_bytes(seed=2), "image/jpeg")])
    assert r.status_code == 201
    assert r.json()["items"][0]["filename"] == "passwd.jpg"
    from facereel.web.app import _safe_filename

    assert _safe_filename("..\\a\x07b\n.jpg") == "ab.jpg" and _safe_filename("") == "photo"


def test_items_per_project_limit(make_client):
    c = make_client(max_items_per_project=2)
    pid = new_project(c)
    r = upload(c, pid, [(f"{i}.jpg", jpeg_bytes(seed=i), "image/jpeg") for i in range(3)])
    assert r.status_code == 201
    assert len(r.json()["items"]) == 2 and r.json()["rejected"][0]["status"] == 409


def test_upload_needs_multipart(client):
    pid = new_project(client)
    r = client.post(f"/api/projects/{pid}/photos", json={"x": 1})
    assert r.status_code == 415
    r = client.post(f"/api/projects/{pid}/photos", files=[("other", ("a.jpg", jpeg_bytes(), "image/jpeg"))])
    assert r.status_code == 400 and "no file" in r.json()["detail"]


# ----------------------------------------------------------------------------- renders and jobs

def test_render_job_progress_result_and_history(client):
    pid = analysed_project(client, 3)
    r = client.post(f"/api/projects/{pid}/renders", json={"engine": "morph", "frames": 5, "size": 256, "fps": 12,
                                                          "format": "gif", "opacity": 0.3})
    assert r.status_code == 202, r.text
    job = r.json()
    assert HEX32.match(job["id"]) and job["kind"] == "render"
    events = sse(client, job["id"])
    progress = [d["done"] for e, d in events if e == "progress"]
    assert events[-1][0] == "done" and progress == sorted(progress)
    final = client.get(f"/api/jobs/{job['id']}").json()
    assert final["status"] == "done" and final["result_url"]
    res = client.get(final["result_url"])
    assert res.status_code == 200 and res.headers["content-type"] == "image/gif" and res.content[:6] == b"GIF89a"
    dl = client.get(final["result_url"] + "?download=1")
    assert "attachment" in dl.headers["content-disposition"]
    hist = client.get(f"/api/projects/{pid}/renders").json()
    assert [h["id"] for h in hist] == [job["id"]] and hist[0]["settings"]["size"] == 256
    fake = client.app.state.web.pipelines
    assert fake.renders[-1]["engine"] == "morph" and fake.renders[-1]["frames"] == 5


def test_render_uses_the_users_choices(client):
    pid = analysed_project(client, 3)
    items = client.get(f"/api/projects/{pid}/items").json()
    client.patch(f"/api/projects/{pid}/items/{items[1]['id']}", json={"excluded": True})
    client.patch(f"/api/projects/{pid}/items/{items[2]['id']}", json={"position": 0})
    client.patch(f"/api/projects/{pid}/items/{items[0]['id']}", json={"age": 42})
    job = client.post(f"/api/projects/{pid}/renders", json={"frames": 1, "size": 256, "format": "gif"}).json()
    assert sse(client, job["id"])[-1][0] == "done"
    r = client.app.state.web.pipelines.renders[-1]
    names = [p.rsplit("/", 1)[-1].split(".")[0] for p in r["paths"]]
    assert names == [items[2]["id"], items[0]["id"]] and r["ages"][1] == 42


def test_render_settings_are_validated(client):
    pid = analysed_project(client, 2)
    for bad in ({"size": 300}, {"frames": 0}, {"frames": 10_000}, {"opacity": 2}, {"format": "avi"},
                {"engine": "magic"}, {"fps": 500}, {"unknown": 1}):
        r = client.post(f"/api/projects/{pid}/renders", json={"format": "gif", **bad})
        assert r.status_code == 422, (bad, r.text)
    r = client.post(f"/api/projects/{pid}/renders", json={"engine": "latent", "size": 256})
    assert r.status_code == 422 and "weights" in r.json()["detail"]


def test_render_needs_two_usable_photos(client):
    pid = analysed_project(client, 2)
    iid = client.get(f"/api/projects/{pid}/items").json()[0]["id"]
    client.patch(f"/api/projects/{pid}/items/{iid}", json={"excluded": True})
    r = client.post(f"/api/projects/{pid}/renders", json={"size": 256})
    assert r.status_code == 422 and "two photos" in r.json()["detail"]
    empty = new_project(client)
    assert client.post(f"/api/projects/{empty}/renders", json={"size": 256}).status_code == 409


def test_one_render_per_project_and_cancel(make_client):
    c = make_client(pipelines=FakePipelines(frame_delay=0.05), workers=2)
    pid = analysed_project(c, 3)
    body = {"frames": 40, "size": 256, "format": "gif"}
    first = c.post(f"/api/projects/{pid}/renders", json=body).json()
    second = c.post(f"/api/projects/{pid}/renders", json=body)
    assert second.status_code == 409 and "already running" in second.json()["detail"]
    # wait until it renders, then cancel
    deadline = time.monotonic() + 10
    while c.get(f"/api/jobs/{first['id']}").json()["done"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert c.get(f"/api/jobs/{first['id']}/result").status_code == 409   # not served while running
    assert c.post(f"/api/jobs/{first['id']}/cancel").status_code == 200
    events = sse(c, first["id"])
    assert events[-1][0] == "cancelled"
    assert c.get(f"/api/jobs/{first['id']}/result").status_code == 404
    assert c.post(f"/api/jobs/{first['id']}/cancel").status_code == 409
    web = c.app.state.web
    assert not any(web.tmp_dir.iterdir()) and not any((web.data.pdir(pid) / "renders").iterdir())
    # the project can render again
    again = c.post(f"/api/projects/{pid}/renders", json={**body, "frames": 1})
    assert again.status_code == 202


def test_global_worker_limit_queues_jobs(make_client):
    c = make_client(pipelines=FakePipelines(frame_delay=0.05), workers=1)
    a, b = analysed_project(c, 2), analysed_project(c, 2)
    ja = c.post(f"/api/projects/{a}/renders", json={"frames": 30, "size": 256, "format": "gif"}).json()
    jb = c.post(f"/api/projects/{b}/renders", json={"frames": 1, "size": 256, "format": "gif"}).json()
    time.sleep(0.3)
    assert c.get(f"/api/jobs/{ja['id']}").json()["status"] == "running"
    assert c.get(f"/api/jobs/{jb['id']}").json()["status"] == "queued"
    c.post(f"/api/jobs/{ja['id']}/cancel")
    assert sse(c, jb["id"])[-1][0] == "done"


def test_queue_limit_answers_429(make_client):
    c = make_client(pipelines=FakePipelines(frame_delay=0.05), workers=1, max_queued_jobs=1)
    a, b = analysed_project(c, 2), analysed_project(c, 2)
    ja = c.post(f"/api/projects/{a}/renders", json={"frames": 30, "size": 256, "format": "gif"}).json()
    r = c.post(f"/api/projects/{b}/renders", json={"frames": 1, "size": 256, "format": "gif"})
    assert r.status_code == 429
    c.post(f"/api/jobs/{ja['id']}/cancel")


def test_unknown_job_is_404(client):
    for path in ("", "/events", "/result"):
        assert client.get(f"/api/jobs/{'a' * 32}{path}").status_code == 404
    assert client.get("/api/jobs/xyz").status_code == 404


# ----------------------------------------------------------------------------- persistence

def test_sqlite_is_in_wal_mode(client, tmp_path):
    assert client.app.state.web.db.journal_mode() == "wal"
    with sqlite3.connect(tmp_path / "data" / "facereel.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_state_survives_a_restart(make_client, tmp_path):
    c = make_client()
    pid = analysed_project(c, 2)
    job = c.post(f"/api/projects/{pid}/renders", json={"frames": 2, "size": 256, "format": "gif"}).json()
    assert sse(c, job["id"])[-1][0] == "done"
    c.__exit__(None, None, None)
    c2 = make_client()
    assert len(c2.get(f"/api/projects/{pid}/items").json()) == 2
    assert c2.get(f"/api/jobs/{job['id']}").json()["status"] == "done"
    assert c2.get(f"/api/jobs/{job['id']}/result").status_code == 200


def test_interrupted_jobs_fail_at_start_and_partial_files_go(tmp_path):
    from facereel.web.db import Database

    data = tmp_path / "data"
    app = create_app({"data_dir": data, "pipelines": FakePipelines()})
    web = app.state.web
    pid = web.create_project()["id"]
    web.db.create_job("b" * 32, pid, "render", {"format": "mp4"})
    web.db.update_job("b" * 32, status="running", done=3, total=10)
    (web.tmp_dir / ("b" * 32)).mkdir()
    (web.tmp_dir / ("b" * 32) / "render.mp4").write_bytes(b"half")
    (web.data.pdir(pid) / "renders" / ("b" * 32 + ".mp4")).write_bytes(b"half")
    (web.data.pdir(pid) / "photos" / "x.jpg.part").write_bytes(b"half")
    web.jobs.shutdown()
    web.db.close()
    app2 = create_app({"data_dir": data, "pipelines": FakePipelines()})
    with TestClient(app2) as c:
        job = c.get(f"/api/jobs/{'b' * 32}").json()
        assert job["status"] == "failed" and "server stopped" in job["error"]
        assert c.get(f"/api/jobs/{'b' * 32}/result").status_code == 404
    assert list((data / "tmp").iterdir()) == []
    assert list((data / "projects" / pid / "renders").iterdir()) == []
    assert list((data / "projects" / pid / "photos").iterdir()) == []
    assert Database(data / "facereel.sqlite3").get_job("b" * 32)["status"] == "failed"


# ----------------------------------------------------------------------------- security and meta

def test_cors_is_off_by_default(client):
    r = client.get("/api/config", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    pre = client.options("/api/projects", headers={"Origin": "http://evil.example",
                                                    "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers


def test_cors_can_be_enabled_for_named_origins(make_client):
    c = make_client(cors_origins=["http://lan.example:3000"])
    r = c.get("/api/config", headers={"Origin": "http://lan.example:3000"})
    assert r.headers["access-control-allow-origin"] == "http://lan.example:3000"
    r = c.get("/api/config", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_security_headers_and_no_directory_listing(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    for path in ("/static/", "/static", "/storage/", "/api/projects/", "/api/jobs/"):
        r = client.get(path)
        assert r.status_code in (404, 405), path
    assert "<a href" not in client.get("/static/").text


def test_frontend_assets_are_local(client):
    html = client.get("/").text
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        if url == "data:,":   # the empty favicon
            continue
        assert url.startswith("/static/"), url
        assert client.get(url).status_code == 200
    for asset in ("/static/app.js", "/static/api.js", "/static/style.css"):
        text = client.get(asset).text
        assert "http://" not in text and "https://" not in text, asset
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")


def test_openapi_is_published(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/projects", "/api/projects/{pid}/photos", "/api/projects/{pid}/items/{iid}",
                 "/api/projects/{pid}/renders", "/api/jobs/{jid}/events", "/api/jobs/{jid}/cancel",
                 "/api/jobs/{jid}/result", "/uploadFile", "/uploadName", "/generateGif", "/storage/{name}"):
        assert path in spec["paths"], path
    assert "multipart/form-data" in spec["paths"]["/api/projects/{pid}/photos"]["post"]["requestBody"]["content"]


def test_config_has_no_secrets(make_client):
    c = make_client(google_api_key="SECRET-KEY-123", google_cse_id="SECRET-CX")
    text = c.get("/api/config").text
    assert "SECRET" not in text and c.get("/api/config").json()["crawl_enabled"] is True


def test_keys_come_from_the_environment(monkeypatch, tmp_path):
    from facereel.web.config import WebConfig

    monkeypatch.setenv("FACEREEL_GOOGLE_API_KEY", "k-env")
    monkeypatch.setenv("FACEREEL_GOOGLE_CSE_ID", "cx-env")
    cfg = WebConfig(data_dir=tmp_path)
    assert (cfg.google_api_key, cfg.google_cse_id) == ("k-env", "cx-env")
    assert WebConfig(data_dir=tmp_path, google_api_key="k-cfg").google_api_key == "k-cfg"
    with pytest.raises(ValueError):
        WebConfig.from_any({"no_such_option": 1})


# ----------------------------------------------------------------------------- the seed's endpoints

def test_seed_upload_file_storage_and_generate_gif(client):
    files = [("image", (f"s{i}.jpg", jpeg_bytes(64, 64, seed=10 + i), "image/jpeg")) for i in range(3)]
    r = client.post("/uploadFile", files=files)
    assert r.status_code == 200, r.text
    rows = r.json()
    assert len(rows) == 3 and all(len(row) == 3 for row in rows)
    for path, age, recommended in rows:
        # whole-year ages, as the thesis' server answered; fewer than four photos: nothing flagged
        assert re.match(r"^[0-9a-f]{32}\.jpg$", path) and isinstance(age, int) and recommended is False
        img = client.get(f"/storage/{path}")
        assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    body = {"encoder": None, "frames": 3, "opacity": 50, "size": 256,
            "items": [{"path": p, "age": a} for p, a, _ in rows]}
    gif = client.post("/generateGif", json=body)
    assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif" and gif.content[:3] == b"GIF"
    fake = client.app.state.web.pipelines
    assert fake.renders[-1]["engine"] == "morph" and fake.renders[-1]["size"] == 256
    # the seed's ages are the ones used, in order
    body["items"][0]["age"] = 120
    body["encoder"] = "crossfade"
    assert client.post("/generateGif", json=body).status_code == 200
    assert fake.renders[-1]["engine"] == "crossfade" and fake.renders[-1]["ages"][-1] == 120
    for enc in ("psp", "restyle", "toonify"):
        r = client.post("/generateGif", json={**body, "encoder": enc})
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/plain") and "weights" in r.text
    assert client.post("/generateGif", json={**body, "encoder": "bogus"}).status_code == 422
    missing = {**body, "items": [{"path": "0" * 32 + ".jpg", "age": 1}, body["items"][1]]}
    r = client.post("/generateGif", json=missing)
    assert r.status_code == 404 and "0" * 32 not in r.text     # inputs are never echoed


def test_seed_upload_file_refuses_non_images(client):
    r = client.post("/uploadFile", files=[("image", ("a.jpg", b"not an image", "image/jpeg"))])
    assert r.status_code == 415 and "not an image" in r.text


def test_seed_upload_name_without_configuration_is_503(client):
    r = client.post("/uploadName", json={"celebrityName": "Somebody"})
    assert r.status_code == 503 and "FACEREEL_GOOGLE_API_KEY" in r.text


def test_only_the_newest_render_results_are_kept(make_client):
    c = make_client(max_renders_kept=2)
    pid = analysed_project(c, 2)
    jobs = []
    for _ in range(3):
        job = c.post(f"/api/projects/{pid}/renders", json={"frames": 1, "size": 256, "format": "gif"}).json()
        assert sse(c, job["id"])[-1][0] == "done"
        jobs.append(job["id"])
    assert c.get(f"/api/jobs/{jobs[0]}/result").status_code == 404
    assert all(c.get(f"/api/jobs/{j}/result").status_code == 200 for j in jobs[1:])
    hist = c.get(f"/api/projects/{pid}/renders").json()
    assert [h["id"] for h in hist] == jobs[::-1] and hist[-1]["result_url"] is None
    assert len(list((c.app.state.web.data.pdir(pid) / "renders").iterdir())) == 2


def test_cross_site_writes_are_refused(make_client):
    c = make_client()
    assert c.post("/api/projects", json={}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert c.post("/api/projects", json={}, headers={"Origin": "http://testserver"}).status_code == 201
    assert c.post("/api/projects", json={}).status_code == 201               # no Origin: not a browser form
    assert c.get("/api/config", headers={"Origin": "http://evil.example"}).status_code == 200
    allowed = make_client(cors_origins=["http://lan.example:3000"], data_dir=c.app.state.web.data_dir.parent / "d2")
    assert allowed.post("/api/projects", json={}, headers={"Origin": "http://lan.example:3000"}).status_code == 201


def test_allowed_hosts_guard_against_dns_rebinding(tmp_path):
    app = create_app({"data_dir": tmp_path / "d", "pipelines": FakePipelines(), "allowed_hosts": ["127.0.0.1", "localhost"]})
    with TestClient(app, base_url="http://localhost:8000") as c:
        assert c.get("/api/config").status_code == 200
        r = c.get("/api/config", headers={"Host": "rebound.evil.example:8000"})
        assert r.status_code == 400 and "not served" in r.json()["detail"]


def test_projects_of_the_seed_endpoints_expire(make_client):
    c = make_client(legacy_ttl_hours=0.0)
    rows = c.post("/uploadFile", files=[("image", (f"{i}.jpg", jpeg_bytes(seed=i), "image/jpeg")) for i in range(2)]).json()
    assert c.get(f"/storage/{rows[0][0]}").status_code == 200
    keep = new_project(c)   # ordinary projects never expire
    c.post("/uploadFile", files=[("image", ("x.jpg", jpeg_bytes(seed=7), "image/jpeg"))])
    assert c.get(f"/storage/{rows[0][0]}").status_code == 404
    assert c.get(f"/api/projects/{keep}").status_code == 200


def test_too_many_files_in_one_request(make_client):
    c = make_client(max_files_per_request=2)
    pid = new_project(c)
    r = upload(c, pid, [(f"{i}.jpg", jpeg_bytes(seed=i), "image/jpeg") for i in range(3)])
    assert r.status_code == 400 and "files" in r.json()["detail"].lower()
    assert c.get(f"/api/projects/{pid}/items").json() == []


def test_latent_choices_follow_the_installed_weights(make_client):
    class WithWeights(FakePipelines):
        def latent_options(self):
            return {"generators": ["gen-a"], "methods": {"optimize": True, "psp": False}}

        def latent_status(self, method=None, generator=None, encoder=None):
            opts = self.latent_options()
            if generator not in (None, *opts["generators"]) or not opts["methods"].get(method or "optimize"):
                return False, "weights not installed"
            return True, ""

    c = make_client(pipelines=WithWeights())
    cfg = c.get("/api/config").json()
    assert cfg["engines"]["latent"] is True and cfg["latent"]["methods"] == {"optimize": True, "psp": False}
    pid = analysed_project(c, 2)
    r = c.post(f"/api/projects/{pid}/renders", json={"engine": "latent", "generator": "gen-a", "method": "optimize",
                                                      "size": 256, "frames": 1, "format": "gif"})
    assert r.status_code == 202
    assert sse(c, r.json()["id"])[-1][0] == "done"
    for bad in ({"method": "psp"}, {"generator": "gen-b"}):
        r = c.post(f"/api/projects/{pid}/renders", json={"engine": "latent", "size": 256, "format": "gif", **bad})
        assert r.status_code == 422 and "not installed" in r.json()["detail"]
    assert c.post(f"/api/projects/{pid}/renders", json={"engine": "latent", "method": "magic"}).status_code == 422


def test_reanalysis_keeps_the_users_ages_and_choices(client):
    pid = analysed_project(client, 2)
    items = client.get(f"/api/projects/{pid}/items").json()
    client.patch(f"/api/projects/{pid}/items/{items[0]['id']}", json={"age": 125, "excluded": True})
    r = upload(client, pid, [("new.jpg", jpeg_bytes(70, 50, seed=30), "image/jpeg")])
    assert sse(client, r.json()["job"]["id"])[-1][0] == "done"
    after = client.get(f"/api/projects/{pid}/items").json()
    assert len(after) == 3 and all(i["analyzed"] for i in after)
    assert after[-1]["id"] == items[0]["id"] and after[-1]["age"] == 125 and after[-1]["excluded"] is True
