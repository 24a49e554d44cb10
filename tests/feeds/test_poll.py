"""Poll cycles against the loopback server: real captures, hostile responses, dedupe, health."""

from __future__ import annotations

import random
import zlib
from datetime import UTC, datetime, timedelta

import feedparser
import pytest

from bot.feeds.fetch import make_client
from bot.feeds.normalise import normalise_entry
from bot.feeds.poll import make_parse_pool, poll_feeds, sync_config_feeds
from bot.store.feeds import due_feeds

from .feed_server import FEED_FIXTURES, PUBLISHER_FEEDS, corpus_files, corpus_headers

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


async def poll(db, settings, *, now=NOW, all_feeds=True, parse_pool=None) -> dict:
    sync_config_feeds(db, settings, now=now)
    async with make_client(settings) as client:
        return await poll_feeds(
            db,
            settings,
            client,
            now=now,
            all_feeds=all_feeds,
            rng=random.Random(0),
            parse_pool=parse_pool,
        )


def articles(db) -> dict[int, dict]:
    return {row["id"]: row for row in db.query("SELECT * FROM articles ORDER BY id")}


def feed(db, name: str) -> dict:
    return next(db.query("SELECT * FROM feeds WHERE name = ?", [name]))


def count_for(db, name: str) -> int:
    return db.execute(
        "SELECT count(*) FROM articles JOIN feeds ON feeds.id = feed_id WHERE feeds.name = ?",
        [name],
    ).fetchone()[0]


