"""Building the Datasette instance that serves the archive.

The archive is attached as a *mutable* database (Datasette opens it with `mode=ro` and re-reads
the schema as the bot migrates), never `immutable`, because the bot writes to the same file
while people browse. It is always named "archive", whatever the file is called, so URLs and the
shipped metadata stay the same on every machine.

Datasette is imported inside functions: `bot.site` is imported by the CLI and tests cheaply.
"""

from __future__ import annotations

import importlib
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bot.errors import StoreError
from bot.site.limits import AnswerBudget, answer_limit, heap_limit, out_of_memory, value_limit
from bot.store.db import read_only_connection

ARCHIVE_NAME = "archive"

# Tables with the bot's own state (bookkeeping, chat state, raw vectors): hidden, their pages
# refused by metadata.yaml (`allow: false`), and unreadable from visitors' SQL too. The search
# index's tables are hidden and refused as pages, but stay readable: full-text search reads them.
INTERNAL_TABLES = frozenset({"_migrations", "chat_state", "article_vectors", "story_vectors"})

# A reader waits this long for SQLite's locks rather than failing with "database is locked".
# In WAL mode readers rarely wait at all; this covers checkpoints and schema changes.
BUSY_TIMEOUT_S = 10

# Datasette's connections map the archive into memory (up to this much): a search or a filter
# matching a fifth of a 500k-article archive looks up 100k rows, 2-4x faster read in place than
# copied page by page into SQLite's cache (benchmarks/datasette.py). It is address space
# shared with the OS's file cache, not memory of the process's own.
MMAP_BYTES = 2 * 1024**3  # SQLite caps it at 2 GiB unless built otherwise

# Datasette settings for a live archive (see benchmarks/datasette.py): facets get 1.5 s, several
# times what the articles' facets take at 500k articles (bot/site/facets.py), so none times out
# on a busy machine; facet *suggestions* would try every column on every table page (over a
# second at 100k rows), so they are off — any column can still be faceted from its menu. Long
# summaries are cut in HTML only; JSON has whole values.
DATASETTE_SETTINGS: dict[str, Any] = {
    "sql_time_limit_ms": 3000,
    "facet_time_limit_ms": 1500,
    "suggest_facets": False,
    "max_returned_rows": 1000,
    "truncate_cells_html": 400,
}


def load_metadata() -> dict[str, Any]:
    """The metadata shipped in the package (titles, descriptions, facets, queries, chart)."""
    text = resources.files("bot.site").joinpath("metadata.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def build_datasette(
    db_path: str | Path,
    *,
    metadata: dict[str, Any] | None = None,
    max_payload_bytes: int = 32 * 1024 * 1024,
    settings: dict[str, Any] | None = None,
):
    """A Datasette (not started) serving `db_path` read-only as "archive".

    `max_payload_bytes` is the largest value the bot stores (`openrouter.max_bytes`); queries
    are bounded by it (see bot.site.limits).

    The caller opens the archive with `bot.store.db.open_db` first, so the file exists and its
    schema is current; a missing file here is a StoreError rather than an empty new database.
    """
    from datasette.app import Datasette
    from datasette.database import Database

    from bot.site import facets, front, guard

    path = Path(db_path)
    if not path.is_file():
        raise StoreError(f"{path}: no archive here (run `tokentide poll` or pass --db FILE)")
    guard.register()
    facets.register()
    front.register()
    # When `rich` is importable (typer brings it), Datasette prints a traceback with locals for
    # every 4xx, a 404 included: about a second of CPU per bad URL and a flooded log. The
    # answer to the visitor is the same without it. (Looked up only now: imported before
    # datasette.app, that module would be registered half-initialised, without its hook.)
    importlib.import_module("datasette.handle_exception").rich = None
    ds = Datasette(
        [],
        metadata=metadata if metadata is not None else load_metadata(),
        settings={**DATASETTE_SETTINGS, **(settings or {})},
        template_dir=str(resources.files("bot.site").joinpath("templates")),
    )
    # With no files Datasette adds an empty in-memory database; visitors have no use for it.
    ds.remove_database("_memory")
    archive = _read_only_database(Database)(
        ds, path=str(path), max_value_bytes=value_limit(max_payload_bytes)
    )
    ds.add_database(archive, name=ARCHIVE_NAME)
    return ds


def _read_only_database(base: type) -> type:
    """Datasette's Database, reading through the store's read-only connections.

    Datasette builds `file:{path}?mode=ro` unquoted, so a path holding "#", "?" or "%" opens
    the wrong file (or none); the store quotes it, and sets `query_only`, so even a write that
    got past the guard would be refused by SQLite itself. No write connection is handed out.
    Every query is bounded in memory (bot.site.limits) and cannot read INTERNAL_TABLES.
    """

    class ArchiveDatabase(base):
        def __init__(self, ds, path: str, max_value_bytes: int):
            super().__init__(ds, path=path, is_mutable=True)
            self.max_value_bytes = max_value_bytes
            self.max_answer_bytes = answer_limit(max_value_bytes)

        def connect(self, write: bool = False) -> sqlite3.Connection:
            if write:
                raise StoreError("the archive is served read-only: Datasette may not write")
            conn = read_only_connection(
                self.path,
                timeout=BUSY_TIMEOUT_S,
                mmap_bytes=MMAP_BYTES,
                max_value_bytes=self.max_value_bytes,
                unreadable=INTERNAL_TABLES,
            )
            self._all_file_connections.append(conn)  # closed with the Database
            return conn

        async def execute_fn(self, fn):
            # Each query gets its own budget; Datasette's connections live one per thread.
            def bounded(conn: sqlite3.Connection):
                conn.row_factory = AnswerBudget(self.max_answer_bytes)
                try:
                    return fn(conn)
                except MemoryError:
                    raise out_of_memory(heap_limit(self.max_value_bytes)) from None
                finally:
                    conn.row_factory = sqlite3.Row

            return await super().execute_fn(bounded)

    return ArchiveDatabase


def run_server(ds, *, host: str, port: int) -> None:
    """Serve until interrupted. Datasette runs its startup hooks on the first request."""
    import uvicorn

    # log_config=None: uvicorn's records go through the root logger, whose handlers redact
    # secrets (bot.logs), instead of handlers of its own.
    uvicorn.run(
        ds.app(),
        host=host,
        port=port,
        log_level="warning",
        log_config=None,
        lifespan="on",
        workers=1,
    )
