"""Feeds added from Discord cannot reach internal addresses: not by a redirect, not by a name
that resolves to a public address when it is added and to 127.0.0.1 when it is polled.

Everything here stays on 127.0.0.0/8. The "internal" server listens on 127.0.0.1 and serves
what an attacker wants archived (a cloud metadata page shaped as a feed). The "public" server
listens on 127.0.0.2, which the settings open to Discord feeds with
`discord.allowed_feed_networks` (the operator's way to allow a trusted network), so it stands in
for a public host. Name lookups go through a resolver passed to the feed client, as the real
DNS would answer an attacker's name.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiohttp import web

from bot.chat.feed_url import FeedUrlError, check_feed_url
from bot.config import parse_settings
from bot.feeds.addresses import AddressPolicy
from bot.feeds.fetch import make_client
from bot.feeds.poll import poll_feeds, sync_config_feeds
from bot.models import NewFeed
from bot.store.feeds import add_feeds

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PUBLIC_STAND_IN = "127.0.0.2"

SECRET_FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>metadata</title>'
    b"<item><title>iam security-credentials AKIA-SECRET</title>"
    b"<link>http://169.254.169.254/latest/meta-data/iam</link></item></channel></rss>"
)
PUBLIC_FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>public</title>'
    b"<item><title>Chip export rules tighten</title>"
    b"<link>https://news.example/chips-1</link></item></channel></rss>"
)


@dataclass
class Servers:
    internal_port: int = 0
    public_port: int = 0
    hits: dict[str, int] = field(default_factory=dict)

    def internal(self, path: str) -> str:
        return f"http://127.0.0.1:{self.internal_port}{path}"

    def public(self, path: str, host: str = PUBLIC_STAND_IN) -> str:
        return f"http://{host}:{self.public_port}{path}"


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    found = Servers()

    def counted(name: str, handler):
        async def wrapped(request: web.Request) -> web.StreamResponse:
            found.hits[name] = found.hits.get(name, 0) + 1
            return await handler(request)

        return wrapped

    async def secret(_request: web.Request) -> web.Response:
        return web.Response(body=SECRET_FEED, content_type="application/rss+xml")

    async def feed(_request: web.Request) -> web.Response:
        return web.Response(body=PUBLIC_FEED, content_type="application/rss+xml")

    async def to_internal(_request: web.Request) -> web.Response:
        raise web.HTTPFound(found.internal("/latest/meta-data"))

    internal_app = web.Application()
    internal_app.router.add_get("/latest/meta-data", counted("internal", secret))
    public_app = web.Application()
    public_app.router.add_get("/feed", counted("public", feed))
    public_app.router.add_get("/to-internal", counted("redirect", to_internal))
    runners = []
    for app, host, attr in (
        (internal_app, "127.0.0.1", "internal_port"),
        (public_app, PUBLIC_STAND_IN, "public_port"),
    ):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        setattr(found, attr, site._server.sockets[0].getsockname()[1])
        runners.append(runner)
    yield found
    for runner in runners:
        await runner.cleanup()


class Dns:
    """Answers for test names, in turn (the last answer repeats); IP literals answer
    themselves; any other name does not resolve, so nothing leaves this machine."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        queue = self.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def settings_for(operator_feeds=(), **discord):
    return parse_settings(
        {
            "feeds": [{"name": name, "url": url} for name, url in operator_feeds],
            "fetch": {"timeout_s": 5, "max_failures": 2},
            "discord": {"allowed_feed_networks": [f"{PUBLIC_STAND_IN}/32"], **discord},
        },
        "test.yaml",
    )


def add_discord_feed(db, url: str) -> None:
    add_feeds(db, [NewFeed(url=url, name=url, origin="discord")], now=NOW)


async def poll(db, settings, resolve=None) -> dict:
    sync_config_feeds(db, settings, now=NOW)
    kwargs = {"resolve": resolve} if resolve else {}
    async with make_client(settings, **kwargs) as client:
        return await poll_feeds(db, settings, client, now=NOW, all_feeds=True, rng=random.Random(0))


def titles(db) -> list[str]:
    return [row[0] for row in db.execute("SELECT title FROM articles ORDER BY id")]


def feed_row(db, url: str) -> dict:
    return next(db.query("SELECT * FROM feeds WHERE url = ?", [url]))


async def test_public_address_redirecting_to_loopback_is_refused(db, servers):
    url = servers.public("/to-internal")
    add_discord_feed(db, url)

    counts = await poll(db, settings_for())

    assert counts["errors"] == 1
    assert titles(db) == []
    assert servers.hits.get("redirect") == 1 and "internal" not in servers.hits
    row = feed_row(db, url)
    assert row["last_error"].startswith(
        f"redirected to {servers.internal('/latest/meta-data')}: 127.0.0.1 resolves to a "
        "loopback address (127.0.0.1)"
    )
    assert row["error_count"] == 1