def rss(items: list[tuple[str, str, str]], *, title: str = "dyn") -> bytes:
    """(guid, link, title) items, each published at a fixed time derived from its title."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{g}</guid><link>{link}</link><title>{t}</title>"
        f"<pubDate>Sat, 28 Nov 2026 0{len(t) % 9}:00:00 GMT</pubDate></item>"
        for g, link, t in items
    )
    return f'<rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'.encode()


async def test_every_publisher_item_archived_once_with_outlet(db, feed_server, feed_settings):
    feeds = [(n, feed_server.url(f"/feed/{n}"), f"outlet {n}") for n in PUBLISHER_FEEDS]
    counts = await poll(db, feed_settings(feeds))
    assert counts == {
        "feeds_polled": 5,
        "new_articles": 98,
        "errors": 0,
        "not_modified": 0,
        "failures": [],
    }
    expected = {
        "theregister_headlines.atom": 50,
        "techmeme_feed.xml": 15,
        "techcrunch_ai_feed.xml": 20,
        "theverge_ai_index.xml": 10,
        "scmp_semiconductors_synthetic.xml": 3,
    }
    for name, n in expected.items():
        assert count_for(db, name) == n, name
    rows = list(articles(db).values())
    assert all(r["analyzed_at"] is None and r["topics"] == "[]" for r in rows)
    assert all(r["outlet"].startswith("outlet ") for r in rows)
    # Every item, however old (The Register capture is from 2023), is kept.
    assert min(r["published_at"] for r in rows) < "2024"
    assert not any("go.theregister.com" in r["url"] for r in rows)
    assert not any("utm_" in r["url"] for r in rows)


async def test_unchanged_feed_writes_only_check_times(db, feed_server, feed_settings):
    name = "techcrunch_ai_feed.xml"
    settings = feed_settings([("tc", feed_server.url(f"/feed/{name}"))])
    await poll(db, settings)
    before_articles, before_feed = articles(db), feed(db, "tc")
    later = NOW + timedelta(hours=1)
    counts = await poll(db, settings, now=later)
    assert counts["not_modified"] == 1 and counts["new_articles"] == 0
    assert feed_server.conditional_hits[f"/feed/{name}"] >= 1
    sent = feed_server.last_request_headers[f"/feed/{name}"]
    assert sent["If-None-Match"] == before_feed["etag"]
    assert sent["If-Modified-Since"] == before_feed["last_modified"]
    assert sent["User-Agent"].startswith("Tokentide/")
    assert articles(db) == before_articles
    after_feed = feed(db, "tc")
    changed = {k for k in after_feed if after_feed[k] != before_feed[k]}
    assert changed == {"last_checked_at", "last_success_at", "next_check_at", "last_status"}


async def test_unchanged_feed_without_validators_adds_nothing(db, feed_server, feed_settings):
    body = (FEED_FIXTURES / "theverge_ai_index.xml").read_bytes()
    url = feed_server.set("noval", body, conditional=False)
    settings = feed_settings([("v", url)])
    await poll(db, settings)
    before = articles(db)
    counts = await poll(db, settings, now=NOW + timedelta(hours=1))
    assert counts["new_articles"] == 0 and counts["not_modified"] == 0
    assert articles(db) == before and len(before) == 10


async def test_feed_rewriting_guids_does_not_duplicate(db, feed_server, feed_settings):
    items = [(f"g{i}", f"https://pub.example/a/{i}", f"Headline number {i}") for i in range(3)]
    url = feed_server.set("guids", rss(items))
    settings = feed_settings([("g", url)])
    assert (await poll(db, settings))["new_articles"] == 3
    # New guids, same links.
    feed_server.set("guids", rss([(f"new-{g}", link, t) for g, link, t in items]))
    assert (await poll(db, settings))["new_articles"] == 0
    # New guids and new links (a session id), same titles and times.
    feed_server.set("guids", rss([(f"x-{g}", f"{link}?s=9", t) for g, link, t in items]))
    assert (await poll(db, settings))["new_articles"] == 0
    # A genuinely new item still gets in.
    feed_server.set("guids", rss([*items, ("g9", "https://pub.example/a/9", "Fresh story")]))
    assert (await poll(db, settings))["new_articles"] == 1
    assert len(articles(db)) == 4


async def test_same_article_across_feeds_stored_once(db, feed_server, feed_settings):
    a = feed_server.set("x1", rss([("1", "https://Pub.example/s?utm_source=a&fbclid=z", "Same")]))
    b = feed_server.set("x2", rss([("other", "https://pub.example/s#top", "Same story")]))
    await poll(db, feed_settings([("one", a), ("two", b)]))
    rows = list(articles(db).values())
    assert [r["url"] for r in rows] == ["https://pub.example/s"]


def google_news(link: str, outlet: str, title: str, when: str) -> bytes:
    return (
        '<rss version="2.0"><channel><title>q - Google News</title>'
        f"<item><title>{title} - {outlet}</title><link>{link}</link>"
        f'<guid isPermaLink="false">{link[-8:]}</guid><pubDate>{when}</pubDate>'
        f'<source url="https://{outlet.lower()}.example">{outlet}</source></item>'
        "</channel></rss>"
    ).encode()


async def test_google_news_matched_by_title_outlet_and_time(db, feed_server, feed_settings):
    gn = "https://news.google.com/rss/articles/"
    title = "Chip curbs widen"
    a = feed_server.set(
        "gn1", google_news(gn + "CBMiAAAA1?oc=5", "Reuters", title, "Sat, 28 Nov 2026 07:00:00 GMT")
    )
    b = feed_server.set(
        "gn2", google_news(gn + "CBMiBBBB2?oc=5", "Reuters", title, "Sat, 28 Nov 2026 09:00:00 GMT")
    )
    c = feed_server.set(
        "gn3",
        google_news(gn + "CBMiCCCC3?oc=5", "Bloomberg", title, "Sat, 28 Nov 2026 09:00:00 GMT"),
    )
    # The same title from the same outlet a week later is a new article.
    d = feed_server.set(
        "gn4", google_news(gn + "CBMiDDDD4?oc=5", "Reuters", title, "Sat, 05 Dec 2026 09:00:00 GMT")
    )
    settings = feed_settings(
        [(n, u, "Google News") for n, u in [("a", a), ("b", b), ("c", c), ("d", d)]]
    )
    await poll(db, settings)
    rows = sorted((r["outlet"], r["published_at"]) for r in articles(db).values())
    assert rows == [
        ("Bloomberg", "2026-11-28T09:00:00Z"),
        ("Reuters", "2026-11-28T07:00:00Z"),
        ("Reuters", "2026-12-05T09:00:00Z"),
    ]
    assert all(r["title"] == title for r in articles(db).values())


async def test_duplicates_within_one_feed_body_are_stored_once(db, feed_server, feed_settings):
    # Items of one response are checked against each other too, not only against the archive.
    body = rss(
        [
            ("g1", "https://pub.example/a/1", "Repeated headline"),
            ("g2", "https://pub.example/a/2?session=1", "Repeated headline"),  # same title+time
            ("g3", "https://pub.example/a/1?utm_source=x", "Other"),  # same canonical URL
            ("g1", "https://pub.example/a/4", "Same guid"),
            ("g5", "https://pub.example/a/5", "Distinct"),
        ]
    )
    url = feed_server.set("inbatch", body)
    gn = "https://news.google.com/rss/articles/"
    title = "Chip curbs widen"
    two = google_news(gn + "CBMiAAAA1?oc=5", "Reuters", title, "Sat, 28 Nov 2026 07:00:00 GMT")
    second = google_news(gn + "CBMiBBBB2?oc=5", "Reuters", title, "Sat, 28 Nov 2026 09:00:00 GMT")
    start = second.index(b"<item>")
    two = two.replace(b"</channel>", second[start : second.index(b"</channel>")] + b"</channel>")
    gn_url = feed_server.set("gnbatch", two)
    settings = feed_settings([("f", url), ("gn", gn_url, "Google News")])
    assert (await poll(db, settings))["new_articles"] == 3
    rows = sorted((r["title"], r["url"]) for r in articles(db).values())
    assert rows == [
        ("Chip curbs widen", "https://news.google.com/rss/articles/CBMiAAAA1"),
        ("Distinct", "https://pub.example/a/5"),
        ("Repeated headline", "https://pub.example/a/1"),
    ]


HOSTILE = [
    ("/drip", "timed out after 1.5 s"),
    ("/big", "larger than the 2 MiB limit"),
    ("/gzip-bomb", "larger than the 2 MiB limit"),
    ("/loop/a", "redirect loop"),
    ("/login", "not a feed: got an HTML page (text/html)"),
    ("/empty", "not a feed: the server sent an empty"),
    ("/status/404", "not found (HTTP 404)"),
    ("/status/500", "server error (HTTP 500)"),
    ("/status/503", "service unavailable (HTTP 503), asked to retry after 7200 s"),
    ("/status/429", "rate limited (HTTP 429), asked to retry after 10800 s"),
]


async def contained(db, feed_server, feed_settings, hostile_url: str) -> dict:
    """Archive feed A; then poll A + hostile H + fresh B. Returns H's feeds row after checking
    that A's rows are unchanged and B was ingested in the same cycle."""
    good_a = ("A", feed_server.url("/feed/scmp_semiconductors_synthetic.xml"), "SCMP")
    await poll(db, feed_settings([good_a]))
    before = articles(db)
    assert len(before) == 3
    good_b = ("B", feed_server.url("/feed/theverge_ai_index.xml"), "The Verge")
    await poll(db, feed_settings([good_a, ("H", hostile_url), good_b]))
    after = articles(db)
    assert {k: after[k] for k in before} == before
    assert count_for(db, "B") == 10
    return feed(db, "H")


