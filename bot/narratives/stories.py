"""Reading stories back: recent ones ranked for the digest, and one story's timeline."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

from bot.clock import parse_iso, to_iso

_STORY_COLUMNS = (
    "id",
    "title",
    "representative_article_id",
    "first_seen",
    "last_seen",
    "article_count",
    "outlet_count",
    "first_outlet",
    "topics",
    "merged_into",
)
_ARTICLE_COLUMNS = ("id", "title", "url", "outlet", "published_at", "duplicate_of")


def _articles(db: Any, story_id: int) -> list[dict]:
    rows = db.execute(
        f"""SELECT {", ".join(_ARTICLE_COLUMNS)}, fetched_at FROM articles WHERE story_id = ?
            ORDER BY COALESCE(published_at, fetched_at), id""",
        [story_id],
    ).fetchall()
    return [dict(zip((*_ARTICLE_COLUMNS, "fetched_at"), r, strict=True)) for r in rows]


def signals(articles: list[dict], now: datetime) -> dict:
    """Outlets in order of first report, and momentum.

    momentum = (articles in the last 24 h + outlets new in the last 24 h) / (1 + articles
    before that): a story picking up fresh coverage from new outlets scores high, a story that
    was big last week and is quiet now scores near 0.
    """
    day_ago = now - timedelta(hours=24)
    outlets: list[str] = []
    recent = before = new_outlets = 0
    for a in articles:
        when = parse_iso(a["published_at"] or a["fetched_at"]) or now
        fresh_outlet = bool(a["outlet"]) and a["outlet"] not in outlets
        if fresh_outlet:
            outlets.append(a["outlet"])
        if when >= day_ago:
            recent += 1
            new_outlets += fresh_outlet
        else:
            before += 1
    return {"outlets": outlets, "momentum": round((recent + new_outlets) / (1 + before), 3)}


def _story_dict(row: tuple, articles: list[dict], now: datetime) -> dict:
    story = dict(zip(_STORY_COLUMNS, row, strict=True))
    story["topics"] = json.loads(story["topics"] or "[]")
    sig = signals(articles, now)
    story.update(sig)
    # Breadth (outlets) dominates; size and fresh coverage count with diminishing returns.
    story["score"] = round(
        story["outlet_count"] + math.log1p(story["article_count"]) + math.log1p(sig["momentum"]),
        3,
    )
    story["articles"] = [{k: a[k] for k in _ARTICLE_COLUMNS} for a in articles]
    return story


def recent_stories(
    db: Any,
    *,
    now: datetime,
    hours: float = 24,
    topic: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Stories with an article in the last `hours`, highest score first."""
    sql = f"SELECT {', '.join(_STORY_COLUMNS)} FROM stories WHERE merged_into IS NULL "
    sql += "AND last_seen >= ? AND last_seen <= ?"
    params: list[Any] = [to_iso(now - timedelta(hours=hours)), to_iso(now + timedelta(hours=1))]
    if topic:
        sql += " AND EXISTS (SELECT 1 FROM json_each(stories.topics) WHERE value = ?)"
        params.append(topic)
    rows = db.execute(sql + " ORDER BY id", params).fetchall()
    stories = [_story_dict(r, _articles(db, r[0]), now) for r in rows]
    stories.sort(key=lambda s: (-s["score"], s["last_seen"] or "", s["id"]))
    return stories[:limit] if limit else stories


def story_detail(db: Any, story_id: int, *, now: datetime) -> dict | None:
    """One story with its timeline (articles oldest first); follows merges."""
    for _ in range(10):  # merged_into chains are short; the bound guards against a cycle
        row = db.execute(
            f"SELECT {', '.join(_STORY_COLUMNS)} FROM stories WHERE id = ?", [story_id]
        ).fetchone()
        if row is None:
            return None
        if row[-1] is None:
            break
        story_id = row[-1]
    return _story_dict(row, _articles(db, story_id), now)
