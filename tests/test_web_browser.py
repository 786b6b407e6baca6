"""The web UI in real headless Chromium (Debian ``chromium`` driven by Playwright), against a
real server with the real pipelines: upload the sample photos, wait for the analysis, remove
one face, render with the morph engine, and see the video load with a duration > 0.  A
screenshot is kept in ``test-artifacts/``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (Debian package 'chromium'; `make browser` installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def search(samples):
    """A fake Custom Search server that knows one person, with a broken image among the results."""
    from tests.helpers.web import FakeSearch

    routes = {f"/{n}": (200, "image/jpeg", (samples / n).read_bytes(), 0) for n in ("obama.jpg", "obama3.jpg", "biden.jpg")}
    routes["/broken.jpg"] = (200, "image/jpeg", (samples / "obama2.jpg").read_bytes()[:500], 0)
    results = {"Nobody": [], "as a kid": ["/obama.jpg"], "as a teenager": ["/broken.jpg"],
               "young": ["/obama3.jpg"], "photo of": ["/biden.jpg"]}
    with FakeSearch(routes, results) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory, search):
    from tests.helpers.web import ServerProcess

    srv = ServerProcess(tmp_path_factory.mktemp("webui") / "data", fake=False,
                        extra=["--search-endpoint", search.endpoint])
    srv.start(timeout=120)
    yield srv
    srv.stop()


def test_upload_review_render_and_watch(browser, server, samples):
    names = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page.goto(server.url + "/")
        page.wait_for_function("() => location.hash.startsWith('#p=')", timeout=15_000)
        page.set_input_files("#file-input", [str(samples / n) for n in names])

        # the analysis streams in: four cards, each with an aligned face and an age
        page.wait_for_function("() => document.querySelectorAll('#grid .card img').length === 4", timeout=240_000)
        page.wait_for_function("() => document.querySelector('#analysis').hidden", timeout=30_000)
        ages = page.eval_on_selector_all("#grid .card input.age", "els => els.map(e => Number(e.value))")
        assert len(ages) == 4 and ages == sorted(ages) and all(0 < a < 100 for a in ages)
        # biden.jpg is another person: highlighted as recommended to remove
        recommended = page.eval_on_selector_all("#grid .card.recommend .name", "els => els.map(e => e.textContent)")
        assert recommended == ["biden.jpg"], recommended

        names_js = "() => [...document.querySelectorAll('#grid .card .name')].map(e => e.textContent).join(',')"
        order = page.evaluate(names_js).split(",")
        # the sample photos carry EXIF dates: ordered by date, as the CLI does (obama2.jpg 2009, obama3.jpg and
        # biden.jpg 2010, obama.jpg 2012), and the page says so
        assert order[0] == "obama2.jpg" and order[-1] == "obama.jpg" and sorted(order[1:3]) == ["biden.jpg", "obama3.jpg"]
        assert "4 by the date the photo was taken" in page.text_content("#order-hint")
        titles = page.eval_on_selector_all("#grid .card input.age", "els => els.map(e => e.disabled && e.title)")
        assert all(t and t.startswith("from the date it was taken") for t in titles), titles

        # drag the last face to the front: the order becomes manual; "Sort by date/age" restores it
        page.drag_and_drop("#grid .card:nth-child(4)", "#grid .card:nth-child(1)")
        expect = ",".join([order[3]] + order[:3])
        page.wait_for_function(f"() => ({names_js})() === {expect!r}", timeout=15_000)
        assert "Ordered by hand" in page.text_content("#order-hint")
        page.click("#sort-age")
        page.wait_for_function(f"() => ({names_js})() === {','.join(order)!r}", timeout=15_000)

        # the face recommended for removal is left out by default; one click includes it, one more leaves it out
        assert page.text_content("#grid .card.excluded .name") == "biden.jpg"
        assert "3 of 4 used" in page.text_content("#count")
        assert "left out of the render" in page.text_content("#grid .card.excluded .flags")
        page.click("#grid .card.excluded button.remove")
        page.wait_for_function("() => document.querySelectorAll('#grid .card.excluded').length === 0", timeout=15_000)
        assert "4 of 4 used" in page.text_content("#count")
        page.click("#grid .card.recommend button.remove")
        page.wait_for_function("() => document.querySelectorAll('#grid .card.excluded').length === 1", timeout=15_000)
        assert page.text_content("#grid .card.excluded .name") == "biden.jpg"
        assert "3 of 4 used" in page.text_content("#count")
        assert "by the date" in page.text_content("#order-hint")

        # render with the morph engine, small and short
        page.select_option("#engine", "morph")
        page.select_option("#size", "256")
        page.fill("#frames", "3")
        page.fill("#fps", "12")
        page.select_option("#format", "mp4")
        page.click("#render-button")
        page.wait_for_function(
            "() => { const v = document.querySelector('#result-video');"
            " return v && !v.hidden && v.readyState >= 1 && v.duration > 0; }", timeout=180_000)
        duration = page.evaluate("document.querySelector('#result-video').duration")
        assert duration > 0
        href = page.get_attribute("#download", "href")
        assert href and "/result" in href and "download=1" in href
        history = page.text_content("#history")
        assert "morph" in history and "done" in history
        assert page.is_hidden("#error")
        # show a middle frame (and not the media spinner) in the screenshot
        page.evaluate("() => new Promise((ok) => { const v = document.querySelector('#result-video'); v.pause();"
                      " v.addEventListener('seeked', () => ok(true), { once: true });"
                      " v.currentTime = v.duration / 2; setTimeout(() => ok(false), 5000); })")
        page.screenshot(path=str(ARTIFACTS / "web_ui.png"), full_page=True)
        assert not errors, errors
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "web_ui_failure.png"), full_page=True)
        raise
    finally:
        page.close()


def test_error_states_are_visible(browser, server, tmp_path):
    """A file that is not a photo, a photo without a face and a render without photos all show a
    visible message."""
    page = browser.new_page()
    try:
        page.goto(server.url + "/")
        page.wait_for_function("() => location.hash.startsWith('#p=')", timeout=15_000)
        bogus = tmp_path / "notes.jpg"
        bogus.write_text("not a photo")
        page.set_input_files("#file-input", [str(bogus)])
        page.wait_for_selector("#error:not([hidden])", timeout=15_000)
        assert "not an image" in page.text_content("#error")
        page.click("#render-button")
        page.wait_for_function("() => document.querySelector('#error').textContent.includes('analysed')", timeout=15_000)
        # the latent engine's generator and inversion choices appear with it, where weights exist
        assert page.is_hidden("#generator")
        if not page.is_disabled("#engine option[value=latent]"):
            page.select_option("#engine", "latent")
            assert page.is_visible("#generator") and page.is_visible("#method")
            page.select_option("#engine", "morph")
            assert page.is_hidden("#method")
        # a photo without a face: its card says so, and so does the error line
        import numpy as np
        from PIL import Image

        ramp = np.linspace(0, 255, 160 * 120 * 3).reshape(120, 160, 3).astype(np.uint8)
        Image.fromarray(ramp).save(tmp_path / "wall.jpg")
        page.set_input_files("#file-input", [str(tmp_path / "wall.jpg")])
        page.wait_for_function("() => document.querySelector('#error').textContent.includes('No face found')",
                               timeout=120_000)
        assert "wall.jpg" in page.text_content("#error")
        assert "no face" in page.text_content("#grid .card .noface").lower()
        assert page.get_attribute("#grid .card", "class").split().count("recommend") == 1
    finally:
        page.close()


def test_search_by_name(browser, server, search):
    """Name search: the four queries go to the provider, good images become faces, a search
    that finds nothing shows a visible error."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(server.url + "/")
        page.wait_for_function("() => location.hash.startsWith('#p=')", timeout=15_000)
        assert page.is_enabled("#search-button")
        page.fill("#search-name", "Nobody")
        page.click("#search-button")
        page.wait_for_function("() => document.querySelector('#error').textContent.includes('Search failed')",
                               timeout=30_000)
        assert "no photos" in page.text_content("#error")

        page.fill("#search-name", "Barack Obama")
        page.click("#search-button")
        page.wait_for_function("() => document.querySelectorAll('#grid .card img').length === 3", timeout=120_000)
        names = page.eval_on_selector_all("#grid .card .name", "els => els.map(e => e.textContent)")
        assert sorted(names) == ["biden.jpg", "obama.jpg", "obama3.jpg"]
        recommended = page.eval_on_selector_all("#grid .card.recommend .name", "els => els.map(e => e.textContent)")
        assert recommended == ["biden.jpg"]
        assert "3 photos downloaded, 1 skipped" in page.text_content("#search-hint")
        queries = [q["q"] for q in search.queries if "Obama" in q["q"]]
        assert queries == ["photo of Barack Obama as a kid", "photo of Barack Obama as a teenager",
                           "photo of young Barack Obama", "photo of Barack Obama"]
        page.screenshot(path=str(ARTIFACTS / "web_ui_search.png"), full_page=True)
    finally:
        page.close()


