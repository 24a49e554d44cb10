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


def _breaking_1(db: sqlite_utils.Database) -> None:
    # topic_scores: every topic's probability for the article, so a story is filed under the
    # topic its articles score highest on; topics_hash: the topic definitions (and model) that
    # tagged it, so `analyze --retag` knows what is left to redo after an interruption.
    # stories_merged_from finds the stories merged into a story (one alert per family);
    # articles_reports answers the breaking-story check's "who reported what, when, lately"
    # from the index alone.
    _script(
        db,
        """
        ALTER TABLE articles ADD COLUMN topic_scores TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE articles ADD COLUMN topics_hash TEXT;
        CREATE INDEX IF NOT EXISTS stories_merged_from ON stories(merged_into)
            WHERE merged_into IS NOT NULL;
        CREATE INDEX IF NOT EXISTS articles_reports ON articles(published_at, story_id, outlet)
            WHERE duplicate_of IS NULL;
        """,
    )


def _tokens_3(db: sqlite_utils.Database) -> None:
    # variant: rankings rows are kept per (model, variant) so ':free' traffic can be priced at
    # $0 (NULL: the source does not split variants, or the row predates this column). Price
    # snapshots are stored when the model list changes; model_prices.model is the join key
    # (token_usage.model). rejected_snapshots records every OpenRouter answer refused or held.
    _script(
        db,
        """
        ALTER TABLE token_usage ADD COLUMN variant TEXT;
        CREATE TABLE price_snapshots (
            id INTEGER PRIMARY KEY,
            fetched_at TEXT NOT NULL,                   -- first fetched with these prices
            last_seen_at TEXT NOT NULL,                 -- the last poll that found the same list
            content_hash TEXT NOT NULL,
            models INTEGER NOT NULL,                    -- priced entries
            varies TEXT NOT NULL DEFAULT '[]'           -- JSON ids priced "-1" (unpriced)
        );
        CREATE INDEX price_snapshots_fetched ON price_snapshots(fetched_at);
        CREATE TABLE model_prices (
            snapshot_id INTEGER NOT NULL REFERENCES price_snapshots(id),
            model_id TEXT NOT NULL,                     -- author/model[:variant]
            canonical_slug TEXT NOT NULL,
            model TEXT NOT NULL,                        -- canonical slug without date suffix
            variant TEXT NOT NULL,                      -- standard | free | thinking | ...
            prompt_price REAL NOT NULL,                 -- USD per token
            completion_price REAL NOT NULL,             -- USD per token
            hugging_face_id TEXT,
            PRIMARY KEY (snapshot_id, model_id)
        );
        CREATE INDEX model_prices_join ON model_prices(snapshot_id, model, variant);
        CREATE TABLE rejected_snapshots (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            verdict TEXT NOT NULL,                      -- rejected | held
            reason TEXT NOT NULL,
            content_hash TEXT,
            window_start TEXT,
            window_end TEXT,
            total_tokens INTEGER,
            models INTEGER,
            resolution TEXT,                            -- held: confirmed | superseded
            resolved_at TEXT
        );
        CREATE INDEX rejected_snapshots_open ON rejected_snapshots(source, verdict, resolution);
        """,
    )


def _outlets_1(db: sqlite_utils.Database) -> None:
    # Each article's outlet country and kind from the outlet registry at ingest (articles.outlet
    # stays the publisher's name), and each story's lead: the first Chinese and first Western
    # report (press only, syndicated copies left out), the gap in hours and each region's share
    # of the story's outlets, kept up to date by analyze.
    _script(
        db,
        """
        ALTER TABLE articles ADD COLUMN outlet_country TEXT;
        ALTER TABLE articles ADD COLUMN outlet_kind TEXT;
        ALTER TABLE stories ADD COLUMN first_china_outlet TEXT;
        ALTER TABLE stories ADD COLUMN first_china_at TEXT;
        ALTER TABLE stories ADD COLUMN first_west_outlet TEXT;
        ALTER TABLE stories ADD COLUMN first_west_at TEXT;
        ALTER TABLE stories ADD COLUMN lead_hours REAL;
        ALTER TABLE stories ADD COLUMN china_share REAL;
        ALTER TABLE stories ADD COLUMN west_share REAL;
        """,
    )


def _outbox_2(db: sqlite_utils.Database) -> None:
    # A sender's claim on a delivery: who (JSON: pid, host, boot id, pid namespace, start tick),
    # since when and until when (a short lease, renewed while sending), so a dead sender is
    # recognised and replaced at once and a hung one within a minute. sending_part is written
    # before each message goes out; a successor finding it set knows that message may already
    # be in the channel and lists it in resent_parts when it sends it again.
    _script(
        db,
        """
        ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
        ALTER TABLE deliveries ADD COLUMN claimed_at TEXT;
        ALTER TABLE deliveries ADD COLUMN lease_until TEXT;
        ALTER TABLE deliveries ADD COLUMN sending_part INTEGER;
        ALTER TABLE deliveries ADD COLUMN resent_parts TEXT NOT NULL DEFAULT '[]';
        """,
    )


