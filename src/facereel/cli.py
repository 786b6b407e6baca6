"""The ``facereel`` command line (Typer).  Output and progress bars (rich) live here only.

Each group of commands is defined in its own module under :mod:`facereel.commands` and
registered on :data:`app` by :func:`_register`.  Those modules import heavy libraries (torch,
dlib, mediapipe) inside the command functions, so ``facereel --help`` stays fast.
"""

from __future__ import annotations

import importlib
import logging

import typer

app = typer.Typer(
    name="facereel",
    help="Face videos in the latent space of pretrained face generators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: modules of facereel.commands; each defines ``register(app: typer.Typer) -> None``.
COMMAND_MODULES = ("analyze", "timelapse", "evaluate", "weights", "generate", "invert", "serve", "reenact",
                   "directions", "edit", "walk", "emotions", "lab", "age")


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logging."),
          fused_kernels: bool = typer.Option(
              False, "--fused-kernels", envvar="FACEREEL_FUSED_KERNELS",
              help="Opt in to the compiled CPU kernels for StyleGAN2 synthesis (built with the "
                   "system C compiler on first use; the pure-PyTorch path runs where none works).")) -> None:
    from facereel.commands._process import configure
    from facereel.commands._ui import setup_logging

    setup_logging(logging.DEBUG if verbose else logging.INFO)
    configure(fused_kernels=fused_kernels)


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"facereel.commands.{name}").register(app)


_register()


def main() -> None:
    """The ``facereel`` console script: third-party native log noise is filtered off stderr
    unless ``-v`` (:mod:`facereel.commands._quiet`)."""
    import sys

    from facereel.commands._quiet import quiet_third_party, verbose_requested

    if not verbose_requested(sys.argv[1:]):
        quiet_third_party()
    app()


if __name__ == "__main__":
    main()
