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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
    except StoreError:
        raise
    except sqlite3.DatabaseError as exc:
        raise archive_error(exc, path, "cannot open the archive") from None
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
        raise archive_error(exc, path, "cannot open the archive") from None
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


def read_only_connection(
    path: str | Path,
    *,
    timeout: float = 30,
    max_value_bytes: int | None = None,
    unreadable: Iterable[str] | None = None,
    mmap_bytes: int = 0,
) -> sqlite3.Connection:
    """The sqlite3 connection behind `open_read_only`, for a library that wants one (Datasette).

    For visitors' SQL: `max_value_bytes` is SQLite's limit on any one string or blob (a query
    making a bigger one fails with "string or blob too big" before allocating it); every
    column of the tables named in `unreadable` reads as NULL (so counting rows, as Datasette's
    pages do, still works); and the pragma that shows the archive's file path is refused.
    `mmap_bytes` maps that much of the file into memory, so a query that looks up many rows
    reads them in place instead of copying each page through SQLite's small cache."""
    conn = open_read_only(path, timeout=timeout).conn
    if mmap_bytes:
        conn.execute(f"PRAGMA mmap_size = {int(mmap_bytes)}")
    if max_value_bytes is not None:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_value_bytes)
    if unreadable is not None:
        hidden = frozenset(name.lower() for name in unreadable)

        def authorize(action: int, table: str | None, *_: object) -> int:
            if action != sqlite3.SQLITE_READ or not table:
                return sqlite3.SQLITE_OK
            if table.lower() == "pragma_database_list":
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_IGNORE if table.lower() in hidden else sqlite3.SQLITE_OK

        conn.set_authorizer(authorize)
    return conn


def limit_sqlite_heap(max_bytes: int) -> None:
    """Cap the memory SQLite may hold in this whole process (its hard heap limit): a query
    needing more fails with "out of memory" instead of growing the process. For a process
    that only serves reads (`tokentide serve`)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(f"PRAGMA hard_heap_limit = {int(max_bytes)}")
    finally:
        conn.close()


@contextmanager
def refused_write(what: str) -> Iterator[None]:
    """Turn SQLite's refusal of a write (disk full, locked, a constraint) into a StoreError
    naming what was being written. Use it around a `transaction()`, which has already rolled
    back by the time this sees the error."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise ArchiveProblem(exc, what=what, write=True) from exc


class ArchiveProblem(StoreError):
    """SQLite could not do its work on the archive file: the disk is full, a page is damaged,
    another process held the lock too long. The message starts with the kind ("archive disk
    full:", "archive damaged:", ...) and names the file and the work when they are known; the
    CLI fills in the file (`at`) when the store, deep down, did not know it."""

    def __init__(
        self,
        exc: sqlite3.Error,
        *,
        path: str | Path | None = None,
        what: str | None = None,
        write: bool = False,
    ) -> None:
        self.exc, self.path, self.what, self.write = exc, path, what, write
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        self.kind = {
            sqlite3.SQLITE_FULL: "full",
            sqlite3.SQLITE_CORRUPT: "damaged",
            sqlite3.SQLITE_NOTADB: "damaged",
            sqlite3.SQLITE_BUSY: "busy",
            sqlite3.SQLITE_LOCKED: "busy",
        }.get(code, "other")
        super().__init__(self._text())

    def at(self, path: str | Path | None) -> ArchiveProblem:
        """The same problem naming `path`, unless it already names a file."""
        if self.path is not None or path is None:
            return self
        return ArchiveProblem(self.exc, path=path, what=self.what, write=self.write)

    def _text(self) -> str:
        where = "".join(f"{x}: " for x in (self.path, self.what) if x)
        if self.kind == "full":
            return (
                f"archive disk full: {where}{self.exc}; nothing of it was stored. Free disk "
                "space and run the command again: it carries on where it stopped."
            )
        if self.kind == "damaged":
            name = self.path or "the archive file"
            return (
                f"archive damaged: {where}{self.exc}. Restore it from a backup, or copy out what "
                f"is readable with `sqlite3 {name} .recover | sqlite3 recovered.db`."
            )
        if self.kind == "busy":
            return f"archive busy: {where}{self.exc}; another process held it too long. Run again."
        if self.write:
            return (
                f"{where}the archive refused the write ({self.exc}); nothing of it was stored. "
                "Fix that and run again."
            )
        return f"archive error: {where}{self.exc}"


def archive_error(
    exc: sqlite3.Error, path: str | Path | None = None, what: str | None = None
) -> ArchiveProblem:
    """One line for an error SQLite raised, saying what to do about it (see ArchiveProblem)."""
    return ArchiveProblem(exc, path=path, what=what)


IN_CHUNK = 500  # values per `IN (...)` list, well under SQLite's bound-parameter limit


def chunked(values: Iterable[Any]) -> Iterator[list[Any]]:
    """`values` without repeats, in order, in lists of at most IN_CHUNK for `IN (...)`."""
    unique = list(dict.fromkeys(values))
    for i in range(0, len(unique), IN_CHUNK):
        yield unique[i : i + IN_CHUNK]


def placeholders(values: Sequence[Any]) -> str:
    """'?,?,?' for an `IN (...)` list of `values`."""
    return ",".join("?" * len(values))
