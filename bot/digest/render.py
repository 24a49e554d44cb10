"""Render a `Digest` as Discord message bodies, Markdown, or plain text.

Every piece of feed text goes through `safety` on its way out; Discord bodies are packed by
`limits.pack_messages`, so each one fits Discord's limits however long or many the headlines.
"""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.clock import parse_iso
from bot.digest.compose import Digest, DigestStory, Link, ShareLine, TopicSection, topic_label
from bot.digest.limits import DESCRIPTION, pack_messages
from bot.digest.safety import (
    dlen,
    link_text,
    masked_link,
    plain,
    safe_inline,
    safe_url,
    truncate,
)

HEADLINE_LIMIT = 256
OUTLET_LIMIT = 64
SHARE_ROWS = 6
# One colour per section position, so readers learn where each topic sits.
COLOURS = (0x2B6CB0, 0xC05621, 0x2F855A, 0x6B46C1, 0xB83280, 0x718096)
SHARE_COLOUR = 0xD69E2E


def _local_day(digest: Digest) -> str:
    """The digest's day in its own time zone ("Sat 28 Nov 2026"); UTC if the zone is unknown."""
    end = parse_iso(digest.period_end)
    if end is None:
        return digest.period_end
    try:
        zone = ZoneInfo(digest.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return end.astimezone(zone).strftime("%a %d %b %Y")


def _hours(hours: float) -> str:
    return f"{hours:g} h"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _meta(story: DigestStory, *, markdown: bool) -> str:
    esc = (lambda t: safe_inline(t, OUTLET_LIMIT)) if markdown else (lambda t: plain(t, 64))
    parts = [_plural(story.outlet_count, "outlet"), _plural(story.article_count, "article")]
    if story.first_outlet:
        parts.append(f"first: {esc(story.first_outlet)}")
    if story.lead:
        parts.append(esc(story.lead))
    if story.also_in:
        parts.append("also in " + ", ".join(esc(topic_label(t)) for t in story.also_in))
    if story.continues:
        parts.append(safe_inline(story.continues, 160) if markdown else plain(story.continues, 160))
    return " · ".join(parts)


def _label(link: Link) -> str:
    """The outlet's name, and where the link really goes when it is an aggregator's redirect."""
    if not link.via:
        return link.outlet
    return f"{link.outlet} (via {link.via})" if link.outlet else f"via {link.via}"


def _story_block(story: DigestStory, index: int) -> str:
    """One story in Discord markdown: bold headline, counts, a few masked links."""
    lines = [
        f"**{index}. {safe_inline(story.title, HEADLINE_LIMIT)}**",
        _meta(story, markdown=True),
    ]
    links = [masked_link(_label(link), link.url) for link in story.links]
    links = [link for link in links if link]
    if links:
        lines.append(" · ".join(links))
    return "\n".join(lines)


def _section_embeds(section: TopicSection, colour: int) -> list[dict]:
    """A section's story blocks over as many embeds as their descriptions need."""
    label = safe_inline(section.label, 200)
    embeds: list[dict] = []
    chunk = ""
    for i, story in enumerate(section.stories, 1):
        block = truncate(_story_block(story, i), DESCRIPTION)
        if chunk and dlen(chunk) + 2 + dlen(block) > DESCRIPTION:
            embeds.append({"description": chunk})
            chunk = block
        else:
            chunk = f"{chunk}\n\n{block}" if chunk else block
    if chunk:
        embeds.append({"description": chunk})
    for n, embed in enumerate(embeds):
        embed["title"] = label if n == 0 else f"{label} (continued)"
        embed["color"] = colour
    if embeds and section.total > len(section.stories):
        embeds[-1]["footer"] = {
            "text": f"Top {len(section.stories)} of {section.total} stories in {section.label}"
        }
    return embeds


def _share_rows(share: ShareLine) -> list[tuple[str, str, str]]:
    rows = []
    for e in share.entries[:SHARE_ROWS]:
        change = f"{e.points:+.1f} pts" if e.points is not None else ""
        rows.append((e.name, f"{e.share * 100:.1f}%", change))
    return rows


def _price_lines(share: ShareLine) -> list[str]:
    """The price sentence and the open-weights share, when the digest has prices."""
    return [t for t in (share.prices_text, share.open_weights_text) if t]


def _share_embed(share: ShareLine, chart_filename: str | None) -> dict:
    lines = [f"**{safe_inline(share.text, 300)}**", ""]
    if share.prices_text:
        lines += [safe_inline(t, 300) for t in _price_lines(share)] + [""]
    for name, pct, change in _share_rows(share):
        lines.append(f"{safe_inline(name, 64)}: {pct}" + (f" ({change})" if change else ""))
    if share.period_start and share.period_end:
        lines += ["", f"Period {share.period_start[:10]} → {share.period_end[:10]}"]
    cites = [share.citation] + ([share.prices_citation] if share.prices_citation else [])
    embed = {
        "title": "Token share on OpenRouter",
        "description": "\n".join(lines),
        "color": SHARE_COLOUR,
        "footer": {"text": plain(" · ".join(cites), 1000)},
    }
    if chart_filename:
        embed["image"] = {"url": f"attachment://{chart_filename}"}
    return embed


def _headline(digest: Digest) -> str:
    n = digest.story_count
    count = "1 story" if n == 1 else f"{n} stories"
    return f"Tokentide digest · {_local_day(digest)} · last {_hours(digest.hours)} · {count}"


def _empty_note(digest: Digest) -> str:
    return f"No new stories on the tracked topics in the last {_hours(digest.hours)}."


def to_discord_messages(digest: Digest, *, chart_filename: str | None = None) -> list[dict]:
    """Discord message bodies (content, embeds, allowed_mentions) within every limit.

    `chart_filename` names a PNG the sender attaches to the first message; the share embed
    then shows it as its image ("attachment://<name>").
    """
    content = [f"**{_headline(digest)}**"]
    if digest.share:
        content.append(safe_inline(digest.share.text, 300))
    if not digest.sections:
        content.append(_empty_note(digest))
    embeds: list[dict] = []
    if digest.share:
        embeds.append(_share_embed(digest.share, chart_filename))
    for n, section in enumerate(digest.sections):
        embeds.extend(_section_embeds(section, COLOURS[n % len(COLOURS)]))
    return pack_messages("\n".join(content), embeds)


def to_markdown(digest: Digest) -> str:
    """A Markdown document (the console sink's file under digests/)."""
    out = [f"# {_headline(digest)}", ""]
    out.append(f"Period {digest.period_start} → {digest.period_end} ({digest.timezone}).")
    out.append("")
    if digest.share:
        share = digest.share
        out += [f"**{safe_inline(share.text, 300)}**", ""]
        out += ["| Country | Share | Change |", "|---|---:|---:|"]
        out += [f"| {safe_inline(n, 64)} | {p} | {c} |" for n, p, c in _share_rows(share)]
        out += ["", f"_{safe_inline(share.citation, 500)}_", ""]
        if share.prices_text:
            out += [f"**{safe_inline(t, 300)}**  " for t in _price_lines(share)]
            out += [f"_{safe_inline(share.prices_citation or '', 500)}_", ""]
    if not digest.sections:
        out += [_empty_note(digest), ""]
    for section in digest.sections:
        out += [f"## {safe_inline(section.label, 200)}", ""]
        for i, story in enumerate(section.stories, 1):
            out.append(f"{i}. **{safe_inline(story.title, HEADLINE_LIMIT)}**  ")
            out.append(f"   {_meta(story, markdown=True)}  ")
            links = []
            for link in story.links:
                made = masked_link(_label(link), link.url)
                if made:
                    label, _, rest = made.partition("](")
                    links.append(f"{label}](<{rest[:-1]}>)")  # <url> survives odd characters
            if links:
                out.append("   " + " · ".join(links))
        if section.total > len(section.stories):
            out += ["", f"_Top {len(section.stories)} of {section.total} stories._"]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def to_text(digest: Digest) -> str:
    """Plain text for the console: no markup, no control characters from feed text."""
    out = [_headline(digest), f"Period {digest.period_start} → {digest.period_end}", ""]
    if digest.share:
        out.append(plain(digest.share.text))
        for name, pct, change in _share_rows(digest.share):
            out.append(f"  {plain(name):<14} {pct:>6}  {change}")
        out += [plain(digest.share.citation), ""]
        if digest.share.prices_text:
            out += [plain(t) for t in _price_lines(digest.share)]
            out += [plain(digest.share.prices_citation or ""), ""]
    if not digest.sections:
        out += [_empty_note(digest), ""]
    for section in digest.sections:
        out.append(plain(section.label).upper())
        for i, story in enumerate(section.stories, 1):
            out.append(f"{i:>2}. {plain(story.title, HEADLINE_LIMIT)}")
            out.append(f"    {_meta(story, markdown=False)}")
            for link in story.links:
                url = safe_url(link.url)
                if url:
                    out.append(f"    {link_text(_label(link), url)}: {url}")
        if section.total > len(section.stories):
            out.append(f"    (top {len(section.stories)} of {section.total})")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
