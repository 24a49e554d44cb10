"""Reading stories back: recent ones, top first (`bot.narratives.ranking`), and one story's
timeline; each with who reported it (`bot.narratives.signals`: outlets in order of first report,
the China/West lead), which `refresh_story_leads` also keeps in the `stories` columns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from bot.clock import parse_iso, to_iso
from bot.models import OutletMention, Story, StoryArticle, StoryLead
from bot.narratives.narratives import story_narratives
from bot.narratives.ranking import rank_key, score
from bot.narratives.signals import StorySignals, lead_marker, story_signals
from bot.store import articles as articles_store
from bot.store import stories as store

_TIMELINE_KEYS = ("id", "title", "url", "outlet", "published_at", "duplicate_of")


def momentum(articles: Sequence[StoryArticle], now: datetime) -> float:
    """(articles in the last 24 h + outlets new in the last 24 h) / (1 + articles before that):
    a story picking up fresh coverage from new outlets scores high, a story that was big last
    week and is quiet now scores near 0. A syndicated copy is an article, not a new outlet.
    """
    day_ago = now - timedelta(hours=24)
    outlets: set[str] = set()
    recent = before = new_outlets = 0
    for a in articles:
        when = parse_iso(a.published_at or a.fetched_at) or now
        fresh_outlet = bool(a.outlet) and a.duplicate_of is None and a.outlet not in outlets
        if fresh_outlet:
            outlets.add(a.outlet)
        if when >= day_ago:
            recent += 1
            new_outlets += fresh_outlet
        else:
            before += 1
    return round((recent + new_outlets) / (1 + before), 3)


def story_document(
    story: Story,
    articles: Sequence[StoryArticle],
    now: datetime,
    mentions: Sequence[OutletMention] = (),
) -> dict:
    """A story as `stories --json`, `story --json`, the digest and Discord read it: the
    `stories` columns plus `outlets` (distinct, in order of first report: name, country, kind,
    first_at), `lead` ({china, west, hours}), `lead_marker` ("CN press first, +3 h"),
    `region_share`, momentum, score and the articles (oldest first). `mentions` are the
    story's articles as `outlet_mentions` reads them."""
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
    found = story_signals(mentions)
    doc["outlets"] = [o.to_json() for o in found.outlets]
    doc["lead"] = found.lead.to_json()
    doc["lead_marker"] = lead_marker(found.lead)
    doc["region_share"] = dict(found.share)
    doc["momentum"] = momentum(articles, now)
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
    topics: Sequence[str] | None = None,
) -> list[dict]:
    """Stories with an article in the last `hours`, top first (`rank_key`); with `topics`, only
    stories tagged with at least one of them."""
    found = store.stories_seen_between(
        db,
        since=to_iso(now - timedelta(hours=hours)),
        until=to_iso(now + timedelta(hours=1)),
        topic=topic,
    )
    if topics is not None:
        wanted = set(topics)
        found = [s for s in found if wanted.intersection(s.topics)]
    ids = [s.id for s in found]
    articles = store.story_articles(db, ids)
    mentions = articles_store.outlet_mentions(db, ids)
    docs = [story_document(s, articles[s.id], now, mentions[s.id]) for s in found]
    threads = story_narratives(db, ids)
    for doc in docs:
        doc["narrative"] = threads.get(doc["id"])
    docs.sort(key=rank_key)
    return docs[:limit] if limit else docs


def story_detail(db: sqlite_utils.Database, story_id: int, *, now: datetime) -> dict | None:
    """One story with its timeline (articles oldest first); follows merges."""
    story = store.get_story(db, story_id)
    if story is None:
        return None
    articles = store.story_articles(db, [story.id])[story.id]
    mentions = articles_store.outlet_mentions(db, [story.id])[story.id]
    doc = story_document(story, articles, now, mentions)
    doc["narrative"] = story_narratives(db, [story.id]).get(story.id)
    return doc


def story_lead(story_id: int, found: StorySignals) -> StoryLead:
    """The `stories` columns for one story's signals."""
    lead = found.lead
    return StoryLead(
        id=story_id,
        outlet_count=len(found.outlets),
        first_outlet=found.outlets[0].name if found.outlets else None,
        first_china_outlet=lead.china.outlet if lead.china else None,
        first_china_at=to_iso(lead.china.at) if lead.china else None,
        first_west_outlet=lead.west.outlet if lead.west else None,
        first_west_at=to_iso(lead.west.at) if lead.west else None,
        lead_hours=None if lead.hours is None else round(lead.hours, 2),
        china_share=found.share["china"],
        west_share=found.share["west"],
    )


def refresh_story_leads(db: sqlite_utils.Database, story_ids: Iterable[int]) -> list[StoryLead]:
    """Recompute who reported each story (outlet count and first outlet without syndicated
    copies, the China/West lead, region shares) from its articles and store it; analyze calls
    this for every story a batch touched, inside the batch's transaction."""
    mentions = articles_store.outlet_mentions(db, story_ids)
    leads = [story_lead(sid, story_signals(rows)) for sid, rows in mentions.items()]
    store.save_story_leads(db, leads)
    return leads
