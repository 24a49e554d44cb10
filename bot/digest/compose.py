"""Compose a digest from stories and the token share. Pure: plain data and `now` in, a frozen
`Digest` out; rendering lives in render.py.

Stories are listed per topic in the one "top stories" order (`bot.narratives.ranking`): more
outlets, then more articles, then the latest article, then momentum, then the lower id. Each
story's `rank` is its position in that order within its topic, counted from 1.

A story tagged with several topics is listed once, under the first of its own topics that the
digest shows (the narratives room lists a story's topics best-first); its other topics are shown
as "also in". Stories with none of the digest's topics are left out and counted as `unlisted`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from bot.clock import parse_iso, to_iso
from bot.digest.names import country_name
from bot.narratives.ranking import rank_key
from bot.narratives.signals import lead_marker
from bot.tokens.sources import citation as source_citation

LINKS_PER_STORY = 3


@dataclass(frozen=True)
class Link:
    outlet: str
    url: str
    title: str
    via: str = ""  # the aggregator whose link this is ("Google News"), when not the publisher's


@dataclass(frozen=True)
class DigestStory:
    id: int
    title: str
    outlet_count: int
    article_count: int
    first_outlet: str
    first_seen: str | None
    last_seen: str | None
    momentum: float
    score: float  # the narratives room's own score, passed through
    rank: int  # position within its topic, from 1 (module docstring)
    topic: str
    also_in: tuple[str, ...]
    links: tuple[Link, ...]
    lead: str = ""  # who reported first: "CN press first, +3 h" ('' when unknown)
    # The narrative it continues: "continues: <thread>, 6th story since April" ('' when none)
    continues: str = ""


@dataclass(frozen=True)
class TopicSection:
    topic: str
    label: str
    stories: tuple[DigestStory, ...]
    total: int  # stories in this topic before the per-topic cut


@dataclass(frozen=True)
class ShareEntry:
    key: str
    name: str
    share: float  # fraction 0..1
    points: float | None  # change vs the previous period, percentage points


@dataclass(frozen=True)
class ShareLine:
    text: str  # "China 58% of OpenRouter tokens, +3.1 pts w/w"
    citation: str
    as_of: str | None
    period_start: str | None
    period_end: str | None
    in_progress: bool
    entries: tuple[ShareEntry, ...]  # largest first
    # "China 58% of tokens at $0.37/M; US 38% at $2.37/M; 6.4× price gap" (price_line)
    prices_text: str | None = None
    open_weights_text: str | None = None  # "Open weights: China 68%, US 52% of their tokens"
    prices_citation: str | None = None


@dataclass(frozen=True)
class Digest:
    generated_at: str
    period_start: str
    period_end: str
    hours: float
    timezone: str
    sections: tuple[TopicSection, ...]
    share: ShareLine | None
    story_count: int  # stories listed
    unlisted: int  # stories in the window with none of the digest's topics


def topic_label(topic: str) -> str:
    """'export_controls' → 'Export controls'."""
    words = topic.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else "Other"


def _num(value: Any, default: float = 0.0) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


def _ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def pick_links(articles: Iterable[Mapping[str, Any]], limit: int = LINKS_PER_STORY) -> list[Link]:
    """A few links, earliest first, one per outlet, skipping syndicated copies (duplicate_of)."""
    candidates = [a for a in articles if isinstance(a, Mapping) and not a.get("duplicate_of")]
    candidates.sort(key=lambda a: (str(a.get("published_at") or "9999"), _num(a.get("id"))))
    links: list[Link] = []
    seen_outlets: set[str] = set()
    seen_urls: set[str] = set()
    for art in candidates:
        url = art.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            continue
        outlet = str(art.get("outlet") or "").strip()
        if url in seen_urls or (outlet and outlet.lower() in seen_outlets):
            continue
        seen_urls.add(url)
        seen_outlets.add(outlet.lower())
        links.append(
            Link(outlet=outlet, url=url, title=str(art.get("title") or ""), via=link_via(url))
        )
        if len(links) >= limit:
            break
    return links


def link_via(url: str) -> str:
    """'Google News' when `url` is a Google News redirect (the item did not name the
    publisher's own page), else ''."""
    host = (urlsplit(url).hostname or "").lower() if "news.google." in url.lower() else ""
    return "Google News" if host == "news.google.com" else ""


def _lead(story: Mapping[str, Any]) -> str:
    marker = story.get("lead_marker")
    if isinstance(marker, str) and marker.strip():
        return marker.strip()
    return lead_marker(story.get("lead") if isinstance(story.get("lead"), Mapping) else None) or ""


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, ..."""
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


NARRATIVE_TITLE_LIMIT = 90


def continues_line(narrative: Any, now: datetime) -> str:
    """ "continues: <narrative title>, 6th story since April" for a story that is not the first
    of its narrative (`story_narratives` document); '' otherwise. The year is added when the
    narrative began in another year than `now`."""
    if not isinstance(narrative, Mapping):
        return ""
    position = int(_num(narrative.get("position"), 0))
    title = " ".join(str(narrative.get("title") or "").split())
    if position < 2 or not title:
        return ""
    if len(title) > NARRATIVE_TITLE_LIMIT:
        title = title[: NARRATIVE_TITLE_LIMIT - 1].rsplit(" ", 1)[0] + "…"
    line = f"continues: {title}, {ordinal(position)} story"
    began = _ts(narrative.get("first_seen"))
    if began is not None:
        month = began.strftime("%B")
        line += f" since {month}" if began.year == now.year else f" since {month} {began.year}"
    return line


def _headline(story: Mapping[str, Any]) -> str:
    title = str(story.get("title") or "").strip()
    if title:
        return title
    for art in story.get("articles") or ():
        if isinstance(art, Mapping) and str(art.get("title") or "").strip():
            return str(art["title"]).strip()
    return "(untitled story)"


def _first_outlet(story: Mapping[str, Any], links: Sequence[Link]) -> str:
    outlet = str(story.get("first_outlet") or "").strip()
    if outlet:
        return outlet
    return links[0].outlet if links else ""


def compose_digest(
    stories: Iterable[Mapping[str, Any]],
    share: Mapping[str, Any] | None,
    *,
    now: datetime,
    hours: float,
    per_topic: int,
    topics: Iterable[str],
    timezone: str = "UTC",
    prices: Mapping[str, Any] | None = None,
) -> Digest:
    """Pick and order the top `per_topic` stories for each of `topics` over the last `hours`.

    `stories` are `recent_stories` dicts (narratives contract); stories whose last article is
    older than the window are dropped, so a caller may pass a wider list. `share` is the tokens
    room's `current_share` document or None; `prices` its `current_prices` document or None.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    start = now - timedelta(hours=hours)
    order = [t for t in dict.fromkeys(topics)]
    shown = set(order)
    buckets: dict[str, list[DigestStory]] = {t: [] for t in order}
    unlisted = 0
    seen_ids: set[int] = set()
    for story in stories:
        sid = int(_num(story.get("id"), -1))
        if sid in seen_ids:
            continue
        seen_ids.add(sid)
        last = _ts(story.get("last_seen")) or _ts(story.get("first_seen"))
        if last is not None and last < start:
            continue
        tags = story.get("topics") or ()
        if isinstance(tags, str):  # a bare topic id instead of a list
            tags = (tags,)
        own = [str(t) for t in tags if str(t) in shown]
        own = list(dict.fromkeys(own))
        if not own:
            unlisted += 1
            continue
        links = pick_links(story.get("articles") or ())
        buckets[own[0]].append(
            DigestStory(
                id=sid,
                title=_headline(story),
                outlet_count=int(_num(story.get("outlet_count"))),
                article_count=int(_num(story.get("article_count"))),
                first_outlet=_first_outlet(story, links),
                first_seen=story.get("first_seen"),
                last_seen=story.get("last_seen"),
                momentum=_num(story.get("momentum")),
                score=_num(story.get("score")),
                rank=0,  # its position, set once the topic is sorted
                topic=own[0],
                also_in=tuple(own[1:]),
                links=tuple(links),
                lead=_lead(story),
                continues=continues_line(story.get("narrative"), now),
            )
        )
    sections = []
    for topic in order:
        ranked = [
            replace(entry, rank=n)
            for n, entry in enumerate(sorted(buckets[topic], key=rank_key), 1)
        ]
        if ranked:
            sections.append(
                TopicSection(
                    topic=topic,
                    label=topic_label(topic),
                    stories=tuple(ranked[: max(per_topic, 0)]),
                    total=len(ranked),
                )
            )
    return Digest(
        generated_at=to_iso(now),
        period_start=to_iso(start),
        period_end=to_iso(now),
        hours=float(hours),
        timezone=timezone,
        sections=tuple(sections),
        share=with_prices(share_line(share), share, prices),
        story_count=sum(len(s.stories) for s in sections),
        unlisted=unlisted,
    )


def _pct(fraction: float) -> str:
    pct = fraction * 100
    return f"{pct:.0f}%" if pct >= 10 else f"{pct:.1f}%"


def _comparison(period: Mapping[str, Any] | None) -> str:
    """'w/w' for weekly shares, 'd/d' for daily, otherwise a neutral wording."""
    if isinstance(period, Mapping):
        start, end = _ts(period.get("start")), _ts(period.get("end"))
        if start and end:
            days = (end - start).total_seconds() / 86400
            if 6 <= days <= 8:
                return "w/w"
            if 0.5 <= days <= 1.5:
                return "d/d"
    return "vs previous period"


def share_line(share: Mapping[str, Any] | None) -> ShareLine | None:
    """The token-share line from a `current_share` document (None when there are no shares)."""
    if not isinstance(share, Mapping):
        return None
    shares = share.get("shares")
    if not isinstance(shares, Mapping) or not shares:
        return None
    deltas = share.get("deltas") if isinstance(share.get("deltas"), Mapping) else {}
    entries = [
        ShareEntry(
            key=str(key),
            name=country_name(str(key)),
            share=_num(value),
            points=_num(deltas[key]) if key in deltas and deltas[key] is not None else None,
        )
        for key, value in shares.items()
    ]
    entries.sort(key=lambda e: (-e.share, e.key))
    # Lead with the biggest attributable country: "Unattributed 40%" says nothing about the race.
    lead = next((e for e in entries if e.key != "UNKNOWN"), entries[0])
    period = share.get("period") if isinstance(share.get("period"), Mapping) else {}
    text = f"{lead.name} {_pct(lead.share)} of OpenRouter tokens"
    if lead.points is not None:
        text += f", {lead.points:+.1f} pts {_comparison(period)}"
    in_progress = bool(share.get("in_progress"))
    if in_progress:
        text += " (period in progress)"
    as_of = share.get("as_of")
    citation = str(share.get("citation") or "") or source_citation(as_of or "unknown")
    return ShareLine(
        text=text,
        citation=citation,
        as_of=as_of if isinstance(as_of, str) else None,
        period_start=period.get("start"),
        period_end=period.get("end"),
        in_progress=in_progress,
        entries=tuple(entries),
    )


def _usd(value: float) -> str:
    return f"${value:.2f}/M" if value >= 0.1 else f"${value:.3f}/M"


def with_prices(
    line: ShareLine | None, share: Mapping[str, Any] | None, prices: Mapping[str, Any] | None
) -> ShareLine | None:
    """`line` with the price sentence, from the tokens room's `current_prices` document for the
    same period: "China 58% of tokens at $0.37/M; US 38% at $2.37/M; 6.4× price gap"."""
    if line is None or not isinstance(prices, Mapping) or not isinstance(share, Mapping):
        return line
    priced = prices.get("prices") if isinstance(prices.get("prices"), Mapping) else {}
    if prices.get("period") != share.get("period") or not priced:
        return line
    gap = prices.get("gap") if isinstance(prices.get("gap"), Mapping) else None
    wanted = list(gap.get("between") or ()) if gap else []
    if len(wanted) < 2:
        wanted = [e.key for e in line.entries if e.key != "UNKNOWN" and e.key in priced][:2]
    entries = [e for e in line.entries if e.key in wanted and e.key in priced]
    if not entries:
        return line
    parts = []
    for n, e in enumerate(entries):
        tokens = " of tokens" if n == 0 else ""
        parts.append(f"{e.name} {_pct(e.share)}{tokens} at {_usd(_num(priced[e.key]))}")
    if gap and gap.get("ratio"):
        parts.append(f"{_num(gap['ratio']):.1f}× price gap")
    weights = share.get("open_weights") if isinstance(share.get("open_weights"), Mapping) else {}
    open_text = None
    if any(e.key in weights for e in entries):
        shown = ", ".join(
            f"{e.name} {_pct(_num(weights[e.key]))}" for e in entries if e.key in weights
        )
        open_text = f"Open weights: {shown} of their tokens"
    return replace(
        line,
        prices_text="; ".join(parts),
        open_weights_text=open_text,
        prices_citation=str(prices.get("citation") or "") or None,
    )
