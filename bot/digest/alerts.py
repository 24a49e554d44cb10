"""Share alerts: the move, who moved it, and the news that explains it.

The token tracker enqueues a `share_alert` payload (COMMON contract). Here we find the archive's
stories of the last days whose articles name the movers — "deepseek" is searched as DeepSeek,
"moonshotai/kimi-k2" as Kimi and Moonshot — and render everything as Discord messages, so a
reader sees the numbers and the reasons together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.clock import parse_iso
from bot.digest.compose import pick_links
from bot.digest.limits import DESCRIPTION, pack_messages
from bot.digest.names import author_names, country_name, mover_names
from bot.digest.safety import dlen, masked_link, plain, safe_inline, truncate

RELATED_DAYS = 7
MAX_MOVERS = 8
MAX_NAMES = 16
ALERT_COLOUR = 0xE53E3E
NEWS_COLOUR = 0x4A5568
_STORY_KEYS = (
    "id",
    "title",
    "first_seen",
    "last_seen",
    "article_count",
    "outlet_count",
    "first_outlet",
    "topics",
)
_ARTICLE_KEYS = ("id", "title", "url", "outlet", "published_at", "duplicate_of")


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _movers(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Movers by size of move, largest first."""
    movers = [m for m in payload.get("movers") or () if isinstance(m, Mapping)]
    return sorted(movers, key=lambda m: -abs(_num(m.get("points")) or 0.0))[:MAX_MOVERS]


def search_names(payload: Mapping[str, Any]) -> list[str]:
    """The maker/model names to look for in the news, most important mover first."""
    return list(_names_by_mover(payload))


def _names_by_mover(payload: Mapping[str, Any]) -> dict[str, int]:
    """name → index of the (largest) mover it stands for; aliases share their mover's index."""
    names: dict[str, int] = {}
    seen: set[str] = set()
    for index, mover in enumerate(_movers(payload)):
        for name in mover_names(mover):
            if name.lower() not in seen and len(names) < MAX_NAMES:
                seen.add(name.lower())
                names[name] = index
    return names


def _article_doc(article: Any) -> dict[str, Any]:
    return {k: getattr(article, k) for k in _ARTICLE_KEYS}


def related_stories(
    payload: Mapping[str, Any],
    matches: Mapping[str, Sequence[Any]],
    stories: Mapping[int, Any],
    *,
    limit: int = 5,
) -> list[dict[str, Any]]:
    """The stories whose articles name the alert's movers, best matches first.

    `matches`: name → the archive's articles naming it in the window (`StoryArticle`
    records); `stories`: an article's `story_id` → the `Story` it now belongs to (merges
    followed). Each result: id, title, first_seen, last_seen, article_count, outlet_count,
    first_outlet, topics, matched (names found), articles (only the matching ones). Articles
    not yet clustered into a story count as a story of their own (id None), so fresh news
    still shows.
    """
    groups: dict[Any, dict[str, Any]] = {}
    for name, mover in _names_by_mover(payload).items():
        for art in matches.get(name, ()):
            story = stories.get(art.story_id) if art.story_id is not None else None
            key: Any = story.id if story is not None else f"article:{art.id}"
            group = groups.setdefault(
                key, {"story": story, "matched": [], "movers": set(), "articles": {}}
            )
            group["movers"].add(mover)
            if name not in group["matched"]:
                group["matched"].append(name)
            group["articles"][art.id] = _article_doc(art)
    ranked: list[tuple[tuple, dict[str, Any]]] = []
    for group in groups.values():
        arts = sorted(group["articles"].values(), key=lambda a: a["published_at"] or "")
        story = group["story"]
        if story is None:
            first = arts[0]
            row = {
                "id": None,
                "title": first["title"],
                "first_seen": first["published_at"],
                "last_seen": arts[-1]["published_at"],
                "article_count": len(arts),
                "outlet_count": len({a["outlet"] for a in arts if a["outlet"]}),
                "first_outlet": first["outlet"],
                "topics": [],
            }
        else:
            row = {k: getattr(story, k) for k in _STORY_KEYS}
            row["topics"] = list(story.topics)
        result = {**row, "matched": group["matched"], "articles": arts}
        # Stories naming more of the movers explain more of the move; aliases of one maker
        # ("Qwen", "Alibaba") count once. Then more matching articles, outlets, recency.
        rank = (
            -len(group["movers"]),
            -len(arts),
            -(row["outlet_count"] or 0),
            -_timestamp(row["last_seen"]),
        )
        ranked.append((rank, result))
    ranked.sort(key=lambda pair: pair[0])
    return [result for _, result in ranked[:limit]]


def _timestamp(text: str | None) -> float:
    try:
        parsed = parse_iso(text)
    except ValueError:
        return 0.0
    return parsed.timestamp() if parsed else 0.0


def _pct(fraction: Any) -> str:
    value = _num(fraction)
    return f"{value * 100:.1f}%" if value is not None else "?"


def _pts(points: Any) -> str:
    value = _num(points)
    return f"{value:+.1f} pts" if value is not None else "? pts"


