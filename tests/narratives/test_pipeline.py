"""analyze_pending on a real SQLite archive, with the hashing embedder standing in for the model."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.narratives.pipeline import analyze_pending, count_pending
from bot.narratives.stories import recent_stories, story_detail

from .conftest import HashingEmbedder, feed_articles, insert_article

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

EVENT_A = [
    ("Reuters", "US requires licences for Nvidia H20 chip exports to China"),
    ("SCMP", "Nvidia H20 chip exports to China now require US licences"),
    ("The Register", "US licences now required for Nvidia H20 chip exports to China"),
]
EVENT_B = [
    ("Reuters", "DeepSeek cuts API token prices by half in China price war"),
    ("Bloomberg", "DeepSeek halves API token prices as China price war deepens"),
]


def _insert_events(db):
    ids = []
    for i, (outlet, title) in enumerate(EVENT_A + EVENT_B):
        ids.append(
            insert_article(
                db,
                url=f"https://news.test/{i}",
                title=title,
                summary=f"<p>{title}, the company said.</p>",
                outlet=outlet,
                published_at=f"2026-11-27T{10 + i:02d}:00:00Z",
            )
        )
    return ids


def _story_counts_consistent(db):
    for sid, count, outlets in db.execute(
        "SELECT id, article_count, outlet_count FROM stories"
    ).fetchall():
        real = db.execute(
            "SELECT count(*), count(DISTINCT outlet) FROM articles WHERE story_id = ?", [sid]
        ).fetchone()
        assert (count, outlets) == tuple(real), f"story {sid} counts drifted"


def test_analyze_tags_clusters_and_is_idempotent(db, settings):
    ids = _insert_events(db)
    result = analyze_pending(db, settings, HashingEmbedder(), now=NOW, batch_size=2)
    assert result["analyzed"] == 5
    rows = {
        r[0]: r[1:]
        for r in db.execute("SELECT id, story_id, analyzed_at, topics FROM articles").fetchall()
    }
    a_story = {rows[i][0] for i in ids[:3]}
    b_story = {rows[i][0] for i in ids[3:]}
    assert len(a_story) == 1 and len(b_story) == 1 and a_story != b_story
    assert all(r[1] == "2026-11-28T12:00:00Z" for r in rows.values())
    assert all(isinstance(json.loads(r[2]), list) for r in rows.values())
    assert db.execute("SELECT count(*) FROM article_vectors").fetchone()[0] == 5
    story = story_detail(db, a_story.pop(), now=NOW)
    assert story["first_outlet"] == "Reuters"
    assert [o["name"] for o in story["outlets"]] == ["Reuters", "SCMP", "The Register"]
    assert story["article_count"] == 3 and story["outlet_count"] == 3

    again = analyze_pending(db, settings, HashingEmbedder(), now=NOW)
    assert again["analyzed"] == 0
    assert db.execute("SELECT count(*) FROM stories").fetchone()[0] == 2
    _story_counts_consistent(db)


def test_later_run_joins_stories_from_the_archive(db, settings):
    _insert_events(db)
    first = analyze_pending(db, settings, HashingEmbedder(), now=NOW)
    assert (first["new_stories"], first["stories_joined"]) == (2, 0)
    late = insert_article(
        db,
        url="https://news.test/late",
        title="Nvidia H20 chip exports to China need US licences, Commerce says",
        outlet="AP",
        published_at="2026-11-28T09:00:00Z",
    )
    later = analyze_pending(db, settings, HashingEmbedder(), now=NOW)
    assert (later["new_stories"], later["stories_joined"]) == (0, 1)
    sid = db.execute("SELECT story_id FROM articles WHERE id = ?", [late]).fetchone()[0]
    assert db.execute("SELECT article_count FROM stories WHERE id = ?", [sid]).fetchone()[0] == 4
    _story_counts_consistent(db)


def test_crash_mid_analysis_then_rerun_completes_without_double_counting(db, settings):
    _insert_events(db)
    # Batches of 2 in time order: articles 1-2 commit, the batch holding article 4 blows up.
    crashing = HashingEmbedder(fail_on="token prices by half in China")
    with pytest.raises(RuntimeError, match="simulated crash"):
        analyze_pending(db, settings, crashing, now=NOW, batch_size=2, embed_batches=1)
    assert count_pending(db) == 3
    assert db.execute("SELECT sum(article_count) FROM stories").fetchone()[0] == 2
    _story_counts_consistent(db)

    analyze_pending(db, settings, HashingEmbedder(), now=NOW, batch_size=2)
    assert count_pending(db) == 0
    assert db.execute("SELECT sum(article_count) FROM stories").fetchone()[0] == 5
    assert db.execute("SELECT count(*) FROM stories").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM article_vectors").fetchone()[0] == 5
    _story_counts_consistent(db)


def test_bad_inputs_are_analysed_without_harm(db, settings):
    odd = {
        "empty": insert_article(db, url="https://x.test/1", title="", summary=""),
        "chinese": insert_article(
            db,
            url="https://x.test/2",
            title="英伟达暂停H20芯片生产",
            summary="据报道，英伟达已要求供应商暂停生产。",
        ),
        "long": insert_article(
            db,
            url="https://x.test/3",
            title="Long one",
            summary="<div>" + "blah " * 200_000 + "</div>",
        ),
        "html": insert_article(
            db,
            url="https://x.test/4",
            title="<b>Bold</b> &amp; odd",
            summary='<script>alert(1)</script><img src="x"><p>Chip news</p>',
        ),
        "no_date": insert_article(
            db, url="https://x.test/5", title="Undated chip story", published_at=None
        ),
    }
    result = analyze_pending(db, settings, HashingEmbedder(), now=NOW)
    assert result["analyzed"] == 5
    rows = {
        r[0]: r[1:]
        for r in db.execute("SELECT id, story_id, topics, analyzed_at FROM articles").fetchall()
    }
    assert all(r[0] is not None and r[2] is not None for r in rows.values())
    assert json.loads(rows[odd["empty"]][1]) == []
    title = db.execute("SELECT title FROM stories WHERE id = ?", [rows[odd["html"]][0]]).fetchone()[
        0
    ]
    assert "<" not in title and "&amp;" not in title
    # the undated article is placed at its fetch time
    undated = story_detail(db, rows[odd["no_date"]][0], now=NOW)
    assert undated["first_seen"] == "2026-11-27T10:05:00Z"


def test_recent_stories_filters_and_ranks(db, settings):
    _insert_events(db)
    analyze_pending(db, settings, HashingEmbedder(), now=NOW)
    stories = recent_stories(db, now=NOW, hours=48)
    assert [s["article_count"] for s in stories] == [3, 2]  # broader story first
    s = stories[0]
    assert set(s) >= {
        "id",
        "title",
        "first_seen",
        "last_seen",
        "article_count",
        "outlet_count",
        "topics",
        "first_outlet",
        "outlets",
        "momentum",
        "score",
        "articles",
    }
    assert s["momentum"] > 0
    assert set(s["articles"][0]) == {"id", "title", "url", "outlet", "published_at", "duplicate_of"}
    assert recent_stories(db, now=NOW, hours=48, limit=1) == stories[:1]
    assert recent_stories(db, now=datetime(2026, 12, 30, tzinfo=UTC), hours=24) == []
    with db.conn:
        db.execute("UPDATE stories SET topics = '[\"chips\"]' WHERE id = ?", [s["id"]])
    assert [x["id"] for x in recent_stories(db, now=NOW, hours=48, topic="chips")] == [s["id"]]


def test_real_feed_items_with_html_summaries(db, settings):
    for item in feed_articles():
        insert_article(db, **item)
    n = count_pending(db)
    assert n >= 25
    analyze_pending(db, settings, HashingEmbedder(), now=NOW)
    assert count_pending(db) == 0
    assert db.execute("SELECT count(*) FROM articles WHERE story_id IS NULL").fetchone()[0] == 0
    _story_counts_consistent(db)


def test_story_named_by_a_snippet_takes_the_first_headline_from_a_later_run(db, settings):
    first = insert_article(
        db,
        url="https://x.test/a",
        title="",
        summary="Nvidia H20 chip exports to China now require US licences, Commerce said",
    )
    analyze_pending(db, settings, HashingEmbedder(), now=NOW)
    sid = db.execute("SELECT story_id FROM articles WHERE id = ?", [first]).fetchone()[0]
    assert (
        db.execute("SELECT title FROM stories WHERE id = ?", [sid])
        .fetchone()[0]
        .startswith("Nvidia H20")
    )
    late = insert_article(
        db,
        url="https://x.test/b",
        title="Nvidia H20 chip exports to China now require US licences",
        published_at="2026-11-27T11:00:00Z",
    )
    analyze_pending(db, settings, HashingEmbedder(), now=NOW)
    assert db.execute("SELECT story_id FROM articles WHERE id = ?", [late]).fetchone()[0] == sid
    title = db.execute("SELECT title FROM stories WHERE id = ?", [sid]).fetchone()[0]
    assert title == "Nvidia H20 chip exports to China now require US licences"
