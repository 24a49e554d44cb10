"""One poll cycle: pick due feeds, fetch them concurrently, parse, dedupe, archive.

Each feed's outcome is written in one transaction (its new articles together with its
validators and health), so a process killed mid-cycle leaves every feed either fully recorded or
untouched, and the next cycle fetches the untouched ones again without duplicating anything.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import random
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlite_utils

from bot.clock import to_iso
from bot.config import Settings
from bot.errors import FeedError
from bot.feeds.fetch import Fetched, FetchError, HostLimiter, fetch_feed
from bot.feeds.parse import FeedItems, read_items
from bot.feeds.schedule import next_check_after_success, plan_after_failure

log = logging.getLogger(__name__)

# Google News items carry redirect links, not the outlet's URL: the same story from the same
# outlet within this window is the same article.
AGGREGATED_MATCH_HOURS = 36


def make_parse_pool(settings: Settings) -> ProcessPoolExecutor | None:
    """Parser processes for a poll (fetch.parse_processes; 0 = parse in a thread). Spawned, not
    forked, so they never inherit the event loop, sockets or the database handle."""
    workers = settings.fetch.parse_processes
    if workers <= 0:
        return None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def sync_config_feeds(db: sqlite_utils.Database, settings: Settings, *, now: datetime) -> dict:
    """Make the feeds table match feeds.yaml: add new feeds, update names/outlets/enabled, and
    switch off config feeds that were removed from the file (their articles stay)."""
    stamp = to_iso(now)
    counts = {"added": 0, "updated": 0, "retired": 0}
    wanted = {f.url: f for f in settings.feeds}
    with db.conn:
        existing = {
            row[0]: row
            for row in db.execute("SELECT url, name, outlet, enabled, origin FROM feeds").fetchall()
        }
        for url, feed in wanted.items():
            row = existing.get(url)
            if row is None:
                db.execute(
                    "INSERT INTO feeds (url, name, outlet, origin, enabled, created_at) "
                    "VALUES (?, ?, ?, 'config', ?, ?)",
                    [url, feed.name or url, feed.outlet, int(feed.enabled), stamp],
                )
                counts["added"] += 1
            elif (row[1], row[2], bool(row[3]), row[4]) != (
                feed.name or url,
                feed.outlet,
                feed.enabled,
                "config",
            ):
                db.execute(
                    "UPDATE feeds SET name = ?, outlet = ?, enabled = ?, origin = 'config' "
                    "WHERE url = ?",
                    [feed.name or url, feed.outlet, int(feed.enabled), url],
                )
                counts["updated"] += 1
        for url, row in existing.items():
            if row[4] == "config" and url not in wanted and row[3]:
                db.execute("UPDATE feeds SET enabled = 0 WHERE url = ?", [url])
                counts["retired"] += 1
    return counts


def select_feeds(
    db: sqlite_utils.Database, *, now: datetime, all_feeds: bool = False
) -> list[dict]:
    """Enabled feeds that are due. `all_feeds` ignores schedules and also retries feeds that
    were disabled after repeated failures (a success clears the reason)."""
    sql = "SELECT * FROM feeds WHERE enabled = 1"
    params: list[Any] = []
    if not all_feeds:
        sql += " AND disabled_reason IS NULL AND (next_check_at IS NULL OR next_check_at <= ?)"
        params.append(to_iso(now))
    return [dict(row) for row in db.query(sql + " ORDER BY id", params)]


def _existing(db: sqlite_utils.Database, sql: str, fixed: list, values: list[str]) -> set[str]:
    """Which of `values` the query finds; chunked to stay under SQLite's variable limit."""
    found: set[str] = set()
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        found.update(row[0] for row in db.execute(sql.format(marks=marks), [*fixed, *chunk]))
    return found


def _aggregated_seen(
    db: sqlite_utils.Database, item: dict, pending: list[tuple[str, str, str | None]]
) -> bool:
    """Google News layer of DESIGN "Dedupe": same outlet + title within the match window,
    among stored articles and the ones this feed is about to insert."""
    outlet, title, published = item["outlet"], item["title"], item["published_at"]
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


_INSERT_ARTICLE = (
    "INSERT OR IGNORE INTO articles (feed_id, url, link, guid, title, summary, "
    "author, outlet, published_at, fetched_at, topics) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]')"
)