@pytest.mark.parametrize(("path", "message"), HOSTILE, ids=[p for p, _ in HOSTILE])
async def test_hostile_feed_is_contained(db, feed_server, feed_settings, path, message):
    row = await contained(db, feed_server, feed_settings, feed_server.url(path))
    assert message in row["last_error"]
    if path in ("/login", "/empty"):
        assert row["last_status"] == 200  # the server answered; the body is not a feed
    assert "Traceback" not in row["last_error"]
    assert row["error_count"] == 1 and row["next_check_at"] > "2026-11-28T12:00:00Z"
    assert count_for(db, "H") == 0
    if path == "/status/429":  # Retry-After as an HTTP date: 15:00 GMT
        assert row["next_check_at"] == "2026-11-28T15:00:00Z"
    if path == "/status/503":  # Retry-After: 7200 seconds
        assert row["next_check_at"] == "2026-11-28T14:00:00Z"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/entity-bomb", 1),
        ("/invalid-utf8", 1),
        ("/feed/techcrunch_ai_feed.xml", 20),
        ("/gzipped", 15),
    ],
)
async def test_odd_but_readable_feeds_are_ingested(db, feed_server, feed_settings, path, expected):
    row = await contained(db, feed_server, feed_settings, feed_server.url(path))
    assert row["last_error"] is None and row["error_count"] == 0
    assert count_for(db, "H") == expected


async def test_entity_bomb_is_not_expanded(db, feed_server, feed_settings):
    await poll(db, feed_settings([("bomb", feed_server.url("/entity-bomb"))]))
    (row,) = articles(db).values()
    assert len(row["title"]) < 100 and len(row["summary"]) < 100


async def test_redirect_is_followed(db, feed_server, feed_settings):
    await poll(db, feed_settings([("moved", feed_server.url("/moved"))]))
    assert count_for(db, "moved") == 20