def _price_gap(payload: Mapping[str, Any]) -> tuple[str, str] | None:
    """(line, citation) for the price gap an alert cites when it moved, else None."""
    gap = payload.get("price_gap")
    if not isinstance(gap, Mapping) or _num(gap.get("to")) is None:
        return None
    names = [country_name(str(c)) for c in gap.get("between") or ()][:2]
    was, now = _num(gap.get("from")), _num(gap.get("to"))
    cheaper = country_name(str(gap.get("cheaper")))
    line = f"Price gap {'–'.join(names)}: {was or 0:.1f}× → {now:.1f}× ({cheaper} cheaper)"
    return line, str(gap.get("citation") or "")


def _mover_name(mover: Mapping[str, Any]) -> str:
    name = str(mover.get("name") or "?")
    if mover.get("kind") == "model":
        return name
    names = author_names(name)
    return names[0] if names else name


def _headline(payload: Mapping[str, Any]) -> str:
    leader = payload.get("leader") if isinstance(payload.get("leader"), Mapping) else {}
    if leader.get("changed") and leader.get("after"):
        before = f" {country_name(str(leader.get('before')))}" if leader.get("before") else ""
        return f"{country_name(str(leader['after']))} overtakes{before} in OpenRouter token share"
    moves = [m for m in payload.get("moves") or () if isinstance(m, Mapping)]
    if moves:
        top = max(moves, key=lambda m: abs(_num(m.get("points")) or 0.0))
        return f"{country_name(str(top.get('country')))} {_pts(top.get('points'))} in OpenRouter token share"
    return "OpenRouter token share moved"


def _story_block(story: Mapping[str, Any]) -> str:
    title = safe_inline(story.get("title") or "(untitled)", 256)
    meta = []
    outlets = story.get("outlet_count") or 0
    meta.append(f"{outlets} outlet" + ("" if outlets == 1 else "s"))
    if story.get("last_seen"):
        meta.append(f"latest {str(story['last_seen'])[:10]}")
    if story.get("matched"):
        meta.append("names " + ", ".join(safe_inline(n, 40) for n in story["matched"][:4]))
    links = [masked_link(link.outlet, link.url) for link in pick_links(story.get("articles") or ())]
    lines = [f"**{title}**", " · ".join(meta)]
    if any(links):
        lines.append(" · ".join(link for link in links if link))
    return "\n".join(lines)


def render_alert_messages(
    payload: Mapping[str, Any],
    related_stories: Sequence[Mapping[str, Any]],
    *,
    chart_filename: str | None = None,
) -> list[dict]:
    """Discord message bodies for a share_alert payload plus its related stories."""
    period = payload.get("period") if isinstance(payload.get("period"), Mapping) else {}
    lines = []
    for move in payload.get("moves") or ():
        if isinstance(move, Mapping):
            lines.append(
                f"**{safe_inline(country_name(str(move.get('country'))), 64)}** "
                f"{_pct(move.get('from'))} → {_pct(move.get('to'))} ({_pts(move.get('points'))})"
            )
    if period.get("start") and period.get("end"):
        line = f"Period {str(period['start'])[:10]} → {str(period['end'])[:10]}"
        ref = payload.get("reference_period")
        if isinstance(ref, Mapping) and ref.get("start") and ref.get("end"):
            line += f", compared with {str(ref['start'])[:10]} → {str(ref['end'])[:10]}"
        lines.append(line)
    cites = [str(payload.get("citation") or "Source: OpenRouter")]
    price_gap = _price_gap(payload)
    if price_gap:
        lines.append(safe_inline(price_gap[0], 200))
        cites += [price_gap[1]] if price_gap[1] else []
    move_embed: dict[str, Any] = {
        "title": safe_inline(_headline(payload), 256),
        "description": "\n".join(lines) or "No country moved past the alert threshold.",
        "color": ALERT_COLOUR,
        "footer": {"text": plain(" · ".join(cites), 1000)},
    }
    mover_lines = [
        f"{safe_inline(_mover_name(m), 80)} ({safe_inline(country_name(str(m.get('country'))), 32)}): "
        f"{_pct(m.get('from'))} → {_pct(m.get('to'))} ({_pts(m.get('points'))})"
        for m in _movers(payload)
    ]
    if mover_lines:
        move_embed["fields"] = [{"name": "Top movers", "value": "\n".join(mover_lines)}]
    if chart_filename:
        move_embed["image"] = {"url": f"attachment://{chart_filename}"}
    embeds = [move_embed]
    chunk = ""
    for story in related_stories:
        block = truncate(_story_block(story), DESCRIPTION)
        if chunk and dlen(chunk) + 2 + dlen(block) > DESCRIPTION:
            embeds.append({"description": chunk})
            chunk = block
        else:
            chunk = f"{chunk}\n\n{block}" if chunk else block
    if not chunk and not related_stories:
        chunk = (
            "No stories in the archive named these makers or models "
            f"in the last {RELATED_DAYS} days."
        )
    embeds.append({"description": chunk})
    for n, embed in enumerate(embeds[1:]):
        embed["title"] = "Why it moved: related stories" + (" (continued)" if n else "")
        embed["color"] = NEWS_COLOUR
    content = f"**Token share alert** · {safe_inline(_headline(payload), 300)}"
    return pack_messages(content, embeds)
