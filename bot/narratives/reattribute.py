"""`analyze --reattribute`: apply the current outlet registry to articles already archived.

An article's outlet, country and kind are resolved when it is polled. After an edit to
`outlets:` (or a feed's `outlet`, `country`, `kind`) in feeds.yaml, or a newer registry shipped
with Tokentide, the archive keeps the old answers until this runs: every article is resolved
again from what was stored (`bot.feeds.outlets.reattribute`), changed ones are written, and the
stories they belong to get their outlet count, first outlet and China/West lead recomputed.
Nothing is fetched and no model is needed.

Batches go in id order, each one transaction with its stories' leads, so a run killed half-way
leaves every batch either done or untouched; running it again finishes the work and a rerun
with nothing changed writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlite_utils

from bot.feeds.domains import normalise_host
from bot.feeds.outlets import Outlet, reattribute, registry_for
from bot.narratives.stories import refresh_story_leads
from bot.store import articles as store
from bot.store import feeds as feed_store
from bot.store import stories as story_store
from bot.store.db import refused_write, transaction

Progress = Callable[[int], None]
DEFAULT_BATCH = 2000


def count_articles(db: sqlite_utils.Database) -> int:
    return store.count_articles(db)


def reattribute_archive(
    db: sqlite_utils.Database,
    settings: Any,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Resolve every article's outlet again under `settings` (registry, overrides, feeds).
    Returns counts: checked (articles read), changed (articles rewritten), stories (stories
    whose lead was recomputed)."""
    registry = registry_for(settings)
    configured = {f.url: f for f in settings.feeds}
    feeds: dict[int, tuple[str | None, str | None, str | None]] = {}
    for feed in feed_store.all_feeds(db):
        config = configured.get(feed.url)
        outlet = feed.outlet or (config.outlet if config else "")
        feeds[feed.id] = (
            outlet or None,
            config.country if config else None,
            config.kind if config else None,
        )
    memo: dict[tuple, Outlet | None] = {}
    result = {"checked": 0, "changed": 0, "stories": 0}
    after = 0
    while True:
        rows = store.attribution_batch(db, after_id=after, limit=batch_size)
        if not rows:
            break
        changes: list[tuple[str | None, str | None, str | None, int]] = []
        stories: set[int] = set()
        for row in rows:
            feed_outlet, country, kind = feeds.get(row.feed_id, (None, None, None))
            host = normalise_host(row.link) if row.link and "//" in row.link else ""
            key = (host, row.outlet, feed_outlet, country, kind)
            if key not in memo:
                memo[key] = reattribute(
                    row.link,
                    row.outlet,
                    registry,
                    feed_outlet=feed_outlet,
                    feed_country=country,
                    feed_kind=kind,
                )
            found = memo[key]
            now = (found.name, found.country, found.kind) if found else (None, None, None)
            if now != (row.outlet, row.country, row.kind):
                changes.append((*now, row.article_id))
                if row.story_id is not None:
                    stories.add(row.story_id)
        if changes:
            what = f"outlets of articles {rows[0].article_id}-{rows[-1].article_id}"
            with refused_write(what), transaction(db):
                store.set_attribution(db, changes)
                refresh_story_leads(db, stories)
        result["checked"] += len(rows)
        result["changed"] += len(changes)
        result["stories"] += len(stories)
        after = rows[-1].article_id
        if progress is not None:
            progress(len(rows))
    if result["stories"]:
        with refused_write("who reported first, per topic"):
            story_store.refresh_outlet_leads(db)
    return result