async def test_redirect_chain_longer_than_limit_is_an_error(db, feed_server, feed_settings):
    settings = feed_settings(
        [("short", feed_server.url("/chain/2")), ("long", feed_server.url("/chain/3"))],
        max_redirects=3,
    )
    await poll(db, settings)
    assert count_for(db, "short") == 15
    assert feed(db, "long")["last_error"] == (
        f"too many redirects (more than 3) starting at {feed_server.url('/chain/3')}"
    )


async def test_connection_refused_counts_as_a_failure(db, feed_server, feed_settings):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    url = f"http://127.0.0.1:{closed_port}/feed"
    await poll(db, feed_settings([("refused", url)]))
    row = feed(db, "refused")
    assert row["last_error"] == "connection refused by 127.0.0.1"
    assert row["error_count"] == 1


@pytest.mark.parametrize(
    "path", corpus_files(), ids=[str(p.relative_to(FEED_FIXTURES)) for p in corpus_files()]
)
async def test_feedparser_corpus_file(db, feed_server, feed_settings, path):
    rel = path.relative_to(FEED_FIXTURES / "feedparser_tests")
    row = await contained(db, feed_server, feed_settings, feed_server.url(f"/corpus/{rel}"))
    headers = {k.lower(): v for k, v in corpus_headers(path).items()}
    entries = feedparser.parse(path.read_bytes(), response_headers=headers).entries
    usable = [e for e in entries if normalise_entry(e, feed_outlet="", feed_url="http://x/")]
    archived = count_for(db, "H")
    if usable:
        # bozo or not, every readable entry is kept
        assert row["last_error"] is None, row["last_error"]
        assert archived == len(usable)
    else:
        assert archived == 0
        assert row["last_error"] is None or row["last_error"].startswith(
            ("not a feed", "feed XML is broken")
        ), row["last_error"]


@pytest.mark.parametrize(
    ("status", "body", "ctype"),
    [
        (200, b"<html><body>Please log in</body></html>", "text/html"),
        (200, b"", "application/rss+xml"),
        (200, b"<rss><chan", "application/rss+xml"),
        (500, b"oops", "text/plain"),
        (410, b"", "text/plain"),
    ],
)
async def test_feed_turning_bad_keeps_its_articles(
    db, feed_server, feed_settings, status, body, ctype
):
    items = [(f"t{i}", f"https://turn.example/{i}", f"Turning {i}") for i in range(4)]
    url = feed_server.set("turn", rss(items))
    settings = feed_settings([("T", url)])
    await poll(db, settings)
    before, before_feed = articles(db), feed(db, "T")
    feed_server.set("turn", body, status=status, headers={"Content-Type": ctype})
    counts = await poll(db, settings, now=NOW + timedelta(hours=1))
    assert counts["errors"] == 1
    assert articles(db) == before
    after = feed(db, "T")
    assert after["last_error"] and after["error_count"] == 1
    # The cycle's result names the feed and why, for the job's one-line summary.
    assert counts["failures"] == [{"feed": "T", "error": after["last_error"]}]
    assert after["etag"] == before_feed["etag"]  # validators kept for the next try
    assert after["last_success_at"] == before_feed["last_success_at"]


async def test_disabled_after_repeated_failures_and_revived_by_success(
    db, feed_server, feed_settings
):
    url = feed_server.set("flaky", b"down", status=500, headers={"Content-Type": "text/plain"})
    settings = feed_settings([("F", url)])
    for _ in range(3):  # fetch.max_failures is 3 in tests
        await poll(db, settings)
    row = feed(db, "F")
    assert row["error_count"] == 3
    assert row["disabled_reason"] == (
        "disabled after 3 consecutive failures; last: server error (HTTP 500)"
    )
    far_future = NOW + timedelta(days=365)
    assert due_feeds(db, now=far_future) == []
    feed_server.set("flaky", rss([("a", "https://flaky.example/a", "Back")]))
    await poll(db, settings)  # --all retries disabled feeds
    row = feed(db, "F")
    assert (row["error_count"], row["disabled_reason"], row["last_error"]) == (0, None, None)
    assert count_for(db, "F") == 1


async def test_only_due_feeds_are_polled(db, feed_server, feed_settings):
    settings = feed_settings([("tc", feed_server.url("/feed/techcrunch_ai_feed.xml"))])
    await poll(db, settings)
    counts = await poll(db, settings, now=NOW + timedelta(minutes=5), all_feeds=False)
    assert counts["feeds_polled"] == 0
    counts = await poll(db, settings, now=NOW + timedelta(minutes=16), all_feeds=False)
    assert counts["feeds_polled"] == 1


