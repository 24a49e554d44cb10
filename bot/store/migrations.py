"""Schema migrations, applied in order and recorded by name in `_migrations`.

Append new migrations at the end; never edit one that has shipped. Names carry the room that
owns the tables ("core-1", "narratives-2", ...) so rooms can add their own without renumbering.
Column names are a public interface (Datasette users and scripts read them): the README's
"Archive schema" section documents them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils

from bot.errors import StoreError
from bot.store.db import transaction


def _script(db: sqlite_utils.Database, sql: str) -> None:
    """Run a multi-statement script statement by statement inside the caller's transaction.

    `executescript` would commit first and then run each statement in its own transaction,
    so a failure half-way would leave half a migration behind."""
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            db.conn.execute(pending)
            pending = ""
    if pending.strip():
        raise StoreError(f"incomplete SQL statement in a migration: {pending.strip()[:80]}")


def _core_1(db: sqlite_utils.Database) -> None:
    _script(
        db,
        """
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL DEFAULT '',
            outlet TEXT NOT NULL DEFAULT '',
            origin TEXT NOT NULL DEFAULT 'config',      -- config | opml | discord
            enabled INTEGER NOT NULL DEFAULT 1,
            etag TEXT,
            last_modified TEXT,
            last_checked_at TEXT,
            last_success_at TEXT,
            last_status INTEGER,
            next_check_at TEXT,
            error_count INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            disabled_reason TEXT,
            created_at TEXT NOT NULL
        );

        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            feed_id INTEGER REFERENCES feeds(id),
            url TEXT NOT NULL UNIQUE,                   -- canonical URL
            link TEXT,                                  -- the link exactly as the feed gave it
            guid TEXT,
            title TEXT NOT NULL DEFAULT '',
            summary TEXT NOT NULL DEFAULT '',
            author TEXT,
            outlet TEXT,
            published_at TEXT,
            fetched_at TEXT NOT NULL,
            topics TEXT NOT NULL DEFAULT '[]',          -- JSON array of topic ids
            story_id INTEGER REFERENCES stories(id),
            duplicate_of INTEGER REFERENCES articles(id),
            analyzed_at TEXT
        );
        CREATE UNIQUE INDEX articles_feed_guid ON articles(feed_id, guid);
        CREATE INDEX articles_published_at ON articles(published_at);
        CREATE INDEX articles_story_id ON articles(story_id);
        CREATE INDEX articles_analyzed_at ON articles(analyzed_at);
        CREATE INDEX articles_outlet_title ON articles(outlet, title);

        CREATE TABLE article_vectors (
            article_id INTEGER PRIMARY KEY REFERENCES articles(id),
            model TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL                        -- float32, L2-normalised
        );

        CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',             -- a representative headline
            representative_article_id INTEGER REFERENCES articles(id),
            first_seen TEXT,
            last_seen TEXT,
            article_count INTEGER NOT NULL DEFAULT 0,
            outlet_count INTEGER NOT NULL DEFAULT 0,
            first_outlet TEXT,
            topics TEXT NOT NULL DEFAULT '[]',
            merged_into INTEGER REFERENCES stories(id)
        );
        CREATE INDEX stories_last_seen ON stories(last_seen);

        CREATE TABLE token_snapshots (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,                       -- rankings-daily | rankings-models | market-share
            fetched_at TEXT NOT NULL,
            window_start TEXT,
            window_end TEXT,
            granularity TEXT,                           -- day | week
            content_hash TEXT NOT NULL,
            payload TEXT NOT NULL                       -- the raw response body, for audit
        );
        CREATE UNIQUE INDEX token_snapshots_same
            ON token_snapshots(source, window_start, window_end, content_hash);

        CREATE TABLE token_usage (
            id INTEGER PRIMARY KEY,
            snapshot_id INTEGER NOT NULL REFERENCES token_snapshots(id),
            window_start TEXT NOT NULL,
            window_end TEXT NOT NULL,
            granularity TEXT NOT NULL,
            source TEXT NOT NULL,
            model TEXT NOT NULL,
            author TEXT NOT NULL,
            country TEXT NOT NULL,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            total_tokens INTEGER NOT NULL
        );
        CREATE INDEX token_usage_window ON token_usage(window_end, granularity);
        CREATE INDEX token_usage_snapshot ON token_usage(snapshot_id);

        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,                         -- digest | alert | ...
            key TEXT NOT NULL,
            destination TEXT NOT NULL,
            payload TEXT NOT NULL,                      -- JSON
            status TEXT NOT NULL DEFAULT 'pending',     -- pending | sent | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            nonce TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            message_id TEXT,
            last_error TEXT,
            UNIQUE (kind, key, destination)
        );
        CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);

        CREATE TABLE job_runs (
            id INTEGER PRIMARY KEY,
            job TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running',     -- running | ok | error
            detail TEXT,
            error TEXT
        );
        CREATE INDEX job_runs_job ON job_runs(job, started_at);
        """,
    )
    # Full-text search over articles, kept in step by triggers (the layout sqlite-utils'
    # enable_fts produces, so archives made by either path are the same).
    _script(
        db,
        """
        CREATE VIRTUAL TABLE "articles_fts" USING FTS5 (
            "title", "summary",
            tokenize='porter',
            content="articles"
        );
        CREATE TRIGGER "articles_ai" AFTER INSERT ON "articles" BEGIN
          INSERT INTO "articles_fts" (rowid, "title", "summary")
            VALUES (new.rowid, new."title", new."summary");
        END;
        CREATE TRIGGER "articles_ad" AFTER DELETE ON "articles" BEGIN
          INSERT INTO "articles_fts" ("articles_fts", rowid, "title", "summary")
            VALUES('delete', old.rowid, old."title", old."summary");
        END;
        CREATE TRIGGER "articles_au" AFTER UPDATE ON "articles" BEGIN
          INSERT INTO "articles_fts" ("articles_fts", rowid, "title", "summary")
            VALUES('delete', old.rowid, old."title", old."summary");
          INSERT INTO "articles_fts" (rowid, "title", "summary")
            VALUES (new.rowid, new."title", new."summary");
        END;
        """,
    )


def _chat_1(db: sqlite_utils.Database) -> None:
    # A delivery may be several Discord messages; remembering which parts went out (and their
    # ids) lets a retry after a crash or a 5xx resume instead of re-posting earlier parts.
    # chat_state keeps small facts that must survive restarts (e.g. the slash-command hash).
    _script(
        db,
        """
        ALTER TABLE deliveries ADD COLUMN parts_sent INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE deliveries ADD COLUMN message_ids TEXT NOT NULL DEFAULT '[]';
        CREATE TABLE chat_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
    )


