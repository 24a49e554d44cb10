"""Two `tokentide analyze` processes at once on one archive: the stories stay whole.

Before analysis was serialised, both processes read the same pending articles and active
stories, each created its own stories for them, and the later writer moved the articles away:
stories with zero articles, wrong `article_count`s and representatives that were not members.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import feed_articles, insert_article

ROOT = Path(__file__).resolve().parents[2]


def story_invariant_breaks(db_file: Path) -> list[str]:
    """Every way the stories disagree with their articles (empty when the archive is whole)."""
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute(
            """SELECT s.id, s.article_count, s.representative_article_id,
                      (SELECT count(*) FROM articles a WHERE a.story_id = s.id),
                      (SELECT count(*) FROM articles a
                        WHERE a.story_id = s.id AND a.id = s.representative_article_id)
               FROM stories s WHERE s.merged_into IS NULL"""
        ).fetchall()
        unassigned = conn.execute(
            "SELECT count(*) FROM articles WHERE story_id IS NULL OR analyzed_at IS NULL"
        ).fetchone()[0]
    breaks = []
    for sid, count, rep, members, rep_is_member in rows:
        if members == 0:
            breaks.append(f"story {sid} has no articles")
        if count != members:
            breaks.append(f"story {sid}: article_count {count} but {members} members")
        if rep is not None and not rep_is_member:
            breaks.append(f"story {sid}: representative {rep} is not a member")
    if unassigned:
        breaks.append(f"{unassigned} articles without a story")
    return breaks


@pytest.mark.model
def test_two_analyze_processes_at_once_keep_stories_whole(tmp_path, db, db_path):
    for item in feed_articles():
        insert_article(db, **item)
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    # Small batches: many commits, so two unserialised runs interleave on every article.
    args = [sys.executable, "-m", "bot", "--config", str(config), "--db", str(db_path)]
    procs = [
        subprocess.Popen(
            [*args, "analyze", "--batch-size", "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(*p.communicate(timeout=300), p.returncode) for p in procs]
    for _, err, code in results:
        assert code == 0, err
        assert "Traceback" not in err
    assert story_invariant_breaks(db_path) == []
    # One process did the work; the other said who held the archive, waited, and found
    # nothing left.
    worked = [i for i, (_, err, _) in enumerate(results) if "analysed 30 articles" in err]
    assert len(worked) == 1, [err for _, err, _ in results]
    waited = results[1 - worked[0]][1]
    holder = f"pid {procs[worked[0]].pid} on host {socket.gethostname()}"
    assert f"waiting: analysis of {db_path} is running in {holder}, since " in waited
    assert "nothing left to analyse" in waited


def test_scheduler_tick_skips_while_another_analysis_holds_the_archive(db, settings, hashing):
    from datetime import UTC, datetime

    from bot.narratives.pipeline import analyze_pending
    from bot.store.locks import analysis_lock

    now = datetime(2026, 11, 28, 8, tzinfo=UTC)
    for item in feed_articles()[:4]:
        insert_article(db, **item)
    with analysis_lock(db, now=now, wait=False):
        held = analyze_pending(db, settings, hashing, now=now, wait=False)
    assert held["analyzed"] == 0
    assert held["held"].startswith(f"analysis of {db_path_of(db)} is running in pid {os.getpid()}")
    assert db.execute("SELECT count(*) FROM articles WHERE analyzed_at IS NULL").fetchone()[0] == 4
    done = analyze_pending(db, settings, hashing, now=now, wait=False)
    assert done["analyzed"] == 4 and "held" not in done


def db_path_of(db) -> str:
    return db.execute("PRAGMA database_list").fetchone()[2]
