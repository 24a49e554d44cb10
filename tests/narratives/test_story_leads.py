"""Who reported a story first, as analyze keeps it and the commands show it: distinct outlets in
order of first report (syndicated copies add none), the China/West lead from dated articles
only, and the `stories` columns Datasette reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.clock import to_iso, utcnow
from bot.narratives.pipeline import analyze_pending
from bot.narratives.stories import recent_stories, refresh_story_leads, story_detail
from bot.store.stories import refresh_outlet_leads

from .conftest import HashingEmbedder, insert_article

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
TEXT = "Beijing told ByteDance Alibaba and Tencent to stop buying Nvidia RTX Pro 6000D chips"


def add(db, outlet, country, kind, hour, title, *, dated=True, url=None):
    return insert_article(
        db,
        url=url or f"https://news.test/{outlet.replace(' ', '-')}/{hour}",
        title=title,
        summary=TEXT,
        outlet=outlet,
        outlet_country=country,
        outlet_kind=kind,
        published_at=f"2026-11-27T{hour:02d}:00:00Z" if dated else None,
        fetched_at=f"2026-11-27T{hour:02d}:05:00Z",
    )


@pytest.fixture
def story(db, settings):
    """SCMP, Global Times and Reuters report it; a copy of Reuters' story on another outlet,
    an undated report from The Verge and a BIS notice follow."""
    add(
        db,
        "South China Morning Post",
        "HK",
        "newspaper",
        1,
        "China tells firms to stop buying Nvidia RTX chips",
    )
    add(
        db,
        "Global Times",
        "CN",
        "state media",
        2,
        "Chinese firms told to halt buying Nvidia RTX chips",
    )
    reuters = "China bans big tech firms from buying Nvidia RTX Pro 6000D chips"
    add(db, "Reuters", "GB", "wire", 4, reuters)
    add(db, "Bangkok Post", "TH", "newspaper", 5, reuters)  # the wire story, syndicated
    add(
        db,
        "The Verge",
        "US",
        "trade press",
        9,
        "China stops tech firms buying Nvidia RTX chips",
        dated=False,
    )
    add(
        db,
        "Bureau of Industry and Security",
        "US",
        "official",
        0,
        "BIS statement on Nvidia RTX chips sales to China",
    )
    analyze_pending(db, settings, HashingEmbedder(), now=NOW)
    ids = {r[0] for r in db.execute("SELECT DISTINCT story_id FROM articles")}
    assert len(ids) == 1
    return ids.pop()


def test_syndicated_copies_add_no_outlet_and_official_sources_never_lead(db, story):
    copy = db.execute("SELECT duplicate_of FROM articles WHERE outlet = 'Bangkok Post'").fetchone()[
        0
    ]
    assert copy is not None
    doc = story_detail(db, story, now=NOW)
    assert [o["name"] for o in doc["outlets"]] == [
        "Bureau of Industry and Security",  # published first, but not press
        "South China Morning Post",
        "Global Times",
        "Reuters",
        "The Verge",  # undated: listed after the dated ones, never first
    ]
    assert doc["outlet_count"] == 5
    assert doc["first_outlet"] == "Bureau of Industry and Security"
    assert doc["lead"] == {
        "china": {"outlet": "South China Morning Post", "at": "2026-11-27T01:00:00Z"},
        "west": {"outlet": "Reuters", "at": "2026-11-27T04:00:00Z"},
        "hours": 3.0,
    }
    assert doc["outlets"][-1] == {
        "name": "The Verge",
        "country": "US",
        "kind": "trade press",
        "first_at": None,
    }


def test_analyze_keeps_the_stories_columns(db, story):
    row = db.execute(
        """SELECT outlet_count, first_outlet, first_china_outlet, first_china_at,
                  first_west_outlet, first_west_at, lead_hours, china_share, west_share
           FROM stories WHERE id = ?""",
        [story],
    ).fetchone()
    assert tuple(row) == (
        5,
        "Bureau of Industry and Security",
        "South China Morning Post",
        "2026-11-27T01:00:00Z",
        "Reuters",
        "2026-11-27T04:00:00Z",
        3.0,
        0.4,
        0.6,
    )


def test_undated_articles_never_set_the_lead_and_it_is_null_when_impossible(db):
    sid = db.execute("INSERT INTO stories (title) VALUES ('t')").lastrowid
    for outlet, country, hour, dated in (
        ("Caixin", "CN", 1, False),
        ("Global Times", "CN", 2, False),
        ("Reuters", "GB", 3, True),
    ):
        aid = add(db, outlet, country, "newspaper", hour, f"{outlet} report", dated=dated)
        db.execute("UPDATE articles SET story_id = ? WHERE id = ?", [sid, aid])
    (lead,) = refresh_story_leads(db, [sid])
    assert (lead.first_china_outlet, lead.first_west_outlet, lead.lead_hours) == (
        None,
        "Reuters",
        None,
    )
    doc = story_detail(db, sid, now=NOW)
    assert doc["lead"] == {
        "china": None,
        "west": {"outlet": "Reuters", "at": "2026-11-27T03:00:00Z"},
        "hours": None,
    }
    assert doc["lead_marker"] is None
    assert [o["first_at"] for o in doc["outlets"]] == ["2026-11-27T03:00:00Z", None, None]


def run(tmp_path: Path, db_path, *args):
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\n", encoding="utf-8")
    return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db_path), *args])


def test_story_json_and_the_stories_list_show_the_lead(db, db_path, story, tmp_path):
    one = json.loads(run(tmp_path, db_path, "story", str(story), "--json").stdout)
    assert set(one["lead"]) == {"china", "west", "hours"}
    assert set(one["outlets"][0]) == {"name", "country", "kind", "first_at"}
    assert one["lead_marker"] == "CN press first, +3 h"
    text = run(tmp_path, db_path, "story", str(story)).stdout
    assert "lead: CN press first, +3 h" in text
    assert "South China Morning Post (HK, newspaper)" in text
    # The command reads the wall clock: date the story's last article now.
    db.execute(
        "UPDATE stories SET topics = '[\"chips\"]', last_seen = ? WHERE id = ?",
        [to_iso(utcnow()), story],
    )
    listed = run(tmp_path, db_path, "stories", "--hours", "1")
    assert listed.exit_code == 0, listed.output
    assert "(CN press first, +3 h)" in listed.stdout
    assert recent_stories(db, now=utcnow(), hours=1)[0]["region_share"] == {
        "china": 0.4,
        "west": 0.6,
        "other": 0.0,
        "unknown": 0.0,
    }


def _canned_sql(name: str) -> str:
    import yaml

    import bot

    path = Path(bot.__file__).parent / "site" / "metadata.yaml"
    meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    return next(d["queries"][name]["sql"] for d in meta["databases"].values())


def test_the_who_reported_first_query_ranks_outlets_by_stories_led_per_topic(db, story):
    # A second story on the same topic, broken by Reuters, with SCMP following.
    sid = db.execute("INSERT INTO stories (title) VALUES ('second')").lastrowid
    for outlet, country, hour in (("Reuters", "GB", 6), ("South China Morning Post", "HK", 8)):
        aid = add(db, outlet, country, "newspaper", hour, f"{outlet} second")
        db.execute("UPDATE articles SET story_id = ? WHERE id = ?", [sid, aid])
    refresh_story_leads(db, [sid])
    db.execute("UPDATE stories SET topics = '[\"export_controls\"]'")
    refresh_outlet_leads(db)  # as the end of an analysis does
    rows = [dict(r) for r in db.query(_canned_sql("who_reported_first"))]
    top = {(r["outlet"], r["led"], r["covered"], r["region"]) for r in rows if r["led"]}
    assert top == {
        ("Bureau of Industry and Security", 1, 1, "west"),
        ("Reuters", 1, 2, "west"),
    }
    scmp = next(r for r in rows if r["outlet"] == "South China Morning Post")
    assert (scmp["led"], scmp["covered"], scmp["country"], scmp["region"]) == (0, 2, "HK", "china")
    assert "Bangkok Post" not in {r["outlet"] for r in rows}  # a syndicated copy covers nothing
    assert {r["topic"] for r in rows} == {"export_controls"}


# Every original, attributed article's outlet, grouped per story: what `story_outlets` keeps.
_FROM_ARTICLES = """
    SELECT story_id, outlet, max(outlet_country), max(outlet_kind),
           min(coalesce(published_at, fetched_at))
    FROM articles WHERE story_id IS NOT NULL AND duplicate_of IS NULL AND outlet IS NOT NULL
    GROUP BY story_id, outlet ORDER BY story_id, outlet"""


def story_outlets(db):
    return db.execute(
        "SELECT story_id, outlet, country, kind, first_report FROM story_outlets "
        "ORDER BY story_id, outlet"
    ).fetchall()


def test_story_outlets_follow_analyze_and_merges(db, settings, story):
    rows = story_outlets(db)
    assert [r[1] for r in rows] == [
        "Bureau of Industry and Security",
        "Global Times",
        "Reuters",
        "South China Morning Post",
        "The Verge",
    ]  # the syndicated Bangkok Post copy is not one of them
    assert rows == db.execute(_FROM_ARTICLES).fetchall()

    # A second story, then merged into the first: its outlets move with its articles. The
    # first is put on a topic by hand, so only the next analysis can bring outlet_leads up to
    # date.
    db.execute("UPDATE stories SET topics = '[\"token_economics\"]' WHERE id = ?", [story])
    assert db.execute("SELECT count(*) FROM outlet_leads").fetchone()[0] == 10  # 5 x 2 topics
    insert_article(
        db,
        url="https://www.caixinglobal.com/wuxi-fab",
        title="Wuxi memory fab opens its second line",
        summary="A memory maker opened a second production line at its Wuxi plant on Friday",
        outlet="Caixin",
        outlet_country="CN",
        outlet_kind="newspaper",
        published_at="2026-11-27T11:00:00Z",
    )
    analyze_pending(db, settings, HashingEmbedder(), now=NOW)
    other = db.execute("SELECT story_id FROM articles WHERE outlet = 'Caixin'").fetchone()[0]
    assert other != story
    assert story_outlets(db) == db.execute(_FROM_ARTICLES).fetchall()
    leads = db.execute("SELECT * FROM outlet_leads ORDER BY topic, outlet").fetchall()
    assert [(r[0], r[1], r[4], r[5]) for r in leads] == [
        ("token_economics", "Bureau of Industry and Security", 1, 1),
        ("token_economics", "Global Times", 0, 1),
        ("token_economics", "Reuters", 0, 1),
        ("token_economics", "South China Morning Post", 0, 1),
        ("token_economics", "The Verge", 0, 1),
    ]
    from bot.store.stories import merge_story

    merge_story(db, other, story)
    assert story_outlets(db) == db.execute(_FROM_ARTICLES).fetchall()
    assert {r[0] for r in story_outlets(db)} == {story}


def test_the_migration_fills_story_outlets_for_an_archive_analysed_before_it(
    tmp_path, monkeypatch, settings
):
    from dataclasses import replace

    from bot.store import migrations
    from bot.store.db import open_db

    path = tmp_path / "old.db"
    before = [m for m in migrations.MIGRATIONS if m[0] != "outlets-2"]
    monkeypatch.setattr(migrations, "MIGRATIONS", before)
    db = open_db(path)
    # The release before had neither table, so analyze kept neither.
    monkeypatch.setattr("bot.store.stories.refresh_story_outlets", lambda db, ids: None)
    monkeypatch.setattr("bot.store.stories.refresh_outlet_leads", lambda db: None)
    add(db, "Reuters", "GB", "wire", 4, "China bans firms buying Nvidia RTX Pro chips")
    insert_article(
        db,
        url="https://www.globaltimes.cn/rtx",
        title="Chinese firms told to halt buying Nvidia RTX chips",
        summary=TEXT + ", regulators said on Thursday, citing security concerns",
        outlet="Global Times",
        outlet_country="CN",
        outlet_kind="state media",
        published_at="2026-11-27T02:00:00Z",
    )
    analyze_pending(db, replace(settings, db_path=str(path)), HashingEmbedder(), now=NOW)
    assert "story_outlets" not in db.table_names()
    db.close()
    monkeypatch.undo()

    db = open_db(path)  # applies outlets-2 only
    try:
        assert story_outlets(db) == db.execute(_FROM_ARTICLES).fetchall()
        assert {r[1] for r in story_outlets(db)} == {"Reuters", "Global Times"}
        rows = [dict(r) for r in db.query(_canned_sql("who_reported_first"))]
        assert {(r["outlet"], r["covered"]) for r in rows} >= {("Reuters", 1), ("Global Times", 1)}
    finally:
        db.close()
