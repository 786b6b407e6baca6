"""Configuration of the web app: limits, data directory, search provider credentials.

Secrets (the Google Custom Search key and engine id) come from the configuration or from the
environment (``FACEREEL_GOOGLE_API_KEY``, ``FACEREEL_GOOGLE_CSE_ID``), never from the code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from facereel.options.choices import WEB_SIZES
from facereel.paths import cache_dir


@dataclass
class WebConfig:
    #: everything the server stores: the SQLite database, photos, thumbnails, renders
    data_dir: Path | None = None

    # --- upload limits -------------------------------------------------------------------
    max_upload_bytes: int = 20 * 1024 * 1024       # one file
    max_pixels: int = 40_000_000                   # width * height of one photo (decompression bombs)
    max_files_per_request: int = 64
    max_items_per_project: int = 200
    #: whole request body (multipart overhead included); None: from the two above, at most 257 MiB
    max_request_bytes: int | None = None
    #: any other body (JSON): a render request or 200 thesis items is a few kB
    max_json_bytes: int = 256 * 1024

    # --- workers ---------------------------------------------------------------------------
    workers: int = 2                               # global limit of jobs running at once
    max_queued_jobs: int = 16                      # refused with 429 beyond this

    # --- analysis / rendering --------------------------------------------------------------
    analyze_size: int = 512                        # aligned crop size used by the analysis
    thumb_size: int = 256
    render_sizes: tuple[int, ...] = WEB_SIZES
    max_frames: int = 240                          # frames between two keyframes
    max_fps: int = 60
    max_renders_kept: int = 10                     # older results of a project are deleted
    legacy_ttl_hours: float = 24.0                 # projects made by the seed's endpoints expire
    legacy_fps: int = 12                           # frame rate of the seed's GIFs (the thesis: 80 ms a frame)

    # --- crawl -----------------------------------------------------------------------------
    google_api_key: str | None = None
    google_cse_id: str | None = None
    #: Custom Search JSON API endpoint (tests point it at a fake server on 127.0.0.1)
    search_endpoint: str = "https://customsearch.googleapis.com/customsearch/v1"
    #: a ready :class:`facereel.web.crawl.SearchProvider`; overrides the Google one
    search_provider: Any = None
    crawl_per_query: int = 3                       # results asked for each of the four queries
    crawl_max_images: int = 12
    crawl_timeout: float = 5.0                     # seconds, connect + each read
    crawl_total_timeout: float = 15.0              # seconds for one download in all
    crawl_max_bytes: int = 10 * 1024 * 1024
    crawl_parallel: int = 6
    #: refuse image URLs on loopback/private/link-local networks (SSRF on a LAN); tests allow
    crawl_allow_private: bool = False

    # --- HTTP ------------------------------------------------------------------------------
    cors_origins: list[str] = field(default_factory=list)   # empty: CORS off; "*": any origin
    #: seconds a client may take to send its request line and headers, and between two chunks
    #: of a body (slow clients must not hold connections)
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    #: Host header names served (DNS-rebinding guard); None: any.  ``facereel serve`` on a
    #: loopback address allows only localhost names.
    allowed_hosts: list[str] | None = None
    #: the pipelines the app calls; None: the real ones (:class:`facereel.web.pipeline.Pipelines`)
    pipelines: Any = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir) if self.data_dir is not None else cache_dir("web")
        if self.google_api_key is None:
            self.google_api_key = os.environ.get("FACEREEL_GOOGLE_API_KEY") or None
        if self.google_cse_id is None:
            self.google_cse_id = os.environ.get("FACEREEL_GOOGLE_CSE_ID") or None
        if self.max_request_bytes is None:
            self.max_request_bytes = min(self.max_upload_bytes * self.max_files_per_request, 256 * 1024 * 1024) \
                + 1024 * 1024
        if self.workers < 1:
            raise ValueError("workers must be >= 1")

    @classmethod
    def from_any(cls, config: WebConfig | dict | None) -> WebConfig:
        if config is None:
            return cls()
        if isinstance(config, cls):
            return config
        if isinstance(config, dict):
            known = {f.name for f in fields(cls)}
            unknown = set(config) - known
            if unknown:
                raise ValueError(f"unknown web config keys: {', '.join(sorted(unknown))}")
            return cls(**config)
        raise TypeError(f"expected WebConfig, dict or None, got {type(config).__name__}")

    def public(self) -> dict:
        """What the browser may know (no secrets, no paths)."""
        return {
            "max_upload_bytes": self.max_upload_bytes,
            "max_pixels": self.max_pixels,
            "max_files_per_request": self.max_files_per_request,
            "max_items_per_project": self.max_items_per_project,
            "render_sizes": list(self.render_sizes),
            "max_frames": self.max_frames,
            "max_fps": self.max_fps,
            "crawl_enabled": self.search_provider is not None
            or bool(self.google_api_key and self.google_cse_id),
        }
