"""A full disk: `poll` and `analyze` end with one line ("archive disk full: …") and exit 1,
store nothing half-way, and carry on cleanly once space returns.

The archive lives on a 4 MiB tmpfs filled up by a file, so SQLite meets a real ENOSPC, as it
would on a full volume. A little room is left so SQLite can open the file and its WAL index;
the writes then run out of space.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest
import yaml

from bot.errors import StoreError
from bot.store.db import open_db, refused_write, transaction
from tests.feeds.feed_server import PUBLISHER_FEEDS

from .process import clean_env, one_error_line, tokentide

ARTICLES = 98  # what the five publisher captures hold (tests/feeds/test_cli_feeds.py)
LEFT_FREE = 48 * 1024


def fill(disk: Path) -> Path:
    """Fill `disk` up, then give back LEFT_FREE bytes; returns the filler file."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        chunk = b"\0" * 65536
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    size = filler.stat().st_size
    with filler.open("r+b") as out:
        out.truncate(max(size - LEFT_FREE, 0))
    return filler


def counts(archive: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{archive}?mode=ro", uri=True)
    try:
        return {
            "articles": conn.execute("SELECT count(*) FROM articles").fetchone()[0],
            "checked_feeds": conn.execute(
                "SELECT count(*) FROM feeds WHERE last_checked_at IS NOT NULL"
            ).fetchone()[0],
            "analyzed": conn.execute(
                "SELECT count(*) FROM articles WHERE analyzed_at IS NOT NULL"
            ).fetchone()[0],
            "vectors": conn.execute("SELECT count(*) FROM article_vectors").fetchone()[0],
            "stories": conn.execute("SELECT count(*) FROM stories").fetchone()[0],
        }
    finally:
        conn.close()


@pytest.fixture
def workdir(tmp_path: Path, small_disk: Path, feed_server) -> Path:
    feeds = [
        {"name": name, "url": feed_server.url(f"/feed/{name}"), "outlet": name}
        for name in PUBLISHER_FEEDS
    ]
    (tmp_path / "feeds.yaml").write_text(
        yaml.safe_dump({"feeds": feeds, "fetch": {"timeout_s": 5}}), encoding="utf-8"
    )
    return tmp_path


def test_poll_on_a_full_disk_stops_with_one_line_and_resumes(workdir, small_disk):
    archive = small_disk / "archive.db"
    env = clean_env(TOKENTIDE_DB=str(archive))
    assert tokentide("feeds", cwd=workdir, env=env).returncode == 0  # archive + feeds rows
    filler = fill(small_disk)

    full = tokentide("poll", "--all", cwd=workdir, env=env)

    assert full.returncode == 1
    line = one_error_line(full)
    assert line.startswith("error: archive disk full: "), line
    assert "nothing of it was stored" in line
    assert counts(archive)["articles"] == 0 and counts(archive)["checked_feeds"] == 0

    filler.unlink()  # space returns
    again = tokentide("poll", "--all", cwd=workdir, env=env)
    assert again.returncode == 0, again.stderr
    assert f"{ARTICLES} new articles" in again.stdout
    assert counts(archive)["articles"] == ARTICLES
    assert counts(archive)["checked_feeds"] == len(PUBLISHER_FEEDS)
    third = tokentide("poll", "--all", cwd=workdir, env=env)
    assert "0 new articles" in third.stdout and counts(archive)["articles"] == ARTICLES


@pytest.mark.model
def test_analyze_on_a_full_disk_stops_with_one_line_and_resumes(workdir, small_disk):
    archive = small_disk / "archive.db"
    env = clean_env(TOKENTIDE_DB=str(archive), HF_HUB_OFFLINE="1")
    assert tokentide("poll", "--all", cwd=workdir, env=env).returncode == 0
    filler = fill(small_disk)

    full = tokentide("analyze", cwd=workdir, env=env)

    assert full.returncode == 1
    line = one_error_line(full)
    assert line.startswith(f"error: archive disk full: {archive}: "), line
    after = counts(archive)
    assert (after["analyzed"], after["vectors"], after["stories"]) == (0, 0, 0)

    filler.unlink()
    again = tokentide("analyze", cwd=workdir, env=env)
    assert again.returncode == 0, again.stderr
    done = counts(archive)
    assert done["analyzed"] == done["vectors"] == ARTICLES and done["stories"] > 0
    conn = sqlite3.connect(f"file:{archive}?mode=ro", uri=True)
    # Every story's count matches its members, and its representative is one of them.
    assert not conn.execute(
        "SELECT s.id FROM stories s WHERE s.merged_into IS NULL AND (s.article_count != "
        "(SELECT count(*) FROM articles a WHERE a.story_id = s.id) OR "
        "(SELECT story_id FROM articles WHERE id = s.representative_article_id) != s.id)"
    ).fetchall()
    conn.close()


def test_a_refused_write_names_the_full_disk(tmp_path):
    """The same words in-process, from SQLite's own limit on the archive's size."""
    db = open_db(tmp_path / "archive.db")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    with (
        pytest.raises(StoreError, match=r"^archive disk full: storing a test row: "),
        refused_write("storing a test row"),
        transaction(db),
    ):
        db.conn.execute(
            "INSERT INTO chat_state (key, value, updated_at) VALUES ('k', ?, 'now')",
            ["x" * 100_000],
        )
    assert db.execute("SELECT count(*) FROM chat_state").fetchone()[0] == 0


async def test_a_scheduled_job_on_a_full_archive_logs_one_line_and_runs_again_later(
    tmp_path, caplog
):
    """In the daemon the archive can fill up between two ticks: even the job's own record in
    job_runs is refused. The tick logs one line naming the full disk (no traceback from the
    scheduler) and the next tick, with room again, runs and records normally."""
    import logging
    from dataclasses import replace

    from bot.app import open_app
    from bot.config import Secrets, parse_settings
    from bot.pipeline import deliver_job
    from bot.run import _tick

    db = open_db(tmp_path / "archive.db")
    settings = replace(
        parse_settings({}, "test.yaml"), db_path=str(tmp_path / "archive.db"), secrets=Secrets()
    )
    async with open_app(settings, db) as app:
        tick = _tick(app, deliver_job)
        # No page may be added, and job_runs' pages are filled with rows shaped like the
        # tick's own, so recording the run needs a page the archive cannot have.
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(sqlite3.OperationalError, match="full"):
            while True:
                db.execute(
                    "INSERT INTO job_runs (job, started_at, status) "
                    "VALUES ('deliver', '2026-11-29T10:00:00Z', 'filler')"
                )
        caplog.set_level(logging.INFO)
        caplog.clear()
        result = await tick()
        assert result["status"] == "error"
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert errors[0].getMessage().startswith("deliver: archive disk full: ")
        assert errors[0].exc_info is None
        assert not db.execute("SELECT 1 FROM job_runs WHERE status != 'filler'").fetchall()

        db.execute("DELETE FROM job_runs")
        db.execute("PRAGMA max_page_count = 1073741823")
        assert (await tick())["status"] == "ok"
        assert db.execute("SELECT job, status FROM job_runs").fetchall() == [("deliver", "ok")]
