"""/feed remove and /stories' tracked-topic default, through real interactions against the local
Discord stand-in (fixtures and helpers from test_slash)."""

from __future__ import annotations

import json

import pytest
from discord.http import Route

from bot.chat.bot import TokentideBot
from bot.chat.sinks import configure_route_base
from bot.clock import to_iso
from bot.pipeline import build_digest

from .conftest import make_settings
from .test_slash import CHANNEL_MESSAGE, EPHEMERAL, MANAGE_GUILD, NOW, _add_story, invoke


@pytest.fixture
async def slash_bot(fake, db, db_path):
    """The bot logged in against the stand-in, as test_slash builds it (no model needed)."""
    saved = Route.BASE
    configure_route_base(fake.base)
    settings = make_settings(db_path, base=fake.base, token=fake.token, channel_id=555)
    client = TokentideBot(settings, db, build_digest=build_digest)
    client.chat.clock = lambda: NOW
    await client.login(fake.token)
    yield client
    await client.close()
    Route.BASE = saved


URL = "https://93.184.216.34/feed.xml"


def url_option(url=URL):
    return [{"name": "url", "type": 3, "value": url}]


def feed_row(db, url=URL):
    return db.execute("SELECT origin, enabled FROM feeds WHERE url = ?", [url]).fetchone()


async def test_feed_remove_is_registered_under_the_manage_server_group(slash_bot, fake):
    feed = next(c for c in fake.command_syncs[0]["commands"] if c["name"] == "feed")
    assert sorted(o["name"] for o in feed["options"]) == ["add", "remove"]
    assert int(feed["default_member_permissions"]) == MANAGE_GUILD


async def test_feed_remove_switches_a_discord_feed_off_and_add_switches_it_back(
    slash_bot, fake, db
):
    body, followups = await invoke(
        slash_bot, fake, "feed", url_option(), sub="add", permissions=MANAGE_GUILD
    )
    assert "Added" in followups[-1]["content"]
    body, _ = await invoke(
        slash_bot, fake, "feed", url_option(), sub="remove", permissions=MANAGE_GUILD
    )
    assert body["type"] == CHANNEL_MESSAGE and body["data"]["flags"] & EPHEMERAL
    assert body["data"]["content"].startswith("Switched off")
    assert feed_row(db) == ("discord", 0)
    # Switched-off feeds are not polled.
    from bot.store.feeds import due_feeds

    assert due_feeds(db, now=NOW) == []
    body, _ = await invoke(
        slash_bot, fake, "feed", url_option(), sub="remove", permissions=MANAGE_GUILD
    )
    assert body["data"]["content"].startswith("Already switched off")
    body, followups = await invoke(
        slash_bot, fake, "feed", url_option(), sub="add", permissions=MANAGE_GUILD
    )
    assert followups[-1]["content"].startswith("Switched back on")
    assert feed_row(db) == ("discord", 1)


async def test_feed_remove_refuses_config_feeds_with_a_clear_error(slash_bot, fake, db):
    with db.conn:
        db.execute(
            "INSERT INTO feeds (url, name, origin, created_at) VALUES (?, 'SCMP', 'config', ?)",
            ["https://www.scmp.com/rss/519738/feed", to_iso(NOW)],
        )
    options = url_option("https://www.scmp.com/rss/519738/feed")
    body, _ = await invoke(slash_bot, fake, "feed", options, sub="remove", permissions=MANAGE_GUILD)
    assert body["data"]["flags"] & EPHEMERAL
    text = body["data"]["content"]
    assert "feeds.yaml" in text and "only feeds added in Discord" in text
    assert feed_row(db, "https://www.scmp.com/rss/519738/feed") == ("config", 1)


async def test_feed_remove_of_an_unknown_url_and_without_permission(slash_bot, fake, db):
    body, _ = await invoke(
        slash_bot, fake, "feed", url_option(), sub="remove", permissions=MANAGE_GUILD
    )
    assert body["data"]["flags"] & EPHEMERAL and "no feed has the URL" in body["data"]["content"]
    await invoke(slash_bot, fake, "feed", url_option(), sub="add", permissions=MANAGE_GUILD)
    body, _ = await invoke(slash_bot, fake, "feed", url_option(), sub="remove", permissions=0)
    assert "Manage Server" in body["data"]["content"]
    assert feed_row(db) == ("discord", 1)


async def test_stories_lists_tracked_topics_best_first_unless_all(slash_bot, fake, db):
    _add_story(db, 1, "Nvidia H20 export licences tightened")
    _add_story(db, 2, "Restaurant hired 'priest' to bless the kitchen")
    with db.conn:
        db.execute(
            "UPDATE stories SET topics = ? WHERE id = 1", [json.dumps(["export_controls", "chips"])]
        )
        db.execute("UPDATE stories SET topics = '[]' WHERE id = 2")
    body, _ = await invoke(slash_bot, fake, "stories")
    description = body["data"]["embeds"][0]["description"]
    assert "Nvidia H20" in description and "priest" not in description
    assert "export\\_controls (also in chips)" in description
    body, _ = await invoke(slash_bot, fake, "stories", [{"name": "all", "type": 5, "value": True}])
    assert "priest" in body["data"]["embeds"][0]["description"]
