"""facereel.weights against a local HTTP server on 127.0.0.1 (no internet): plain file, redirect,
Drive-style confirm page, quota page, truncated body + resume, wrong hash; licences; CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from facereel import weights as W

DATA = bytes(range(256)) * 4096 + b"tail"  # ~1 MiB, not a multiple of the chunk size
SHA = hashlib.sha256(DATA).hexdigest()

CONFIRM_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<p>Google Drive can't scan this file for viruses.</p>
<form id="download-form" action="{base}/drive/download" method="get">
<input type="submit" value="Download anyway"/>
<input type="hidden" name="id" value="FILEID"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="abc-123">
</form></body></html>"""

QUOTA_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>
<p>Sorry, you can't view or download this file at this time.</p><p>Too many users have viewed or
downloaded this file recently. Please try accessing the file again later.</p></body></html>"""


class Handler(BaseHTTPRequestHandler):
    requests: list = []
    fail_first_resume = True

    def log_message(self, *a):  # keep pytest output clean
        pass

    def _send_file(self, data: bytes, allow_range: bool = True, cut: int | None = None):
        rng = self.headers.get("Range")
        start = 0
        if allow_range and rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True

    def _html(self, page: str, code: int = 200):
        raw = page.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):  # noqa: N802 - http.server API
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        Handler.requests.append((url.path, self.headers.get("Range")))
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if url.path in ("/plain/test.bin", "/mirror/test.bin"):
            self._send_file(DATA)
        elif url.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/plain/test.bin")
            self.end_headers()
        elif url.path == "/drive/uc":
            self._html(CONFIRM_PAGE.format(base=base))
        elif url.path == "/drive/download":
            if q.get("confirm") == "t" and q.get("uuid") == "abc-123" and q.get("id") == "FILEID":
                self._send_file(DATA)
            else:
                self._html(CONFIRM_PAGE.format(base=base))
        elif url.path == "/drive-old/uc":
            # the older Drive flow: a download_warning cookie + a link carrying confirm=<token>
            if q.get("confirm") == "TOK3N" and "download_warning_x=TOK3N" in (self.headers.get("Cookie") or ""):
                self._send_file(DATA)
            else:
                page = ('<html><head><title>Google Drive - Virus scan warning</title></head><body>'
                        '<a class="x" href="/drive-old/uc?export=download&amp;confirm=TOK3N&amp;id=FILEID">'
                        'Download anyway</a></body></html>')
                raw = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Set-Cookie", "download_warning_x=TOK3N; Path=/")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
        elif url.path == "/quota":
            self._html(QUOTA_PAGE, 403 if q.get("code") == "403" else 200)
        elif url.path == "/truncated":
            self._send_file(DATA, allow_range=False, cut=len(DATA) // 3)
        elif url.path == "/resume":
            # first request dies half-way; later requests honour Range
            if Handler.fail_first_resume and self.headers.get("Range") is None:
                Handler.fail_first_resume = False
                self._send_file(DATA, cut=len(DATA) // 2)
            else:
                self._send_file(DATA)
        elif url.path == "/wrong":
            self._send_file(DATA[::-1])
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEREEL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACEREEL_WEIGHTS_BASE_URL", raising=False)
    Handler.requests.clear()
    return tmp_path / "home"


def _entry(monkeypatch, url_path: str | None, sha: str | None = SHA, verified: bool = True, name="test-weights"):
    # "bytes": a format with no checkpoint reader, so the arbitrary DATA passes the format check
    e = W.WeightsEntry(name, "test.bin", (url_path,) if url_path else (), "bytes", "test",
                       "Test Licence NC", "http://example.invalid/licence", "test entry", "http://example.invalid",
                       sha256=sha, sha256_verified=verified)
    monkeypatch.setitem(W.TABLE, name, e)
    return e


def test_plain_download_progress_and_status(server, home, monkeypatch):
    _entry(monkeypatch, server + "/plain/test.bin")
    assert W.status("test-weights") == "missing"
    seen = []
    path = W.download("test-weights", accept_license=True, progress=lambda d, t: seen.append((d, t)))
    assert path.read_bytes() == DATA and path.parent == home / "weights"
    assert not path.with_name("test.bin.part").exists()
    assert seen[-1] == (len(DATA), len(DATA)) and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    assert W.status("test-weights") == "present-verified"
    assert W.verify("test-weights") == ("present-verified", SHA)
    # present: a second call does not download again
    n = len(Handler.requests)
    assert W.download("test-weights") == path and len(Handler.requests) == n


def test_redirect(server, home, monkeypatch):
    _entry(monkeypatch, server + "/redirect")
    assert W.download("test-weights", accept_license=True).read_bytes() == DATA
    assert [p for p, _ in Handler.requests] == ["/redirect", "/plain/test.bin"]


def test_drive_confirm_page_followed(server, home, monkeypatch):
    _entry(monkeypatch, server + "/drive/uc?export=download&id=FILEID")
    assert W.download("test-weights", accept_license=True).read_bytes() == DATA
    assert [p for p, _ in Handler.requests] == ["/drive/uc", "/drive/download"]


def test_drive_old_cookie_confirm_followed(server, home, monkeypatch):
    _entry(monkeypatch, server + "/drive-old/uc?export=download&id=FILEID")
    assert W.download("test-weights", accept_license=True).read_bytes() == DATA
    assert [p for p, _ in Handler.requests] == ["/drive-old/uc", "/drive-old/uc"]


@pytest.mark.parametrize("code", ["200", "403"])
def test_drive_quota_page_recognised(server, home, monkeypatch, code):
    _entry(monkeypatch, server + f"/quota?code={code}")
    with pytest.raises(W.WeightsError) as ei:
        W.download("test-weights", accept_license=True)
    msg = str(ei.value)
    assert "quota" in msg and "facereel weights import test-weights" in msg and "\n" not in msg
    assert W.local_path("test-weights") is None
    assert not (home / "weights" / "test.bin.part").exists()  # the HTML page is never kept


def test_truncated_body_kept_for_resume_then_resumed(server, home, monkeypatch):
    _entry(monkeypatch, server + "/resume")
    Handler.fail_first_resume = True
    with pytest.raises(W.WeightsError, match="resume"):
        W.download("test-weights", accept_license=True)
    part = home / "weights" / "test.bin.part"
    assert part.is_file() and part.stat().st_size == len(DATA) // 2
    assert W.local_path("test-weights") is None  # never renamed while incomplete
    path = W.download("test-weights")  # licence remembered; resumes with Range
    assert path.read_bytes() == DATA
    assert Handler.requests[-1] == ("/resume", f"bytes={len(DATA) // 2}-")


def test_truncated_without_range_support(server, home, monkeypatch):
    _entry(monkeypatch, server + "/truncated")
    with pytest.raises(W.WeightsError, match="truncated|interrupted"):
        W.download("test-weights", accept_license=True)
    assert W.local_path("test-weights") is None


def test_wrong_hash_removed(server, home, monkeypatch):
    _entry(monkeypatch, server + "/wrong")
    with pytest.raises(W.WeightsError, match="sha256 mismatch"):
        W.download("test-weights", accept_license=True)
    assert W.local_path("test-weights") is None
    assert not (home / "weights" / "test.bin.part").exists()


def test_unknown_hash_is_pinned_then_enforced(server, home, monkeypatch):
    _entry(monkeypatch, server + "/plain/test.bin", sha=None, verified=False)
    path = W.download("test-weights", accept_license=True)
    assert W.status("test-weights") == "present-unverified"
    assert W.pins()["test-weights"]["sha256"] == SHA
    # a later, different download must match the pin
    path.unlink()
    _entry(monkeypatch, server + "/wrong", sha=None, verified=False)
    with pytest.raises(W.WeightsError, match="sha256 mismatch"):
        W.download("test-weights")
    # corruption of a present file is caught by verify
    _entry(monkeypatch, server + "/plain/test.bin", sha=None, verified=False)
    path = W.download("test-weights")
    path.write_bytes(DATA[:-1] + b"X")
    assert W.status("test-weights") == "corrupt"  # size/mtime changed → re-hashed against the pin
    assert W.verify("test-weights")[0] == "corrupt"
    assert W.pins()["test-weights"]["sha256"] == SHA  # a mismatch never re-pins


def test_mirror_fallback_and_base_url_env(server, home, monkeypatch):
    _entry(monkeypatch, server + "/quota")
    monkeypatch.setenv("FACEREEL_WEIGHTS_BASE_URL", server + "/mirror")
    assert W.download("test-weights", accept_license=True).read_bytes() == DATA
    assert Handler.requests[-1][0] == "/mirror/test.bin"
    # explicit URLs: the first fails (404), the second works
    monkeypatch.delenv("FACEREEL_WEIGHTS_BASE_URL")
    W.local_path("test-weights").unlink()
    path = W.download("test-weights", urls=[server + "/missing", server + "/plain/test.bin"])
    assert path.read_bytes() == DATA


def test_licence_required_before_first_download(server, home, monkeypatch):
    _entry(monkeypatch, server + "/plain/test.bin")
    with pytest.raises(W.LicenseNotAccepted, match="Test Licence NC"):
        W.download("test-weights")
    assert Handler.requests == []  # nothing fetched before the licence is accepted
    res = CliRunner().invoke(_app(), ["weights", "download", "test-weights"])
    assert res.exit_code != 0 and "--accept-license" in res.output and "Test Licence NC" in res.output
    res = CliRunner().invoke(_app(), ["weights", "download", "test-weights", "--accept-license"])
    assert res.exit_code == 0, res.output
    assert W.local_path("test-weights").read_bytes() == DATA


def _app():
    from facereel.cli import app

    return app


def test_cli_list_path_verify_import(server, home, monkeypatch, tmp_path):
    from facereel.commands import _ui

    _entry(monkeypatch, server + "/plain/test.bin")
    monkeypatch.setattr(_ui.out, "width", 250)
    runner = CliRunner()
    res = runner.invoke(_app(), ["weights", "list"])
    assert res.exit_code == 0, res.output
    for name in W.TABLE:
        assert name in res.output
    for required in ("stylegan2-ffhq-1024", "stylegan2-ffhq-config-f", "stylegan3-t-ffhq-1024",
                     "stylegan3-r-ffhq-1024", "stylegan3-t-ffhqu-256", "psp_ffhq_encode", "e4e_ffhq_encode",
                     "restyle_psp_ffhq_encode", "restyle_e4e_ffhq_encode", "restyle_pSp_sg3_ffhq", "model_ir_se50",
                     "dcgan-digiface"):
        assert required in res.output
    line = next(ln for ln in res.output.splitlines() if "test-weights" in ln)
    assert "missing" in line
    assert "present-verified" in next(ln for ln in res.output.splitlines() if "dcgan-digiface" in ln)
    assert "NON-COMMERCIAL" in next(ln for ln in res.output.splitlines() if "stylegan2-ffhq-1024" in ln)

    res = runner.invoke(_app(), ["weights", "path", "test-weights"])
    assert res.exit_code == 1 and "download" in res.output

    # import: an HTML page is refused, the real file accepted
    page = tmp_path / "saved.bin"
    page.write_text(QUOTA_PAGE)
    res = runner.invoke(_app(), ["weights", "import", "test-weights", str(page)])
    assert res.exit_code == 1 and "HTML" in res.output
    good = tmp_path / "good.bin"
    good.write_bytes(DATA)
    res = runner.invoke(_app(), ["weights", "import", "test-weights", str(good)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(_app(), ["weights", "path", "test-weights"])
    assert res.exit_code == 0 and res.output.strip() == str(home / "weights" / "test.bin")
    res = runner.invoke(_app(), ["weights", "list"])
    assert "present-verified" in next(ln for ln in res.output.splitlines() if "test-weights" in ln)
    res = runner.invoke(_app(), ["weights", "verify", "test-weights"])
    assert res.exit_code == 0 and SHA in res.output
    (home / "weights" / "test.bin").write_bytes(b"garbage")
    res = runner.invoke(_app(), ["weights", "verify"])
    assert res.exit_code == 1 and "corrupt" in res.output and "Traceback" not in res.output
    res = runner.invoke(_app(), ["weights", "download", "nope"])
    assert res.exit_code == 1 and "unknown weights name" in res.output


def test_table_entries_are_complete():
    for name, e in W.TABLE.items():
        assert e.name == name and e.filename and e.license and e.license_url.startswith("https://")
        assert e.format in {"nvidia-pkl", "rosinality-pt", "psp-pt", "pet-pt", "sam-pt", "torch-state-dict", "dcgan-tar",
                            "e4e-direction-pt"}
        assert e.offline or e.urls, name
        # every face model here is non-commercial; only the permissive LPIPS linear layers are not
        assert not e.commercial_use or e.license.startswith("BSD-2-Clause"), name
        for u in e.urls:
            host = urllib.parse.urlparse(u).hostname
            assert host in {"api.ngc.nvidia.com", "drive.google.com", "raw.githubusercontent.com",
                            "download.pytorch.org"}, u
    assert W.TABLE["dcgan-digiface"].offline
    assert dataclasses.replace(W.TABLE["psp_ffhq_encode"]).drive_view_url == \
        "https://drive.google.com/file/d/1bMTNWkh5LArlaWSc_wa8VKyq2V42T2z0/view"
    # SAM's README links its FFHQ ageing model by this Drive id; its licence is the FFHQ generator's (NC)
    sam = W.TABLE["sam_ffhq_aging"]
    assert sam.drive_view_url == "https://drive.google.com/file/d/1XyumF6_fdAxFmxpFcmPf-q84LU_22EMC/view"
    assert sam.kind == "sam" and sam.format == "sam-pt" and not sam.commercial_use
    assert sam.sha256 is None and sam.size is None and "non-commercial" in sam.license.lower()


def test_dcgan_offline_entry(home):
    p = W.download("dcgan-digiface")  # no licence prompt, no network: it ships with the package
    assert p.name == "weights.tar" and p.is_file()
    assert W.verify("dcgan-digiface")[0] == "present-verified"


def test_first_download_must_parse_as_its_kind(server, home, monkeypatch):
    """A first download has no hash to check, so it is pinned only once it parses as the entry's
    format: 1 MiB of bytes served for an NVIDIA pickle is refused, removed and not pinned."""
    from facereel.checkpoints.loaders import download_weights

    e = dataclasses.replace(_entry(monkeypatch, server + "/plain/test.bin", sha=None),
                            format="nvidia-pkl", kind="stylegan2")
    monkeypatch.setitem(W.TABLE, "test-weights", e)
    with pytest.raises(W.WeightsError, match="not an NVIDIA StyleGAN pickle"):
        download_weights("test-weights", accept_license=True)
    assert W.local_path("test-weights") is None and "test-weights" not in W.pins()
    assert not list((home / "weights").glob("test.bin*"))
