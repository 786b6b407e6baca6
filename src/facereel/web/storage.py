"""The data directory: where every file of the web app lives, and the rules for touching it.

::

    facereel.sqlite3                      projects, items, jobs (WAL)
    projects/<pid>/photos/<iid>.jpg       uploaded photos, metadata stripped
    projects/<pid>/thumbs/<iid>.jpg       aligned faces shown in the grid
    projects/<pid>/manifest.json          the analysis (facereel.manifest format)
    projects/<pid>/renders/<jid>.<ext>    finished renders only
    tmp/<jid>/                            renders in progress (wiped at start-up)

Ids of projects, items, jobs and storage names are 128-bit random hex strings; a path is only
ever built from ids that matched ``[0-9a-f]{32}``, never from a request's text.  Nothing here
follows a symbolic link: the start-up sweep skips linked folders (and never deletes through
them), and :meth:`DataDir.servable` refuses a file reached through a link or lying outside the
data directory.
"""

from __future__ import annotations

import io
import logging
import os
import re
import secrets
import shutil
import stat
from pathlib import Path

from facereel.core.atomic import write_bytes

log = logging.getLogger(__name__)

ID_RE = re.compile(r"^[0-9a-f]{32}$")
STORAGE_RE = re.compile(r"^[0-9a-f]{32}\.jpg$")


def new_id() -> str:
    """128 random bits, hex."""
    return secrets.token_hex(16)


def safe_filename(name: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(ch for ch in name if ch.isprintable())[:120]
    return name or "photo"


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


class DataDir:
    def __init__(self, root: Path):
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.projects = self.root / "projects"
        self.tmp = self.root / "tmp"
        for d in (self.projects, self.tmp):
            if _is_link(d):
                log.warning("%s is a symbolic link; replacing it by a folder (its target is left alone)", d)
                d.unlink()
            d.mkdir(exist_ok=True)
        self.real = Path(os.path.realpath(self.root))

    # --- paths ---------------------------------------------------------------------------
    def pdir(self, pid: str) -> Path:
        if not ID_RE.match(pid or ""):
            raise ValueError("not a project id")
        return self.projects / pid

    def photo_path(self, item: dict) -> Path:
        return self.pdir(item["project_id"]) / "photos" / item["stored_name"]

    def thumb_path(self, item: dict) -> Path | None:
        if not item.get("thumb_name"):
            return None
        return self.pdir(item["project_id"]) / "thumbs" / item["thumb_name"]

    def manifest_path(self, pid: str) -> Path:
        return self.pdir(pid) / "manifest.json"

    def render_path(self, pid: str, name: str) -> Path:
        return self.pdir(pid) / "renders" / name

    def make_project_dirs(self, pid: str) -> None:
        for sub in ("photos", "thumbs", "renders"):
            (self.pdir(pid) / sub).mkdir(parents=True, exist_ok=True)

    def servable(self, path: Path | None) -> Path | None:
        """``path`` when it is a regular file inside the data directory reached without any
        symbolic link; else None."""
        if path is None:
            return None
        path = Path(path)
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return None
        cur = self.root
        for part in rel.parts:
            cur = cur / part
            if _is_link(cur):
                log.warning("refused to serve %s: it is reached through a symbolic link", rel)
                return None
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        real = os.path.realpath(path)
        return path if real.startswith(str(self.real) + os.sep) else None

    # --- writing -------------------------------------------------------------------------
    def write_jpeg(self, rgb, path: Path, quality: int = 90) -> None:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
        write_bytes(path, buf.getvalue())

    def remove_project(self, pid: str) -> None:
        d = self.pdir(pid)
        if _is_link(d):
            d.unlink()
            return
        shutil.rmtree(d, ignore_errors=True)

    def reset_tmp(self) -> None:
        """Removes every render in progress (their jobs failed with the process that ran them)."""
        for entry in os.scandir(self.tmp):
            p = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)   # a file or a link itself, never its target

    # --- start-up ------------------------------------------------------------------------
    def sweep(self, db) -> None:
        """Removes what a dead server left: partial files, results of unfinished jobs, folders of
        deleted projects.  Links are never followed."""
        self.reset_tmp()
        for entry in os.scandir(self.projects):
            pdir = Path(entry.path)
            if entry.is_symlink():
                log.warning("skipping %s: a symbolic link in the data directory", pdir)
                continue
            if not entry.is_dir(follow_symlinks=False):
                continue
            if not ID_RE.match(entry.name) or db.get_project(entry.name) is None:
                shutil.rmtree(pdir, ignore_errors=True)   # a project deleted half-way
                continue
            self._sweep_dir(pdir / "renders", lambda f: self._stale_render(db, f))
            for sub in ("photos", "thumbs"):
                self._sweep_dir(pdir / sub, lambda f: f.name.endswith(".part") or f.name.startswith("."))

    @staticmethod
    def _sweep_dir(folder: Path, stale) -> None:
        if _is_link(folder):
            log.warning("skipping %s: a symbolic link in the data directory", folder)
            return
        if not folder.is_dir():
            return
        for entry in os.scandir(folder):
            f = Path(entry.path)
            if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                continue
            if stale(f):
                f.unlink(missing_ok=True)

    @staticmethod
    def _stale_render(db, f: Path) -> bool:
        job = db.get_job(f.stem) if ID_RE.match(f.stem) else None
        return job is None or job["status"] != "done" or job.get("result_name") != f.name
