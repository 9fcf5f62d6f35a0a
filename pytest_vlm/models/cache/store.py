"""The on-disk result cache: one SQLite file of model answers keyed by content hashes.

Why SQLite (stdlib ``sqlite3``) rather than one file per answer: a benchmark asks thousands of
prompts, and one transaction per chunk of answers is atomic (a killed process leaves either the
whole chunk or none of it, never half a record), cheap, and safe with several writers: in WAL mode
readers never block, and xdist workers that write at the same moment wait for each other (the busy
timeout) instead of failing or corrupting the file. Thousands of tiny files would be slow to write
and to list on most file systems, and would need their own atomic-rename dance. The one thing
SQLite does not like is a network file system (NFS, SMB): keep the cache on a local disk.

Entries are only ever added (``INSERT OR IGNORE``): answers are deterministic, so two workers that
computed the same key wrote the same value, and an entry is never rewritten.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_vlm.errors import VlmError

SCHEMA_VERSION = "1"
DB_NAME = "results.sqlite"
_BUSY_TIMEOUT_S = 60.0


class CacheError(VlmError):
    """The result cache cannot be opened or read."""


def _advice(path: Path) -> str:
    return f"delete {path} (it only holds cached answers; the next run rebuilds it) or run with --vlm-no-cache"


class ResultStore:
    """A key -> JSON value table in ``<folder>/results.sqlite``, opened once per process."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create the result cache folder {self.folder}: {exc}") from exc
        self._db = self._open()
        self._file_hashes: dict[tuple[str, int, int], str] = {}

    def _open(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise CacheError(f"cannot open the result cache {self.path}: {exc}; {_advice(self.path)}") from exc
        try:
            self._retry(lambda: self._init_schema(db))
        except sqlite3.DatabaseError as exc:
            db.close()
            raise CacheError(f"the result cache {self.path} is unreadable ({exc}); {_advice(self.path)}") from exc
        return db

    @staticmethod
    def _retry(action: Any) -> Any:
        """Run ``action``; retry "database is locked" for a while (switching to WAL takes a lock that
        the busy timeout does not always cover when several workers open the file at once)."""
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _init_schema(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash loses at most the last commits, never the file
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL, model TEXT NOT NULL)"
        )
        db.execute("CREATE TABLE IF NOT EXISTS models (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS file_hashes "
            "(path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL, "
            "PRIMARY KEY (path, size, mtime_ns))"
        )
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        (schema,) = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if schema != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"it has schema version {schema}, this pytest-vlm uses {SCHEMA_VERSION}")

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The stored values of those ``keys`` that have one."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, Any] = {}
        for start in range(0, len(keys), 500):  # SQLite limits the number of parameters per query
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(f"SELECT key, value FROM answers WHERE key IN ({marks})", chunk)
            found.update((key, json.loads(value)) for key, value in rows)
        return found

    def put_many(self, values: Mapping[str, Any], model: str) -> None:
        """Store values in one transaction: all of them or, if the process dies, none."""
        rows = [(key, json.dumps(value), model) for key, value in values.items()]

        def write() -> None:
            with self._db:  # one transaction; BEGIN IMMEDIATE takes the write lock up front
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("INSERT OR IGNORE INTO answers VALUES (?, ?, ?)", rows)

        self._write(write)

    def remember_model(self, key: str, fingerprint: Mapping[str, Any]) -> None:
        """Keep the readable fingerprint next to its hash, so a cache can be inspected by hand."""
        text = json.dumps(fingerprint, sort_keys=True)
        self._write(lambda: self._db.execute("INSERT OR IGNORE INTO models VALUES (?, ?)", (key, text)))

    def file_sha256(self, path: Path) -> str:
        """sha256 of a file's bytes, remembered by (path, size, mtime): multi-gigabyte weights are read
        once, and a file rewritten in place (new size or mtime) is read again."""
        stat = path.stat()
        memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if memo in self._file_hashes:
            return self._file_hashes[memo]
        rows = self._query("SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ?", memo)
        if rows:
            digest = rows[0][0]
        else:
            digest = sha256_file(path)
            row = (*memo, digest)
            self._write(lambda: self._db.execute("INSERT OR IGNORE INTO file_hashes VALUES (?, ?, ?, ?)", row))
        self._file_hashes[memo] = digest
        return digest

    def count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM answers", ())[0][0])

    def _query(self, sql: str, params: Any) -> list[Any]:
        try:
            return self._retry(lambda: self._db.execute(sql, params).fetchall())
        except sqlite3.DatabaseError as exc:
            raise CacheError(f"cannot read the result cache {self.path} ({exc}); {_advice(self.path)}") from exc

    def _write(self, action: Any) -> None:
        try:
            self._retry(action)
        except sqlite3.DatabaseError as exc:
            raise CacheError(f"cannot write to the result cache {self.path} ({exc}); {_advice(self.path)}") from exc

    def close(self) -> None:
        self._db.close()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


DEFAULT_FOLDER = ".vlm_cache"  # under pytest's rootdir
