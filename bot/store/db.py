"""Opening the archive and writing to it atomically.

One SQLite file in WAL mode. Connections run in driver autocommit (`isolation_level=None`):
Python's sqlite3 never opens or commits a transaction behind our back, so the only
transactions are the ones `transaction()` opens. Every store function that writes more than
one statement wraps them in `transaction(db)`; nested calls become savepoints, so a caller can
group several store calls into one all-or-nothing unit.
"""

from __future__ import annotations

import itertools
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from bot.errors import StoreError

_savepoints = itertools.count(1)


def _connect(target: str, *, uri: bool = False, timeout: float = 30) -> sqlite3.Connection:
    conn = sqlite3.connect(
        target, uri=uri, timeout=timeout, check_same_thread=False, isolation_level=None
    )
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    return conn


def open_db(path: str | Path, *, migrate_schema: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the archive at `path` for writing and bring its schema up to
    date.

    WAL lets Datasette and slash commands read while the scheduler writes; the busy timeout
    makes a writer wait for another writer instead of failing with "database is locked".
    """
    from bot.store.migrations import migrate

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(str(path))
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


def read_only_uri(path: str | Path) -> str:
    """A `mode=ro` URI for `path`, quoted so a name holding '#', '?' or '%' opens that file."""
    return f"file:{urllib.parse.quote(str(Path(path)))}?mode=ro"


def open_read_only(path: str | Path, *, timeout: float = 30) -> sqlite_utils.Database:
    """A connection that cannot write (the file is opened `mode=ro` and `query_only` is set).

    Readers that run beside the scheduler (slash commands, health checks) use these, so a bug
    in a read path can never change the archive."""
    try:
        conn = _connect(read_only_uri(path), uri=True, timeout=timeout)
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the archive: {exc}") from None
    return sqlite_utils.Database(conn)


def read_only_factory(path: str | Path) -> Callable[[], sqlite_utils.Database]:
    """A function that opens a fresh read-only connection each call (one per thread or task)."""
    return lambda: open_read_only(path)


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """All statements inside the block commit together or not at all.

    The outermost block takes the write lock up front (`BEGIN IMMEDIATE`), so two writers
    queue on the busy timeout instead of one failing half-way with "database is locked".
    Inner blocks are savepoints: an error inside one undoes that block, and the error still
    propagates to the caller.
    """
    conn = db.conn
    if conn.in_transaction:
        name = f"tt_{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield db
        except BaseException:
            # An error such as SQLITE_FULL may already have ended the whole transaction.
            if conn.in_transaction:
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        conn.execute(f"RELEASE SAVEPOINT {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def read_only_connection(path: str | Path, *, timeout: float = 30) -> sqlite3.Connection:
    """The sqlite3 connection behind `open_read_only`, for a library that wants one (Datasette)."""
    return open_read_only(path, timeout=timeout).conn


@contextmanager
def refused_write(what: str) -> Iterator[None]:
    """Turn SQLite's refusal of a write (disk full, locked, a constraint) into a StoreError
    naming what was being written. Use it around a `transaction()`, which has already rolled
    back by the time this sees the error."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{what}: the archive refused the write ({exc}); nothing of it was stored. "
            "Fix that (e.g. free disk space) and run again."
        ) from exc
