"""`analyze` writes each batch as one transaction: real SQLite failures in the middle of a batch
(a trigger that aborts, a full disk) leave no partial batch, and a rerun without the fault ends
exactly where a clean run does."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from bot.narratives.pipeline import analyze_pending, count_pending
from bot.store.db import open_db

from .conftest import HashingEmbedder, insert_article

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
HEADLINES = [
    ("Reuters", "US requires licences for Nvidia H20 chip exports to China"),
    ("SCMP", "Nvidia H20 chip exports to China now require US licences"),
    ("Bloomberg", "DeepSeek cuts API token prices by half in China price war"),
    ("The Register", "US licences now required for Nvidia H20 chip exports to China"),
    ("FT", "DeepSeek halves API token prices as China price war deepens"),
    ("AP", "TSMC posts record quarterly profit on AI chip demand"),
    ("Nikkei", "TSMC quarterly profit hits record as AI chip demand surges"),
    ("Yahoo", "US requires licences for Nvidia H20 chip exports to China"),  # a syndicated copy
    ("Reuters", "Moonshot releases Kimi K2 open model, tops agent benchmark"),
    ("SCMP", "Kimi K2 from Moonshot tops agent benchmark as open model"),
]
BATCH = 4


def _fill(db) -> list[int]:
    return [
        insert_article(
            db,
            url=f"https://news.test/{i}",
            title=title,
            summary=f"{title}, the company said.",
            outlet=outlet,
            published_at=f"2026-11-27T{8 + i:02d}:00:00Z",
        )
        for i, (outlet, title) in enumerate(HEADLINES)
    ]


def _analyze(db, settings, **kw):
    return analyze_pending(
        db, settings, HashingEmbedder(), now=NOW, batch_size=BATCH, embed_batches=1, **kw
    )


def _assert_consistent(db) -> None:
    q = lambda sql: db.execute(sql).fetchall()  # noqa: E731
    assert (
        q("""SELECT id FROM stories s
                WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.story_id = s.id)""")
        == []
    )
    assert (
        q("""SELECT s.id FROM stories s
                WHERE article_count != (SELECT count(*) FROM articles a WHERE a.story_id = s.id)
                   OR outlet_count != (SELECT count(DISTINCT outlet) FROM articles a
                                       WHERE a.story_id = s.id AND a.duplicate_of IS NULL)""")
        == []
    )
    assert (
        q("""SELECT v.article_id FROM article_vectors v JOIN articles a ON a.id = v.article_id
                WHERE a.analyzed_at IS NULL""")
        == []
    )
    assert (
        q("""SELECT id FROM articles
                WHERE (analyzed_at IS NULL) != (story_id IS NULL)
                   OR (analyzed_at IS NULL) = (id IN (SELECT article_id FROM article_vectors))""")
        == []
    )
    assert (
        q("""SELECT story_id FROM story_vectors
                WHERE story_id NOT IN (SELECT story_id FROM articles WHERE story_id IS NOT NULL)""")
        == []
    )


def _outcome(db) -> list[tuple]:
    """What analysis decided, independent of row ids: each story with its articles (by URL),
    and each article's topics and near-duplicate."""
    url = dict(db.execute("SELECT id, url FROM articles").fetchall())
    stories = []
    for sid, title, count, outlets, first, topics, first_seen, last_seen in db.execute(
        """SELECT id, title, article_count, outlet_count, first_outlet, topics, first_seen,
                  last_seen FROM stories ORDER BY id"""
    ).fetchall():
        members = db.execute(
            "SELECT url, topics, duplicate_of FROM articles WHERE story_id = ? ORDER BY url",
            [sid],
        ).fetchall()
        members = tuple((u, t, url.get(d)) for u, t, d in members)
        vector = db.execute(
            "SELECT vector_sum, names FROM story_vectors WHERE story_id = ?", [sid]
        ).fetchone()
        stories.append(
            (members, title, count, outlets, first, topics, first_seen, last_seen, vector)
        )
    return sorted(stories)


@pytest.fixture
def clean(tmp_path, settings):
    """The outcome of an uninterrupted run on the same articles."""
    db = open_db(tmp_path / "clean.db")
    try:
        _fill(db)
        _analyze(db, settings)
        return _outcome(db)
    finally:
        db.close()


def test_abort_on_a_story_assignment_mid_batch_leaves_no_partial_batch(db, settings, clean):
    ids = _fill(db)
    # The second batch (articles 5-8) fails when its third article gets its story id: by then
    # the batch has created stories and written vectors in the same transaction.
    victim = ids[BATCH + 2]
    db.execute(
        f"""CREATE TRIGGER boom BEFORE UPDATE OF story_id ON articles
            WHEN NEW.id = {victim} AND NEW.story_id IS NOT NULL
            BEGIN SELECT RAISE(ABORT, 'injected'); END"""
    )
    with pytest.raises(sqlite3.IntegrityError, match="injected"):
        _analyze(db, settings)
    assert count_pending(db) == len(ids) - BATCH  # the first batch stays, the second is gone
    assert db.execute("SELECT count(*) FROM article_vectors").fetchone()[0] == BATCH
    assert db.execute("SELECT sum(article_count) FROM stories").fetchone()[0] == BATCH
    _assert_consistent(db)

    db.execute("DROP TRIGGER boom")
    result = _analyze(db, settings)
    assert result["analyzed"] == len(ids) - BATCH
    assert count_pending(db) == 0
    _assert_consistent(db)
    assert _outcome(db) == clean


def test_full_disk_mid_batch_leaves_no_partial_batch(db, settings, clean):
    ids = _fill(db)
    committed = []

    def fill_the_disk(n: int) -> None:
        committed.append(n)
        if len(committed) == 1:
            # After the first batch the file may not grow: the next batch hits SQLITE_FULL as
            # soon as it needs a new page, part-way through its writes.
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {pages}")

    with pytest.raises(sqlite3.OperationalError, match="full"):
        _analyze(db, settings, progress=fill_the_disk)
    done = sum(committed)
    assert done >= BATCH and count_pending(db) == len(ids) - done
    assert db.execute("SELECT count(*) FROM article_vectors").fetchone()[0] == done
    assert db.execute("SELECT sum(article_count) FROM stories").fetchone()[0] == done
    _assert_consistent(db)

    db.execute("PRAGMA max_page_count = 1073741823")
    _analyze(db, settings)
    assert count_pending(db) == 0
    _assert_consistent(db)
    assert _outcome(db) == clean
