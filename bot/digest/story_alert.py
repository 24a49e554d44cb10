"""Breaking-story alerts: who reported the story, when, and who was first (China or the West).

Pure: a `StoryAlert` is composed from plain data (the story's row, its articles as mappings, its
signals from `bot.narratives.signals`) and rendered to Discord message bodies within every limit
(no pings, feed text escaped), Markdown for the console's file and plain text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.clock import to_iso
from bot.digest.compose import topic_label
from bot.digest.limits import pack_messages
from bot.digest.safety import masked_link, plain, safe_inline, safe_url
from bot.narratives.signals import Lead, StorySignals, lead_marker

ALERT_COLOUR = 0xDD6B20
MAX_OUTLET_LINES = 20
HEADLINE_LIMIT = 256


@dataclass(frozen=True)
class OutletLine:
    name: str
    country: str | None
    kind: str | None
    first_at: datetime | None
    url: str | None  # the outlet's first original article


@dataclass(frozen=True)
class StoryAlert:
    story_id: int
    title: str
    topic: str | None  # the best of the story's tracked topics
    also_in: tuple[str, ...]
    outlets: tuple[OutletLine, ...]  # in order of first report
    lead: Lead
    broke_at: datetime
    window_hours: float
    timezone: str


def compose_story_alert(
    story: Mapping[str, Any],
    articles: Iterable[Mapping[str, Any]],
    signals: StorySignals,
    *,
    broke_at: datetime,
    window_hours: float,
    topics: Sequence[str],
    timezone: str = "UTC",
) -> StoryAlert:
    """The alert for `story` (id, title, topics best-first). `topics` are the tracked ones:
    the first of the story's topics among them is its section, the rest "also in"."""
    urls: dict[str, str] = {}
    for a in articles:
        if a.get("duplicate_of") or not a.get("outlet") or not a.get("url"):
            continue
        urls.setdefault(" ".join(str(a["outlet"]).split()), str(a["url"]))
    shown = set(topics)
    own = [t for t in dict.fromkeys(str(t) for t in story.get("topics") or ()) if t in shown]
    title = str(story.get("title") or "").strip() or "(untitled story)"
    return StoryAlert(
        story_id=int(story["id"]),
        title=title,
        topic=own[0] if own else None,
        also_in=tuple(own[1:]),
        outlets=tuple(
            OutletLine(o.name, o.country, o.kind, o.first_at, urls.get(o.name))
            for o in signals.outlets
        ),
        lead=signals.lead,
        broke_at=broke_at,
        window_hours=window_hours,
        timezone=timezone,
    )


def _zone(name: str) -> Any:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _when(at: datetime | None, zone: Any) -> str:
    return at.astimezone(zone).strftime("%d %b %H:%M") if at else "undated"


def _span(alert: StoryAlert) -> str:
    """'6 outlets in 9 h': from the first outlet's first report to the last outlet's."""
    dated = [o.first_at for o in alert.outlets if o.first_at is not None]
    n = len(alert.outlets)
    count = f"{n} outlet" + ("" if n == 1 else "s")
    if not dated:
        return count
    hours = (max(dated) - min(dated)).total_seconds() / 3600
    if hours < 1:
        return f"{count} within the hour"
    return f"{count} in {math.ceil(hours - 1e-9)} h"


def _topics(alert: StoryAlert) -> str | None:
    if alert.topic is None:
        return None
    text = topic_label(alert.topic)
    if alert.also_in:
        text += " · also in " + ", ".join(topic_label(t) for t in alert.also_in)
    return text


def _lead_text(alert: StoryAlert, zone: Any) -> str:
    """'CN press first, +3 h (SCMP 28 Nov 02:00, then Reuters 28 Nov 05:00)'; the plain words,
    escaped by the caller."""
    lead = alert.lead
    marker = lead_marker(lead)
    if marker is None:
        if lead.china is None and lead.west is None:
            return "unknown: no dated Chinese or Western report"
        side = "Chinese" if lead.china is None else "Western"
        return f"unknown: no dated {side} report yet"
    assert lead.china is not None and lead.west is not None
    first, then = (lead.china, lead.west) if (lead.hours or 0) >= 0 else (lead.west, lead.china)
    return (
        f"{marker} ({first.outlet} {_when(first.at, zone)}, "
        f"then {then.outlet} {_when(then.at, zone)})"
    )


