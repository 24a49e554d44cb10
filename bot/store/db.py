"""Opening the archive: one SQLite file, WAL mode, migrations applied."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from bot.errors import StoreError
from bot.store.migrations import migrate


def open_db(path: str | Path, *, migrate_schema: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the archive at `path` and bring its schema up to date.

    WAL lets Datasette and slash commands read while the scheduler writes; the busy timeout
    makes a writer wait for another writer instead of failing with "database is locked".
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        db = sqlite_utils.Database(conn)
        if migrate_schema:
            migrate(db)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the archive: {exc}") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the archive: {exc}") from None
    return db