def _new_rows(db: sqlite_utils.Database, feed_id: int, items: list[dict], stamp: str) -> list:
    """Rows to insert for a feed's items after every dedupe layer (DESIGN "Dedupe").

    Guid within the feed, canonical URL anywhere, and title + publication time within the feed
    are each one query for the whole feed, so re-reading an unchanged feed costs almost
    nothing and a new one costs no per-item lookups (only Google News items query one by one).
    """
    guids = _existing(
        db,
        "SELECT guid FROM articles WHERE feed_id = ? AND guid IN ({marks})",
        [feed_id],
        [i["guid"] for i in items],
    )
    urls = _existing(
        db, "SELECT url FROM articles WHERE url IN ({marks})", [], [i["url"] for i in items]
    )
    # A feed that rewrites guids and links still repeats title + publication time.
    titled = [i["title"] for i in items if i["title"] and i["published_at"]]
    dated: set[tuple[str, str]] = set()
    for start in range(0, len(titled), 500):
        chunk = list(dict.fromkeys(titled[start : start + 500]))
        marks = ", ".join("?" for _ in chunk)
        dated.update(
            (row[0], row[1])
            for row in db.execute(
                "SELECT title, published_at FROM articles WHERE feed_id = ? "
                f"AND title IN ({marks}) AND published_at IS NOT NULL",
                [feed_id, *chunk],
            )
        )
    pending: list[tuple[str, str, str | None]] = []  # (outlet, title, published_at) of rows
    rows = []
    for item in items:
        if item["guid"] in guids or item["url"] in urls:
            continue
        guids.add(item["guid"])
        urls.add(item["url"])
        title, published = item["title"], item["published_at"]
        if title and published and (title, published) in dated:
            continue
        aggregated = item["is_aggregated"] and title and item["outlet"]
        if aggregated and _aggregated_seen(db, item, pending):
            continue
        rows.append(
            (
                feed_id,
                item["url"],
                item["link"],
                item["guid"],
                title,
                item["summary"],
                item["author"],
                item["outlet"],
                published,
                stamp,
            )
        )
        if title and published:
            dated.add((title, published))
        pending.append((item["outlet"], title, published))
    return rows


def store_success(
    db: sqlite_utils.Database,
    feed: dict,
    fetched: Fetched,
    parsed: FeedItems | None,
    settings: Settings,
    *,
    now: datetime,
) -> int:
    """Archive new items and the feed's validators and health in one transaction."""
    stamp = to_iso(now)
    next_check = next_check_after_success(
        fetched.headers,
        ttl_minutes=parsed.ttl_minutes if parsed else None,
        cfg=settings.fetch,
        now=now,
    )
    new = 0
    with db.conn:
        if parsed is not None and parsed.items:
            rows = _new_rows(db, feed["id"], parsed.items, stamp)
            if rows:
                # One prepared statement for the feed; rowcount sums what was really inserted.
                new = db.conn.executemany(_INSERT_ARTICLE, rows).rowcount
        # A 304 keeps the validators we sent; a 200 replaces them (or clears stale ones).
        etag = fetched.headers.get("etag") if fetched.status != 304 else feed["etag"]
        modified = (
            fetched.headers.get("last-modified") if fetched.status != 304 else feed["last_modified"]
        )
        db.execute(
            "UPDATE feeds SET etag = ?, last_modified = ?, last_checked_at = ?, "
            "last_success_at = ?, last_status = ?, next_check_at = ?, error_count = 0, "
            "last_error = NULL, disabled_reason = NULL WHERE id = ?",
            [etag, modified, stamp, stamp, fetched.status, to_iso(next_check), feed["id"]],
        )
    return new


def store_failure(
    db: sqlite_utils.Database,
    feed: dict,
    error: FeedError,
    settings: Settings,
    *,
    counts: bool,
    rng: random.Random,
    now: datetime,
    status: int | None = None,
) -> None:
    """Record a failed check: plain-words error, backoff, maybe disable. Articles untouched."""
    message = str(error)
    if not counts:
        message = f"network unreachable, machine looks offline (not counted): {message}"
    plan = plan_after_failure(
        error_count=feed["error_count"],
        message=str(error),
        counts=counts,
        retry_after_s=getattr(error, "retry_after_s", None),
        cfg=settings.fetch,
        rng=rng,
        now=now,
    )
    with db.conn:
        db.execute(
            "UPDATE feeds SET last_checked_at = ?, last_status = ?, next_check_at = ?, "
            "error_count = ?, last_error = ?, disabled_reason = COALESCE(?, disabled_reason) "
            "WHERE id = ?",
            [
                to_iso(now),
                status if status is not None else getattr(error, "status", None),
                to_iso(plan.next_check_at),
                plan.error_count,
                message,
                plan.disabled_reason,
                feed["id"],
            ],
        )


