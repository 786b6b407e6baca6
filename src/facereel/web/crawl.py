"""Photos of a person by name: a search-provider interface and parallel, bounded downloads.

The Google provider asks the Custom Search JSON API the seed's four age-diversified queries
(as a kid, as a teenager, young, and plain), image search restricted to faces, safe search on.
Key and engine id come from the configuration or the environment
(``FACEREEL_GOOGLE_API_KEY``, ``FACEREEL_GOOGLE_CSE_ID``), never from the code.

Downloads run in parallel, each bounded in time and size, and only images whose content
passes :func:`facereel.web.uploads.validate_image` are kept.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from facereel.core.errors import FacereelError
from facereel.core.progress import Progress
from facereel.web.uploads import UploadError, ValidatedImage, validate_image

log = logging.getLogger(__name__)

USER_AGENT = "facereel/0.1 (+https://github.com/facereel; facial time-lapse crawler)"


class CrawlError(FacereelError):
    """The search itself failed (no provider configured, provider error): shown to the user."""


def age_queries(name: str) -> list[str]:
    """The seed's four queries, spread over the person's life."""
    name = " ".join(name.split())
    return [f"photo of {name} as a kid", f"photo of {name} as a teenager", f"photo of young {name}",
            f"photo of {name}"]


class SearchProvider(Protocol):
    name: str

    def search(self, query: str, num: int) -> list[str]:
        """Image URLs for ``query``, best first, at most ``num``; raises :class:`CrawlError`."""


class GoogleCustomSearch:
    """Google Custom Search JSON API (``searchType=image``)."""

    name = "google"

    def __init__(self, api_key: str, engine_id: str, *,
                 endpoint: str = "https://customsearch.googleapis.com/customsearch/v1", timeout: float = 10.0):
        if not api_key or not engine_id:
            raise CrawlError("name search needs a Google Custom Search key and engine id "
                             "(FACEREEL_GOOGLE_API_KEY and FACEREEL_GOOGLE_CSE_ID)")
        self.api_key = api_key
        self.engine_id = engine_id
        self.endpoint = endpoint
        self.timeout = timeout

    def params(self, query: str, num: int) -> dict:
        return {"key": self.api_key, "cx": self.engine_id, "q": query, "searchType": "image",
                "imgType": "face", "imgSize": "medium", "num": max(1, min(int(num), 10)), "safe": "active",
                "filter": "1", "start": "1"}

    def search(self, query: str, num: int) -> list[str]:
        import httpx

        try:
            r = httpx.get(self.endpoint, params=self.params(query, num), timeout=self.timeout,
                          headers={"User-Agent": USER_AGENT}, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise CrawlError(f"search request failed: {type(exc).__name__}") from exc
        if r.status_code != 200:
            detail = ""
            try:
                detail = r.json().get("error", {}).get("message", "")
            except Exception:
                pass
            raise CrawlError(f"search provider answered HTTP {r.status_code}" + (f": {detail}" if detail else ""))
        try:
            items = r.json().get("items") or []
        except Exception as exc:
            raise CrawlError("search provider answered something that is not JSON") from exc
        urls = []
        for it in items:
            link = it.get("link") if isinstance(it, dict) else None
            if isinstance(link, str):
                urls.append(link)
        return urls[:num]


@dataclass
class Downloaded:
    url: str
    query: str
    image: ValidatedImage


@dataclass
class CrawlResult:
    images: list[Downloaded] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)   # (url, reason)
    queries: list[str] = field(default_factory=list)


#: IPv6 prefixes that carry an IPv4 address (6to4, NAT64 well-known prefix): refused whole,
#: since the embedded address may be on the local network
_EMBEDDING_V6 = (ipaddress.ip_network("2002::/16"), ipaddress.ip_network("64:ff9b::/96"),
                 ipaddress.ip_network("64:ff9b:1::/48"))


def address_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Only globally routable unicast addresses: no loopback, private, link-local, shared
    (100.64.0.0/10, carrier-grade NAT), reserved, multicast, and no IPv6 form of an IPv4
    address (mapped, 6to4, Teredo, NAT64)."""
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return address_allowed(ip.ipv4_mapped)
        if ip.teredo is not None or any(ip in net for net in _EMBEDDING_V6):
            return False
    return ip.is_global and not ip.is_multicast


