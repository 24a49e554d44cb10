"""One poll cycle: pick due feeds, fetch them concurrently, parse, archive.

Each feed's outcome is written in one transaction (its new articles together with its
validators and health; the store dedupes), so a process killed mid-cycle leaves every feed
either fully recorded or untouched, and the next cycle fetches the untouched ones again without
duplicating anything. When the archive refuses a write (a full disk), the cycle stops with a
StoreError instead of blaming the feed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import random
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any

import httpx
import sqlite_utils

from bot.config import Settings
from bot.errors import FeedError
from bot.feeds.attribute import attribute
from bot.feeds.fetch import Fetched, FetchError, HostLimiter, fetch_feed
from bot.feeds.outlets import registry_for
from bot.feeds.parse import FeedItems, read_items
from bot.feeds.schedule import next_check_after_success, plan_after_failure
from bot.models import Feed, NewArticle, NewFeed
from bot.store import feeds as feeds_store

log = logging.getLogger(__name__)


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
    wanted = [
        NewFeed(
            url=f.url, name=f.name or f.url, origin="config", outlet=f.outlet, enabled=f.enabled
        )
        for f in settings.feeds
    ]
    return feeds_store.sync_config(db, wanted, now=now)


def store_success(
    db: sqlite_utils.Database,
    feed: Feed,
    fetched: Fetched,
    parsed: FeedItems | None,
    settings: Settings,
    *,
    now: datetime,
) -> int:
    """Archive new items and the feed's validators and health in one transaction."""
    next_check = next_check_after_success(
        fetched.headers,
        ttl_minutes=parsed.ttl_minutes if parsed else None,
        cfg=settings.fetch,
        now=now,
    )
    items = attribute_items(feed, parsed.items, settings) if parsed is not None else []
    # A 304 keeps the validators we sent; a 200 replaces them (or clears stale ones).
    if fetched.status == 304:
        etag, modified = feed.etag, feed.last_modified
    else:
        etag, modified = fetched.headers.get("etag"), fetched.headers.get("last-modified")
    return feeds_store.record_success(
        db,
        feed=feed,
        items=items,
        status=fetched.status,
        etag=etag,
        last_modified=modified,
        next_check_at=next_check,
        now=now,
    )


def attribute_items(
    feed: Feed, items: Sequence[Mapping[str, Any]], settings: Settings
) -> list[NewArticle]:
    """Each parsed item with its outlet (name, country, kind) and the link to keep: the feed's
    outlet, country and kind from feeds.yaml when set, else the registry (`bot.feeds.attribute`)."""
    registry = registry_for(settings)
    config = next((f for f in settings.feeds if f.url == feed.url), None)
    outlet = feed.outlet or (config.outlet if config else "")
    return [
        attribute(
            item,
            registry,
            feed_outlet=outlet or None,
            feed_country=config.country if config else None,
            feed_kind=config.kind if config else None,
        )
        for item in items
    ]


def store_failure(
    db: sqlite_utils.Database,
    feed: Feed,
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
        error_count=feed.error_count,
        message=str(error),
        counts=counts,
        retry_after_s=getattr(error, "retry_after_s", None),
        cfg=settings.fetch,
        rng=rng,
        now=now,
    )
    notice = None
    if plan.disabled_reason and not feed.disabled_reason:
        from bot.config import destination_for
        from bot.digest.feed_notice import feed_disabled_payload

        payload = feed_disabled_payload(feed.name, feed.url, plan.disabled_reason, now=now)
        notice = (destination_for(settings), payload)
    feeds_store.record_failure(
        db,
        feed=feed,
        status=status if status is not None else getattr(error, "status", None),
        error_count=plan.error_count,
        last_error=message,
        disabled_reason=plan.disabled_reason,
        next_check_at=plan.next_check_at,
        now=now,
        notice=notice,
    )


async def _check(
    client: httpx.AsyncClient,
    feed: Feed,
    settings: Settings,
    limiter: HostLimiter,
    parse_slot: asyncio.Semaphore,
    parse_pool: Executor | None,
    now: datetime,
) -> tuple[Feed, Fetched | None, FeedItems | None, FeedError | None]:
    try:
        fetched = await fetch_feed(
            client,
            feed.url,
            etag=feed.etag,
            last_modified=feed.last_modified,
            cfg=settings.fetch,
            limiter=limiter,
            now=now,
            public_only=feed.origin == "discord",
        )
    except FeedError as exc:
        return feed, None, None, exc
    if fetched.status == 304:
        return feed, fetched, None, None
    # Parsing is CPU work, kept off the loop so other feeds' timeouts stay honest: in parser
    # processes when given (all cores, no GIL), else one worker thread at a time.
    job = functools.partial(
        read_items, fetched.body, fetched.headers, url=fetched.url, outlet=feed.outlet
    )
    try:
        parsed = None
        if parse_pool is not None:
            try:
                parsed = await asyncio.get_running_loop().run_in_executor(parse_pool, job)
            except BrokenProcessPool:
                # A parser process died (e.g. killed for memory): finish this cycle in-process
                # rather than blaming every feed still queued behind it.
                log.warning("parser processes stopped; parsing %s in a thread", feed.url)
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
    feeds_polled, new_articles, errors, not_modified, and failures ([{"feed": name,
    "error": why}], one per error).

    `parse_pool` (from `make_parse_pool`) parses in other processes; without it parsing runs
    in one worker thread, which is enough for a few dozen feeds."""
    rng = rng or random.Random()
    feeds = feeds_store.due_feeds(db, now=now, all_feeds=all_feeds)
    limiter = HostLimiter(settings.fetch.per_host)
    counts = {"feeds_polled": 0, "new_articles": 0, "errors": 0, "not_modified": 0}
    failures: list[dict[str, str]] = []
    unreachable: list[tuple[Feed, FetchError]] = []
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
            failures.append({"feed": feed.name, "error": str(error)})
            log.warning("feed %s: %s", feed.url, error)
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
    return {**counts, "failures": failures}
