"""Slash commands: thin shells over the rooms' query functions.

Each command parses its options, calls one function, formats the answer. Quick archive reads
answer at once; anything that may take longer than Discord's 3-second window (the model for
/search, drawing the chart for /share, joining prices for /prices, DNS for /feed add) defers
first and runs in a worker thread on its own archive connection. Errors a person can act on come back as an ephemeral
reply (see `on_tree_error`); nothing posted here can ping.
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import discord
import sqlite_utils
from discord import app_commands

from bot.clock import to_iso, utcnow
from bot.config import Settings
from bot.digest.safety import masked_link, plain, safe_inline, safe_url
from bot.errors import TokentideError

log = logging.getLogger(__name__)
NO_PINGS = discord.AllowedMentions.none()
COLOUR = 0x2B6CB0


@dataclass
class ChatContext:
    """What the commands use, handed in by whoever builds the bot: settings, the archive
    connection, the embedder and the digest builder (both built once, by the composition
    root), and the clock."""

    settings: Settings
    db: sqlite_utils.Database
    embedder: Callable[[], Any] | None = None
    build_digest: Callable[..., Any] | None = None
    clock: Callable[[], datetime] = field(default=utcnow)
    # /search keeps the archive's vectors in memory and reads only new rows per query
    # (a cold load costs ~0.75 s at 100k articles, too slow to repeat per command).
    _search_matrix: Any = field(default=None, repr=False)
    _search_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def require(self, what: Callable[..., Any] | None, name: str) -> Callable[..., Any]:
        if what is None:
            raise TokentideError(f"{name} is not available in this bot")
        return what

    def search_archive(self, db: sqlite_utils.Database, query: str, limit: int) -> list[dict]:
        from bot.narratives.search import VectorMatrix, search

        embedder = self.require(self.embedder, "search")()
        with self._search_lock:
            if self._search_matrix is None:
                self._search_matrix = VectorMatrix(embedder.model_id, embedder.dim)
            return search(db, embedder, query, limit=limit, matrix=self._search_matrix)


def _in_thread(ctx: ChatContext, fn: Callable[[sqlite_utils.Database], Any]) -> Any:
    """Run `fn` in a worker thread on its own read-only connection to the archive."""

    def call() -> Any:
        from bot.store.db import open_read_only

        db = open_read_only(ctx.settings.db_path)
        try:
            return fn(db)
        finally:
            db.close()

    return asyncio.to_thread(call)


# --- formatting (pure) ------------------------------------------------------------------


def share_embed(doc: dict[str, Any], by: str) -> discord.Embed:
    period = doc.get("period") or {}
    rows = sorted((doc.get("shares") or {}).items(), key=lambda kv: -kv[1])[:15]
    deltas = doc.get("deltas") or {}
    lines = []
    for key, share in rows:
        delta = deltas.get(key)
        change = f"{delta:+.1f} pts" if isinstance(delta, int | float) else ""
        lines.append(f"{plain(key, 28):<28} {share * 100:5.1f}%  {change}")
    title = f"OpenRouter token share by {by}"
    if doc.get("in_progress"):
        title += " (period in progress)"
    embed = discord.Embed(
        title=title,
        description="```\n" + "\n".join(lines or ["no data"]) + "\n```",
        colour=COLOUR,
    )
    embed.add_field(
        name="Period",
        value=f"{str(period.get('start', '?'))[:10]} → {str(period.get('end', '?'))[:10]}",
    )
    embed.set_footer(text=plain(doc.get("citation") or "Source: OpenRouter", 500))
    return embed


def prices_embed(doc: dict[str, Any], by: str) -> discord.Embed:
    """The `prices` document (bot.tokens.price_report) as an embed: USD per million tokens."""
    period = doc.get("period") or {}
    covered = doc.get("coverage_by_group") or {}
    lines = []
    for key, price in list((doc.get("prices") or {}).items())[:15]:
        change = (doc.get("change") or {}).get(key)
        moved = f"{change:+.2f}" if isinstance(change, int | float) else ""
        lines.append(
            f"{plain(key, 24):<24} ${price:7.2f}  {moved:>6}  {covered.get(key, 0) * 100:3.0f}%"
        )
    head = f"{'':<24} {'$/M':>8}  {'change':>6}  priced"
    embed = discord.Embed(
        title=f"OpenRouter blended token price by {by}",
        description="```\n" + "\n".join([head, *lines] if lines else ["no prices"]) + "\n```",
        colour=COLOUR,
    )
    gap = doc.get("gap")
    if gap:
        dearer = next(k for k in gap["between"] if k != gap["cheaper"])
        embed.add_field(
            name="Price gap", value=f"{dearer} tokens cost {gap['ratio']:.1f}× {gap['cheaper']}'s"
        )
    embed.add_field(name="Coverage", value=f"{doc.get('coverage', 0) * 100:.0f}% of tokens priced")
    embed.add_field(
        name="Period",
        value=f"{str(period.get('start', '?'))[:10]} → {str(period.get('end', '?'))[:10]}",
    )
    if doc.get("note"):
        embed.add_field(name="Note", value=plain(doc["note"], 1000), inline=False)
    embed.set_footer(text=plain(doc.get("citation") or "Source: OpenRouter", 1000))
    return embed


def story_line(story: dict[str, Any], n: int) -> str:
    first = next((a for a in story.get("articles") or [] if a.get("url")), None)
    title = safe_inline(story.get("title") or "(untitled)", 180)
    link = masked_link(story.get("first_outlet") or "link", first["url"]) if first else None
    meta = f"{story.get('outlet_count', 0)} outlets · {story.get('article_count', 0)} articles"
    topics = [safe_inline(t, 40) for t in story.get("topics") or []]
    if topics:  # best-first: the story's own topic, then the others
        meta += f" · {topics[0]}" + (f" (also in {', '.join(topics[1:])})" if topics[1:] else "")
    return f"**{n}.** {title} (#{story.get('id')})\n{meta}" + (f" · {link}" if link else "")


def stories_embed(stories: list[dict[str, Any]], *, title: str) -> discord.Embed:
    lines: list[str] = []
    size = 0
    for n, story in enumerate(stories, 1):
        line = story_line(story, n)
        if size + len(line) + 2 > 3800:
            break
        lines.append(line)
        size += len(line) + 2
    return discord.Embed(
        title=title[:256],
        description="\n\n".join(lines) or "Nothing found.",
        colour=COLOUR,
    )


def _when(iso: Any) -> str:
    return str(iso or "")[:16].replace("T", " ")


def _lead_value(story: dict[str, Any]) -> str:
    """The lead in a few words, then the first Chinese and first Western report."""
    lead = story.get("lead") if isinstance(story.get("lead"), dict) else {}
    lines = [safe_inline(story.get("lead_marker") or "unknown", 100)]
    for region, label in (("china", "CN/HK"), ("west", "West")):
        first = lead.get(region)
        if isinstance(first, dict):
            name = safe_inline(first.get("outlet") or "?", 80)
            lines.append(f"{label}: {name} `{_when(first.get('at'))}`")
        else:
            lines.append(f"{label}: none dated")
    return "\n".join(lines)


def _outlets_value(story: dict[str, Any], limit: int = 12) -> str:
    """Distinct outlets in order of first report, with country and kind."""
    outlets = [o for o in story.get("outlets") or [] if isinstance(o, dict)]
    lines = []
    for o in outlets[:limit]:
        about = ", ".join(str(x) for x in (o.get("country"), o.get("kind")) if x)
        lines.append(f"{safe_inline(o.get('name') or '?', 60)}" + (f" ({about})" if about else ""))
    if len(outlets) > limit:
        lines.append(f"… and {len(outlets) - limit} more")
    return "\n".join(lines)[:1024] or "none"


def story_embed(story: dict[str, Any]) -> discord.Embed:
    """A `story_detail` document (narratives room) as an embed: the timeline, oldest first,
    with the outlets in order of first report and who reported first (China or the West)."""
    from bot.digest.compose import link_via

    lines = []
    for article in (story.get("articles") or [])[:15]:
        via = link_via(str(article.get("url") or ""))
        label = article.get("outlet") or "link"
        link = masked_link(f"{label} (via {via})" if via else label, article.get("url"))
        when = (article.get("published_at") or "")[:16].replace("T", " ")
        title = safe_inline(article.get("title") or "", 150)
        lines.append(f"`{when}` {title}" + (f" · {link}" if link else ""))
    embed = discord.Embed(
        title=safe_inline(story.get("title") or "(untitled)", 256),
        description="\n".join(lines) or "No articles.",
        colour=COLOUR,
    )
    embed.add_field(name="Outlets", value=str(story.get("outlet_count", 0)))
    embed.add_field(name="Articles", value=str(story.get("article_count", 0)))
    embed.add_field(name="First", value=safe_inline(story.get("first_outlet") or "?", 100))
    embed.add_field(name="Who reported first", value=_lead_value(story), inline=False)
    embed.add_field(name="Outlets, first report first", value=_outlets_value(story), inline=False)
    thread = story.get("narrative")
    if isinstance(thread, dict):
        embed.add_field(
            name="Narrative",
            value=f"#{thread.get('id')} {safe_inline(thread.get('title') or '', 180)} "
            f"(story {thread.get('position')} of {thread.get('story_count')})",
            inline=False,
        )
    embed.set_footer(
        text=f"Story #{story.get('id')} · {story.get('first_seen') or '?'} → "
        f"{story.get('last_seen') or '?'}"
    )
    return embed


def narrative_embed(found: dict[str, Any]) -> discord.Embed:
    """A `narrative_detail` document (narratives room): its stories, oldest first."""
    lines = [
        f"`{(s.get('first_seen') or '')[:10]}` #{s.get('id')} "
        f"{safe_inline(s.get('title') or '(untitled)', 150)} · {s.get('article_count', 0)} art"
        for s in (found.get("stories") or [])[-20:]
    ]
    embed = discord.Embed(
        title=safe_inline(found.get("title") or "(untitled)", 256),
        description="\n".join(lines) or "No stories.",
        colour=COLOUR,
    )
    embed.add_field(name="Stories", value=str(found.get("story_count", 0)))
    embed.add_field(name="Articles", value=str(found.get("article_count", 0)))
    embed.add_field(name="Momentum", value=str(found.get("momentum", 0)))
    embed.set_footer(
        text=f"Narrative #{found.get('id')} · {(found.get('first_seen') or '?')[:10]} → "
        f"{(found.get('last_seen') or '?')[:10]}"
    )
    return embed


def narratives_embed(found: list[dict[str, Any]]) -> discord.Embed:
    """`list_narratives` documents: the most recently active threads."""
    lines = [
        f"**#{n.get('id')}** {safe_inline(n.get('title') or '(untitled)', 150)} · "
        f"{n.get('story_count', 0)} stories since {(n.get('first_seen') or '?')[:10]}"
        for n in found[:15]
    ]
    return discord.Embed(
        title="Narratives", description="\n".join(lines) or "No narratives yet.", colour=COLOUR
    )


def feeds_embed(db: sqlite_utils.Database) -> discord.Embed:
    from bot.store.feeds import feed_health

    rows = feed_health(db, worst_first=True, limit=40)
    lines = []
    for f in rows:
        state = "✅" if f.enabled and not f.error_count else ("⚠️" if f.enabled else "⛔")
        label = safe_inline(f.name or f.url, 60)
        ok = (f.last_success_at or "never")[:16].replace("T", " ")
        note = f" · {safe_inline(f.disabled_reason, 80)}" if f.disabled_reason else ""
        lines.append(f"{state} {label} · {f.error_count} errors · ok {ok} · {f.origin}{note}")
    return discord.Embed(
        title=f"Feeds ({len(rows)})",
        description="\n".join(lines)[:4000] or "No feeds yet.",
        colour=COLOUR,
    )


def add_feed_row(db: sqlite_utils.Database, url: str, *, now: datetime) -> bool:
    """Insert a Discord-added feed, due now; False when the URL is already known."""
    from bot.models import NewFeed
    from bot.store.feeds import add_feeds

    feed = NewFeed(url=url, name=url, origin="discord", next_check_at=to_iso(now))
    return add_feeds(db, [feed], now=now) == 1


# --- the commands -----------------------------------------------------------------------


def _check_grouping(command: str, by: str, period: str) -> None:
    """Discord enforces the choices; a stale client could still send others, and the refusal
    must come before the public deferral to stay ephemeral."""
    if by not in ("country", "author", "model") or period not in ("week", "day"):
        raise TokentideError(
            f"{command}: by must be one of country, author, model and period week or day; "
            f"got by={by!r} period={period!r}"
        )


def register_commands(tree: app_commands.CommandTree, ctx: ChatContext) -> None:
    @tree.command(name="share", description="Token share on OpenRouter by country, author or model")
    @app_commands.describe(by="Group by country, author or model", period="Week or day")
    async def share(
        interaction: discord.Interaction,
        by: Literal["country", "author", "model"] = "country",
        period: Literal["week", "day"] = "week",
    ) -> None:
        _check_grouping("share", by, period)
        await interaction.response.defer(thinking=True)  # the chart takes a moment to draw
        now = ctx.clock()

        def work(db: sqlite_utils.Database) -> tuple[dict | None, bytes | None]:
            from bot.tokens.chart import render_share_chart
            from bot.tokens.report import current_share

            doc = current_share(db, by=by, period=period, now=now)
            if doc is None:
                return None, None
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "share.png"
                try:
                    render_share_chart(db, path, by=by, now=now, period=period)
                    return doc, path.read_bytes()
                except (TokentideError, OSError, ValueError) as exc:
                    log.warning("/share chart skipped: %s", exc)
                    return doc, None

        doc, png = await _in_thread(ctx, work)
        if doc is None:
            raise TokentideError("no token data yet: the tracker has not polled OpenRouter")
        embed = share_embed(doc, by)
        if png:
            embed.set_image(url="attachment://share.png")
            await interaction.followup.send(
                embed=embed,
                file=discord.File(io.BytesIO(png), filename="share.png"),
                allowed_mentions=NO_PINGS,
            )
        else:
            await interaction.followup.send(embed=embed, allowed_mentions=NO_PINGS)

    @tree.command(name="prices", description="Blended token prices on OpenRouter and the CN-US gap")
    @app_commands.describe(by="Group by country, author or model", period="Week or day")
    async def prices(
        interaction: discord.Interaction,
        by: Literal["country", "author", "model"] = "country",
        period: Literal["week", "day"] = "week",
    ) -> None:
        _check_grouping("prices", by, period)
        await interaction.response.defer(thinking=True)
        now = ctx.clock()
        pair = ctx.settings.openrouter.alert.track

        def work(db: sqlite_utils.Database) -> dict:
            from bot.tokens.price_report import current_prices

            return current_prices(db, by=by, period=period, now=now, pair=pair)

        doc = await _in_thread(ctx, work)
        await interaction.followup.send(embed=prices_embed(doc, by), allowed_mentions=NO_PINGS)

    @tree.command(name="digest", description="The digest of the last hours (default 24)")
    @app_commands.describe(hours="How many hours back (1-168)")
    async def digest(
        interaction: discord.Interaction, hours: app_commands.Range[int, 1, 168] = 24
    ) -> None:
        from bot.digest.render import to_discord_messages

        build = ctx.require(ctx.build_digest, "digest")
        now = ctx.clock()
        # Up to a week of stories: composed in a worker thread, after deferring.
        await interaction.response.defer(thinking=True)
        digest = await _in_thread(ctx, lambda db: build(db, ctx.settings, now=now, hours=hours))
        for message in to_discord_messages(digest):
            await interaction.followup.send(
                content=message.get("content") or discord.utils.MISSING,
                embeds=[discord.Embed.from_dict(e) for e in message.get("embeds") or []],
                allowed_mentions=NO_PINGS,
            )

    @tree.command(name="stories", description="Top stories of the last 24 hours")
    @app_commands.describe(
        topic="Only this topic (e.g. chips, export_controls)",
        show_all="Also stories on none of the tracked topics",
    )
    @app_commands.rename(show_all="all")
    async def stories(
        interaction: discord.Interaction, topic: str | None = None, show_all: bool = False
    ) -> None:
        from bot.narratives.stories import recent_stories

        if topic is not None and topic not in ctx.settings.topics:
            known = ", ".join(sorted(ctx.settings.topics))
            raise TokentideError(f"unknown topic {topic!r}; known topics: {known}")
        tracked = None if show_all else list(ctx.settings.topics)
        found = recent_stories(
            ctx.db, now=ctx.clock(), hours=24, topic=topic, limit=10, topics=tracked
        )
        title = "Top stories, last 24 h" + (f" · {topic}" if topic else "")
        await interaction.response.send_message(
            embed=stories_embed(found, title=title), allowed_mentions=NO_PINGS
        )

    @tree.command(name="story", description="One story's timeline of articles")
    @app_commands.describe(id="Story number, as shown by /stories")
    async def story(interaction: discord.Interaction, id: app_commands.Range[int, 1]) -> None:
        from bot.narratives.stories import story_detail

        found = story_detail(ctx.db, id, now=ctx.clock())
        if found is None:
            raise TokentideError(f"no story #{id}: try /stories for current ids")
        await interaction.response.send_message(embed=story_embed(found), allowed_mentions=NO_PINGS)

    @tree.command(name="narrative", description="A narrative's stories; without id, the list")
    @app_commands.describe(id="Narrative number, as shown by /narrative or /story")
    async def narrative(
        interaction: discord.Interaction, id: app_commands.Range[int, 1] | None = None
    ) -> None:
        from bot.narratives.narratives import list_narratives, narrative_detail

        if id is None:
            embed = narratives_embed(list_narratives(ctx.db, now=ctx.clock(), limit=15))
        else:
            found = narrative_detail(ctx.db, id, now=ctx.clock())
            if found is None:
                raise TokentideError(f"no narrative #{id}: try /narrative for current ids")
            embed = narrative_embed(found)
        await interaction.response.send_message(embed=embed, allowed_mentions=NO_PINGS)

    @tree.command(name="search", description="Search the archive by meaning")
    @app_commands.describe(query="What to look for, in your own words")
    async def search(
        interaction: discord.Interaction, query: app_commands.Range[str, 2, 200]
    ) -> None:
        await interaction.response.defer(thinking=True)  # the model may need loading
        hits = await _in_thread(ctx, lambda db: ctx.search_archive(db, query, 8))
        lines = []
        for n, hit in enumerate(hits, 1):
            link = masked_link(hit.get("outlet") or "link", hit.get("url"))
            title = safe_inline(hit.get("title") or "(untitled)", 180)
            lines.append(f"**{n}.** {title}" + (f" · {link}" if link else ""))
        embed = discord.Embed(
            title=f"Search: {safe_inline(query, 200)}",
            description="\n".join(lines) or "No matches.",
            colour=COLOUR,
        )
        await interaction.followup.send(embed=embed, allowed_mentions=NO_PINGS)

    @tree.command(name="feeds", description="Feed health: errors, last success, disabled feeds")
    async def feeds(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(embed=feeds_embed(ctx.db), ephemeral=True)

    feed = app_commands.Group(
        name="feed",
        description="Manage feeds (server managers only)",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    @feed.command(name="add", description="Add an RSS/Atom feed to poll")
    @app_commands.describe(url="The feed's http(s) URL")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def feed_add(interaction: discord.Interaction, url: str) -> None:
        from bot.chat.feed_url import check_feed_url
        from bot.feeds.addresses import AddressPolicy

        await interaction.response.defer(ephemeral=True, thinking=True)  # DNS may be slow
        checked = await check_feed_url(url, AddressPolicy.from_settings(ctx.settings.discord))
        added = add_feed_row(ctx.db, checked, now=ctx.clock())
        text = "Added; it will be polled on the next cycle." if added else "Already tracked."
        if not added:
            from bot.store.feeds import set_discord_feed_enabled

            outcome, _ = set_discord_feed_enabled(ctx.db, checked, enabled=True, now=ctx.clock())
            if outcome == "done":
                text = "Switched back on; it will be polled on the next cycle."
        await interaction.followup.send(
            f"{text} <{checked}>", ephemeral=True, allowed_mentions=NO_PINGS
        )

    @feed.command(name="remove", description="Switch off a feed added with /feed add")
    @app_commands.describe(url="The feed's URL, as /feed add or /feeds shows it")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def feed_remove(interaction: discord.Interaction, url: str) -> None:
        from bot.store.feeds import set_discord_feed_enabled

        target = url.strip()
        outcome, found = set_discord_feed_enabled(ctx.db, target, enabled=False, now=ctx.clock())
        await interaction.response.send_message(
            feed_remove_text(outcome, target, found), ephemeral=True, allowed_mentions=NO_PINGS
        )

    tree.add_command(feed)
    tree.on_error = on_tree_error


def feed_remove_text(outcome: str, url: str, feed: Any) -> str:
    """The reply to /feed remove; refusals raise so they come back as errors."""
    shown = f"<{safe_url(url) or plain(url, 300)}>"
    if outcome == "unknown":
        raise TokentideError(f"no feed has the URL {shown}; /feeds lists the tracked feeds")
    if outcome == "not discord":
        where = {"config": "feeds.yaml", "opml": "an OPML import"}.get(feed.origin, feed.origin)
        raise TokentideError(
            f"{shown} was added from {where}, not with /feed add; only feeds added in Discord "
            "can be removed here (the operator edits feeds.yaml)"
        )
    if outcome == "unchanged":
        return f"Already switched off: {shown}"
    return f"Switched off; it will not be polled again (its articles stay): {shown}"


async def on_tree_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    """Turn a command's failure into an ephemeral reply the user can act on."""
    cause = getattr(error, "original", error)
    if isinstance(cause, TokentideError):
        text = str(cause)
    elif isinstance(error, app_commands.MissingPermissions):
        text = "You need the Manage Server permission for this command."
    elif isinstance(error, app_commands.CheckFailure | app_commands.TransformerError):
        text = str(error)
    else:
        log.error("slash command failed", exc_info=cause)
        text = "Something went wrong on our side; it has been logged."
    text = plain(text, 1900)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