def _topics_table(table: str, name: str, key: str) -> str:
    """Table `name` with one row per (topic, row of `table`), its backfill and the triggers that
    keep it in step with `table.topics`, whoever writes the array. Malformed or non-array JSON
    counts as no topics."""

    def rows(alias: str) -> str:
        return f"""json_each(CASE WHEN NOT json_valid({alias}.topics) THEN '[]'
                                  WHEN json_type({alias}.topics) = 'array' THEN {alias}.topics
                                  ELSE '[]' END) j"""

    insert = f"INSERT OR IGNORE INTO {name} (topic, {key})"
    return f"""
        CREATE TABLE {name} (
            topic TEXT NOT NULL,
            {key} INTEGER NOT NULL REFERENCES {table}(id),
            PRIMARY KEY (topic, {key})
        ) WITHOUT ROWID;
        CREATE INDEX {name}_{key} ON {name}({key});
        CREATE TRIGGER {name}_ai AFTER INSERT ON {table} BEGIN
          {insert} SELECT j.value, new.id FROM {rows("new")} WHERE j.type = 'text';
        END;
        CREATE TRIGGER {name}_au AFTER UPDATE OF topics ON {table} BEGIN
          DELETE FROM {name} WHERE {key} = old.id;
          {insert} SELECT j.value, new.id FROM {rows("new")} WHERE j.type = 'text';
        END;
        CREATE TRIGGER {name}_ad AFTER DELETE ON {table} BEGIN
          DELETE FROM {name} WHERE {key} = old.id;
        END;
        {insert} SELECT j.value, t.id FROM {table} t, {rows("t")} WHERE j.type = 'text';
        """


def _site_2(db: sqlite_utils.Database) -> None:
    # One row per (topic, article) and per (topic, story): Datasette's topic facets and filters
    # read these indexes instead of parsing every row's JSON (about a second at 500k articles).
    # Each facet column of the articles page gets a narrow index of its own, so counting it on
    # a page without filters walks a few MB (articles_outlet_title holds every headline too).
    _script(
        db,
        _topics_table("articles", "article_topics", "article_id")
        + _topics_table("stories", "story_topics", "story_id"),
    )
    columns = {row[1] for row in db.execute("PRAGMA table_info(articles)")}
    for column in ("outlet", "outlet_country", "outlet_kind"):
        if column in columns:  # the registry's columns come from outlets-1
            db.conn.execute(f"CREATE INDEX articles_{column} ON articles({column})")


def _narratives_2(db: sqlite_utils.Database) -> None:
    # Narratives: one actor's thread on one subject across stories and months. A story belongs
    # to at most one; the counts and span are kept in step with its live (not merged) stories.
    _script(
        db,
        """
        CREATE TABLE narratives (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',             -- the headline of its first story
            first_story_id INTEGER REFERENCES stories(id),
            first_seen TEXT,
            last_seen TEXT,
            story_count INTEGER NOT NULL DEFAULT 0,
            article_count INTEGER NOT NULL DEFAULT 0,
            topics TEXT NOT NULL DEFAULT '[]',          -- carried by at least half its stories
            names TEXT NOT NULL DEFAULT '[]',           -- names most of its stories share
            created_at TEXT NOT NULL
        );
        CREATE INDEX narratives_last_seen ON narratives(last_seen);
        ALTER TABLE stories ADD COLUMN narrative_id INTEGER REFERENCES narratives(id);
        CREATE INDEX stories_narrative ON stories(narrative_id) WHERE narrative_id IS NOT NULL;
        """,
    )


def _outlets_2(db: sqlite_utils.Database) -> None:
    # Each story's distinct outlets (syndicated copies and unattributed articles left out) with
    # country, kind and first report, one row each, kept by analyze with the story's lead; and
    # from them, per topic and outlet, the stories it covered and led (outlet_leads), counted
    # again at the end of each analysis: "who reported first" reads that instead of grouping
    # every article on every request. Both filled here for the stories already archived.
    _script(
        db,
        """
        CREATE TABLE story_outlets (
            story_id INTEGER NOT NULL REFERENCES stories(id),
            outlet TEXT NOT NULL,
            country TEXT,
            kind TEXT,
            first_report TEXT,
            PRIMARY KEY (story_id, outlet)
        ) WITHOUT ROWID;
        CREATE INDEX story_outlets_outlet ON story_outlets(outlet);
        INSERT INTO story_outlets (story_id, outlet, country, kind, first_report)
          SELECT story_id, outlet, max(outlet_country), max(outlet_kind),
                 min(coalesce(published_at, fetched_at))
          FROM articles
          WHERE story_id IS NOT NULL AND duplicate_of IS NULL AND outlet IS NOT NULL
          GROUP BY story_id, outlet;
        CREATE TABLE outlet_leads (
            topic TEXT NOT NULL,
            outlet TEXT NOT NULL,
            country TEXT,
            kind TEXT,
            led INTEGER NOT NULL,
            covered INTEGER NOT NULL,
            PRIMARY KEY (topic, outlet)
        ) WITHOUT ROWID;
        """,
    )
    from bot.store.stories import refresh_outlet_leads

    refresh_outlet_leads(db)


# (name, function) in the order they run. Append only.
MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("core-1", _core_1),
    ("chat-1", _chat_1),
    ("tokens-1", _tokens_1),
    ("tokens-2", _tokens_2),
    ("narratives-1", _narratives_1),
    ("archive-1", _archive_1),
    ("breaking-1", _breaking_1),
    ("tokens-3", _tokens_3),
    ("outlets-1", _outlets_1),
    ("outbox-2", _outbox_2),
    ("site-2", _site_2),
    ("narratives-2", _narratives_2),
    ("outlets-2", _outlets_2),
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
