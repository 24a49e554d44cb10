"""`analyze --reattribute`: archived articles take the current registry and feeds.yaml outlets,
and their stories' lead follows; a rerun writes nothing; a failed batch leaves its rows as
they were."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.config import load_settings
from bot.feeds.outlets import load_registry, reattribute
from bot.narratives.pipeline import analyze_pending
from bot.narratives.reattribute import reattribute_archive
from bot.store.db import ArchiveProblem

from .conftest import HashingEmbedder, insert_article, run_cli

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
TEXT = "Beijing told ByteDance Alibaba and Tencent to stop buying Nvidia RTX Pro 6000D chips"
REGISTRY = load_registry()


# ---- the rule, one stored article at a time --------------------------------------------------


def test_a_link_on_a_registered_domain_takes_the_registry_row():
    found = reattribute("https://www.scmp.com/tech/article/1", "scmp.com", REGISTRY)
    assert (found.name, found.country, found.kind) == (
        "South China Morning Post",
        "HK",
        "newspaper",
    )


def test_a_google_news_item_keeps_its_source_name_as_the_registry_knows_it_now():
    link = "https://news.google.com/rss/articles/CBMiX2h0dHBz?oc=5"
    found = reattribute(link, "SCMP", REGISTRY)
    assert (found.name, found.country) == ("South China Morning Post", "HK")
    unknown = reattribute(link, "Some Chip Newsletter", REGISTRY)
    assert (unknown.name, unknown.country, unknown.kind) == ("Some Chip Newsletter", None, None)
    assert reattribute(link, None, REGISTRY) is None  # no source: still nobody


def test_the_feed_outlet_comes_first_with_its_own_country():
    found = reattribute(
        "https://feeds.example.net/x",
        "feeds.example.net",
        REGISTRY,
        feed_outlet="Chip Letter",
        feed_country="NL",
        feed_kind="newsletter",
    )
    assert (found.name, found.country, found.kind) == ("Chip Letter", "NL", "newsletter")


def test_an_item_of_a_feed_whose_outlet_is_google_news_keeps_its_source():
    """The shipped Google News feeds set `outlet: Google News`: an aggregator, so each item's
    outlet is its source, which the archive kept as the outlet's name."""
    link = "https://news.google.com/rss/articles/CBMiX2h0dHBz?oc=5"
    found = reattribute(link, "South China Morning Post", REGISTRY, feed_outlet="Google News")
    assert (found.name, found.country) == ("South China Morning Post", "HK")
    unknown = reattribute(link, "Chip Letter", REGISTRY, feed_outlet="Google News")
    assert (unknown.name, unknown.country) == ("Chip Letter", None)
    assert reattribute(link, None, REGISTRY, feed_outlet="Google News") is None
    # Its item linked to the publisher's page: the registry row of that site.
    page = reattribute("https://www.reuters.com/tech/x", "Reuters", REGISTRY, feed_outlet="GN")
    assert (page.name, page.country) == ("GN", None)  # a feed outlet the registry does not know
    reuters = reattribute(
        "https://www.reuters.com/tech/x", "Reuters", REGISTRY, feed_outlet="Google News"
    )
    assert (reuters.name, reuters.country, reuters.kind) == ("Reuters", "GB", "wire")


def test_an_unknown_domain_stays_its_domain_and_an_ip_stays_an_ip():
    found = reattribute("https://blog.unknown-chips.example/p/1", "unknown-chips.example", REGISTRY)
    assert (found.name, found.country, found.kind) == ("unknown-chips.example", None, None)
    ip = reattribute("http://203.0.113.7/news/1", "203.0.113.7", REGISTRY)
    assert (ip.name, ip.country) == ("203.0.113.7", None)


# ---- the command on a real archive -----------------------------------------------------------


def add(db, url, outlet, hour, title, country=None, kind=None):
    return insert_article(
        db,
        url=url,
        link=url,
        title=title,
        summary=TEXT,
        outlet=outlet,
        outlet_country=country,
        outlet_kind=kind,
        published_at=f"2026-11-27T{hour:02d}:00:00Z",
        fetched_at=f"2026-11-27T{hour:02d}:05:00Z",
    )


