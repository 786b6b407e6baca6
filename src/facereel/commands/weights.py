"""``facereel weights list | download | verify | import | path | convert``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

weights_app = typer.Typer(
    help="Pretrained weights by name: list, download (verified, resumable), import, convert. "
         "FFHQ StyleGAN, pSp/e4e/ReStyle and DigiFace DCGAN weights are NON-COMMERCIAL.",
    no_args_is_help=True,
)


def _fail(msg: str):
    from facereel.commands._ui import fail

    fail(msg)


def _check_name(name: str) -> None:
    from facereel import weights as W

    if name not in W.TABLE:
        _fail(f"unknown weights name {name!r}; known: {', '.join(W.TABLE)}")


@weights_app.command("list")
def list_cmd() -> None:
    """Every entry with its licence and status (missing, present-verified, present-unverified)."""
    from rich.table import Table

    from facereel import weights as W
    from facereel.commands._ui import out

    table = Table(show_lines=False)
    for col in ("name", "status", "format", "licence"):
        table.add_column(col, overflow="fold")
    colours = {"missing": "dim", "present-verified": "green", "present-unverified": "yellow", "corrupt": "red"}
    for row in W.listing():
        st = row["status"]
        lic = row["license_short"] + ("" if row["commercial_use"] else " — NON-COMMERCIAL")
        table.add_row(row["name"], f"[{colours.get(st, 'white')}]{st}[/]", row["format"], lic)
    out.print(table)
    out.print(f"cache: {W.weights_dir()}   (full licence texts: `facereel weights download NAME` shows them)",
              highlight=False)


@weights_app.command("download")
def download_cmd(
    name: str = typer.Argument(..., help="Weights name (see `facereel weights list`)."),
    accept_license: bool = typer.Option(False, "--accept-license", help="Accept the licence without asking."),
    force: bool = typer.Option(False, "--force", help="Download again even if present."),
) -> None:
    """Download NAME into the cache (resumes; renamed into place only after the sha256 check)."""
    from facereel import weights as W
    from facereel.commands._ui import console, out, progress_bar

    _check_name(name)
    if not W.license_accepted(name) and not accept_license:
        console.print(W.license_text(name), highlight=False)
        if not sys.stdin.isatty():
            _fail(f"the licence of {name} must be accepted first: re-run with --accept-license")
        if not typer.confirm("Accept this licence?", default=False, err=True):
            _fail("licence not accepted; nothing downloaded")
        accept_license = True
    from facereel.checkpoints.loaders import download_weights

    try:
        with progress_bar(f"{name}") as progress:
            path = download_weights(name, progress=progress, accept_license=accept_license, force=force)
    except W.WeightsError as exc:
        _fail(str(exc))
    out.print(str(path), highlight=False)


@weights_app.command("verify")
def verify_cmd(name: str = typer.Argument(None, help="One name; all present files when omitted.")) -> None:
    """Re-hash cached files against the table (or the sha256 pinned at first download)."""
    from facereel import weights as W
    from facereel.commands._ui import out

    names = [name] if name else [n for n in W.TABLE if W.local_path(n) is not None]
    if name:
        _check_name(name)
    bad = []
    for n in names:
        st, digest = W.verify(n)
        out.print(f"{n}: {st} {digest}".rstrip(), highlight=False)
        if st in ("corrupt", "missing"):
            bad.append(n)
    if bad:
        _fail(f"{', '.join(bad)}: {'missing' if name and bad else 'failed verification'}")


@weights_app.command("import")
def import_cmd(
    name: str = typer.Argument(..., help="Weights name."),
    file: Path = typer.Argument(..., help="The file you downloaded by hand (e.g. in a browser)."),
    move: bool = typer.Option(False, "--move", help="Move instead of copy."),
) -> None:
    """Put a hand-downloaded FILE into the cache as NAME (refuses HTML pages, wrong hashes and files
    that do not parse as the kind of checkpoint NAME is)."""
    from facereel import weights as W
    from facereel.checkpoints.loaders import import_weights
    from facereel.commands._ui import out

    _check_name(name)
    try:
        path = import_weights(name, file, move=move)
    except W.WeightsError as exc:
        _fail(str(exc))
    out.print(f"{name}: {W.status(name)} {path}", highlight=False)


@weights_app.command("path")
def path_cmd(name: str = typer.Argument(..., help="Weights name.")) -> None:
    """Print the cached file of NAME (exit 1 when it is missing)."""
    from facereel import weights as W
    from facereel.commands._ui import out

    _check_name(name)
    p = W.local_path(name)
    if p is None:
        _fail(f"{name} is not in the cache ({W.weights_dir()}); run `facereel weights download {name}`")
    out.print(str(p), highlight=False, soft_wrap=True)


@weights_app.command("convert")
def convert_cmd(
    src: Path = typer.Argument(..., help="Official checkpoint (NVIDIA .pkl, rosinality/pSp/e4e/ReStyle .pt) "
                                         "or a weights name whose file is cached."),
    dst: Path = typer.Argument(..., help="Output .safetensors (loading it needs no pickle)."),
) -> None:
    """Convert an official checkpoint into facereel's safetensors + JSON config (no code is run)."""
    from facereel import weights as W
    from facereel.checkpoints import CheckpointError
    from facereel.commands._ui import out

    if not src.exists() and str(src) in W.TABLE:  # a weights name: convert its cached file
        cached = W.local_path(str(src))
        if cached is None:
            _fail(f"{src} is not in the cache; run `facereel weights download {src}` first")
        src = cached
    try:
        from facereel.checkpoints.loaders import convert

        cfg = convert(src, dst)
    except CheckpointError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.strerror or exc}: {getattr(exc, 'filename', '') or src}")
    except Exception as exc:  # noqa: BLE001 - never a traceback for a bad input file
        _fail(f"cannot convert {src.name}: {type(exc).__name__}: {exc}")
    out.print(f"{dst}: {cfg['kind']} ({cfg.get('decoder_kind', '')})".replace(" ()", ""), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(weights_app, name="weights")