async def test_offline_machine_does_not_count_towards_disabling(db, feed_server, feed_settings):
    dead = [
        ("d1", "http://tokentide-test-1.invalid/feed"),
        ("d2", "http://tokentide-test-2.invalid/f"),
    ]
    settings = feed_settings(dead)
    for _ in range(4):
        counts = await poll(db, settings)
        assert counts["errors"] == 2
    row = feed(db, "d1")
    assert row["error_count"] == 0 and row["disabled_reason"] is None
    assert row["last_error"].startswith("network unreachable, machine looks offline")
    assert "DNS lookup failed for tokentide-test-1.invalid" in row["last_error"]
    # With another host answering, a DNS failure is that feed's own problem and counts.
    mixed = feed_settings([*dead, ("ok", feed_server.url("/feed/techmeme_feed.xml"))])
    await poll(db, mixed)
    row = feed(db, "d1")
    assert row["error_count"] == 1
    assert row["last_error"] == "DNS lookup failed for tokentide-test-1.invalid"


async def test_per_host_limit_is_respected(db, feed_server, feed_settings):
    feed_server.max_inflight = 0
    feeds = [(f"s{i}", feed_server.url(f"/slow/techmeme_feed.xml?n={i}")) for i in range(6)]
    await poll(db, feed_settings(feeds, per_host=2))
    assert feed_server.max_inflight == 2


async def test_removed_config_feed_is_switched_off_not_deleted(db, feed_server, feed_settings):
    a = ("a", feed_server.url("/feed/techmeme_feed.xml"))
    b = ("b", feed_server.url("/feed/theverge_ai_index.xml"))
    await poll(db, feed_settings([a, b]))
    counts = await poll(db, feed_settings([a]))
    assert counts["feeds_polled"] == 1
    assert feed(db, "b")["enabled"] == 0 and count_for(db, "b") == 10


async def test_parser_processes_give_the_same_archive(db, feed_server, feed_settings):
    feeds = [(n, feed_server.url(f"/feed/{n}"), n) for n in PUBLISHER_FEEDS]
    feeds.append(("login", feed_server.url("/login")))
    settings = feed_settings(feeds, parse_processes=1)
    pool = make_parse_pool(settings)
    assert pool is not None
    with pool:
        counts = await poll(db, settings, parse_pool=pool)
    assert counts["new_articles"] == 98 and counts["errors"] == 1
    assert feed(db, "login")["last_error"].startswith("not a feed: got an HTML page")
    assert make_parse_pool(feed_settings(feeds)) is None  # default: parse in a thread


@pytest.mark.parametrize(
    ("encoding", "transform", "outcome"),
    [
        ("deflate", zlib.compress, None),
        ("gzip", lambda b: b"\x1f\x8b\x08\x00garbage" + b, "compressed body is corrupt"),
        ("br", lambda b: b, "server used an unsupported compression ('br')"),
    ],
)
async def test_content_encodings(db, feed_server, feed_settings, encoding, transform, outcome):
    body = rss([("e1", "https://enc.example/1", "Encoded item")])
    headers = {"Content-Type": "application/rss+xml", "Content-Encoding": encoding}
    url = feed_server.set(f"enc-{encoding}", transform(body), headers=headers)
    await poll(db, feed_settings([("E", url)]))
    row = feed(db, "E")
    if outcome is None:
        assert row["last_error"] is None and count_for(db, "E") == 1
    else:
        assert row["last_error"].startswith(outcome) and count_for(db, "E") == 0


async def test_broken_parser_pool_falls_back_to_a_thread(db, feed_server, feed_settings):
    import os
    from concurrent.futures.process import BrokenProcessPool

    settings = feed_settings(
        [("tm", feed_server.url("/feed/techmeme_feed.xml"))], parse_processes=1
    )
    pool = make_parse_pool(settings)
    with pool:
        with pytest.raises(BrokenProcessPool):
            pool.submit(os._exit, 1).result()  # a worker dies, as if killed for memory
        counts = await poll(db, settings, parse_pool=pool)
    assert counts == {
        "feeds_polled": 1,
        "new_articles": 15,
        "errors": 0,
        "not_modified": 0,
        "failures": [],
    }