def _footer(alert: StoryAlert, zone: Any) -> str:
    tz = "UTC" if zone is UTC else alert.timezone
    return f"Story #{alert.story_id} · times in {tz} · tokentide story {alert.story_id}"


def to_discord_messages(alert: StoryAlert) -> list[dict]:
    zone = _zone(alert.timezone)
    lines = [_span(alert)]
    topics = _topics(alert)
    if topics:
        lines[0] += f" · {safe_inline(topics, 300)}"
    lines.append(f"**Lead:** {safe_inline(_lead_text(alert, zone), 400)}")
    lines.append("")
    for o in alert.outlets[:MAX_OUTLET_LINES]:
        name = (masked_link(o.name, o.url) if o.url else None) or safe_inline(o.name, 64)
        country = f" ({o.country})" if o.country else ""
        lines.append(f"`{_when(o.first_at, zone)}` {name}{country}")
    hidden = len(alert.outlets) - MAX_OUTLET_LINES
    if hidden > 0:
        lines.append(f"… and {hidden} more")
    embed: dict[str, Any] = {
        "title": safe_inline(alert.title, HEADLINE_LIMIT),
        "description": "\n".join(lines),
        "color": ALERT_COLOUR,
        "footer": {"text": _footer(alert, zone)},
    }
    first_url = next((safe_url(o.url) for o in alert.outlets if safe_url(o.url)), None)
    if first_url:
        embed["url"] = first_url
    content = f"**Breaking story** · {safe_inline(alert.title, 300)}"
    return pack_messages(content, [embed])


def to_markdown(alert: StoryAlert) -> str:
    zone = _zone(alert.timezone)
    out = [f"# Breaking story: {safe_inline(alert.title, HEADLINE_LIMIT)}", ""]
    meta = _span(alert)
    topics = _topics(alert)
    if topics:
        meta += f" · {safe_inline(topics, 300)}"
    out += [meta, "", f"**Lead:** {safe_inline(_lead_text(alert, zone), 400)}", ""]
    out += ["| First report | Outlet | Country |", "|---|---|---|"]
    for o in alert.outlets:
        made = masked_link(o.name, o.url) if o.url else None
        if made:
            label, _, rest = made.partition("](")
            made = f"{label}](<{rest[:-1]}>)"  # <url> survives odd characters
        name = made or safe_inline(o.name, 64)
        out.append(f"| {_when(o.first_at, zone)} | {name} | {o.country or '?'} |")
    out += ["", f"_{_footer(alert, zone)}_"]
    return "\n".join(out) + "\n"


def to_text(alert: StoryAlert) -> str:
    zone = _zone(alert.timezone)
    out = [f"BREAKING STORY: {plain(alert.title, HEADLINE_LIMIT)}"]
    meta = _span(alert)
    topics = _topics(alert)
    if topics:
        meta += f" · {plain(topics, 300)}"
    out += [meta, f"Lead: {plain(_lead_text(alert, zone), 400)}"]
    for o in alert.outlets:
        country = f" ({o.country})" if o.country else ""
        line = f"  {_when(o.first_at, zone):12} {plain(o.name, 64)}{country}"
        url = safe_url(o.url)
        if url:
            line += f"  {url}"
        out.append(line)
    out.append(plain(_footer(alert, zone)))
    return "\n".join(out) + "\n"


def story_alert_payload(alert: StoryAlert) -> dict[str, Any]:
    """The outbox payload: Discord bodies, Markdown and text copies, and the alert as data."""
    return {
        "type": "story_alert",
        "messages": to_discord_messages(alert),
        "markdown": to_markdown(alert),
        "text": to_text(alert),
        "story": {
            "id": alert.story_id,
            "title": alert.title,
            "topic": alert.topic,
            "also_in": list(alert.also_in),
            "broke_at": to_iso(alert.broke_at),
            "window_hours": alert.window_hours,
            "outlets": [
                {
                    "name": o.name,
                    "country": o.country,
                    "kind": o.kind,
                    "first_at": to_iso(o.first_at),
                    "url": o.url,
                }
                for o in alert.outlets
            ],
            "lead": alert.lead.to_json(),
        },
    }