def test_drop_zone_uploads_dropped_files(browser, server):
    page = browser.new_page()
    try:
        page.goto(server.url + "/")
        page.wait_for_function("() => location.hash.startsWith('#p=')", timeout=15_000)
        # a real drop: a File made from a canvas, in a DataTransfer, dropped on the zone
        page.evaluate("""async () => {
            const c = document.createElement('canvas');
            c.width = 96; c.height = 64;
            const g = c.getContext('2d');
            g.fillStyle = '#8a6'; g.fillRect(0, 0, 96, 64);
            const blob = await new Promise((ok) => c.toBlob(ok, 'image/jpeg', 0.9));
            const dt = new DataTransfer();
            dt.items.add(new File([blob], 'dropped.jpg', { type: 'image/jpeg' }));
            const zone = document.querySelector('#dropzone');
            for (const type of ['dragover', 'drop']) {
                zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
            }
        }""")
        page.wait_for_function("() => [...document.querySelectorAll('#grid .card .name')]"
                               ".some((e) => e.textContent === 'dropped.jpg')", timeout=60_000)
        assert page.url.startswith(server.url)   # the page was not replaced by the file
    finally:
        page.close()


THESIS_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>thesis client</title></head><body>
<input id="files" type="file" multiple>
<div id="faces"></div><div id="results"></div>
<script>
const BASE = "%(base)s";
// the thesis client's requests, with XMLHttpRequest as axios sends them
function xhr(method, url, body, type, responseType) {
  return new Promise((ok, fail) => {
    const r = new XMLHttpRequest();
    r.open(method, url);
    if (type) r.setRequestHeader('Content-Type', type);
    r.setRequestHeader('Accept', 'application/json, text/plain, */*');
    if (responseType) r.responseType = responseType;
    r.onload = () => (r.status >= 200 && r.status < 300 ? ok(r) : fail(r));
    r.onerror = () => fail(null);
    r.send(body);
  });
}
window.items = [];
window.upload = async () => {
  const files = document.getElementById('files').files;
  const data = new FormData();
  for (const property in files) {          // as FileUploadItem does (the "item" method goes too)
    if (property === 'length') continue;
    data.append('image', files[property]);
  }
  const r = await xhr('POST', BASE + '/uploadFileAPI', data, null, 'json');
  for (const [path, age] of r.response) {
    window.items.push({ id: window.items.length + 1, path, age });
    const img = document.createElement('img');
    img.className = 'face';
    img.src = BASE + '/storage/' + path;
    document.getElementById('faces').append(img);
  }
  window.items.sort((a, b) => a.age - b.age);
  return r.response.length;
};
window.generate = async (encoder, opacity) => {
  const data = { encoder, size: '256', frames: '4', opacity, items: window.items };
  const box = document.createElement('div');
  box.id = 'card-' + encoder;
  document.getElementById('results').append(box);
  try {
    const r = await xhr('POST', BASE + '/generateGifAPI', JSON.stringify(data), 'application/json', 'blob');
    const img = document.createElement('img');
    img.className = 'gif';
    img.src = URL.createObjectURL(r.response);
    box.append(img);
    await new Promise((ok) => { img.onload = ok; img.onerror = ok; });
    return { status: r.status, type: r.response.type, width: img.naturalWidth };
  } catch (r) {
    const p = document.createElement('p');
    p.className = 'error';
    p.textContent = r ? await r.response.text() : 'Servers are currently offline';
    box.append(p);
    return { status: r ? r.status : 0, error: p.textContent };
  }
};
</script></body></html>"""


def _thesis_page(browser, root: Path, samples: Path, env: dict | None = None, shot: str = "web_thesis_client.png"):
    """The page above, served from another port against a real server (``--cors-origin`` that
    port): upload three photos, check the thumbnails, then ask every card the client offers.
    Returns {encoder: result of ``generate``}."""
    import http.server
    import threading

    from tests.helpers.web import ServerProcess, free_port

    page_port = free_port()
    origin = f"http://127.0.0.1:{page_port}"
    srv = ServerProcess(root / "data", fake=False, extra=["--cors-origin", origin], env=env)
    srv.start(timeout=120)
    (root / "index.html").write_text(THESIS_PAGE % {"base": srv.url})
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **kw)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", page_port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(origin + "/index.html")
        page.set_input_files("#files", [str(samples / n) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")])
        assert page.evaluate("upload()", ) == 3
        page.wait_for_function("() => [...document.querySelectorAll('img.face')].every(i => i.complete)"
                               " && document.querySelectorAll('img.face').length === 3", timeout=30_000)
        widths = page.eval_on_selector_all("img.face", "els => els.map(e => e.naturalWidth)")
        assert widths == [256, 256, 256], widths   # not blocked by the resource policy
        results = {}
        for encoder, opacity in (("psp", "0"), ("toonify", "50"), ("restyle", "50"), ("pixel", "100")):
            res = page.evaluate(f"generate({encoder!r}, {opacity!r})")
            results[encoder] = res
            if res["status"] == 200:
                assert res["type"] == "image/gif" and res["width"] == 256, res
            else:
                assert 400 <= res["status"] < 500 and "weights" in res["error"], res
                assert page.text_content(f"#card-{encoder} .error") == res["error"]
        page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
        assert not errors, errors
        return results
    finally:
        page.close()
        httpd.shutdown()
        srv.stop()


def test_thesis_client_page_on_another_origin(browser, tmp_path_factory, samples):
    """A page served from another port uploads with XHR + FormData, shows the thumbnails from
    ``/storage`` and asks a GIF (``responseType: 'blob'``) for every encoder the thesis' client
    offers: a GIF arrives where the weights are installed, else facereel's message reaches the page."""
    results = _thesis_page(browser, tmp_path_factory.mktemp("thesis-page"), samples)
    assert results["pixel"]["status"] == 200


