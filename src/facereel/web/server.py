"""Running the app under uvicorn with the limits a public-facing server needs.

- a request line and headers must arrive within ``header_timeout`` seconds (a client that
  trickles its headers is disconnected; uvicorn alone only times out idle keep-alives);
- SIGTERM / Ctrl-C first tells the running jobs to stop, so they end ``failed`` with a
  message, their partial files are removed and SSE streams get their final event before the
  connections close.
"""

from __future__ import annotations

import logging

from uvicorn.protocols.http.h11_impl import H11Protocol


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline on each request's line and headers."""

    class HeaderTimeoutH11(H11Protocol):
        _header_timer = None

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(seconds, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
                logging.getLogger("facereel.web.server").info(
                    "closed a connection whose request headers took longer than %g s", seconds)
                self.transport.close()

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:   # a request's headers are complete
                self._disarm()

        def on_response_complete(self) -> None:
            self._arm()                    # the next request on this connection gets its own deadline
            super().on_response_complete()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutH11


def log_to_stderr(level: int = logging.INFO) -> None:
    """The web's own log lines (refused origins, legacy endpoints' progress, shutdown) on stderr."""
    logger = logging.getLogger("facereel.web")
    if not any(getattr(h, "_facereel", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        handler._facereel = True
        logger.addHandler(handler)
    logger.setLevel(level)


def serve(app, host: str, port: int, *, log_level: str = "warning") -> None:
    """Serves ``app`` (from :func:`facereel.web.app.create_app`) until SIGTERM/SIGINT."""
    import uvicorn

    web = app.state.web

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            web.begin_shutdown()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                            http=header_timeout_protocol(web.cfg.header_timeout), timeout_keep_alive=5,
                            timeout_graceful_shutdown=3, lifespan="on")
    Server(config).run()
