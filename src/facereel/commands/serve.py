"""``facereel serve``: the web app (upload or crawl, review, render, watch)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind. The default serves this machine only; "
                                 "use 0.0.0.0 to share it on your local network."),
        port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
        data_dir: Path = typer.Option(None, "--data-dir", help="Where projects, photos and renders are kept "
                                      "(default: <facereel cache>/web)."),
        workers: int = typer.Option(2, "--workers", min=1, max=16, help="Jobs (analyses, renders) running at once."),
        max_upload_mb: int = typer.Option(20, "--max-upload-mb", min=1, help="Largest accepted photo, in MiB."),
        cors_origin: list[str] = typer.Option([], "--cors-origin", help="Let pages of this origin (e.g. "
                                              "http://localhost:3000, exactly as the browser sends it) call the API "
                                              "and show its images (repeatable; '*' for any). Off by default: "
                                              "same-origin only."),
    ) -> None:
        """Serve the web app.  Name search needs FACEREEL_GOOGLE_API_KEY and FACEREEL_GOOGLE_CSE_ID.

        The latent engine uses the DigiFace DCGAN or FFHQ StyleGAN/pSp/e4e/ReStyle weights, all licensed
        for non-commercial use only."""
        from facereel.commands._ui import console, fail

        try:
            import uvicorn  # noqa: F401

            from facereel.web.app import create_app
            from facereel.web.config import WebConfig
            from facereel.web.server import log_to_stderr
            from facereel.web.server import serve as run_server
        except ImportError as exc:
            fail(f"the web app needs the [web] extra: pip install 'facereel[web]' ({exc.name} missing)")
        try:
            public = not ipaddress.ip_address(host).is_loopback
        except ValueError:
            public = host not in ("localhost",)
        # On loopback only local names are answered (a rebound DNS name of a web page is not).
        hosts = None if public else ["127.0.0.1", "localhost", "::1"]
        try:
            cfg = WebConfig(data_dir=data_dir, workers=workers, max_upload_bytes=max_upload_mb * 1024 * 1024,
                            cors_origins=list(cors_origin), allowed_hosts=hosts)
            application = create_app(cfg)
        except (OSError, ValueError) as exc:
            fail(f"cannot start the web app: {exc}")
        if public:
            console.print(f"[yellow]warning:[/] serving on {host}: anyone who can reach this address can use it")
        console.print(f"facereel web app on http://{host if ':' not in host else f'[{host}]'}:{port}/  "
                      f"(data in {cfg.data_dir})", highlight=False)
        if cors_origin:
            console.print(f"cross-origin requests allowed from: {', '.join(cors_origin)}", highlight=False)
        log_to_stderr()
        try:
            run_server(application, host, port)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc}")
