"""The `feeds` table: adding feeds, syncing the operator's list, the poll's per-feed results,
and feed health.

Feeds come from three places (feeds.yaml, an OPML import, `/feed add` in Discord), each marked
by `origin`; all of them are inserted by `add_feeds`. A poll's result for one feed (its new
articles, validators and health) is one transaction, so a crash or a full disk leaves the feed
either fully recorded or untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlite_utils

from bot.clock import to_iso
from bot.models import Feed, FeedHealth, NewArticle, NewFeed
from bot.store.articles import add_new_articles
from bot.store.db import refused_write, transaction
from bot.store.outbox import enqueue

FEED_DISABLED = "feed_disabled"  # the outbox kind of "this feed was switched off" notices

_FEED_COLUMNS = ", ".join(f.name for f in fields(Feed))
_HEALTH_COLUMNS = ", ".join(f.name for f in fields(FeedHealth))


def _feed(row: dict[str, Any]) -> Feed:
    return Feed(**{**row, "enabled": bool(row["enabled"])})


def add_feeds(db: sqlite_utils.Database, feeds: Sequence[NewFeed], *, now: datetime) -> int:
    """Insert the feeds whose URL is not known yet, all or none; returns how many were added.

    The one place rows enter `feeds`, whatever their origin."""
    if not feeds:
        return 0
    stamp = to_iso(now)
    rows = [
        (f.url, f.name, f.outlet, f.origin, int(f.enabled), stamp, f.next_check_at) for f in feeds
    ]
    with refused_write(f"adding {len(rows)} feed(s)"), transaction(db):
        return db.conn.executemany(
            "INSERT INTO feeds (url, name, outlet, origin, enabled, created_at, next_check_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(url) DO NOTHING",
            rows,
        ).rowcount


def sync_config(
    db: sqlite_utils.Database, wanted: Sequence[NewFeed], *, now: datetime
) -> dict[str, int]:
    """Make the feeds table match the operator's list, in one transaction: add new feeds,
    update changed names/outlets/enabled (claiming a URL for the config), and switch off
    config feeds no longer listed (their articles stay). Returns added/updated/retired."""
    by_url = {f.url: f for f in wanted}
    counts = {"added": 0, "updated": 0, "retired": 0}
    with refused_write("syncing feeds from the config"), transaction(db):
        existing = {
            row[0]: row
            for row in db.execute("SELECT url, name, outlet, enabled, origin FROM feeds").fetchall()
        }
        counts["added"] = add_feeds(
            db, [f for url, f in by_url.items() if url not in existing], now=now
        )
        for url, feed in by_url.items():
            row = existing.get(url)
            if row is None:
                continue
            if (row[1], row[2], bool(row[3]), row[4]) != (
                feed.name,
                feed.outlet,
                feed.enabled,
                feed.origin,
            ):
                db.execute(
                    "UPDATE feeds SET name = ?, outlet = ?, enabled = ?, origin = ? WHERE url = ?",
                    [feed.name, feed.outlet, int(feed.enabled), feed.origin, url],
                )
                counts["updated"] += 1
        for url, row in existing.items():
            if row[4] == "config" and url not in by_url and row[3]:
                db.execute("UPDATE feeds SET enabled = 0 WHERE url = ?", [url])
                counts["retired"] += 1
    return counts


def all_feeds(db: sqlite_utils.Database) -> list[Feed]:
    """Every feed, switched off or not, by id."""
    return [_feed(row) for row in db.query(f"SELECT {_FEED_COLUMNS} FROM feeds ORDER BY id")]


def due_feeds(db: sqlite_utils.Database, *, now: datetime, all_feeds: bool = False) -> list[Feed]:
    """Enabled feeds whose next check has come. `all_feeds` ignores schedules and also
    returns feeds disabled after repeated failures."""
    sql = f"SELECT {_FEED_COLUMNS} FROM feeds WHERE enabled = 1"
    params: list[Any] = []
    if not all_feeds:
        sql += " AND disabled_reason IS NULL AND (next_check_at IS NULL OR next_check_at <= ?)"
        params.append(to_iso(now))
    return [_feed(row) for row in db.query(sql + " ORDER BY id", params)]


def record_success(
    db: sqlite_utils.Database,
    *,
    feed: Feed,
    items: Sequence[NewArticle],
    status: int,
    etag: str | None,
    last_modified: str | None,
    next_check_at: datetime,
    now: datetime,
) -> int:
    """Store a successful check: the feed's new articles, validators and cleared health, all
    in one transaction. Returns how many articles were new."""
    stamp = to_iso(now)
    with refused_write(f"storing the poll of {feed.url}"), transaction(db):
        new = add_new_articles(db, feed_id=feed.id, items=items, now=now)
        db.execute(
            "UPDATE feeds SET etag = ?, last_modified = ?, last_checked_at = ?, "
            "last_success_at = ?, last_status = ?, next_check_at = ?, error_count = 0, "
            "last_error = NULL, disabled_reason = NULL WHERE id = ?",
            [etag, last_modified, stamp, stamp, status, to_iso(next_check_at), feed.id],
        )
    return new


def record_failure(
    db: sqlite_utils.Database,
    *,
    feed: Feed,
    status: int | None,
    error_count: int,
    last_error: str,
    disabled_reason: str | None,
    next_check_at: datetime,
    now: datetime,
    notice: tuple[str, Mapping[str, Any]] | None = None,
) -> None:
    """Store a failed check: error, backoff and maybe a reason to disable (an earlier reason
    stays). Validators and articles are left as they were.

    `notice` (destination, payload) is queued as a 'feed_disabled' delivery, keyed by the feed
    and this time, in the same transaction — only when this write is the one that disables
    the feed, so the channel hears about each disabling once."""
    with refused_write(f"storing the failed poll of {feed.url}"), transaction(db):
        was = db.execute("SELECT disabled_reason FROM feeds WHERE id = ?", [feed.id]).fetchone()
        if notice is not None and disabled_reason and was is not None and was[0] is None:
            enqueue(
                db,
                kind=FEED_DISABLED,
                key=f"{feed.id}@{to_iso(now)}",
                destination=notice[0],
                payload=dict(notice[1]),
                now=now,
            )
        db.execute(
            "UPDATE feeds SET last_checked_at = ?, last_status = ?, next_check_at = ?, "
            "error_count = ?, last_error = ?, disabled_reason = COALESCE(?, disabled_reason) "
            "WHERE id = ?",
            [
                to_iso(now),
                status,
                to_iso(next_check_at),
                error_count,
                last_error,
                disabled_reason,
                feed.id,
            ],
        )


def feed_health(
    db: sqlite_utils.Database, *, worst_first: bool = False, limit: int | None = None
) -> list[FeedHealth]:
    """Every feed's health, by name; `worst_first` puts enabled feeds with the most errors
    on top (what /feeds shows)."""
    order = "enabled DESC, error_count DESC, name" if worst_first else "name, id"
    sql = f"SELECT {_HEALTH_COLUMNS} FROM feeds ORDER BY {order}"
    params: list[Any] = []
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [FeedHealth(**{**row, "enabled": bool(row["enabled"])}) for row in db.query(sql, params)]


def set_discord_feed_enabled(
    db: sqlite_utils.Database, url: str, *, enabled: bool, now: datetime
) -> tuple[str, Feed | None]:
    """Switch the feed at `url` on or off if it was added from Discord (its articles stay;
    switched on, it is due at once). Returns (outcome, the feed as it was): outcome is 'done',
    'unknown' (no feed has that URL), 'not discord' (added another way) or 'unchanged'."""
    with refused_write(f"switching the feed {url} {'on' if enabled else 'off'}"), transaction(db):
        rows = db.query(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE url = ?", [url])
        feed = next((_feed(row) for row in rows), None)
        if feed is None:
            return "unknown", None
        if feed.origin != "discord":
            return "not discord", feed
        if feed.enabled == enabled:
            return "unchanged", feed
        db.execute(
            "UPDATE feeds SET enabled = ?, next_check_at = COALESCE(?, next_check_at) WHERE id = ?",
            [int(enabled), to_iso(now) if enabled else None, feed.id],
        )
    return "done", feed
