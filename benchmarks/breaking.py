"""What the breaking-story check adds to each analysed batch, on a big archive.

A synthetic archive on the real schema (a real SQLite file, migrations applied): 100,000
articles over 60 days (~1,700 a day, about what 30 busy feeds bring), in stories of 1-8 articles
from a pool of 80 outlets, a tenth of the stories on a tracked topic, 3% syndicated copies and 1%
of stories merged into another. Then, batch after batch, 64 freshly analysed articles are added
(some of them growing a story past the threshold) and the step that runs after `analyze` —
`enqueue_breaking_alerts`, which finds breaking stories, composes and queues their alerts — is
timed. Reported: the median and worst batch, the batches that queued an alert, and the check
alone when nothing breaks. Target: under 5 ms per batch at 100k articles.

Usage: python benchmarks/breaking.py [--smoke]
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.clock import to_iso  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.pipeline import enqueue_breaking_alerts  # noqa: E402
from bot.store.db import open_db  # noqa: E402

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
DAYS = 60
BATCH = 64
OUTLETS = [f"Outlet {n}" for n in range(80)]
TOPICS = ["chips", "export_controls", "token_economics"]


def fill_archive(db, rng: random.Random, n: int) -> int:
    """n articles in stories over the last DAYS days; returns the next free story id."""
    articles, stories = [], []
    aid, sid = 0, 0
    while aid < n:
        size = min(rng.randint(1, 8), n - aid)
        start = NOW - timedelta(hours=rng.uniform(2, 24 * DAYS))
        topics = [rng.choice(TOPICS)] if rng.random() < 0.1 else []
        last = start
        for k in range(size):
            at = start + timedelta(hours=rng.uniform(0, 30))
            last = max(last, at)
            copy = aid - 1 if k and rng.random() < 0.03 else None
            articles.append(
                (
                    aid,
                    f"https://a.example/{aid}",
                    f"headline {aid}",
                    rng.choice(OUTLETS),
                    to_iso(at),
                    to_iso(at),
                    sid,
                    copy,
                    json.dumps(topics),
                    to_iso(at),
                )
            )
            aid += 1
        merged = sid - 1 if sid and rng.random() < 0.01 else None
        stories.append(
            (sid, f"Story {sid}", to_iso(start), to_iso(last), size, json.dumps(topics), merged)
        )
        sid += 1
    with db.conn:
        db.conn.executemany(
            "INSERT INTO stories (id, title, first_seen, last_seen, article_count, topics, "
            "merged_into) VALUES (?, ?, ?, ?, ?, ?, ?)",
            stories,
        )
        db.conn.executemany(
            "INSERT INTO articles (id, url, title, outlet, published_at, fetched_at, story_id, "
            "duplicate_of, topics, analyzed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            articles,
        )
    return sid


def add_batch(db, rng: random.Random, at: datetime, first_id: int, story_ids: list[int]) -> None:
    """A batch as analyze leaves it: 64 articles, each joining one of a few growing stories."""
    rows = []
    for k in range(BATCH):
        sid = rng.choice(story_ids)
        when = at - timedelta(minutes=rng.uniform(0, 30))
        rows.append(
            (
                first_id + k,
                f"https://b.example/{first_id + k}",
                f"fresh {first_id + k}",
                rng.choice(OUTLETS),
                to_iso(when),
                to_iso(at),
                sid,
                '["export_controls"]',
                to_iso(at),
            )
        )
    with db.conn:
        db.conn.executemany(
            "INSERT INTO articles (id, url, title, outlet, published_at, fetched_at, story_id, "
            "topics, analyzed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def main(argv: list[str]) -> int:
    smoke = "--smoke" in argv
    n = 5_000 if smoke else 100_000
    batches = 10 if smoke else 40
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        db = open_db(db_path)
        # No daily cap here: every story that breaks is composed and queued, the costly case.
        data = {"feeds": [], "alerts": {"breaking": {"max_per_day": 100_000}}}
        settings = replace(parse_settings(data, "bench.yaml"), db_path=str(db_path))
        next_story = fill_archive(db, rng, n)
        recent = db.execute(
            "SELECT count(*) FROM articles WHERE published_at > ?",
            [to_iso(NOW - timedelta(hours=24))],
        ).fetchone()[0]

        enqueue_breaking_alerts(db, settings, now=NOW)
        quiet = [
            timed(lambda: enqueue_breaking_alerts(db, settings, now=NOW))[0] for _ in range(20)
        ]

        # Batches over the next hours: each adds 64 articles to 8 stories that keep growing,
        # replaced by new ones every 4 batches, so some cross the threshold and alert.
        quiet_batches, alert_batches, alerted = [], [], 0
        next_article = n + 1
        growing: list[int] = []
        # A batch arrives as often as the archive's own pace brings 64 articles (~55 minutes
        # at 100k articles over 60 days), so the last day holds what it would in real use.
        spacing = min(timedelta(hours=BATCH * DAYS * 24 / n), timedelta(hours=2))
        for b in range(batches):
            at = NOW + spacing * (b + 1)
            if b % 4 == 0:
                growing = list(range(next_story, next_story + 8))
                with db.conn:
                    db.conn.executemany(
                        "INSERT INTO stories (id, title, first_seen, last_seen, topics) "
                        "VALUES (?, ?, ?, ?, '[\"export_controls\"]')",
                        [(s, f"Fresh {s}", to_iso(at), to_iso(at)) for s in growing],
                    )
                next_story += 8
            add_batch(db, rng, at, next_article, growing)
            next_article += BATCH
            spent, result = timed(lambda at=at: enqueue_breaking_alerts(db, settings, now=at))
            (alert_batches if result["queued"] else quiet_batches).append(spent)
            alerted += len(result["queued"])
        db.close()

    every = quiet_batches + alert_batches
    rows = [
        ("check, no new reports (median of 20)", *medians(quiet), ""),
        (f"check after a {BATCH}-article batch (median)", *medians(every), f"{batches} batches"),
        ("  batches queuing nothing (median)", *medians(quiet_batches), ""),
        ("  batches queuing nothing (worst)", *worst(quiet_batches), ""),
        (
            "  batches queuing alerts (median)",
            *medians(alert_batches),
            f"{len(alert_batches)} batches, {alerted} alerts composed and queued",
        ),
    ]
    print(f"archive: {n:,} articles over {DAYS} days, {recent:,} published in the last 24 h")
    print(f"{'step':<44} {'wall ms':>8} {'CPU ms':>8}  note")
    for name, wall, cpu, note in rows:
        print(f"{name:<44} {wall:>8.2f} {cpu:>8.2f}  {note}")
    cpu = medians(every)[1]
    verdict = "met" if cpu < 5 else "NOT met"
    print(
        f"target: under 5 ms per analysed batch at {n:,} articles (median CPU {cpu:.2f} ms): "
        f"{verdict}"
    )
    return 0


def timed(fn):
    """((wall ms, thread CPU ms), fn's result)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    out = fn()
    return ((time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000), out


def medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    if not samples:
        return 0.0, 0.0
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def worst(samples: list[tuple[float, float]]) -> tuple[float, float]:
    if not samples:
        return 0.0, 0.0
    return max(s[0] for s in samples), max(s[1] for s in samples)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
