"""Speed of the narratives pipeline: embedding overhead, clustering cost vs archive size, search.

Usage: python benchmarks/throughput.py [--smoke]

1. Full pipeline (read archive → embed → tag → cluster → write) in articles/s against the bare
   `model.encode` rate on the same texts, in one run (target ratio >= 0.9). Texts: the labelled
   dev set (../shared/eval/domain_news_dev.jsonl) when present, else the captured feed items in
   tests/fixtures/narratives.
2. Per-article clustering cost (pipeline minus the model, vectors synthetic) with 1k vs 100k
   archived articles at the same arrival rate (target ratio <= 1.3).
3. `search` latency p50/p95 over 100k archived articles with a warm model (target p95 <= 150 ms).
4. Peak resident memory.
--smoke: fewer texts and 1k vs 20k archived articles.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.clock import to_iso  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.narratives.embed import SHIPPED_MODEL_NAME, Embedder  # noqa: E402
from bot.narratives.pipeline import analyze_pending  # noqa: E402
from bot.narratives.search import VectorMatrix, search  # noqa: E402
from bot.narratives.text import article_text  # noqa: E402
from bot.store.db import open_db  # noqa: E402

DEV = REPO.parent / "shared" / "eval" / "domain_news_dev.jsonl"
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
PER_DAY = 30  # archive arrival rate: 1k articles span more than the 30-day story window
DIM = 384
WORDS = [
    "nvidia",
    "tsmc",
    "huawei",
    "chip",
    "export",
    "licence",
    "deepseek",
    "qwen",
    "token",
    "price",
    "china",
    "us",
    "commerce",
    "entity",
    "list",
    "smic",
    "asml",
    "memory",
    "hbm",
    "fab",
    "foundry",
    "model",
    "api",
    "openrouter",
    "share",
    "rule",
    "ban",
    "probe",
    "alibaba",
    "bytedance",
    "kimi",
    "minimax",
    "gallium",
    "rare",
    "earth",
    "tariff",
    "court",
    "deal",
    "revenue",
    "market",
]


def sample_texts(n: int) -> list[dict]:
    if DEV.exists():
        rows = [json.loads(x) for x in DEV.read_text("utf-8").splitlines() if x.strip()]
        items = [{"title": r.get("title") or "", "summary": r["summary"]} for r in rows]
    else:
        sys.path.insert(0, str(REPO / "tests"))
        from narratives.conftest import feed_articles

        items = [{"title": a["title"], "summary": a["summary"]} for a in feed_articles()]
    return [items[i % len(items)] for i in range(n)]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pipeline_vs_encode(embedder: Embedder, n: int, workdir: Path, rounds: int) -> list[dict]:
    """Alternate bare encode and the full pipeline on the same texts, `rounds` times.

    Alternating keeps the two comparable on a machine whose load changes minute to minute.
    Round 0's pipeline also embeds the topic definitions (once per process)."""
    items = sample_texts(n)
    texts = [article_text(i["title"], i["summary"]) for i in items]
    model = embedder.model
    model.encode(texts[:16], batch_size=64)  # warm
    settings = parse_settings({"feeds": []}, "bench")
    out = []
    for r in range(rounds):
        t = time.perf_counter()
        model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        bare = time.perf_counter() - t
        db = open_db(workdir / f"pipeline-{r}.db")
        with db.conn:
            db.conn.executemany(
                "INSERT INTO articles (url, title, summary, outlet, published_at, fetched_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        f"https://bench.test/{k}",
                        it["title"],
                        it["summary"],
                        f"outlet{k % 7}",
                        to_iso(NOW - timedelta(minutes=n - k)),
                        to_iso(NOW),
                    )
                    for k, it in enumerate(items)
                ],
            )
        t = time.perf_counter()
        analyze_pending(db, settings, embedder, now=NOW, batch_size=64)
        full = time.perf_counter() - t
        db.close()
        out.append({"n": n, "bare_rate": n / bare, "pipeline_rate": n / full})
    return out


