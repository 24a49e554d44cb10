"""Pure normalisation: canonical URLs, dates, HTML stripping, Google News and SCMP shapes."""

from __future__ import annotations

import feedparser
import pytest

from bot.feeds.normalise import (
    canonical_url,
    clean_author,
    normalise_entry,
    strip_html,
    struct_to_iso,
)
from bot.feeds.parse import parse_feed

from .feed_server import FEED_FIXTURES


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "https://Example.COM/a/b?utm_source=rss&utm_medium=feed&id=7#comments",
            "https://example.com/a/b?id=7",
        ),
        ("https://example.com/x?fbclid=abc&gclid=def&mc_cid=1&mc_eid=2", "https://example.com/x"),
        ("http://example.com:80/x", "http://example.com/x"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://example.com", "https://example.com/"),
        (
            "https://go.theregister.com/feed/www.theregister.com/2023/06/24/google_bug_bounties_2022/",
            "https://www.theregister.com/2023/06/24/google_bug_bounties_2022/",
        ),
        (
            "https://www.scmp.com/tech/tech-war/article/3354097/some-slug?utm_source=rss_feed",
            "https://www.scmp.com/article/3354097",
        ),
        (
            "https://scmp.com/tech/article/3354097/edited-headline-slug",
            "https://www.scmp.com/article/3354097",
        ),
        (
            "https://news.google.com/rss/articles/CBMiXyz?oc=5",
            "https://news.google.com/rss/articles/CBMiXyz",
        ),
        ("https://example.com/p?b=2&a=1", "https://example.com/p?b=2&a=1"),
    ],
)
def test_canonical_url(given: str, expected: str) -> None:
    assert canonical_url(given) == expected


def test_strip_html_decodes_and_folds() -> None:
    assert strip_html("<p>Chips &amp; <b>export</b>\n\n controls</p>") == "Chips & export controls"
    assert strip_html(None) == ""
    assert strip_html("<p>a<script>alert(1)</script> b<STYLE>p{}</style></p>") == "a b"
    long = strip_html("word " * 1000, limit=50)
    assert len(long) == 50 and long.endswith("…")


def test_dates_become_utc_iso() -> None:
    parsed = feedparser.parse(
        b'<rss version="2.0"><channel><item><title>t</title><link>http://x/1</link>'
        b"<pubDate>Fri, 27 Nov 2026 09:15:00 +0800</pubDate></item></channel></rss>"
    )
    assert struct_to_iso(parsed.entries[0].published_parsed) == "2026-11-27T01:15:00Z"
    assert struct_to_iso(None) is None
    assert struct_to_iso("not a date") is None


def test_scmp_shape() -> None:
    body = (FEED_FIXTURES / "scmp_semiconductors_synthetic.xml").read_bytes()
    parsed = feedparser.parse(
        body,
        response_headers={
            "content-type": "application/rss+xml",
            "content-location": "https://www.scmp.com/rss/519738/feed",
        },
    )
    items = [
        normalise_entry(e, feed_outlet="SCMP", feed_url="https://www.scmp.com/rss/519738/feed")
        for e in parsed.entries
    ]
    first = items[0]
    assert first["url"] == "https://www.scmp.com/article/3354097"
    assert first["link"].endswith("?utm_source=rss_feed")  # kept as given
    assert first["guid"].endswith("?utm_source=rss_feed")
    assert first["author"] == "Ann Example, Bo Sample"
    assert first["published_at"] == "2026-11-27T01:15:00Z"
    assert first["outlet"] == "SCMP"
    assert items[1]["summary"] == "A teaser with markup that must be stripped."
    assert items[2]["author"] == "Dee Invented, Eli Madeup, Fay Fiction"


def test_google_news_item_takes_outlet_from_source() -> None:
    body = b"""<rss version="2.0"><channel><title>q - Google News</title>
    <item><title>Nvidia faces new curbs on China sales - Reuters</title>
    <link>https://news.google.com/rss/articles/CBMiABC?oc=5</link>
    <guid isPermaLink="false">CBMiABC</guid>
    <pubDate>Sat, 28 Nov 2026 07:00:00 GMT</pubDate>
    <source url="https://www.reuters.com">Reuters</source></item></channel></rss>"""
    entry = feedparser.parse(body).entries[0]
    item = normalise_entry(
        entry, feed_outlet="Google News", feed_url="https://news.google.com/rss/search?q=x"
    )
    assert item["outlet"] == "Reuters"
    assert item["title"] == "Nvidia faces new curbs on China sales"
    assert item["is_aggregated"] is True
    assert item["url"] == "https://news.google.com/rss/articles/CBMiABC"


def test_clean_author_dedupes_and_splits() -> None:
    assert clean_author({"authors": [{"name": "A  B, C"}, {"name": "C"}]}) == "A B, C"
    assert clean_author({"author": "Solo"}) == "Solo"
    assert clean_author({}) is None


def test_entry_without_link_or_title_is_skipped_and_linkless_gets_stable_url() -> None:
    assert normalise_entry({}, feed_outlet="", feed_url="http://f/") is None
    a = normalise_entry({"title": "Only a title"}, feed_outlet="", feed_url="http://f/")
    b = normalise_entry({"title": "Only a title"}, feed_outlet="", feed_url="http://f/")
    assert a["url"] == b["url"] and a["url"].startswith("http://f/#item-")


@pytest.mark.parametrize(
    ("item", "link", "guid"),
    [
        # Absolute link and guid: read in one pass, unchanged.
        (
            "<link>https://pub.example/a/1</link><guid>https://pub.example/a/1</guid>",
            "https://pub.example/a/1",
            "https://pub.example/a/1",
        ),
        # Relative link and permalink guid: resolved against where the feed lives.
        (
            "<link>/a/2</link><guid>a/2?x=1</guid>",
            "https://pub.example/a/2",
            "https://pub.example/news/a/2?x=1",
        ),
        # isPermaLink="false": the guid is an opaque id and stays as written.
        (
            '<link>https://pub.example/a/3</link><guid isPermaLink="false">CBMi3</guid>',
            "https://pub.example/a/3",
            "CBMi3",
        ),
        # A relative permalink guid next to an absolute link is still resolved.
        (
            "<link>https://pub.example/a/4</link><guid>a/4</guid>",
            "https://pub.example/a/4",
            "https://pub.example/news/a/4",
        ),
    ],
)
def test_links_and_guids_resolve_against_the_feed_url(item: str, link: str, guid: str) -> None:
    url = "https://pub.example/news/feed.xml"
    body = f'<rss version="2.0"><channel><title>t</title><item><title>x</title>{item}</item></channel></rss>'
    for headers in ({}, {"Content-Type": "application/rss+xml"}):
        entry = parse_feed(body.encode(), headers, url=url).entries[0]
        assert (entry["link"], entry["id"]) == (link, guid)


def test_xml_base_still_applies_below_the_feed_url() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://pub.example/x/">'
        b"<title>t</title><entry><title>a</title><id>tag:pub.example,2026:1</id>"
        b'<link rel="alternate" href="story/1"/></entry></feed>'
    )
    entry = parse_feed(body, {}, url="https://elsewhere.example/feed").entries[0]
    assert entry["link"] == "https://pub.example/x/story/1"
