"""One "top stories" order: the site's `top_stories_this_week` canned query, `recent_stories`
(the `stories` command and `/stories`) and the digest list the same archive in the same order."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

import bot
from bot.clock import to_iso
from bot.digest.compose import compose_digest
from bot.narratives.ranking import rank_key
from bot.narratives.stories import recent_stories

# Dated in the past, so the query's "up to now" clamp never cuts the week short.
NEWEST = datetime(2024, 3, 8, 18, 0, tzinfo=UTC)
OUTLETS = ["Reuters", "SCMP", "Bloomberg", "FT", "AP", "Nikkei"]


def _canned_sql(name: str) -> str:
    for path in sorted(Path(bot.__file__).parent.glob("*/metadata.yaml")):
        for database in yaml.safe_load(path.read_text(encoding="utf-8"))["databases"].values():
            query = database.get("queries", {}).get(name)
            if query:
                return query["sql"]
    pytest.fail(f"no canned query {name!r} in the site's metadata.yaml")


def _insert_archive(db, seed: int) -> None:
    """Stories with every article inside the week (so the query's in-window counts equal the
    stories' own), many ties in outlets and articles, distinct last articles; plus a story
    merged away and one from a fortnight ago, which neither list shows."""
    rng = random.Random(seed)
    hours = rng.sample(range(1, 24 * 6), 30)  # distinct last-article times
    article_id = 0
    for sid, last_h in enumerate(hours, 1):
        outlets = rng.randint(1, 4)
        count = outlets + rng.randint(0, 2)
        names = rng.sample(OUTLETS, outlets)
        times = [NEWEST - timedelta(hours=last_h + k) for k in range(count)]
        merged = sid == 7
        old = sid == 11
        if old:
            times = [t - timedelta(days=14) for t in times]
        db.execute(
            """INSERT INTO stories (id, title, first_seen, last_seen, article_count,
                   outlet_count, first_outlet, topics, merged_into)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                sid,
                f"Story {sid}",
                to_iso(min(times)),
                to_iso(max(times)),
                count,
                outlets,
                names[-1],
                json.dumps(["chips"]),
                1 if merged else None,
            ],
        )
        for k, when in enumerate(times):
            article_id += 1
            published = to_iso(when)
            db.execute(
                """INSERT INTO articles (id, url, title, outlet, published_at, fetched_at,
                       story_id, analyzed_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    article_id,
                    f"https://news.test/{article_id}",
                    f"Story {sid} report {k}",
                    names[k % outlets],
                    published if k else None,  # an undated article counts at its fetch time
                    published,
                    sid,
                    published,
                ],
            )
    # The newest article of all, so the week ends at NEWEST.
    db.execute("UPDATE articles SET published_at = ? WHERE id = 1", [to_iso(NEWEST)])
    db.execute("UPDATE articles SET fetched_at = ? WHERE id = 1", [to_iso(NEWEST)])
    first = db.execute("SELECT story_id FROM articles WHERE id = 1").fetchone()[0]
    db.execute("UPDATE stories SET last_seen = ? WHERE id = ?", [to_iso(NEWEST), first])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_site_query_lists_stories_in_the_store_order(db, seed):
    _insert_archive(db, seed)
    site = [r[0] for r in db.execute(_canned_sql("top_stories_this_week")).fetchall()]
    ours = [s["id"] for s in recent_stories(db, now=NEWEST, hours=24 * 7)]
    assert 7 not in ours and 11 not in ours
    assert site == ours
    # The order is decided by outlets and articles first: the data must exercise both ties.
    keys = [rank_key(s)[:2] for s in recent_stories(db, now=NEWEST, hours=24 * 7)]
    assert len(set(keys)) < len(keys)


def test_digest_and_stories_command_share_the_order(db):
    _insert_archive(db, 4)
    stories = recent_stories(db, now=NEWEST, hours=24 * 7)
    assert stories == sorted(stories, key=rank_key)
    assert stories == sorted(stories, key=lambda s: -s["score"])  # score never rises
    digest = compose_digest(
        list(reversed(stories)),
        None,
        now=NEWEST,
        hours=24 * 7,
        per_topic=len(stories),
        topics=["chips"],
    )
    assert [s.id for s in digest.sections[0].stories] == [s["id"] for s in stories]