def _tokens_1(db: sqlite_utils.Database) -> None:
    # as_of: when the data was current (Data API meta.as_of, else fetch time) for citations;
    # rows_skipped: rows dropped as malformed, kept for audit. share_alerts records every
    # evaluated snapshot, so "the last alerted value" and the cooldown survive restarts.
    _script(
        db,
        """
        ALTER TABLE token_snapshots ADD COLUMN as_of TEXT;
        ALTER TABLE token_snapshots ADD COLUMN rows_skipped INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE share_alerts (
            snapshot_id INTEGER PRIMARY KEY REFERENCES token_snapshots(id),
            evaluated_at TEXT NOT NULL,
            source TEXT NOT NULL,
            period_start TEXT,
            period_end TEXT,
            shares TEXT NOT NULL DEFAULT '{}',          -- JSON {country: fraction}
            leader TEXT,
            kind TEXT NOT NULL,                         -- baseline | alert | quiet | held | skipped
            delivery_id INTEGER REFERENCES deliveries(id),
            reason TEXT
        );
        CREATE INDEX share_alerts_kind ON share_alerts(source, kind, evaluated_at);
        """,
    )


def _tokens_2(db: sqlite_utils.Database) -> None:
    # Covering index for "newest snapshot per window", which every share query starts from.
    db.conn.execute(
        """CREATE INDEX token_usage_windows
           ON token_usage(source, granularity, window_start, window_end, snapshot_id)"""
    )


def _narratives_1(db: sqlite_utils.Database) -> None:
    # A story's running vector sum (centroid = sum / |sum|) and name counts, so the online
    # clusterer resumes from the archive without re-reading every member article.
    _script(
        db,
        """
        CREATE TABLE story_vectors (
            story_id INTEGER PRIMARY KEY REFERENCES stories(id),
            model TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector_sum BLOB NOT NULL,                   -- float32, sum of member vectors
            names TEXT NOT NULL DEFAULT '{}'            -- JSON {name: count}
        );
        CREATE INDEX IF NOT EXISTS articles_duplicate_of ON articles(duplicate_of);
        """,
    )


def _archive_1(db: sqlite_utils.Database) -> None:
    # Feed health in Datasette counts each feed's articles and finds its newest: with this
    # covering index that is an index scan (~20 ms at 100k articles) instead of ~0.5 s.
    db.conn.execute(
        "CREATE INDEX IF NOT EXISTS articles_feed_fetched ON articles(feed_id, fetched_at)"
    )


# (name, function) in the order they run. Append only.
MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("core-1", _core_1),
    ("chat-1", _chat_1),
    ("tokens-1", _tokens_1),
    ("tokens-2", _tokens_2),
    ("narratives-1", _narratives_1),
    ("archive-1", _archive_1),
]


class FutureArchiveError(StoreError):
    """The archive was written by a newer Tokentide (it has migrations this one does not know)."""


def applied_migrations(db: sqlite_utils.Database) -> list[str]:
    """Names recorded in `_migrations`, in the order they were applied ([] for a new file)."""
    if not db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
    ).fetchone():
        return []
    return [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY rowid")]


def unknown_migrations(db: sqlite_utils.Database) -> list[str]:
    """Migrations in the archive that this version does not ship (a newer schema)."""
    known = {name for name, _ in MIGRATIONS}
    return [name for name in applied_migrations(db) if name not in known]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations, each in its own transaction, and return the names applied.

    A migration that fails leaves the archive exactly as the previous one did."""
    future = unknown_migrations(db)
    if future:
        raise FutureArchiveError(
            "the archive was written by a newer Tokentide (unknown migrations: "
            f"{', '.join(future)}); upgrade tokentide, or browse it read-only with "
            "`tokentide serve`"
        )
    with transaction(db):
        db.conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
    done = set(applied_migrations(db))
    applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        with transaction(db):
            fn(db)
            db.conn.execute(
                "INSERT INTO _migrations (name, applied_at) "
                "VALUES (?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                [name],
            )
        applied.append(name)
    return applied
