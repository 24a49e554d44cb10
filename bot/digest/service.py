"""Compose the digest from the archive and put it in the outbox (the digest's one I/O module).

Reads stories (narratives room) and the token share (tokens room), renders the share chart when
the tokens room can draw it, and enqueues one delivery per period: the daily digest is keyed by
its calendar date in `digest.timezone`, an explicit `--hours N` digest by date plus "/Nh".
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from bot.config import Settings
from bot.digest.alerts import alert_messages, find_related_stories, render_alert_messages
from bot.digest.compose import Digest, compose_digest
from bot.digest.render import to_discord_messages, to_markdown, to_text
from bot.errors import TokentideError
from bot.store.outbox import destination_for, enqueue

__all__ = [
    "alert_messages",
    "build_digest",
    "compose_and_enqueue_digest",
    "digest_json",
    "digest_key",
    "digest_payload",
    "find_related_stories",
    "render_alert_messages",
]

log = logging.getLogger(__name__)
CHART_FILENAME = "shares.png"


def digest_key(settings: Settings, *, now: datetime, hours: float | None = None) -> str:
    """'2026-11-28' for the daily digest, '2026-11-28/6h' when hours were given explicitly."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    day = now.astimezone(ZoneInfo(settings.digest.timezone)).date().isoformat()
    return day if hours is None else f"{day}/{hours:g}h"


def build_digest(
    db: sqlite_utils.Database, settings: Settings, *, now: datetime, hours: float | None = None
) -> Digest:
    """Query the archive and compose the digest for the last `hours` (default digest.hours)."""
    from bot.narratives.stories import recent_stories
    from bot.tokens.report import current_share

    span = _check_hours(settings, hours)
    stories = recent_stories(db, now=now, hours=span)
    share = current_share(db, by="country", period="week", now=now)
    return compose_digest(
        stories,
        share,
        now=now,
        hours=span,
        per_topic=settings.digest.per_topic,
        topics=list(settings.topics),
        timezone=settings.digest.timezone,
    )


def _check_hours(settings: Settings, hours: float | None) -> float:
    span = settings.digest.hours if hours is None else hours
    if isinstance(span, bool) or not isinstance(span, int | float) or not 0 < span <= 24 * 366:
        raise TokentideError(
            f"digest hours must be a number of hours above 0 and at most a year, got {hours!r} "
            "(e.g. --hours 24)"
        )
    return float(span)


def render_chart(db: sqlite_utils.Database, path: Path, *, now: datetime) -> Path | None:
    """Draw the share chart with the tokens room's renderer; None when it cannot be drawn.

    A digest without its chart is still worth sending, so a missing renderer or a chart error
    costs only the picture (logged), never the digest.
    """
    try:
        from bot.tokens.chart import render_share_chart
    except ImportError:
        log.info("share chart skipped: bot.tokens.chart is not available")
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        render_share_chart(db, path, by="country", now=now)
    except (TokentideError, OSError, ValueError) as exc:
        log.warning("share chart skipped: %s", exc)
        return None
    return path if path.exists() else None


def digest_payload(digest: Digest, *, key: str, chart: Path | None = None) -> dict[str, Any]:
    """The outbox payload: Discord bodies (chart on the first), Markdown and text copies."""
    messages = to_discord_messages(digest, chart_filename=CHART_FILENAME if chart else None)
    if chart is not None:
        # The chat worker strips "files" from the body and uploads them with that message.
        messages[0]["files"] = [{"path": str(chart), "filename": CHART_FILENAME}]
    return {
        "type": "digest",
        "messages": messages,
        "markdown": to_markdown(digest),
        "text": to_text(digest),
        "period": {
            "key": key,
            "start": digest.period_start,
            "end": digest.period_end,
            "hours": digest.hours,
            "timezone": digest.timezone,
        },
    }


def _already_queued(db: sqlite_utils.Database, key: str, destination: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM deliveries WHERE kind = 'digest' AND key = ? AND destination = ?",
        [key, destination],
    ).fetchone()
    return row is not None


def compose_and_enqueue_digest(
    db: sqlite_utils.Database,
    settings: Settings,
    *,
    now: datetime,
    hours: float | None = None,
    force: bool = False,
) -> int | None:
    """Enqueue the digest for this period; the delivery id, or None if it was already queued.

    `force` replaces an existing delivery for the period (re-composed, sent again).
    """
    _check_hours(settings, hours)
    key = digest_key(settings, now=now, hours=hours)
    destination = destination_for(settings)
    if not force and _already_queued(db, key, destination):
        return None  # checked first so a repeat run does no composing or chart drawing
    digest = build_digest(db, settings, now=now, hours=hours)
    chart = None
    if digest.share is not None:
        name = re.sub(r"[^0-9A-Za-z-]+", "_", key)
        chart = render_chart(
            db, Path(settings.db_path).parent / "charts" / f"digest-{name}.png", now=now
        )
    payload = digest_payload(digest, key=key, chart=chart)
    return enqueue(
        db,
        kind="digest",
        key=key,
        destination=destination,
        payload=payload,
        now=now,
        replace_existing=force,
    )


def digest_json(digest: Digest) -> dict[str, Any]:
    """The `tokentide digest --json` document: stories carry the archive's column names."""
    sections = []
    for section in digest.sections:
        stories = []
        for story in section.stories:
            row = asdict(story)
            row["links"] = [asdict(link) for link in story.links]
            row["also_in"] = list(story.also_in)
            stories.append(row)
        sections.append(
            {
                "topic": section.topic,
                "label": section.label,
                "total": section.total,
                "stories": stories,
            }
        )
    share = None
    if digest.share is not None:
        share = asdict(digest.share)
        share["entries"] = [asdict(e) for e in digest.share.entries]
    return {
        "generated_at": digest.generated_at,
        "period": {
            "start": digest.period_start,
            "end": digest.period_end,
            "hours": digest.hours,
            "timezone": digest.timezone,
        },
        "story_count": digest.story_count,
        "unlisted": digest.unlisted,
        "topics": sections,
        "share": share,
    }
