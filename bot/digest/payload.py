"""The digest as the outbox and `--json` carry it: its key, its payload and its JSON document.

Pure: takes a composed `Digest` (and settings), returns plain data.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.digest.compose import Digest
from bot.digest.render import to_discord_messages, to_markdown, to_text
from bot.errors import TokentideError

CHART_FILENAME = "shares.png"


def digest_key(settings: Settings, *, now: datetime, hours: float | None = None) -> str:
    """'2026-11-28' for the daily digest, '2026-11-28/6h' when hours were given explicitly."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    day = now.astimezone(ZoneInfo(settings.digest.timezone)).date().isoformat()
    return day if hours is None else f"{day}/{hours:g}h"


def check_hours(settings: Settings, hours: float | None) -> float:
    span = settings.digest.hours if hours is None else hours
    if isinstance(span, bool) or not isinstance(span, int | float) or not 0 < span <= 24 * 366:
        raise TokentideError(
            f"digest hours must be a number of hours above 0 and at most a year, got {hours!r} "
            "(e.g. --hours 24)"
        )
    return float(span)


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