@pytest.fixture
def old_story(db, settings):
    """One story as an archive from before the registry holds it: outlets as bare domains or
    source names, no country, no kind, so no lead."""
    add(db, "https://www.scmp.com/tech/a1", "scmp.com", 1, "China tells firms to stop Nvidia RTX")
    add(db, "https://www.globaltimes.cn/a2", "globaltimes.cn", 2, "Firms told to halt Nvidia RTX")
    add(db, "https://www.reuters.com/a3", "reuters.com", 4, "China bans firms buying Nvidia RTX")
    add(db, "https://www.chipwire.example/a4", "chipwire.example", 5, "Nvidia RTX halt in China")
    gnews = "https://news.google.com/rss/articles/CBMiabc?oc=5"
    add(db, gnews, "The Verge", 6, "China stops tech firms buying Nvidia RTX chips")
    analyze_pending(db, settings, HashingEmbedder(), now=NOW)
    ids = {r[0] for r in db.execute("SELECT DISTINCT story_id FROM articles")}
    assert len(ids) == 1
    return ids.pop()


def story_row(db, sid):
    return dict(
        zip(
            ("outlet_count", "first_china_outlet", "first_west_outlet", "lead_hours"),
            db.execute(
                "SELECT outlet_count, first_china_outlet, first_west_outlet, lead_hours "
                "FROM stories WHERE id = ?",
                [sid],
            ).fetchone(),
            strict=True,
        )
    )


def test_reattribute_fills_countries_and_the_lead_then_a_rerun_writes_nothing(
    db, db_path, config, old_story
):
    assert story_row(db, old_story)["lead_hours"] is None
    config.write_text(
        "feeds: []\noutlets:\n  chipwire.example: {name: Chip Wire, country: DE, kind: "
        "trade press}\n",
        encoding="utf-8",
    )
    result = run_cli(config, db_path, "analyze", "--reattribute")
    assert result.exit_code == 0, result.output
    assert "checked the outlets of 5 articles: 5 changed" in result.stderr
    rows = db.execute(
        "SELECT outlet, outlet_country, outlet_kind FROM articles ORDER BY id"
    ).fetchall()
    assert rows == [
        ("South China Morning Post", "HK", "newspaper"),
        ("Global Times", "CN", "state media"),
        ("Reuters", "GB", "wire"),
        ("Chip Wire", "DE", "trade press"),
        ("The Verge", "US", "trade press"),
    ]
    assert story_row(db, old_story) == {
        "outlet_count": 5,
        "first_china_outlet": "South China Morning Post",
        "first_west_outlet": "Reuters",
        "lead_hours": 3.0,
    }
    shown = json.loads(run_cli(config, db_path, "story", str(old_story), "--json").stdout)
    assert shown["lead"]["hours"] == 3.0

    again = run_cli(config, db_path, "analyze", "--reattribute")
    assert again.exit_code == 0, again.output
    assert "checked the outlets of 5 articles: 0 changed" in again.stderr


def test_a_failed_batch_leaves_its_articles_and_story_as_they_were(db, db_path, old_story):
    before = db.execute("SELECT * FROM articles ORDER BY id").fetchall()
    story_before = db.execute("SELECT * FROM stories").fetchall()
    # A real failure inside the batch's transaction: the story update is refused.
    db.execute(
        "CREATE TRIGGER refuse BEFORE UPDATE ON stories BEGIN "
        "SELECT RAISE(ABORT, 'refused by test'); END"
    )
    settings = load_settings(None, db_path=str(db_path))
    with pytest.raises(ArchiveProblem, match="outlets of articles 1-5"):
        reattribute_archive(db, settings)
    assert db.execute("SELECT * FROM articles ORDER BY id").fetchall() == before
    assert db.execute("SELECT * FROM stories").fetchall() == story_before
    db.execute("DROP TRIGGER refuse")
    # Without the feeds.yaml override the unknown domain stays as it was: four change.
    assert reattribute_archive(db, settings)["changed"] == 4
    assert db.execute("SELECT outlet, outlet_country FROM articles WHERE id = 4").fetchone() == (
        "chipwire.example",
        None,
    )


