"""SQLite persistence (stdlib ``sqlite3``, WAL) for projects, items and jobs.

One connection shared by the server's threads behind a lock: requests are short and the
database small, so serialising them costs nothing measurable and removes every
"database is locked" race.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL DEFAULT '',
    created       REAL NOT NULL,
    manual_order  INTEGER NOT NULL DEFAULT 0,
    legacy        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS items (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    filename      TEXT NOT NULL,
    stored_name   TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    source_url    TEXT,
    exif_date     TEXT,
    width         INTEGER,
    height        INTEGER,
    created       REAL NOT NULL,
    analyzed      INTEGER NOT NULL DEFAULT 0,
    age_estimated REAL,
    age_user      REAL,
    flags         TEXT NOT NULL DEFAULT '[]',
    recommended_remove INTEGER NOT NULL DEFAULT 0,
    excluded      INTEGER NOT NULL DEFAULT 0,
    excluded_set  INTEGER NOT NULL DEFAULT 0,
    age_dated     REAL,
    position      INTEGER NOT NULL DEFAULT 0,
    thumb_name    TEXT,
    storage_name  TEXT UNIQUE,
    error         TEXT
);
CREATE INDEX IF NOT EXISTS items_project ON items(project_id);
CREATE TABLE IF NOT EXISTS jobs (
    id            TEXT PRIMARY KEY,
    project_id    TEXT REFERENCES projects(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    settings      TEXT NOT NULL DEFAULT '{}',
    done          INTEGER NOT NULL DEFAULT 0,
    total         INTEGER NOT NULL DEFAULT 0,
    message       TEXT,
    error         TEXT,
    result_name   TEXT,
    content_type  TEXT,
    created       REAL NOT NULL,
    started       REAL,
    finished      REAL
);
CREATE INDEX IF NOT EXISTS jobs_project ON jobs(project_id);
"""

ACTIVE = ("queued", "running")
FINAL = ("done", "failed", "cancelled")

ITEM_COLUMNS = {
    "filename", "stored_name", "sha256", "source_url", "exif_date", "width", "height", "analyzed",
    "age_estimated", "age_user", "flags", "recommended_remove", "excluded", "position", "thumb_name",
    "storage_name", "error", "excluded_set", "age_dated",
}
#: columns added after the first release: (name, declaration) for ALTER TABLE on old databases
ITEM_MIGRATIONS = (("excluded_set", "INTEGER NOT NULL DEFAULT 0"), ("age_dated", "REAL"))
JOB_COLUMNS = {"status", "done", "total", "message", "error", "result_name", "content_type", "started", "finished"}


def _row(row: sqlite3.Row | None) -> dict | None:
    if row is None:
        return None
    d = dict(row)
    for key in ("flags", "settings"):
        if key in d and isinstance(d[key], str):
            d[key] = json.loads(d[key])
    for key in ("analyzed", "recommended_remove", "excluded", "excluded_set", "manual_order", "legacy"):
        if key in d:
            d[key] = bool(d[key])
    return d


