"""Datasette response times on a large archive: every canned query as HTML and JSON, p50/p95.

Generates a synthetic archive (100k articles by default; --smoke: 2k) with the real schema
(migrations, FTS triggers), serves it with the same Datasette `tokentide serve` builds, and
times requests in-process through Datasette's ASGI client (no network, no browser), after one
warm-up request each.

Usage: python benchmarks/datasette.py [--smoke] [--articles N] [--repeat R] [--keep FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

# This script's folder comes first on sys.path, and its name would shadow the datasette
# package: drop the folder and put the project root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bot.clock import to_iso, utcnow  # noqa: E402
from bot.config import Secrets  # noqa: E402
from bot.site.leaks import find_leaks  # noqa: E402
from bot.site.site import build_datasette, load_metadata  # noqa: E402
from bot.store.db import open_db  # noqa: E402

WORDS = [
    "chip",
    "export",
    "controls",
    "Nvidia",
    "Huawei",
    "SMIC",
    "TSMC",
    "lithography",
    "ASML",
    "tokens",
    "DeepSeek",
    "Qwen",
    "Kimi",
    "OpenRouter",
    "inference",
    "price",
    "share",
    "model",
    "China",
    "US",
    "Commerce",
    "Department",
    "ban",
    "licence",
    "H20",
    "Blackwell",
    "datacentre",
    "power",
    "memory",
    "HBM",
    "Samsung",
    "startup",
    "funding",
    "open-weights",
    "benchmark",
]
OUTLETS = ["SCMP", "The Register", "TechCrunch", "The Verge", "Reuters", "Nikkei Asia", "EE Times"]
MAKERS = [
    ("openai", "US"), ("anthropic", "US"), ("google", "US"), ("meta-llama", "US"),
    ("x-ai", "US"), ("deepseek", "CN"), ("qwen", "CN"), ("moonshotai", "CN"), ("z-ai", "CN"),
    ("minimax", "CN"), ("mistralai", "FR"), ("stealth", "UNKNOWN"),
]  # fmt: skip
PARAMS = {"story_timeline": "story_id=7", "articles_matching": "phrase=export+controls"}
EXTRA_PAGES = [
    ("articles table, facets", "/archive/articles?_facet_array=topics&_facet=outlet"),
    ("articles search", "/archive/articles?_search=Huawei+lithography"),
    ("story page", "/archive/stories/7"),
    ("chart page", "/-/dashboards/token-share"),
]


def generate(path: Path, articles: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    now = utcnow()
    db = open_db(path)
    with db.conn:
        db["feeds"].insert_all(
            {"id": i + 1, "url": f"https://example.org/{i}/feed", "name": f"Feed {i}",
             "outlet": OUTLETS[i % len(OUTLETS)], "created_at": to_iso(now)}
            for i in range(25)
        )  # fmt: skip
        stories = max(articles // 5, 1)
        db["stories"].insert_all(
            {"id": s + 1, "title": " ".join(rng.choices(WORDS, k=8)), "topics": '["chips"]'}
            for s in range(stories)
        )
        rows = []
        for i in range(articles):
            published = now - timedelta(minutes=rng.randrange(365 * 24 * 60))
            feed = rng.randrange(25) + 1
            rows.append(
                (feed, f"https://example.org/a/{i}", " ".join(rng.choices(WORDS, k=9)),
                 " ".join(rng.choices(WORDS, k=40)), OUTLETS[(feed - 1) % len(OUTLETS)],
                 to_iso(published), to_iso(published),
                 json.dumps(rng.sample(["chips", "export_controls", "token_economics"], k=2)),
                 rng.randrange(stories) + 1)
            )  # fmt: skip
        db.conn.executemany(
            "INSERT INTO articles (feed_id, url, title, summary, outlet, published_at,"
            " fetched_at, topics, story_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0)
        for week in range(52, 0, -1):
            start, end = monday - timedelta(weeks=week), monday - timedelta(weeks=week - 1)
            snap = db["token_snapshots"].insert(
                {"source": "market-share", "fetched_at": to_iso(end), "window_start": to_iso(start),
                 "window_end": to_iso(end), "granularity": "week", "content_hash": str(week),
                 "payload": "{}"}
            ).last_pk  # fmt: skip
            db["token_usage"].insert_all(
                {"snapshot_id": snap, "window_start": to_iso(start), "window_end": to_iso(end),
                 "granularity": "week", "source": "market-share", "model": f"{a}/m{k}",
                 "author": a, "country": c, "total_tokens": rng.randrange(10**9, 10**11)}
                for a, c in MAKERS for k in range(4)
            )  # fmt: skip
    db.execute("ANALYZE")
    db.close()


async def measure(path: Path, repeat: int) -> list[tuple[str, str, float, float, int]]:
    ds = build_datasette(path)
    await ds.invoke_startup()
    targets = []
    for name in load_metadata()["databases"]["archive"]["queries"]:
        query = PARAMS.get(name, "")
        targets.append((name, "html", f"/archive/{name}?{query}"))
        targets.append((name, "json", f"/archive/{name}.json?{query}"))
    targets += [(label, "html", url) for label, url in EXTRA_PAGES]
    results = []
    for label, kind, url in targets:
        times = []
        response = await ds.client.get(url)  # warm-up (and a check that it works)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
        rows = len(response.json()["rows"]) if kind == "json" else 0
        for _ in range(repeat):
            started = time.perf_counter()
            response = await ds.client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, url
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        results.append((label, kind, statistics.median(times), p95, rows))
    return results


def time_leak_scan(path: Path) -> float:
    """How long `serve` spends looking for secrets before it starts (worst case: all set)."""
    secrets = Secrets(
        "x" * 70, "https://discord.com/api/webhooks/1/" + "y" * 60, "sk-or-v1-" + "z" * 64
    )
    db = open_db(path, migrate_schema=False)
    try:
        started = time.perf_counter()
        assert find_leaks(db, secrets) == []
        return (time.perf_counter() - started) * 1000
    finally:
        db.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2k articles, 5 repeats")
    parser.add_argument("--articles", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--keep", type=Path, help="write the archive here and keep it")
    args = parser.parse_args(argv)
    articles = args.articles or (2_000 if args.smoke else 100_000)
    repeat = args.repeat or (5 if args.smoke else 20)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "tokentide.db"
        started = time.perf_counter()
        generate(path, articles)
        built = time.perf_counter() - started
        size_mb = path.stat().st_size / 1e6
        results = asyncio.run(measure(path, repeat))
        scan_ms = time_leak_scan(path)
    print(
        f"Datasette over {articles:,} articles ({size_mb:.0f} MB, generated in {built:.0f} s), "
        f"{repeat} requests each, in-process ASGI"
    )
    print(f"| {'page':<28} | {'format':<6} | {'p50 ms':>7} | {'p95 ms':>7} | {'rows':>5} |")
    print(f"|{'-' * 30}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 7}|")
    for label, kind, p50, p95, rows in results:
        shown = str(rows) if kind == "json" else ""
        print(f"| {label:<28} | {kind:<6} | {p50:7.1f} | {p95:7.1f} | {shown:>5} |")
    print(f"\nserve's start-up secret scan (three secrets set): {scan_ms:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
