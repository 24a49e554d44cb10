"""Multi-statement feed writes are all or nothing, shown with real SQLite failures injected
half-way (an aborting trigger, a full disk), followed by a clean rerun."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime

import pytest

from bot.errors import StoreError
from bot.feeds.fetch import make_client
from bot.feeds.poll import poll_feeds, sync_config_feeds

from .test_cli_feeds import feeds_rows, run_cli, write_config

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
REGISTER = "theregister_headlines.atom"  # 50 items


async def poll(db, settings) -> dict:
    async with make_client(settings) as client:
        return await poll_feeds(db, settings, client, now=NOW, all_feeds=True, rng=random.Random(0))


def snapshot(db) -> tuple[list, list, int]:
    feeds = [dict(r) for r in db.query("SELECT * FROM feeds ORDER BY id")]
    articles = [dict(r) for r in db.query("SELECT * FROM articles ORDER BY id")]
    indexed = db.execute("SELECT count(*) FROM articles_fts").fetchone()[0]
    return feeds, articles, indexed


async def test_full_disk_mid_batch_leaves_the_feed_untouched(db, feed_server, feed_settings):
    settings = feed_settings([("reg", feed_server.url(f"/feed/{REGISTER}"))])
    sync_config_feeds(db, settings, now=NOW)
    before = snapshot(db)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    # Room for a few articles, not for 50 (with their full-text index).
    db.execute(f"PRAGMA max_page_count = {pages + 3}")
    with pytest.raises(StoreError, match="database or disk is full") as caught:
        await poll(db, settings)
    assert "storing the poll of http://" in str(caught.value)
    assert snapshot(db) == before  # no articles, validators and health as they were

    db.execute("PRAGMA max_page_count = 1073741823")
    counts = await poll(db, settings)
    assert counts == {
        "feeds_polled": 1,
        "new_articles": 50,
        "errors": 0,
        "not_modified": 0,
        "failures": [],
    }
    total, distinct = db.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchone()
    assert total == distinct == 50
    assert db.execute("SELECT count(*) FROM articles_fts").fetchone()[0] == 50
    (feed,) = db.query("SELECT etag, last_success_at, error_count FROM feeds")
    assert feed["etag"] and feed["last_success_at"] and feed["error_count"] == 0
    assert (await poll(db, settings))["new_articles"] == 0


async def test_validators_failing_after_the_articles_undo_the_articles(
    db, feed_server, feed_settings
):
    settings = feed_settings([("reg", feed_server.url(f"/feed/{REGISTER}"))])
    sync_config_feeds(db, settings, now=NOW)
    before = snapshot(db)
    # Fires on the feed update that follows the 50 article inserts.
    db.execute(
        "CREATE TRIGGER boom BEFORE UPDATE OF last_success_at ON feeds "
        "WHEN NEW.last_success_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'injected'); END"
    )
    with pytest.raises(StoreError, match="injected"):
        await poll(db, settings)
    assert snapshot(db) == before

    db.execute("DROP TRIGGER boom")
    assert (await poll(db, settings))["new_articles"] == 50
    assert (await poll(db, settings))["new_articles"] == 0
    assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 50


def test_config_sync_is_all_or_nothing(db, feed_settings):
    feeds = [(f"f{i}", f"https://f{i}.example/rss") for i in range(4)]
    db.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON feeds "
        "WHEN (SELECT count(*) FROM feeds) >= 2 BEGIN SELECT RAISE(ABORT, 'injected'); END"
    )
    with pytest.raises(StoreError, match="injected"):
        sync_config_feeds(db, feed_settings(feeds), now=NOW)
    assert db.execute("SELECT count(*) FROM feeds").fetchone()[0] == 0
    db.execute("DROP TRIGGER boom")
    counts = sync_config_feeds(db, feed_settings(feeds), now=NOW)
    assert counts == {"added": 4, "updated": 0, "retired": 0}


OPML = (
    '<?xml version="1.0"?><opml version="2.0"><head/><body>'
    + "".join(f'<outline text="Sub {i}" xmlUrl="https://sub{i}.example/feed"/>' for i in range(5))
    + "</body></opml>"
)


def test_import_opml_failing_half_way_adds_nothing(tmp_path):
    config = write_config(tmp_path / "feeds.yaml", [{"url": "https://kept.example/feed"}])
    db_file = tmp_path / "a.db"
    base = ["--config", str(config), "--db", str(db_file)]
    assert run_cli(*base, "feeds").returncode == 0  # syncs the config feed
    before = feeds_rows(db_file)
    opml = tmp_path / "subs.opml"
    opml.write_text(OPML, encoding="utf-8")
    with sqlite3.connect(db_file) as conn:
        # Aborts the third OPML feed's insert, after two went in.
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON feeds WHEN (SELECT count(*) FROM feeds) >= 3 "
            "BEGIN SELECT RAISE(ABORT, 'injected'); END"
        )
    result = run_cli(*base, "import-opml", str(opml))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "injected" in lines[0] and "nothing of it was stored" in lines[0]
    assert feeds_rows(db_file) == before

    with sqlite3.connect(db_file) as conn:
        conn.execute("DROP TRIGGER boom")
    again = run_cli(*base, "import-opml", str(opml))
    assert again.returncode == 0, again.stderr
    assert "5 feeds added, 0 already present" in again.stdout
    rows = feeds_rows(db_file)
    assert len(rows) == 6 and [r[2] for r in rows].count("opml") == 5
