"""The one atomic write: a unique temporary name in the target folder, fsync, rename.

An interrupted run leaves either the old file or the whole new one, never half of it, and two
writers of the same target never share a temporary name.  The temporary name keeps the
target's suffix (``.out.ab12cd.tmp.mp4``) so writers that pick a format from the suffix (PIL,
PyAV) still do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from facereel.core.errors import FacereelError


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask sets it, which
    races with other threads creating files)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_name(path: Path, *, directory: bool = False) -> Path:
    folder = path.absolute().parent
    folder.mkdir(parents=True, exist_ok=True)
    prefix, suffix = f".{path.stem}.", f".tmp{path.suffix}"
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=folder))
        mode = 0o777
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
        os.close(fd)
        tmp, mode = Path(name), 0o666
    # mkstemp/mkdtemp create 0600/0700; the output gets the mode a plain open() would give it
    os.chmod(tmp, mode & ~_umask())
    return tmp


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yields a temporary path next to ``path``; on success it is fsynced and renamed onto ``path``.

    With ``directory`` the temporary path is a fresh folder (e.g. a folder of PNG frames) that
    replaces ``path`` as a whole.  On any exception the temporary file or folder is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    tmp = _temp_name(path, directory=directory)
    try:
        yield tmp
        if directory:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            os.replace(tmp, path)
        else:
            _fsync_file(tmp)
            os.replace(tmp, path)
        _fsync_dir(path.absolute().parent)
    except BaseException:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None):
    """``with atomic_write(p, "w") as f: f.write(...)``: an open file whose content lands at ``p``
    whole or not at all."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(path)


def check_writable(path: str | os.PathLike) -> Path:
    """Makes ``path``'s folder and proves a file can be created in it, before any long work.

    Raises :class:`~facereel.core.errors.FacereelError` with one line (read-only folder, a file
    where a folder should be, no space...).  Returns the folder.
    """
    folder = Path(path).absolute().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise FacereelError(f"cannot write to {folder}: {exc.strerror or exc}") from exc
    return folder
