"""Builders for the digest tests: stories in the narratives contract's shape, share documents in
the tokens contract's shape, and archive rows written with plain SQL into a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.clock import to_iso

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
TOPICS = ["chips", "export_controls", "token_economics"]


def article(aid: int, outlet: str, *, hours_ago: float = 2.0, dup: int | None = None, url=None):
    return {
        "id": aid,
        "title": f"Article {aid} from {outlet}",
        "url": url or f"https://{outlet.lower().replace(' ', '')}.example.com/news/{aid}",
        "outlet": outlet,
        "published_at": to_iso(NOW - timedelta(hours=hours_ago)),
        "duplicate_of": dup,
    }


def story(
    sid: int,
    title: str = "",
    *,
    topics=("chips",),
    outlets=1,
    articles=None,
    momentum=0.0,
    hours_ago=2.0,
    first_outlet=None,
):
    arts = (
        articles
        if articles is not None
        else [article(sid * 100 + i, f"Outlet{i}", hours_ago=hours_ago + i) for i in range(outlets)]
    )
    return {
        "id": sid,
        "title": title or f"Story {sid}",
        "first_seen": to_iso(NOW - timedelta(hours=hours_ago + 5)),
        "last_seen": to_iso(NOW - timedelta(hours=hours_ago)),
        "article_count": len(arts),
        "outlet_count": outlets,
        "topics": list(topics),
        "first_outlet": first_outlet
        if first_outlet is not None
        else (arts[-1]["outlet"] if arts else ""),
        "outlets": sorted({a["outlet"] for a in arts}),
        "momentum": momentum,
        "score": 1.0,
        "articles": arts,
    }


def share_doc(cn=0.58, us=0.35, unknown=0.07, *, deltas=None, in_progress=False):
    return {
        "source": "market-share",
        "as_of": "2026-11-28T06:00:00Z",
        "period": {"start": "2026-11-16T00:00:00Z", "end": "2026-11-23T00:00:00Z"},
        "total_tokens": 1_000_000,
        "shares": {"CN": cn, "US": us, "UNKNOWN": unknown},
        "previous": None,
        "deltas": {"CN": 3.1, "US": -2.0} if deltas is None else deltas,
        "citation": "Source: OpenRouter (openrouter.ai/rankings), as of 2026-11-28T06:00:00Z",
        "in_progress": in_progress,
    }


def insert_story(
    db,
    sid: int,
    title: str,
    *,
    outlets: int = 1,
    hours_ago: float = 2.0,
    topics=("token_economics",),
    merged_into=None,
):
    db.execute(
        "INSERT INTO stories (id, title, first_seen, last_seen, article_count, outlet_count, "
        "first_outlet, topics, merged_into) VALUES (?, ?, ?, ?, 0, ?, 'Outlet', ?, ?)",
        [
            sid,
            title,
            to_iso(NOW - timedelta(hours=hours_ago + 1)),
            to_iso(NOW - timedelta(hours=hours_ago)),
            outlets,
            json.dumps(list(topics)),
            merged_into,
        ],
    )


def insert_article(
    db,
    aid: int,
    title: str,
    *,
    summary: str = "",
    outlet: str = "SCMP",
    story_id: int | None = None,
    hours_ago: float = 2.0,
    dup: int | None = None,
):
    db.execute(
        "INSERT INTO articles (id, url, title, summary, outlet, published_at, fetched_at, "
        "topics, story_id, duplicate_of) VALUES (?, ?, ?, ?, ?, ?, ?, '[]', ?, ?)",
        [
            aid,
            f"https://{outlet.lower()}.example.com/a/{aid}",
            title,
            summary,
            outlet,
            to_iso(NOW - timedelta(hours=hours_ago)),
            to_iso(NOW),
            story_id,
            dup,
        ],
    )


def insert_week(db, snapshot_id: int, start: str, end: str, usage: dict[str, tuple[str, int]]):
    """One weekly market-share snapshot: author → (country, tokens)."""
    db.execute(
        "INSERT INTO token_snapshots (id, source, fetched_at, window_start, window_end, "
        "granularity, content_hash, payload, as_of) VALUES (?, 'market-share', ?, ?, ?, 'week', "
        "?, '{}', ?)",
        [snapshot_id, to_iso(NOW), start, end, f"hash-{snapshot_id}", to_iso(NOW)],
    )
    for author, (country, tokens) in usage.items():
        db.execute(
            "INSERT INTO token_usage (snapshot_id, window_start, window_end, granularity, source, "
            "model, author, country, total_tokens) VALUES (?, ?, ?, 'week', 'market-share', ?, ?, "
            "?, ?)",
            [snapshot_id, start, end, f"{author}/all", author, country, tokens],
        )