async def test_refusals_count_towards_disabling_the_feed(db, servers):
    url = servers.public("/to-internal")
    add_discord_feed(db, url)
    settings = settings_for()
    await poll(db, settings)
    await poll(db, settings)  # fetch.max_failures is 2 here
    row = feed_row(db, url)
    assert row["error_count"] == 2 and "loopback" in row["disabled_reason"]
    assert "internal" not in servers.hits


async def test_dns_rebinding_between_add_and_poll_is_refused(db, servers):
    url = f"http://feeds.rebind.test:{servers.public_port}/feed"
    dns = Dns({"feeds.rebind.test": [[PUBLIC_STAND_IN], ["127.0.0.1"]]})
    settings = settings_for()

    # /feed add sees the public answer and accepts the URL ...
    checked = await check_feed_url(url, AddressPolicy.from_settings(settings.discord), resolve=dns)
    add_discord_feed(db, checked)
    # ... the poll sees the name now pointing at loopback and refuses to connect.
    await poll(db, settings, dns)

    assert titles(db) == []
    assert servers.hits == {}
    assert feed_row(db, url)["last_error"] == (
        "feeds.rebind.test resolves to a loopback address (127.0.0.1); feeds added from "
        "Discord may only reach public addresses (an operator can allow networks with "
        "discord.allowed_feed_networks)"
    )


async def test_the_checked_address_is_the_one_connected_to(db, servers):
    """One lookup per connection: a resolver that changes its answer straight after the check
    cannot send the connection anywhere else."""
    url = f"http://flip.rebind.test:{servers.public_port}/feed"
    dns = Dns({"flip.rebind.test": [[PUBLIC_STAND_IN], ["127.0.0.1"]]})
    add_discord_feed(db, url)

    await poll(db, settings_for(), dns)

    assert dns.asked == ["flip.rebind.test"]
    assert titles(db) == ["Chip export rules tighten"]
    assert servers.hits == {"public": 1}


async def test_a_name_with_any_internal_address_is_refused(db, servers):
    url = f"http://mixed.rebind.test:{servers.public_port}/feed"
    add_discord_feed(db, url)
    await poll(db, settings_for(), Dns({"mixed.rebind.test": [[PUBLIC_STAND_IN, "10.0.0.7"]]}))
    assert "private address (10.0.0.7)" in feed_row(db, url)["last_error"]
    assert servers.hits == {}


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("[::ffff:127.0.0.1]", "loopback address (::ffff:127.0.0.1)"),
        ("[::1]", "loopback address (::1)"),
        ("127.1", "loopback address (127.0.0.1)"),
    ],
)
async def test_loopback_in_other_spellings_is_refused(db, servers, host, why):
    """Other non-public ranges are refused by the same check (tests/chat/test_feed_url.py);
    only loopback is tried here, so not even a regression could reach past this machine."""
    url = f"http://{host}:{servers.internal_port}/latest/meta-data"
    add_discord_feed(db, url)
    await poll(db, settings_for())  # the system's resolver: numeric hosts need no DNS
    assert why in feed_row(db, url)["last_error"]
    assert "internal" not in servers.hits


async def test_operator_feeds_reach_loopback_beside_refused_discord_feeds(db, servers):
    """The operator's feeds.yaml may point anywhere; a Discord feed on the same host and port
    is still refused in the same cycle (no pooled connection is shared)."""
    operator_url = servers.internal("/latest/meta-data")
    discord_url = servers.internal("/latest/meta-data?from=discord")
    add_discord_feed(db, discord_url)
    add_feeds(db, [NewFeed(url=servers.public("/feed"), name="opml", origin="opml")], now=NOW)

    counts = await poll(db, settings_for([("metadata", operator_url)], allowed_feed_networks=[]))

    assert counts["errors"] == 1
    assert sorted(titles(db)) == [
        "Chip export rules tighten",
        "iam security-credentials AKIA-SECRET",
    ]
    assert "loopback" in feed_row(db, discord_url)["last_error"]
    assert feed_row(db, operator_url)["last_error"] is None


async def test_allow_private_feed_urls_lets_discord_feeds_reach_anything(db, servers):
    url = servers.public("/to-internal")
    add_discord_feed(db, url)
    await poll(db, settings_for(allow_private_feed_urls=True), Dns({}))
    assert titles(db) == ["iam security-credentials AKIA-SECRET"]


async def test_feed_add_refuses_what_the_poller_refuses(servers):
    policy = AddressPolicy.from_settings(settings_for().discord)
    dns = Dns({"inside.test": [["127.0.0.1"]], "outside.test": [[PUBLIC_STAND_IN]]})
    with pytest.raises(FeedUrlError, match=r"loopback address \(127\.0\.0\.1\)"):
        await check_feed_url("http://inside.test/feed", policy, resolve=dns)
    assert await check_feed_url("http://outside.test/feed", policy, resolve=dns)
