"""Digest costs: composing + rendering a big digest, and finding an alert's related stories.

Prints one table. `--smoke` uses small sizes (CI); the full run uses 2,000 stories and a
100,000-article archive over 60 days in which ~3% of headlines name a model maker. Synthetic
data with the contract's shapes; a real SQLite file.

Usage: python benchmarks/digest.py [--smoke]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.clock import to_iso  # noqa: E402
from bot.digest.alerts import render_alert_messages  # noqa: E402
from bot.digest.compose import compose_digest  # noqa: E402
from bot.digest.render import to_discord_messages, to_markdown, to_text  # noqa: E402
from bot.narratives.search import find_related_stories  # noqa: E402
from bot.store.db import open_db  # noqa: E402

FILLER = [
    "market",
    "chip",
    "export",
    "policy",
    "trade",
    "China",
    "US",
    "price",
    "fab",
    "rule",
    "supply",
    "demand",
    "investors",
    "quarter",
    "growth",
    "ban",
    "licence",
    "talks",
]
MAKERS = ["DeepSeek", "Qwen", "Kimi", "Moonshot", "Alibaba", "OpenAI", "Anthropic", "MiniMax"]
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
TOPICS = ["chips", "export_controls", "token_economics"]
WORDS = [
    "Nvidia",
    "DeepSeek",
    "Qwen",
    "Kimi",
    "chips",
    "export",
    "controls",
    "tokens",
    "price",
    "cut",
    "SMIC",
    "TSMC",
    "licence",
]


def make_stories(rng: random.Random, n: int) -> list[dict]:
    stories = []
    for sid in range(n):
        arts = [
            {
                "id": sid * 10 + i,
                "title": "t",
                "url": f"https://o{i}.example.com/{sid}",
                "outlet": f"Outlet {i}",
                "published_at": to_iso(NOW - timedelta(hours=i)),
                "duplicate_of": None,
            }
            for i in range(rng.randint(1, 8))
        ]
        stories.append(
            {
                "id": sid,
                "title": " ".join(rng.choices(WORDS, k=rng.randint(5, 40))) + " @everyone",
                "first_seen": to_iso(NOW - timedelta(hours=20)),
                "last_seen": to_iso(NOW - timedelta(hours=rng.uniform(0, 23))),
                "article_count": len(arts),
                "outlet_count": len(arts),
                "topics": rng.sample(TOPICS, rng.randint(1, 2)),
                "first_outlet": "Outlet 0",
                "outlets": [],
                "momentum": rng.random() * 3,
                "score": 1.0,
                "articles": arts,
            }
        )
    return stories


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _headline(rng: random.Random) -> str:
    """Filler words; about 3% of headlines name a model maker, as in real tech news."""
    words = rng.choices(FILLER, k=12)
    if rng.random() < 0.03:
        words.insert(rng.randrange(12), rng.choice(MAKERS))
    return " ".join(words)


def fill_archive(db, rng: random.Random, n: int) -> None:
    rows = []
    for aid in range(n):
        rows.append(
            (
                aid,
                f"https://a.example/{aid}",
                _headline(rng),
                "summary " + " ".join(rng.choices(FILLER, k=20)),
                "SCMP",
                to_iso(NOW - timedelta(hours=rng.uniform(0, 24 * 60))),
                to_iso(NOW),
                aid // 5 if aid % 3 else None,
            )
        )
    stories = [
        (sid, f"Story {sid}", to_iso(NOW - timedelta(days=1)), to_iso(NOW))
        for sid in range(n // 5 + 1)
    ]
    with db.conn:
        db.conn.executemany(
            "INSERT INTO stories (id, title, first_seen, last_seen, outlet_count) "
            "VALUES (?, ?, ?, ?, 1)",
            stories,
        )
        db.conn.executemany(
            "INSERT INTO articles (id, url, title, summary, outlet, published_at, fetched_at, "
            "story_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def main(argv: list[str]) -> int:
    smoke = "--smoke" in argv
    rng = random.Random(7)
    n_stories = 300 if smoke else 2000
    n_articles = 5000 if smoke else 100_000
    stories = make_stories(rng, n_stories)
    results = []
    t, digest = timed(
        lambda: compose_digest(stories, None, now=NOW, hours=24, per_topic=5, topics=TOPICS)
    )
    results.append((f"compose {n_stories} stories, 5/topic", t, f"{digest.story_count} listed"))
    t, msgs = timed(lambda: to_discord_messages(digest))
    results.append(("render Discord (5/topic)", t, f"{len(msgs)} message(s)"))
    big = compose_digest(stories, None, now=NOW, hours=24, per_topic=n_stories, topics=TOPICS)
    t, msgs = timed(lambda: to_discord_messages(big))
    results.append((f"render Discord (all {big.story_count})", t, f"{len(msgs)} message(s)"))
    t, _ = timed(lambda: (to_markdown(big), to_text(big)))
    results.append((f"render Markdown + text (all {big.story_count})", t, ""))
    payload = {
        "movers": [
            {"kind": "author", "name": "deepseek", "points": 5},
            {"kind": "model", "name": "qwen/qwen3-235b", "points": 3},
            {"kind": "author", "name": "moonshotai", "points": -2},
        ]
    }
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        fill_archive(db, rng, n_articles)
        t, related = timed(lambda: find_related_stories(db, payload, now=NOW))
        results.append(
            (f"related stories, {n_articles:,} articles (FTS)", t, f"{len(related)} found")
        )
        t, _ = timed(lambda: render_alert_messages(payload, related))
        results.append(("render alert", t, ""))
        db.close()
    print(f"{'step':<46} {'best of 3':>10}  note")
    for name, seconds, note in results:
        print(f"{name:<46} {seconds * 1000:>8.1f}ms  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