async def _check(
    client: httpx.AsyncClient,
    feed: dict,
    settings: Settings,
    limiter: HostLimiter,
    parse_slot: asyncio.Semaphore,
    parse_pool: Executor | None,
    now: datetime,
) -> tuple[dict, Fetched | None, FeedItems | None, FeedError | None]:
    try:
        fetched = await fetch_feed(
            client,
            feed["url"],
            etag=feed["etag"],
            last_modified=feed["last_modified"],
            cfg=settings.fetch,
            limiter=limiter,
            now=now,
        )
    except FeedError as exc:
        return feed, None, None, exc
    if fetched.status == 304:
        return feed, fetched, None, None
    # Parsing is CPU work, kept off the loop so other feeds' timeouts stay honest: in parser
    # processes when given (all cores, no GIL), else one worker thread at a time.
    job = functools.partial(
        read_items, fetched.body, fetched.headers, url=fetched.url, outlet=feed["outlet"]
    )
    try:
        parsed = None
        if parse_pool is not None:
            try:
                parsed = await asyncio.get_running_loop().run_in_executor(parse_pool, job)
            except BrokenProcessPool:
                # A parser process died (e.g. killed for memory): finish this cycle in-process
                # rather than blaming every feed still queued behind it.
                log.warning("parser processes stopped; parsing %s in a thread", feed["url"])
        if parsed is None:
            async with parse_slot:
                parsed = await asyncio.to_thread(job)
    except FeedError as exc:
        return feed, fetched, None, exc  # fetched fine (HTTP 200), but not a readable feed
    return feed, fetched, parsed, None


async def poll_feeds(
    db: sqlite_utils.Database,
    settings: Settings,
    client: httpx.AsyncClient,
    *,
    now: datetime,
    all_feeds: bool = False,
    rng: random.Random | None = None,
    parse_pool: Executor | None = None,
) -> dict:
    """Poll due feeds (or every enabled feed with `all_feeds`). Returns counts:
    feeds_polled, new_articles, errors, not_modified.

    `parse_pool` (from `make_parse_pool`) parses in other processes; without it parsing runs
    in one worker thread, which is enough for a few dozen feeds."""
    rng = rng or random.Random()
    feeds = select_feeds(db, now=now, all_feeds=all_feeds)
    limiter = HostLimiter(settings.fetch.per_host)
    counts = {"feeds_polled": 0, "new_articles": 0, "errors": 0, "not_modified": 0}
    unreachable: list[tuple[dict, FetchError]] = []
    reached_any = False
    parse_slot = asyncio.Semaphore(1)
    tasks = [
        asyncio.ensure_future(_check(client, f, settings, limiter, parse_slot, parse_pool, now))
        for f in feeds
    ]
    try:
        for next_done in asyncio.as_completed(tasks):
            feed, fetched, parsed, error = await next_done
            counts["feeds_polled"] += 1
            if error is None:
                assert fetched is not None
                reached_any = True
                counts["new_articles"] += store_success(
                    db, feed, fetched, parsed, settings, now=now
                )
                counts["not_modified"] += fetched.status == 304
                continue
            counts["errors"] += 1
            log.warning("feed %s: %s", feed["url"], error)
            if isinstance(error, FetchError) and error.unreachable:
                unreachable.append((feed, error))  # decided once the whole cycle is known
                continue
            reached_any = True
            store_failure(
                db,
                feed,
                error,
                settings,
                counts=True,
                rng=rng,
                now=now,
                status=fetched.status if fetched else None,
            )
    finally:
        for task in tasks:
            task.cancel()
    # DNS/no-route failures for every feed means this machine is offline, not the feeds broken.
    for feed, error in unreachable:
        store_failure(db, feed, error, settings, counts=reached_any, rng=rng, now=now)
    return counts