def test_thesis_client_cards_render_with_the_weights_installed(browser, tmp_path_factory, samples):
    """The machine "with the weights": the three GAN cards' weights names (psp_ffhq_encode,
    psp_ffhq_toonify, restyle_pSp_sg3_ffhq) hold small seeded checkpoints in the official layouts
    (pSp over a rosinality decoder, ReStyle-pSp over StyleGAN3-R), so each card goes the whole way —
    weights name, safe reader, encoder, latent engine, GIF — and every card of the client gets a GIF."""
    from facereel import weights
    from facereel.paths import cache_dir
    from tests.helpers.encoders import write_psp_checkpoint, write_restyle_sg3_checkpoint

    root = tmp_path_factory.mktemp("thesis-weights")
    home = root / "home"
    for shared in ("models", "samples"):       # the offline models fetched at setup stay where they are
        (home / shared).parent.mkdir(parents=True, exist_ok=True)
        (home / shared).symlink_to(cache_dir(shared), target_is_directory=True)
    wdir = home / "weights"
    write_psp_checkpoint(wdir / weights.entry("psp_ffhq_encode").filename, seed=0)
    write_psp_checkpoint(wdir / weights.entry("psp_ffhq_toonify").filename, seed=1)
    write_restyle_sg3_checkpoint(wdir / weights.entry("restyle_pSp_sg3_ffhq").filename, seed=2)
    results = _thesis_page(browser, root, samples, env={"FACEREEL_HOME": str(home)},
                           shot="web_thesis_client_weights.png")
    assert {enc: r["status"] for enc, r in results.items()} == {"psp": 200, "toonify": 200, "restyle": 200,
                                                                 "pixel": 200}, results