class Database:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)
            have = {r[1] for r in self._conn.execute("PRAGMA table_info(items)").fetchall()}
            for name, decl in ITEM_MIGRATIONS:
                if name not in have:
                    self._conn.execute(f"ALTER TABLE items ADD COLUMN {name} {decl}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def journal_mode(self) -> str:
        with self._lock:
            return self._conn.execute("PRAGMA journal_mode").fetchone()[0]

    def _exec(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, tuple(params))

    def _one(self, sql: str, params: Iterable[Any] = ()) -> dict | None:
        with self._lock:
            return _row(self._conn.execute(sql, tuple(params)).fetchone())

    def _all(self, sql: str, params: Iterable[Any] = ()) -> list[dict]:
        with self._lock:
            return [_row(r) for r in self._conn.execute(sql, tuple(params)).fetchall()]

    # --- projects ------------------------------------------------------------------------
    def create_project(self, project_id: str, name: str = "", legacy: bool = False) -> dict:
        self._exec("INSERT INTO projects (id, name, created, legacy) VALUES (?, ?, ?, ?)",
                   (project_id, name, time.time(), int(legacy)))
        return self.get_project(project_id)

    def get_project(self, project_id: str) -> dict | None:
        return self._one("SELECT * FROM projects WHERE id = ?", (project_id,))

    def legacy_projects_before(self, created_before: float) -> list[str]:
        with self._lock:
            return [r[0] for r in self._conn.execute(
                "SELECT id FROM projects WHERE legacy = 1 AND created < ?", (created_before,)).fetchall()]

    def set_manual_order(self, project_id: str, manual: bool) -> None:
        self._exec("UPDATE projects SET manual_order = ? WHERE id = ?", (int(manual), project_id))

    def delete_project(self, project_id: str) -> None:
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.execute("DELETE FROM items WHERE project_id = ?", (project_id,))
                self._conn.execute("DELETE FROM jobs WHERE project_id = ?", (project_id,))
                self._conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    # --- items ---------------------------------------------------------------------------
    def add_item(self, item: dict, limit: int | None = None) -> dict | None:
        """Inserts ``item``; with ``limit``, only while the project holds fewer items (checked and
        inserted under one lock: concurrent uploads cannot pass it).  None when full."""
        cols = ["id", "project_id", "created"] + [k for k in item if k in ITEM_COLUMNS]
        values = {**item, "created": time.time()}
        if "flags" in values and not isinstance(values["flags"], str):
            values["flags"] = json.dumps(values["flags"])
        with self._lock:
            if limit is not None and self.count_items(item["project_id"]) >= limit:
                return None
            if "position" not in item:
                n = self._conn.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM items WHERE project_id = ?",
                                       (item["project_id"],)).fetchone()[0]
                cols.append("position")
                values["position"] = n
            self._conn.execute(
                f"INSERT INTO items ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                [values[c] for c in cols])
        return self.get_item(item["id"])

    def get_item(self, item_id: str) -> dict | None:
        return self._one("SELECT * FROM items WHERE id = ?", (item_id,))

    def item_by_storage_name(self, name: str) -> dict | None:
        return self._one("SELECT * FROM items WHERE storage_name = ?", (name,))

    def items(self, project_id: str) -> list[dict]:
        return self._all("SELECT * FROM items WHERE project_id = ? ORDER BY position, created", (project_id,))

    def count_items(self, project_id: str) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM items WHERE project_id = ?", (project_id,)).fetchone()[0]

    def item_by_sha(self, project_id: str, sha256: str) -> dict | None:
        return self._one("SELECT * FROM items WHERE project_id = ? AND sha256 = ?", (project_id, sha256))

    def projects_with_unanalysed(self) -> list[str]:
        """Projects (not the seed's hidden ones) holding photos whose analysis never finished."""
        with self._lock:
            return [r[0] for r in self._conn.execute(
                "SELECT DISTINCT i.project_id FROM items i JOIN projects p ON p.id = i.project_id "
                "WHERE i.analyzed = 0 AND p.legacy = 0").fetchall()]

    def has_sha(self, project_id: str, sha256: str) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM items WHERE project_id = ? AND sha256 = ?",
                                      (project_id, sha256)).fetchone() is not None

    def update_item(self, item_id: str, **fields_: Any) -> None:
        bad = set(fields_) - ITEM_COLUMNS
        if bad:
            raise KeyError(f"not item columns: {bad}")
        if not fields_:
            return
        if "flags" in fields_ and not isinstance(fields_["flags"], str):
            fields_["flags"] = json.dumps(list(fields_["flags"]))
        for k in ("analyzed", "recommended_remove", "excluded", "excluded_set"):
            if k in fields_ and fields_[k] is not None:
                fields_[k] = int(bool(fields_[k]))
        sets = ", ".join(f"{k} = ?" for k in fields_)
        self._exec(f"UPDATE items SET {sets} WHERE id = ?", [*fields_.values(), item_id])

    def set_positions(self, ordered_ids: list[str]) -> None:
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                for pos, iid in enumerate(ordered_ids):
                    self._conn.execute("UPDATE items SET position = ? WHERE id = ?", (pos, iid))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    # --- jobs ----------------------------------------------------------------------------
    def create_job(self, job_id: str, project_id: str | None, kind: str, settings: dict) -> dict:
        self._exec("INSERT INTO jobs (id, project_id, kind, status, settings, created) VALUES (?, ?, ?, 'queued', ?, ?)",
                   (job_id, project_id, kind, json.dumps(settings), time.time()))
        return self.get_job(job_id)

    def get_job(self, job_id: str) -> dict | None:
        return self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def update_job(self, job_id: str, **fields_: Any) -> None:
        bad = set(fields_) - JOB_COLUMNS
        if bad:
            raise KeyError(f"not job columns: {bad}")
        if fields_:
            sets = ", ".join(f"{k} = ?" for k in fields_)
            self._exec(f"UPDATE jobs SET {sets} WHERE id = ?", [*fields_.values(), job_id])

    def jobs(self, project_id: str, kind: str | None = None) -> list[dict]:
        if kind is None:
            return self._all("SELECT * FROM jobs WHERE project_id = ? ORDER BY created DESC", (project_id,))
        return self._all("SELECT * FROM jobs WHERE project_id = ? AND kind = ? ORDER BY created DESC",
                         (project_id, kind))

    def active_jobs(self, project_id: str | None = None, kind: str | None = None) -> list[dict]:
        sql = "SELECT * FROM jobs WHERE status IN ('queued', 'running')"
        params: list[Any] = []
        if project_id is not None:
            sql += " AND project_id = ?"
            params.append(project_id)
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        return self._all(sql, params)

    def fail_interrupted_jobs(self, reason: str) -> list[dict]:
        """Marks every queued/running job failed (called at start-up: their worker died)."""
        with self._lock:
            rows = self._all("SELECT * FROM jobs WHERE status IN ('queued', 'running')")
            self._conn.execute(
                "UPDATE jobs SET status = 'failed', error = ?, finished = ?, result_name = NULL "
                "WHERE status IN ('queued', 'running')", (reason, time.time()))
        return rows