class SyntheticEmbedder:
    """Fixed random unit vectors per text: isolates clustering and storage from the model."""

    # Labelled as the shipped model so the pipeline takes its default (link model) path.
    model_id = SHIPPED_MODEL_NAME
    dim = DIM

    def __init__(self, table: dict[str, np.ndarray], seed: int = 7) -> None:
        self.table = table
        self.rng = np.random.default_rng(seed)

    def encode(self, texts):
        out = []
        for t in texts:
            v = self.table.get(t)
            if v is None:
                v = self.rng.standard_normal(DIM).astype(np.float32)
                v /= np.linalg.norm(v)
            out.append(v)
        return np.stack(out).astype(np.float32)


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def build_archive(path: Path, n: int, seed: int = 1) -> tuple[object, np.ndarray]:
    """n analysed articles in stories of ~3, arriving PER_DAY a day up to NOW."""
    rng = np.random.default_rng(seed)
    words = random.Random(seed)
    db = open_db(path)
    n_stories = (n + 2) // 3
    centroids = unit(rng.standard_normal((n_stories, DIM)))
    story_of = np.arange(n) // 3
    vectors = unit(centroids[story_of] + 0.7 * rng.standard_normal((n, DIM)) / np.sqrt(DIM))
    start = NOW - timedelta(days=n / PER_DAY)
    times = [to_iso(start + timedelta(days=k / PER_DAY)) for k in range(n)]
    with db.conn:
        db.conn.executemany(
            "INSERT INTO stories (id, title, first_seen, last_seen, article_count, outlet_count,"
            " topics) VALUES (?, ?, ?, ?, ?, 1, '[]')",
            [
                (s + 1, f"story {s}", times[3 * s], times[min(3 * s + 2, n - 1)], min(3, n - 3 * s))
                for s in range(n_stories)
            ],
        )
        sums = np.zeros((n_stories, DIM), np.float32)
        np.add.at(sums, story_of, vectors)
        db.conn.executemany(
            "INSERT INTO story_vectors (story_id, model, dim, vector_sum, names) "
            "VALUES (?, ?, ?, ?, '{}')",
            [(s + 1, SHIPPED_MODEL_NAME, DIM, sums[s].tobytes()) for s in range(n_stories)],
        )
        db.conn.executemany(
            "INSERT INTO articles (id, url, title, summary, outlet, published_at, fetched_at, "
            "story_id, analyzed_at) VALUES (?, ?, ?, '', 'o', ?, ?, ?, ?)",
            [
                (
                    k + 1,
                    f"https://a.test/{k}",
                    " ".join(words.choices(WORDS, k=8)),
                    times[k],
                    times[k],
                    min(int(story_of[k]), n_stories - 1) + 1,
                    times[k],
                )
                for k in range(n)
            ],
        )
        db.conn.executemany(
            "INSERT INTO article_vectors (article_id, model, dim, vector) VALUES (?, ?, ?, ?)",
            [(k + 1, SHIPPED_MODEL_NAME, DIM, vectors[k].tobytes()) for k in range(n)],
        )
    return db, centroids


