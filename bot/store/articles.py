"""The ingest side of `articles`: which of a feed's items are new, and storing them; and each
story's articles as outlets (`outlet_mentions`) for story signals.

Dedupe runs in layers: guid within the feed, canonical URL anywhere, title +
publication time within the feed (feeds that rewrite guids and links), and for aggregator items
(Google News redirect links) the same outlet and title within a time window. Each layer is one
query for the whole feed, so re-reading an unchanged feed costs almost nothing and a new one
costs no per-item lookups (only aggregator items query one by one); the survivors go in with
one prepared statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import sqlite_utils

from bot.clock import to_iso
from bot.models import NewArticle, OutletMention, OutletTally, StoredAttribution
from bot.store.db import transaction

# Google News items carry redirect links, not the outlet's URL: the same story from the same
# outlet within this window is the same article.
AGGREGATED_MATCH_HOURS = 36

# SQLite's limit on bound variables is 999 in old builds; stay well under it.
_CHUNK = 500

_INSERT = (
    "INSERT OR IGNORE INTO articles (feed_id, url, link, guid, title, summary, "
    "author, outlet, outlet_country, outlet_kind, published_at, fetched_at, topics) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]')"
)


def add_new_articles(
    db: sqlite_utils.Database, *, feed_id: int, items: Sequence[NewArticle], now: datetime
) -> int:
    """Store the items of one feed that are not in the archive yet; returns how many.

    Dedupe and insert share one transaction (a savepoint inside the caller's), so another
    writer cannot slip the same article in between."""
    if not items:
        return 0
    with transaction(db):
        rows = _new_rows(db, feed_id, items, to_iso(now))
        if not rows:
            return 0
        # rowcount sums what each execution really inserted.
        return db.conn.executemany(_INSERT, rows).rowcount


def _existing(db: sqlite_utils.Database, sql: str, fixed: list, values: list[str]) -> set[str]:
    """Which of `values` the query finds; chunked to stay under SQLite's variable limit."""
    found: set[str] = set()
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        found.update(row[0] for row in db.execute(sql.format(marks=marks), [*fixed, *chunk]))
    return found


def _dated(db: sqlite_utils.Database, feed_id: int, titles: list[str]) -> set[tuple[str, str]]:
    """(title, published_at) pairs this feed already holds for any of `titles`."""
    found: set[tuple[str, str]] = set()
    for start in range(0, len(titles), _CHUNK):
        chunk = list(dict.fromkeys(titles[start : start + _CHUNK]))
        marks = ", ".join("?" for _ in chunk)
        found.update(
            (row[0], row[1])
            for row in db.execute(
                "SELECT title, published_at FROM articles WHERE feed_id = ? "
                f"AND title IN ({marks}) AND published_at IS NOT NULL",
                [feed_id, *chunk],
            )
        )
    return found


def _aggregated_seen(
    db: sqlite_utils.Database, item: NewArticle, pending: list[tuple[str, str, str | None]]
) -> bool:
    """Same outlet + title within the match window, among stored articles and the ones this
    feed is about to insert."""
    outlet, title, published = item.outlet, item.title, item.published_at
    if published is None:
        if any(o == outlet and t == title for o, t, _ in pending):
            return True
        return bool(
            db.execute(
                "SELECT 1 FROM articles WHERE outlet = ? AND title = ?", [outlet, title]
            ).fetchone()
        )
    when = datetime.fromisoformat(published.replace("Z", "+00:00"))
    window = timedelta(hours=AGGREGATED_MATCH_HOURS)
    low, high = to_iso(when - window), to_iso(when + window)
    if any(o == outlet and t == title and (p is None or low <= p <= high) for o, t, p in pending):
        return True
    return bool(
        db.execute(
            "SELECT 1 FROM articles WHERE outlet = ? AND title = ? "
            "AND (published_at IS NULL OR published_at BETWEEN ? AND ?)",
            [outlet, title, low, high],
        ).fetchone()
    )


def _new_rows(
    db: sqlite_utils.Database, feed_id: int, items: Sequence[NewArticle], stamp: str
) -> list[tuple]:
    """Insert parameters for the items that survive every dedupe layer, items of the same
    response checked against each other too."""
    guids = _existing(
        db,
        "SELECT guid FROM articles WHERE feed_id = ? AND guid IN ({marks})",
        [feed_id],
        [i.guid for i in items],
    )
    urls = _existing(
        db, "SELECT url FROM articles WHERE url IN ({marks})", [], [i.url for i in items]
    )
    dated = _dated(db, feed_id, [i.title for i in items if i.title and i.published_at])
    pending: list[tuple[str, str, str | None]] = []  # (outlet, title, published_at) of rows
    rows = []
    for item in items:
        if item.guid in guids or item.url in urls:
            continue
        guids.add(item.guid)
        urls.add(item.url)
        title, published = item.title, item.published_at
        if title and published and (title, published) in dated:
            continue
        if item.is_aggregated and title and item.outlet and _aggregated_seen(db, item, pending):
            continue
        rows.append(
            (
                feed_id,
                item.url,
                item.link,
                item.guid,
                title,
                item.summary,
                item.author,
                item.outlet,
                item.outlet_country,
                item.outlet_kind,
                published,
                stamp,
            )
        )
        if title and published:
            dated.add((title, published))
        pending.append((item.outlet, title, published))
    return rows


def outlet_mentions(
    db: sqlite_utils.Database, story_ids: Iterable[int]
) -> dict[int, list[OutletMention]]:
    """Each story's articles as story signals read them, oldest first (publication time, else
    fetch time; ties by id); every asked id gets a list."""
    ids = list(dict.fromkeys(story_ids))
    out: dict[int, list[OutletMention]] = {sid: [] for sid in ids}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        rows = db.execute(
            f"""SELECT story_id, id, outlet, outlet_country, outlet_kind, published_at,
                       duplicate_of
                FROM articles WHERE story_id IN ({marks})
                ORDER BY COALESCE(published_at, fetched_at), id""",
            chunk,
        ).fetchall()
        for row in rows:
            out[row[0]].append(OutletMention(*row))
    return out


def count_articles(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM articles").fetchone()[0]


def attribution_batch(
    db: sqlite_utils.Database, *, after_id: int, limit: int
) -> list[StoredAttribution]:
    """Up to `limit` articles with ids above `after_id`, in id order, as attribution sees them."""
    rows = db.execute(
        """SELECT id, feed_id, link, outlet, outlet_country, outlet_kind, story_id
           FROM articles WHERE id > ? ORDER BY id LIMIT ?""",
        [after_id, limit],
    ).fetchall()
    return [StoredAttribution(*row) for row in rows]


def set_attribution(
    db: sqlite_utils.Database, changes: Sequence[tuple[str | None, str | None, str | None, int]]
) -> None:
    """Write (outlet, country, kind, article id) rows; the caller holds the transaction."""
    db.conn.executemany(
        "UPDATE articles SET outlet = ?, outlet_country = ?, outlet_kind = ? WHERE id = ?",
        changes,
    )


def outlet_tallies(db: sqlite_utils.Database) -> list[OutletTally]:
    """Every outlet of an original article, most articles first (ties by name)."""
    rows = db.execute(
        """SELECT outlet, max(outlet_country), max(outlet_kind), count(*),
                  count(DISTINCT story_id), max(coalesce(published_at, fetched_at))
           FROM articles WHERE outlet IS NOT NULL AND duplicate_of IS NULL
           GROUP BY outlet ORDER BY count(*) DESC, outlet"""
    ).fetchall()
    return [OutletTally(*row) for row in rows]


def outlet_links(db: sqlite_utils.Database, outlet: str, *, limit: int = 50) -> list[str]:
    """Up to `limit` distinct links of an outlet's articles (newest articles first; the
    canonical URL where the feed gave no link)."""
    rows = db.execute(
        """SELECT DISTINCT address FROM (SELECT coalesce(link, url) AS address FROM articles
           WHERE outlet = ? ORDER BY id DESC LIMIT ?) WHERE address IS NOT NULL""",
        [outlet, limit * 4],
    ).fetchall()
    return [r[0] for r in rows][:limit]