def test_outlets_lists_the_unknown_ones_with_their_domain_until_an_entry_names_them(
    db, db_path, config, old_story
):
    """The maintenance loop: `outlets --unknown` names what lacks a country and where it
    lives, an `outlets:` entry plus `analyze --reattribute` fixes it."""
    run_cli(config, db_path, "analyze", "--reattribute")  # the registry's rows first
    listed = json.loads(run_cli(config, db_path, "outlets", "--json").stdout)
    assert [d["outlet"] for d in listed][:1] and len(listed) == 5
    scmp = next(d for d in listed if d["outlet"] == "South China Morning Post")
    assert scmp == {
        "outlet": "South China Morning Post",
        "country": "HK",
        "region": "china",
        "kind": "newspaper",
        "in_registry": True,
        "articles": 1,
        "stories": 1,
        "last_report": "2026-11-27T01:00:00Z",
        "domains": ["scmp.com"],
    }
    unknown = json.loads(run_cli(config, db_path, "outlets", "--unknown", "--json").stdout)
    assert [(d["outlet"], d["domains"], d["in_registry"]) for d in unknown] == [
        ("chipwire.example", ["chipwire.example"], False)
    ]
    text = run_cli(config, db_path, "outlets", "--unknown")
    assert text.exit_code == 0
    assert text.stdout.splitlines()[1].split()[:3] == ["chipwire.example", "?", "?"]

    config.write_text(
        "feeds: []\noutlets:\n  chipwire.example: {name: Chip Wire, country: DE, kind: "
        "trade press}\n",
        encoding="utf-8",
    )
    assert run_cli(config, db_path, "analyze", "--reattribute").exit_code == 0
    done = run_cli(config, db_path, "outlets", "--unknown")
    assert done.exit_code == 0 and done.stdout.strip() == "every outlet has a country"
    bad = run_cli(config, db_path, "outlets", "--limit", "0")
    assert bad.exit_code == 2 and "--limit" in bad.output


def test_outlets_on_an_empty_archive_says_so(db, db_path, config):
    for args in ((), ("--unknown",)):
        result = run_cli(config, db_path, "outlets", *args)
        assert result.exit_code == 0
        assert result.stdout.strip() == "no outlets yet: poll feeds first"
    assert json.loads(run_cli(config, db_path, "outlets", "--json").stdout) == []


def test_an_outlet_seen_only_through_google_news_has_no_domain_to_suggest(db, db_path, config):
    add(db, "https://news.google.com/rss/articles/CBMiabc?oc=5", "Chip Letter", 3, "Chips")
    text = run_cli(config, db_path, "outlets")
    assert text.exit_code == 0
    assert "(aggregator links only)" in text.stdout
    assert json.loads(run_cli(config, db_path, "outlets", "--json").stdout)[0]["domains"] == []


def test_google_news_items_of_the_shipped_kind_of_feed_keep_their_sources(db, db_path, tmp_path):
    """An archive polled from a feed configured like the shipped Google News ones (`outlet:
    Google News`): every item keeps its own source through a reattribution."""
    feed_url = "https://news.google.com/rss/search?q=chips"
    config = tmp_path / "gn.yaml"
    config.write_text(
        f'feeds:\n  - {{name: GN chips, url: "{feed_url}", outlet: Google News}}\n',
        encoding="utf-8",
    )
    feed_id = db.execute(
        "INSERT INTO feeds (url, name, outlet, created_at) VALUES (?, 'GN chips', 'Google News', "
        "'2026-11-27T00:00:00Z')",
        [feed_url],
    ).lastrowid
    for n, source in enumerate(("scmp.com", "Chip Letter", None)):
        insert_article(
            db,
            feed_id=feed_id,
            url=f"https://news.google.com/rss/articles/CBMi{n}?oc=5",
            link=f"https://news.google.com/rss/articles/CBMi{n}?oc=5",
            title=f"item {n}",
            outlet=source,
        )
    settings = load_settings(config, db_path=str(db_path))
    assert reattribute_archive(db, settings)["changed"] == 1  # scmp.com, named by the registry
    assert db.execute("SELECT outlet, outlet_country FROM articles ORDER BY id").fetchall() == [
        ("South China Morning Post", "HK"),
        ("Chip Letter", None),
        (None, None),
    ]