def clustering_cost(
    n_archived: int, workdir: Path, new: int = 300, narratives: bool = True
) -> float:
    """Seconds per new article through analyze_pending with synthetic vectors; `narratives`:
    with narrative linking (it compares each new story with every live story of the archive)."""
    name = f"archive-{n_archived}-{'n' if narratives else 'c'}.db"
    db, centroids = build_archive(workdir / name, n_archived)
    rng = np.random.default_rng(5)
    table = {}
    rows = []
    recent = centroids[-PER_DAY * 10 // 3 :]  # stories from the last ~10 days
    for k in range(new):
        text = f"new synthetic article {k}"
        base = recent[k % len(recent)] if k % 2 else rng.standard_normal(DIM)
        table[text] = unit(base + 0.5 * rng.standard_normal(DIM) / np.sqrt(DIM))
        rows.append(
            (f"https://new.test/{k}", text, to_iso(NOW + timedelta(minutes=k)), to_iso(NOW))
        )
    with db.conn:
        db.conn.executemany(
            "INSERT INTO articles (url, title, summary, outlet, published_at, fetched_at) "
            "VALUES (?, ?, '', 'o', ?, ?)",
            rows,
        )
    settings = parse_settings({"feeds": [], "narratives": {"enabled": narratives}}, "bench")
    embedder = SyntheticEmbedder(table)
    t = time.perf_counter()
    analyze_pending(db, settings, embedder, now=NOW + timedelta(days=1), batch_size=64)
    cost = (time.perf_counter() - t) / new
    db.close()
    return cost


def search_latency(embedder: Embedder, n_archived: int, workdir: Path, queries: int) -> dict:
    db, _ = build_archive(workdir / f"search-{n_archived}.db", n_archived, seed=3)
    matrix = VectorMatrix(embedder.model_id, DIM)
    t = time.perf_counter()
    matrix.refresh(db)
    load = time.perf_counter() - t
    qs = [" ".join(random.Random(i).choices(WORDS, k=3)) for i in range(queries)]
    search(db, embedder, "warm up", limit=10, matrix=matrix)
    times = []
    for q in qs:
        t = time.perf_counter()
        search(db, embedder, q, limit=10, matrix=matrix)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    search(db, embedder, qs[0], limit=10)  # a one-off CLI call: loads the matrix itself
    cold = time.perf_counter() - t
    db.close()
    ms = np.array(times) * 1000
    return {
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "load_ms": load * 1000,
        "cold_ms": cold * 1000,
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    n_texts = 192 if args.smoke else 690
    big = 20_000 if args.smoke else 100_000
    started = time.monotonic()
    embedder = Embedder()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runs = pipeline_vs_encode(embedder, n_texts, work, rounds=3)
        first = runs[0]
        later = runs[1:]
        bare = float(np.median([r["bare_rate"] for r in runs]))
        rows.append((f"bare model.encode ({n_texts} texts, median)", f"{bare:.1f} art/s", ""))
        ratio0 = first["pipeline_rate"] / first["bare_rate"]
        rows.append(
            (
                "full pipeline, first run in process",
                f"{first['pipeline_rate']:.1f} art/s",
                f"ratio {ratio0:.2f} (embeds topic definitions too)",
            )
        )
        ratios = [r["pipeline_rate"] / r["bare_rate"] for r in later]
        rate = float(np.median([r["pipeline_rate"] for r in later]))
        rows.append(
            (
                "full pipeline, later runs (median)",
                f"{rate:.1f} art/s",
                f"ratio {float(np.median(ratios)):.2f} (target >= 0.9)",
            )
        )
        small = clustering_cost(1_000, work, narratives=False)
        large = clustering_cost(big, work, narratives=False)
        rows.append(("cluster+store per article, 1k archived", f"{small * 1000:.2f} ms", ""))
        rows.append(
            (
                f"cluster+store per article, {big // 1000}k archived",
                f"{large * 1000:.2f} ms",
                f"ratio {large / small:.2f} (target <= 1.3)",
            )
        )
        small_n = clustering_cost(1_000, work, narratives=True)
        large_n = clustering_cost(big, work, narratives=True)
        rows.append(
            ("  + narrative linking, 1k archived", f"{small_n * 1000:.2f} ms", "per article")
        )
        rows.append(
            (
                f"  + narrative linking, {big // 1000}k archived",
                f"{large_n * 1000:.2f} ms",
                f"ratio {large_n / small_n:.2f}: linking reads every live story once a run",
            )
        )
        s = search_latency(embedder, big, work, 20 if args.smoke else 50)
        rows.append(
            (
                f"search over {big // 1000}k, warm model+matrix",
                f"p50 {s['p50']:.1f} ms",
                f"p95 {s['p95']:.1f} ms (target <= 150)",
            )
        )
        rows.append(
            (
                f"search one-off (loads {big // 1000}k vectors)",
                f"{s['cold_ms']:.0f} ms",
                f"matrix load {s['load_ms']:.0f} ms",
            )
        )
    rows.append(("peak resident memory", f"{rss_mb():.0f} MB", ""))
    rows.append(("fast path (torch dynamic int8)", "see quality.py", "speed and F1 rows"))
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>14}  {note}")
    print(f"elapsed {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
