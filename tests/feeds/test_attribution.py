"""Who published each item and which link is kept, from parsed feed items to stored articles:
the bad inputs a person would meet (unknown domains, odd hosts, IP links, aggregator items with
no source) each get a quiet, visible fallback, and no item is lost."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from bot.feeds.attribute import attribute, publisher_link
from bot.feeds.fetch import make_client
from bot.feeds.normalise import normalise_entry
from bot.feeds.outlets import load_registry, validate_overrides
from bot.feeds.poll import poll_feeds, sync_config_feeds

from .feed_server import FEED_FIXTURES

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def entry(body: str, feed_url: str = "https://feeds.example.net/rss") -> dict:
    doc = f'<rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()
    parsed = feedparser.parse(doc, sanitize_html=False, resolve_relative_uris=False)
    return normalise_entry(parsed.entries[0], feed_outlet="", feed_url=feed_url)


def item_with_link(link: str, title: str = "Chip curbs widen") -> dict:
    return entry(f"<item><title>{title}</title><link>{link}</link></item>")


# --- bad input: each its own test ------------------------------------------------------------


def test_an_unknown_domain_is_its_own_outlet_with_country_and_kind_unknown(registry):
    article = attribute(item_with_link("https://news.some-new-outlet.io/a/1"), registry)
    assert article.outlet == "some-new-outlet.io"
    assert (article.outlet_country, article.outlet_kind) == (None, None)
    assert article.url == "https://news.some-new-outlet.io/a/1"


@pytest.mark.parametrize(
    "link",
    [
        "https://www.scmp.com/tech/article/3400001/x",
        "https://m.scmp.com/tech/article/3400001/x",
        "https://amp.scmp.com/tech/article/3400001/x",
        "https://WWW.SCMP.COM./tech/article/3400001/x",
    ],
)
def test_www_m_and_amp_hosts_are_the_same_outlet(registry, link):
    article = attribute(item_with_link(link), registry)
    assert (article.outlet, article.outlet_country) == ("South China Morning Post", "HK")


def test_idn_and_punycode_hosts_are_one_outlet(registry):
    overrides = validate_overrides({"bücher-nachrichten.de": {"name": "Bücher", "country": "DE"}})
    with_idn = load_registry(overrides)
    for link in (
        "https://www.bücher-nachrichten.de/artikel/1",
        "https://xn--bcher-nachrichten-22b.de/artikel/2",
        "https://amp.XN--BCHER-NACHRICHTEN-22B.DE/artikel/3",
    ):
        article = attribute(item_with_link(link), with_idn)
        assert (article.outlet, article.outlet_country) == ("Bücher", "DE"), link
    unknown = attribute(item_with_link("https://nachrichten.例え.jp/a"), registry)
    assert unknown.outlet == "xn--r8jz45g.jp"


@pytest.mark.parametrize(
    ("link", "outlet"),
    [("http://203.0.113.7/news/1", "203.0.113.7"), ("http://[2001:db8::1]:8080/a", "2001:db8::1")],
)
def test_a_link_to_an_ip_address_is_its_own_outlet_and_no_registry_match(registry, link, outlet):
    article = attribute(item_with_link(link), registry)
    assert article.outlet == outlet
    assert (article.outlet_country, article.outlet_kind) == (None, None)


def test_a_google_news_item_without_a_source_has_no_outlet_and_keeps_its_link(registry):
    item = entry(
        "<item><title>Nvidia faces new curbs</title>"
        "<link>https://news.google.com/rss/articles/CBMiNoSource?oc=5</link>"
        '<description>&lt;a href="https://news.google.com/rss/articles/CBMiNoSource?oc=5"'
        "&gt;Nvidia faces new curbs&lt;/a&gt;</description></item>",
        feed_url="https://news.google.com/rss/search?q=nvidia",
    )
    article = attribute(item, registry, feed_outlet="Google News")
    assert article.outlet is None  # never "Google News": aggregators are not outlets
    assert article.link == "https://news.google.com/rss/articles/CBMiNoSource?oc=5"
    assert article.title == "Nvidia faces new curbs"


def test_an_override_with_a_bad_country_code_fails_check_config_with_one_line(tmp_path):
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(
        "feeds: []\noutlets:\n  example.com: {name: Example, country: XX1}\n", encoding="utf-8"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(cfg), "--db", str(tmp_path / "a.db")]
        + ["check-config"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        f"error: {cfg}: outlets.example.com.country: expected an ISO 3166 alpha-2 code, got 'XX1'"
    ]
    assert not (tmp_path / "a.db").exists()


@pytest.mark.parametrize(
    ("feed", "line"),
    [
        ("{url: 'https://x.example/f', country: UK}", "feeds[0].country: expected an ISO 3166"),
        ("{url: 'https://x.example/f', kind: tabloid}", "feeds[0].kind: expected one of wire"),
    ],
)
def test_a_feed_with_a_bad_country_or_kind_fails_check_config(tmp_path, feed, line):
    import yaml

    from bot.config import parse_settings
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^feeds.yaml: " + line.replace("[", r"\[")):
        parse_settings(yaml.safe_load(f"feeds: [{feed}]"), "feeds.yaml")


# --- publisher links -------------------------------------------------------------------------

GN_LINK = "https://news.google.com/rss/articles/CBMiPublisher?oc=5"


def google_news_item(description: str, source: str = "") -> dict:
    return entry(
        f"<item><title>Nvidia faces new curbs - Reuters</title><link>{GN_LINK}</link>"
        f"<description>{description}</description>{source}</item>",
        feed_url="https://news.google.com/rss/search?q=nvidia",
    )


def test_a_google_news_item_naming_its_publishers_page_links_to_the_publisher(registry):
    page = "https://www.reuters.com/technology/nvidia-faces-new-curbs-2026-11-28/"
    item = google_news_item(
        f'&lt;a href="{page}?utm_source=gn"&gt;Nvidia faces new curbs&lt;/a&gt;',
        '<source url="https://www.reuters.com">Reuters</source>',
    )
    article = attribute(item, registry, feed_outlet="Google News")
    assert (article.outlet, article.outlet_country, article.outlet_kind) == (
        "Reuters",
        "GB",
        "wire",
    )
    assert article.link == f"{page}?utm_source=gn"
    assert article.url == page  # canonical: the publisher's own article, tracking removed
    assert article.is_aggregated


def test_a_google_news_item_linking_only_to_google_keeps_the_google_link(registry):
    item = google_news_item(
        f'&lt;a href="{GN_LINK}"&gt;Nvidia&lt;/a&gt;',
        '<source url="https://www.reuters.com">Reuters</source>',
    )
    article = attribute(item, registry, feed_outlet="Google News")
    assert article.outlet == "Reuters"
    assert article.url == "https://news.google.com/rss/articles/CBMiPublisher"


def test_a_link_to_another_site_or_to_the_sources_front_page_is_not_the_publishers(registry):
    links = ["https://www.reuters.com/", "https://www.ft.com/content/abc"]
    assert publisher_link(GN_LINK, "https://www.reuters.com", links, registry) is None


def test_googles_older_redirect_names_its_target(registry):
    link = (
        "https://news.google.com/news/url?sa=t&fd=R&usg=AFQ&url=https://www.reuters.com/article/"
        "us-china-chips-idUSKBN1"
    )
    found = publisher_link(link, "https://www.reuters.com", [], registry)
    assert found == "https://www.reuters.com/article/us-china-chips-idUSKBN1"


def test_techmeme_items_take_the_publisher_from_the_description(registry):
    parsed = feedparser.parse(
        (FEED_FIXTURES / "techmeme_feed.xml").read_bytes(),
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    first = normalise_entry(
        parsed.entries[0], feed_outlet="Techmeme", feed_url="https://www.techmeme.com/feed.xml"
    )
    article = attribute(first, registry, feed_outlet="Techmeme")
    assert article.outlet == "The New York Times" and article.outlet_country == "US"
    assert article.url.startswith("https://www.nytimes.com/2023/06/25/technology/")


# --- through a poll: stored with the article -------------------------------------------------


async def poll(db, settings) -> dict:
    sync_config_feeds(db, settings, now=NOW)
    async with make_client(settings) as client:
        return await poll_feeds(db, settings, client, now=NOW, all_feeds=True, rng=random.Random(0))


def rss(*items: tuple[str, str]) -> bytes:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link>"
        "<pubDate>Sat, 28 Nov 2026 07:00:00 GMT</pubDate></item>"
        for t, link in items
    )
    return f'<rss version="2.0"><channel><title>mixed</title>{body}</channel></rss>'.encode()


async def test_a_feed_with_no_outlet_stores_each_articles_outlet_country_and_kind(
    db, feed_server, feed_settings
):
    url = feed_server.set(
        "attribution-mixed",
        rss(
            ("SCMP on chips", "https://www.scmp.com/tech/article/3400010/scmp-on-chips"),
            ("Xinhua on chips", "https://english.news.cn/20261128/abc/c.html"),
            ("Unknown on chips", "https://unknown-outlet.example/chips"),
            ("IP on chips", "http://198.51.100.4/chips"),
        ),
    )
    counts = await poll(db, feed_settings([("mixed", url)]))
    assert counts["new_articles"] == 4  # nothing lost, whatever the outlet
    rows = db.execute(
        "SELECT title, outlet, outlet_country, outlet_kind FROM articles ORDER BY title"
    ).fetchall()
    assert [tuple(r) for r in rows] == [
        ("IP on chips", "198.51.100.4", None, None),
        ("SCMP on chips", "South China Morning Post", "HK", "newspaper"),
        ("Unknown on chips", "unknown-outlet.example", None, None),
        ("Xinhua on chips", "Xinhua", "CN", "state media"),
    ]


async def test_feeds_yaml_outlets_and_feed_country_apply_at_ingest(db, feed_server):
    from bot.config import parse_settings

    plain = feed_server.set("attribution-plain", rss(("A", "https://unknown-outlet.example/a")))
    named = feed_server.set("attribution-named", rss(("B", "https://feeds.wirechina.example/b")))
    settings = parse_settings(
        {
            "feeds": [
                {"url": plain, "name": "plain"},
                {
                    "url": named,
                    "name": "named",
                    "outlet": "The Wire China",
                    "country": "US",
                    "kind": "newspaper",
                },
            ],
            "outlets": {"unknown-outlet.example": {"name": "Unknown Outlet", "country": "FR"}},
        },
        "test.yaml",
    )
    await poll(db, settings)
    rows = db.execute("SELECT title, outlet, outlet_country, outlet_kind FROM articles").fetchall()
    assert sorted(tuple(r) for r in rows) == [
        ("A", "Unknown Outlet", "FR", None),
        ("B", "The Wire China", "US", "newspaper"),
    ]


async def test_scmp_and_google_news_south_china_morning_post_are_one_outlet(
    db, feed_server, feed_settings
):
    scmp = feed_server.set(
        "attribution-scmp",
        rss(("Chip curbs hit Beijing", "https://www.scmp.com/tech/article/3400020/chip-curbs")),
    )
    google = feed_server.set(
        "attribution-gn",
        b'<rss version="2.0"><channel><title>q - Google News</title>'
        b"<item><title>Beijing weighs chip response - South China Morning Post</title>"
        b"<link>https://news.google.com/rss/articles/CBMiSCMP?oc=5</link>"
        b"<pubDate>Sat, 28 Nov 2026 08:00:00 GMT</pubDate>"
        b'<source url="https://www.scmp.com">South China Morning Post</source></item>'
        b"</channel></rss>",
    )
    await poll(db, feed_settings([("scmp", scmp, "SCMP"), ("gn", google)]))
    outlets = {r[0] for r in db.execute("SELECT outlet FROM articles")}
    assert outlets == {"South China Morning Post"}


def test_every_shipped_feed_is_an_aggregator_or_an_outlet_with_country_and_kind():
    from bot.config import load_settings
    from bot.feeds.outlets import registry_for, resolve_outlet

    settings = load_settings(REPO / "feeds.yaml", env={})
    registry = registry_for(settings)
    kinds = Counter()
    for feed in settings.feeds:
        outlet = resolve_outlet(
            feed.outlet,
            None,
            None,
            feed.url,
            registry,
            feed_country=feed.country,
            feed_kind=feed.kind,
        )
        if outlet is None:  # Google News, Techmeme: each item names its own outlet
            kinds["aggregator"] += 1
            continue
        assert outlet.country and outlet.kind, feed.name
        kinds[outlet.country] += 1
    # China's own press and primary policy sources are among them.
    assert kinds["CN"] >= 6 and kinds["HK"] >= 9 and kinds["aggregator"] >= 10
