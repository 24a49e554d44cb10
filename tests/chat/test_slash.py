"""Slash commands through real discord.Interaction objects built from raw gateway payloads.

The bot logs in against the local Discord stand-in (discord.py's Route.BASE pointed at it),
so interaction callbacks and follow-ups are real HTTP requests we can inspect.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import discord
import pytest
from discord.http import Route

from bot.chat.bot import TokentideBot, sync_commands_if_changed
from bot.chat.sinks import configure_route_base
from bot.clock import to_iso
from bot.pipeline import build_digest

from .conftest import make_settings

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
_ids = itertools.count(1_100_000_000_000_000_001)

CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
EPHEMERAL = 64
MANAGE_GUILD = 1 << 5


_embedders: dict = {}


def _embedder(settings):
    """One embedder per test session (built once, as the composition root would)."""
    from bot.narratives.embed import Embedder

    return _embedders.setdefault(settings.model, Embedder.from_settings(settings))


@pytest.fixture
async def bot(fake, db, db_path):
    saved = Route.BASE
    configure_route_base(fake.base)
    settings = make_settings(db_path, base=fake.base, token=fake.token, channel_id=555)
    client = TokentideBot(
        settings,
        db,
        embedder=lambda: _embedder(settings),
        build_digest=build_digest,
    )
    client.chat.clock = lambda: NOW
    await client.login(fake.token)
    yield client
    await client.close()
    Route.BASE = saved


def interaction_payload(name: str, options=None, *, permissions: int = 0, sub: str | None = None):
    data = {"id": "5001", "name": name, "type": 1}
    if sub is not None:
        data["options"] = [{"name": sub, "type": 1, "options": options or []}]
    elif options:
        data["options"] = options
    return {
        "id": str(next(_ids)),
        "application_id": "4242",
        "type": 2,
        "token": f"itok{next(_ids)}",
        "version": 1,
        "guild_id": "3001",
        "channel_id": "555",
        "member": {
            "user": {
                "id": "9",
                "username": "reader",
                "discriminator": "0",
                "avatar": None,
                "global_name": None,
            },
            "roles": [],
            "joined_at": "2025-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(permissions),
        },
        "app_permissions": "0",
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {},
        "context": 0,
        "attachment_size_limit": 8388608,
        "data": data,
    }


async def invoke(bot, fake, name, options=None, **kwargs):
    payload = interaction_payload(name, options, **kwargs)
    interaction = discord.Interaction(data=payload, state=bot._connection)
    await bot.tree._call(interaction)
    callbacks = [c for c in fake.callbacks if c["interaction"] == payload["id"]]
    assert len(callbacks) == 1, "exactly one initial response per interaction"
    followups = [m for m in fake.messages if m["where"] == "webhook:4242"]
    return callbacks[0]["body"], followups


def _add_story(db, story_id, title, *, outlets=("SCMP", "Reuters")):
    with db.conn:
        db.execute(
            "INSERT INTO stories (id, title, first_seen, last_seen, article_count, outlet_count, "
            "first_outlet, topics) VALUES (?, ?, ?, ?, ?, ?, ?, '[\"chips\"]')",
            [story_id, title, to_iso(NOW), to_iso(NOW), len(outlets), len(outlets), outlets[0]],
        )
        for n, outlet in enumerate(outlets):
            db.execute(
                "INSERT INTO articles (url, title, outlet, published_at, fetched_at, story_id, "
                "topics, analyzed_at) VALUES (?, ?, ?, ?, ?, ?, '[\"chips\"]', ?)",
                [
                    f"https://news.example/{story_id}/{n}",
                    title,
                    outlet,
                    to_iso(NOW),
                    to_iso(NOW),
                    story_id,
                    to_iso(NOW),
                ],
            )


async def test_commands_are_synced_once_until_they_change(bot, fake, db):
    assert len(fake.command_syncs) == 1  # setup_hook on login
    names = sorted(c["name"] for c in fake.command_syncs[0]["commands"])
    assert names == [
        "digest",
        "feed",
        "feeds",
        "narrative",
        "prices",
        "search",
        "share",
        "stories",
        "story",
    ]
    for command in fake.command_syncs[0]["commands"]:
        assert command["description"]
    feed = next(c for c in fake.command_syncs[0]["commands"] if c["name"] == "feed")
    assert int(feed["default_member_permissions"]) == MANAGE_GUILD
    # A restart with the same commands does not sync again.
    assert not await sync_commands_if_changed(bot.tree, db, guild_id=None, now=NOW)
    assert len(fake.command_syncs) == 1

    @bot.tree.command(name="extra", description="A new command")
    async def extra(interaction: discord.Interaction) -> None:  # pragma: no cover
        pass

    assert await sync_commands_if_changed(bot.tree, db, guild_id=None, now=NOW)
    assert len(fake.command_syncs) == 2


async def test_story_answers_at_once_without_pings(bot, fake, db):
    _add_story(db, 7, "@everyone <@&123> **Nvidia** [H20](https://evil.example) ban")
    body, _ = await invoke(bot, fake, "story", [{"name": "id", "type": 4, "value": 7}])
    assert body["type"] == CHANNEL_MESSAGE
    data = body["data"]
    assert not (data.get("flags") or 0) & EPHEMERAL
    assert data["allowed_mentions"]["parse"] == []
    embed = data["embeds"][0]
    assert "@everyone" not in embed["title"] and "<@&" not in embed["title"]
    assert "evil.example" not in embed["title"]
    assert "[SCMP](https://news.example/7/0)" in embed["description"]


async def test_unknown_story_is_an_ephemeral_error(bot, fake, db):
    body, _ = await invoke(bot, fake, "story", [{"name": "id", "type": 4, "value": 99}])
    assert body["type"] == CHANNEL_MESSAGE
    assert body["data"]["flags"] & EPHEMERAL
    assert "no story #99" in body["data"]["content"]


async def test_feeds_lists_health_ephemerally(bot, fake, db):
    with db.conn:
        db.execute(
            "INSERT INTO feeds (url, name, error_count, last_error, created_at) "
            "VALUES ('https://a.example/rss', 'A @everyone feed', 3, 'boom', ?)",
            [to_iso(NOW)],
        )
    body, _ = await invoke(bot, fake, "feeds")
    assert body["type"] == CHANNEL_MESSAGE and body["data"]["flags"] & EPHEMERAL
    description = body["data"]["embeds"][0]["description"]
    assert "3 errors" in description and "@everyone" not in description


async def test_feed_add_needs_manage_guild(bot, fake, db):
    options = [{"name": "url", "type": 3, "value": "https://93.184.216.34/feed.xml"}]
    body, _ = await invoke(bot, fake, "feed", options, sub="add", permissions=0)
    assert body["data"]["flags"] & EPHEMERAL
    assert "Manage Server" in body["data"]["content"]
    assert db.execute("SELECT count(*) FROM feeds").fetchone()[0] == 0


async def test_feed_add_defers_and_adds_a_public_feed(bot, fake, db):
    options = [{"name": "url", "type": 3, "value": "https://93.184.216.34/feed.xml"}]
    body, followups = await invoke(bot, fake, "feed", options, sub="add", permissions=MANAGE_GUILD)
    assert body["type"] == DEFERRED_CHANNEL_MESSAGE and body["data"]["flags"] & EPHEMERAL
    assert "Added" in followups[-1]["content"]
    row = db.execute("SELECT url, origin FROM feeds").fetchone()
    assert row == ("https://93.184.216.34/feed.xml", "discord")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/feed",
        "http://localhost:8080/rss",
        "http://169.254.169.254/latest",
        "http://10.0.0.5/rss",
        "http://[::1]/rss",
        "ftp://93.184.216.34/x",
    ],
)
async def test_feed_add_refuses_private_addresses(bot, fake, db, url):
    options = [{"name": "url", "type": 3, "value": url}]
    body, followups = await invoke(bot, fake, "feed", options, sub="add", permissions=MANAGE_GUILD)
    assert body["type"] == DEFERRED_CHANNEL_MESSAGE
    reply = followups[-1]
    assert reply["content"] and ("address" in reply["content"] or "http" in reply["content"])
    assert "Added" not in reply["content"]
    assert db.execute("SELECT count(*) FROM feeds").fetchone()[0] == 0


async def test_share_without_data_says_so_ephemerally(bot, fake):
    body, followups = await invoke(bot, fake, "share")
    assert body["type"] == DEFERRED_CHANNEL_MESSAGE
    assert "no token data yet" in followups[-1]["content"]


def _seed_token_share(db):
    """Two complete ISO weeks of market-share rows: China overtakes the US."""
    weeks = [
        ("2026-11-09T00:00:00Z", "2026-11-16T00:00:00Z", 40, 60),
        ("2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z", 58, 42),
    ]
    with db.conn:
        for sid, (start, end, cn, us) in enumerate(weeks, 1):
            db.execute(
                "INSERT INTO token_snapshots (id, source, fetched_at, window_start, window_end, "
                "granularity, content_hash, payload, as_of) VALUES (?, 'market-share', ?, ?, ?, "
                "'week', ?, '{}', ?)",
                [sid, end, start, end, f"h{sid}", end],
            )
            for model, author, country, tokens in (
                ("deepseek/deepseek-v3", "deepseek", "CN", cn),
                ("openai/gpt-5", "openai", "US", us),
            ):
                db.execute(
                    "INSERT INTO token_usage (snapshot_id, window_start, window_end, granularity, "
                    "source, model, author, country, total_tokens) "
                    "VALUES (?, ?, ?, 'week', 'market-share', ?, ?, ?, ?)",
                    [sid, start, end, model, author, country, tokens * 10**9],
                )


async def test_share_defers_then_sends_table_and_chart(bot, fake, db):
    _seed_token_share(db)
    body, followups = await invoke(
        bot, fake, "share", [{"name": "by", "type": 3, "value": "country"}]
    )
    assert body["type"] == DEFERRED_CHANNEL_MESSAGE
    assert not (body.get("data", {}).get("flags") or 0) & EPHEMERAL
    reply = followups[-1]
    embed = reply["embeds"][0]
    assert "CN" in embed["description"] and "58.0%" in embed["description"]
    assert "+18.0 pts" in embed["description"]
    assert "OpenRouter" in embed["footer"]["text"]
    assert embed["image"]["url"] == "attachment://share.png"
    assert reply["files"] and reply["files"][0]["png"]
    assert reply["allowed_mentions"]["parse"] == []


async def test_share_refuses_unknown_choice_ephemerally(bot, fake, db):
    _seed_token_share(db)
    body, _ = await invoke(bot, fake, "share", [{"name": "by", "type": 3, "value": "planet"}])
    assert body["type"] == CHANNEL_MESSAGE and body["data"]["flags"] & EPHEMERAL
    assert "by must be one of" in body["data"]["content"]
    assert fake.messages == []


async def test_bot_hosts_the_scheduler_and_posts_through_its_own_client(fake, db, db_path):
    """DISCORD_TOKEN set: setup_hook catches up the daily digest and starts the scheduler in
    the bot's loop; deliveries use the bot's HTTP client (nonce + enforce_nonce)."""
    from bot.clock import utcnow
    from bot.pipeline import deliver_job
    from bot.run import Daemon

    from .test_commands import HEADLINES

    now = utcnow()
    for n, title in enumerate(HEADLINES, 1):
        _add_story(db, n, title)
        with db.conn:
            db.execute(
                "UPDATE stories SET first_seen = ?, last_seen = ? WHERE id = ?",
                [to_iso(now), to_iso(now), n],
            )
            db.execute(
                "UPDATE articles SET published_at = ?, fetched_at = ? WHERE story_id = ?",
                [to_iso(now), to_iso(now), n],
            )
    saved = Route.BASE
    configure_route_base(fake.base)
    settings = make_settings(
        db_path,
        base=fake.base,
        token=fake.token,
        channel_id=555,
        extra={"openrouter": {"base_url": "http://127.0.0.1:9", "max_retries": 0, "timeout_s": 1}},
    )
    daemon = Daemon(settings, db)
    client = TokentideBot(settings, db, lifecycle=daemon)
    try:
        await client.login(fake.token)
        assert daemon.scheduler is not None and daemon.scheduler.running
        runs = dict(db.execute("SELECT job, status FROM job_runs").fetchall())
        assert runs.get("daily_digest") == "ok"  # the catch-up on start
        await deliver_job(daemon.app, now=utcnow())
    finally:
        await client.close()
        Route.BASE = saved
    assert daemon.scheduler is None
    posted = [m for m in fake.messages if m["where"] == "channel:555"]
    assert posted and all(m["nonce"] and m["allowed_mentions"] == {"parse": []} for m in posted)
    assert db.execute("SELECT status FROM deliveries").fetchall() == [("sent",)]
    assert len({m["nonce"] for m in posted}) == len(posted)


def _seed_recent(db):
    from .test_commands import HEADLINES

    for n, title in enumerate(HEADLINES, 1):
        _add_story(db, n, title)


async def test_stories_lists_recent_stories_safely(bot, fake, db):
    _seed_recent(db)
    body, _ = await invoke(bot, fake, "stories")
    assert body["type"] == CHANNEL_MESSAGE
    embed = body["data"]["embeds"][0]
    assert "Nvidia H20" in embed["description"] and "TSMC" in embed["description"]
    assert "@everyone" not in embed["description"] and "<@&123456>" not in embed["description"]
    assert "evil.example" not in embed["description"]
    assert body["data"]["allowed_mentions"]["parse"] == []


async def test_stories_unknown_topic_is_ephemeral(bot, fake, db):
    body, _ = await invoke(bot, fake, "stories", [{"name": "topic", "type": 3, "value": "cats"}])
    assert body["data"]["flags"] & EPHEMERAL and "unknown topic 'cats'" in body["data"]["content"]


async def test_digest_command_defers_and_answers_within_limits(bot, fake, db):
    """Up to a week of stories is composed off the event loop, after a deferral."""
    _seed_recent(db)
    body, followups = await invoke(bot, fake, "digest", [{"name": "hours", "type": 4, "value": 24}])
    assert body["type"] == DEFERRED_CHANNEL_MESSAGE
    assert followups
    for data in followups:
        assert data["allowed_mentions"]["parse"] == [] and len(data["embeds"]) <= 10
    text = json.dumps([f["embeds"] for f in followups])
    assert "Nvidia H20" in text and "@everyone" not in text


async def test_search_defers_and_finds_by_meaning_with_the_real_model(bot, fake, db):
    from bot.narratives.pipeline import analyze_pending

    titles = [
        "US tightens export controls on advanced AI chips to China",
        "Chinese open models overtake US rivals in OpenRouter token share",
        "Local bakery wins award for sourdough bread",
    ]
    with db.conn:
        for n, title in enumerate(titles):
            db.execute(
                "INSERT INTO articles (url, title, summary, outlet, published_at, fetched_at, "
                "topics) VALUES (?, ?, '', 'SCMP', ?, ?, '[]')",
                [f"https://news.example/s{n}", title, to_iso(NOW), to_iso(NOW)],
            )
    analyze_pending(db, bot.settings, bot.chat.embedder(), now=NOW)
    body, followups = await invoke(
        bot, fake, "search", [{"name": "query", "type": 3, "value": "semiconductor sanctions"}]
    )
    assert body["type"] == DEFERRED_CHANNEL_MESSAGE
    description = followups[-1]["embeds"][0]["description"]
    assert description.index("export controls") < description.index("sourdough")
    assert followups[-1]["allowed_mentions"]["parse"] == []


async def test_narrative_lists_threads_and_shows_one_without_pings(bot, fake, db):
    _add_story(db, 7, "Acme @everyone bans widgets")
    _add_story(db, 8, "Acme lifts the widget ban")
    with db.conn:
        nid = db.execute(
            "INSERT INTO narratives (title, first_story_id, first_seen, last_seen, story_count, "
            "article_count, created_at) VALUES ('Acme @everyone bans widgets', 7, ?, ?, 2, 4, ?)",
            [to_iso(NOW), to_iso(NOW), to_iso(NOW)],
        ).lastrowid
        db.execute("UPDATE stories SET narrative_id = ? WHERE id IN (7, 8)", [nid])
    body, _ = await invoke(bot, fake, "narrative")
    assert body["data"]["allowed_mentions"]["parse"] == []
    assert f"#{nid}" in body["data"]["embeds"][0]["description"]
    body, _ = await invoke(bot, fake, "narrative", [{"name": "id", "type": 4, "value": nid}])
    embed = body["data"]["embeds"][0]
    assert "@everyone" not in embed["title"]
    assert "#7" in embed["description"] and "#8" in embed["description"]
    body, _ = await invoke(bot, fake, "story", [{"name": "id", "type": 4, "value": 8}])
    fields = {f["name"]: f["value"] for f in body["data"]["embeds"][0]["fields"]}
    assert "story 2 of 2" in fields["Narrative"]
    body, _ = await invoke(bot, fake, "narrative", [{"name": "id", "type": 4, "value": 99}])
    assert body["data"]["flags"] & EPHEMERAL and "no narrative #99" in body["data"]["content"]
