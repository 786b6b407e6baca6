"""What this installation can render: which generators and encoder weights are installed.

Front ends (the web's ``/api/config``, its render checks) ask here instead of reading the
weights table and the inversion defaults themselves.  Nothing here imports torch or loads a
model, so the answer is quick; it only looks at the weights cache.
"""

from __future__ import annotations

from facereel import weights
from facereel.inversion.defaults import DEFAULT_ENCODERS, METHODS
from facereel.pipelines.invert import DEFAULT_GENERATOR, latent_choices


def installed(name: str) -> bool:
    """Whether the weights called ``name`` are in the cache (or shipped with a package)."""
    try:
        return weights.local_path(name) is not None
    except Exception:  # noqa: BLE001 - unknown name, unreadable cache: not installed
        return False


def is_known(name: str) -> bool:
    return name in weights.TABLE


def latent_options() -> dict:
    """:func:`facereel.pipelines.invert.latent_choices`: installed generators, usable methods."""
    return latent_choices()


def latent_status(method: str | None = None, generator: str | None = None,
                  encoder: str | None = None) -> tuple[bool, str]:
    """(available, reason) of the latent engine with inversion ``method`` and, for the encoder
    methods, the ``encoder`` weights (default: the method's own).  The reason is one line that
    says what to install."""
    opts = latent_options()
    m = method or "optimize"
    if m not in METHODS:
        return False, f"unknown inversion method {m!r}; choose one of {', '.join(METHODS)}"
    if generator is not None and generator not in opts["generators"]:
        return False, (f"generator {generator!r} is not installed here (installed: "
                       f"{', '.join(opts['generators']) or 'none'}); see `facereel weights list`")
    need = encoder or DEFAULT_ENCODERS.get(m)
    if m == "optimize" or (m == "hybrid" and need is None):
        need = None
    if need is not None:
        if not is_known(need):
            return False, f"unknown encoder weights {need!r}; see `facereel weights list`"
        if not installed(need):
            return False, (f"the {need} weights are not installed on this server: run `facereel weights "
                           f"download {need}` (FFHQ-based weights are licensed for non-commercial use only)")
    if m in ("optimize", "hybrid") and generator is None and DEFAULT_GENERATOR not in opts["generators"]:
        if not opts["generators"]:
            return False, (f"the latent engine with {m} needs generator weights, none installed here: run "
                           f"`facereel weights download NAME`")
        return False, f"choose a generator: {', '.join(opts['generators'])}"
    return True, ""


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions of the render path whose message is meant for the user (bad input, missing
    weights), as opposed to bugs."""
    from facereel.core.errors import FacereelError

    # TimelapseError, ManifestError, InversionError (missing weights), ... all derive from it
    return (FacereelError,)