def _check_host(url: str, allow_private: bool) -> tuple[str, dict[str, str], dict]:
    """(URL to connect to, extra headers, request extensions) for ``url`` after the address check.

    The host name is resolved once, here; the request then goes to the checked address itself
    (an IP literal in the URL, the name in ``Host`` and, for https, as the TLS server name that
    the certificate is verified against).  Letting the HTTP client resolve the name again would
    let a DNS server answer a public address to the check and a local one to the connection
    (DNS rebinding)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UploadError("refused URL scheme", 400)
    host = parts.hostname
    if not host:
        raise UploadError("URL without host", 400)
    if allow_private:
        return url, {}, {}
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UploadError("cannot resolve the image's host", 400) from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    for ip in addresses:
        if not address_allowed(ip):
            raise UploadError(f"refused address {ip} (local network or otherwise not public)", 400)
    if not addresses:
        raise UploadError("cannot resolve the image's host", 400)
    ip = addresses[0]
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = parts.netloc.rsplit("@", 1)[-1]      # name[:port], without any user info
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return pinned, {"Host": host_header}, extensions


class _Decoder:
    """Content-Encoding decoding with a cap on the decoded bytes, checked as they stream (a
    2 MB gzip bomb must not inflate to 2 GB before anyone looks)."""

    def __init__(self, encoding: str, max_bytes: int):
        enc = (encoding or "identity").strip().lower()
        if enc in ("", "identity"):
            self._z = None
        elif enc in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise UploadError(f"unsupported content encoding {enc[:20]!r}", 502)
        self.max_bytes = max_bytes
        self.out = bytearray()

    def feed(self, chunk: bytes) -> None:
        if self._z is None:
            self.out += chunk
        else:
            data = chunk
            while data:
                room = self.max_bytes + 1 - len(self.out)
                self.out += self._z.decompress(data, room)
                if len(self.out) > self.max_bytes:
                    break
                data = self._z.unconsumed_tail
        if len(self.out) > self.max_bytes:
            raise UploadError(f"larger than {self.max_bytes} bytes", 413)


def download_image(url: str, *, timeout: float, total_timeout: float, max_bytes: int, max_pixels: int,
                   allow_private: bool = False, cancelled: Callable[[], bool] | None = None) -> ValidatedImage:
    """One bounded download: connect/read timeouts, a wall-clock deadline over the whole
    download (checked at every chunk the network delivers, however small), a cap on the
    decoded size (Content-Length, streamed bytes and what gzip inflates to), then the content
    check of an upload."""
    import httpx

    deadline = time.monotonic() + total_timeout
    # Redirects are followed by hand so that every hop passes the host check.
    for _hop in range(4):
        target, host_headers, extensions = _check_host(url, allow_private)
        left = max(0.1, deadline - time.monotonic())
        try:
            with httpx.Client(timeout=httpx.Timeout(min(timeout, left)), follow_redirects=False) as client, \
                    client.stream("GET", target, headers={"User-Agent": USER_AGENT, "Accept": "image/*",
                                                          "Accept-Encoding": "identity", **host_headers},
                                  extensions=extensions) as r:
                if r.is_redirect and "location" in r.headers:
                    url = str(httpx.URL(url).join(r.headers["location"]))   # relative to the name, not the address
                    continue
                if r.status_code != 200:
                    raise UploadError(f"HTTP {r.status_code}", 502)
                length = r.headers.get("content-length")
                if length is not None and length.isdigit() and int(length) > max_bytes:
                    raise UploadError(f"larger than {max_bytes} bytes", 413)
                body = _Decoder(r.headers.get("content-encoding", ""), max_bytes)
                for chunk in r.iter_raw():    # whatever each read returned: 1 byte counts too
                    if len(chunk) > max_bytes:
                        raise UploadError(f"larger than {max_bytes} bytes", 413)
                    body.feed(chunk)
                    if time.monotonic() > deadline:
                        raise UploadError(f"download took longer than {total_timeout:g} s", 504)
                    if cancelled is not None and cancelled():
                        raise UploadError("cancelled", 499)
        except httpx.TimeoutException as exc:
            raise UploadError(f"timed out ({type(exc).__name__})", 504) from exc
        except httpx.HTTPError as exc:
            raise UploadError(f"download failed ({type(exc).__name__})", 502) from exc
        return validate_image(bytes(body.out), max_bytes=max_bytes, max_pixels=max_pixels)
    raise UploadError("too many redirects", 502)


def crawl(name: str, provider: SearchProvider, *, per_query: int = 3, max_images: int = 12,
          timeout: float = 5.0, total_timeout: float = 15.0, max_bytes: int = 10 * 1024 * 1024,
          max_pixels: int = 40_000_000, parallel: int = 6, allow_private: bool = False,
          progress: Progress | None = None,
          cancelled: Callable[[], bool] | None = None) -> CrawlResult:
    """Searches the four age queries and downloads the results in parallel.

    Identical files (same sha256) are kept once.  ``progress(done, total)`` counts downloads;
    it may raise to stop the crawl (the job's cancellation)."""
    name = " ".join((name or "").split())
    if not name:
        raise CrawlError("empty name")
    if len(name) > 200:
        raise CrawlError("name is too long")
    result = CrawlResult(queries=age_queries(name))
    wanted: list[tuple[str, str]] = []
    seen: set[str] = set()
    search_errors = []
    for q in result.queries:
        try:
            urls = provider.search(q, per_query)
        except CrawlError as exc:
            search_errors.append(str(exc))
            continue
        for u in urls:
            if u not in seen:
                seen.add(u)
                wanted.append((u, q))
    if not wanted:
        if search_errors:
            raise CrawlError(search_errors[0])
        raise CrawlError(f"the search found no photos of {name!r}")
    wanted = wanted[: max(max_images * 2, max_images)]
    total = len(wanted)
    if progress:
        progress(0, total)

    def one(item: tuple[str, str]):
        url, q = item
        try:
            return url, q, download_image(url, timeout=timeout, total_timeout=total_timeout, max_bytes=max_bytes,
                                          max_pixels=max_pixels, allow_private=allow_private, cancelled=cancelled), None
        except UploadError as exc:
            return url, q, None, str(exc)
        except Exception as exc:  # a broken server must not stop the others
            log.info("crawl: %s failed", url, exc_info=True)
            return url, q, None, f"download failed ({type(exc).__name__})"

    shas: set[str] = set()
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="facereel-crawl") as pool:
        for url, q, img, err in pool.map(one, wanted):
            done += 1
            if img is None:
                result.errors.append((url, err or "failed"))
                log.info("crawl: skipped %s: %s", url, err)
            elif img.sha256 in shas:
                result.errors.append((url, "duplicate file"))
            elif len(result.images) < max_images:
                shas.add(img.sha256)
                result.images.append(Downloaded(url=url, query=q, image=img))
            if progress:
                progress(done, total)
    return result
