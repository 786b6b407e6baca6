"""One base for every library error.

``str(exc)`` of a :class:`FacereelError` is one clear line for a person; the CLI prints it
without a traceback and the web maps it to an HTTP status once (``http_status``).
"""

from __future__ import annotations


class FacereelError(Exception):
    """Base of every error facereel raises on purpose (bad input, missing weights, ...)."""

    #: HTTP status the web app answers with when this error reaches it.
    http_status: int = 400


class OptionsError(FacereelError, ValueError):
    """An options object failed :meth:`validate`; ``field`` names the dataclass field.

    Front ends map the field back to what their user typed (``--opacity``, a JSON key) through
    :meth:`message_for`, so the library never names a CLI flag.
    """

    http_status = 422

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    def message_for(self, names: dict[str, str] | None = None) -> str:
        """The message with ``field`` renamed through ``names`` (e.g. ``{"opacity": "--opacity"}``)."""
        name = (names or {}).get(self.field, self.field)
        return f"{name}: {self.message}"
