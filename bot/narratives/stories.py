"""Reading stories back: recent ones, top first (`bot.narratives.ranking`), and one story's
timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from bot.clock import parse_iso, to_iso
from bot.models import Story, StoryArticle
from bot.narratives.ranking import rank_key, score
from bot.store import stories as store

_TIMELINE_KEYS = ("id", "title", "url", "outlet", "published_at", "duplicate_of")


def signals(articles: Sequence[StoryArticle], now: datetime) -> dict:
    """Outlets in order of first report, and momentum.

    momentum = (articles in the last 24 h + outlets new in the last 24 h) / (1 + articles
    before that): a story picking up fresh coverage from new outlets scores high, a story that
    was big last week and is quiet now scores near 0.
    """
    day_ago = now - timedelta(hours=24)
    outlets: list[str] = []
    recent = before = new_outlets = 0
    for a in articles:
        when = parse_iso(a.published_at or a.fetched_at) or now
        fresh_outlet = bool(a.outlet) and a.outlet not in outlets
        if fresh_outlet:
            outlets.append(a.outlet)
        if when >= day_ago:
            recent += 1
            new_outlets += fresh_outlet
        else:
            before += 1
    return {"outlets": outlets, "momentum": round((recent + new_outlets) / (1 + before), 3)}


def story_document(story: Story, articles: Sequence[StoryArticle], now: datetime) -> dict:
    """A story as `stories --json`, `story --json`, the digest and Discord read it: the
    `stories` columns plus outlets, momentum, score and the articles (oldest first)."""
    doc: dict[str, Any] = {
        "id": story.id,
        "title": story.title,
        "representative_article_id": story.representative_article_id,
        "first_seen": story.first_seen,
        "last_seen": story.last_seen,
        "article_count": story.article_count,
        "outlet_count": story.outlet_count,
        "first_outlet": story.first_outlet,
        "topics": list(story.topics),
        "merged_into": story.merged_into,
    }
    doc.update(signals(articles, now))
    doc["score"] = score(story.outlet_count, story.article_count)
    doc["articles"] = [{k: getattr(a, k) for k in _TIMELINE_KEYS} for a in articles]
    return doc


def recent_stories(
    db: sqlite_utils.Database,
    *,
    now: datetime,
    hours: float = 24,
    topic: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Stories with an article in the last `hours`, top first (`rank_key`)."""
    found = store.stories_seen_between(
        db,
        since=to_iso(now - timedelta(hours=hours)),
        until=to_iso(now + timedelta(hours=1)),
        topic=topic,
    )
    articles = store.story_articles(db, [s.id for s in found])
    docs = [story_document(s, articles[s.id], now) for s in found]
    docs.sort(key=rank_key)
    return docs[:limit] if limit else docs


def story_detail(db: sqlite_utils.Database, story_id: int, *, now: datetime) -> dict | None:
    """One story with its timeline (articles oldest first); follows merges."""
    story = store.get_story(db, story_id)
    if story is None:
        return None
    return story_document(story, store.story_articles(db, [story.id])[story.id], now)
