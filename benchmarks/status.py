"""What watching the bot costs: `tokentide status` and its `--check` health check on a big
archive, and an OPML import (which has no progress bar because it needs none).

A year of the daemon leaves ~1.2M job_runs rows (the outbox check alone runs every 30 s). The
health check runs every minute, so it must stay cheap at that size: it looks up the newest run
of each job through the (job, started_at) index. The table compares it with a GROUP BY over
the whole table. `status` (without --check) also counts articles and stories.

Prints one table. Usage: python benchmarks/status.py [--smoke]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.clock import to_iso  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.feeds.opml import import_opml, parse_opml  # noqa: E402
from bot.status import jobs, stalled, status_document  # noqa: E402
from bot.store.db import open_db, open_read_only  # noqa: E402
from bot.store.runs import latest_runs  # noqa: E402

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def fill(db, *, runs: int, articles: int) -> None:
    """`runs` job_runs rows spread over the jobs as a year of the daemon spreads them (mostly
    the outbox check), and `articles` minimal articles in stories of five."""
    settings = parse_settings({"feeds": []}, "bench.yaml")
    names = jobs(settings)
    weights = {"deliver": 0.96}
    rest = (1 - weights["deliver"]) / (len(names) - 1)
    conn = db.conn
    conn.execute("BEGIN")
    rows = []
    for name in names:
        count = max(1, int(runs * weights.get(name, rest)))
        step = timedelta(days=365) / count
        for i in range(count):
            at = NOW - timedelta(days=365) + i * step
            rows.append(
                (name, to_iso(at), to_iso(at + timedelta(seconds=1)), "ok", '{"sent": 0}', None)
            )
    conn.executemany(
        "INSERT INTO job_runs (job, started_at, finished_at, status, detail, error) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    stories = max(1, articles // 5)
    conn.executemany(
        "INSERT INTO stories (id, title, first_seen, last_seen, article_count, outlet_count) "
        "VALUES (?, ?, ?, ?, 5, 2)",
        ((i + 1, f"story {i}", to_iso(NOW), to_iso(NOW)) for i in range(stories)),
    )
    conn.executemany(
        "INSERT INTO articles (url, title, summary, outlet, published_at, fetched_at, story_id) "
        "VALUES (?, ?, '', 'Example', ?, ?, ?)",
        (
            (f"https://example.test/{i}", f"Chip export story {i}", to_iso(NOW), to_iso(NOW),
             i // 5 + 1)
            for i in range(articles)
        ),
    )  # fmt: skip
    conn.execute("COMMIT")


def timed(fn, repeat: int) -> tuple[float, float]:
    """(median, p95) wall time of `fn()` in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def whole_command(db_path: Path, config: Path, repeat: int) -> tuple[float, float]:
    env = {**os.environ, "TOKENTIDE_DB": str(db_path), "TOKENTIDE_CONFIG": str(config)}
    command = [sys.executable, "-m", "bot", "status", "--check"]

    def run() -> None:
        # Exit 1 is expected: the synthetic year ended a while before the wall clock's now.
        subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False)

    return timed(run, repeat)


def opml(feeds: int) -> bytes:
    outlines = "".join(
        f'<outline text="Feed {i}" xmlUrl="https://feed{i}.example/rss.xml"/>' for i in range(feeds)
    )
    return (
        f'<?xml version="1.0"?><opml version="2.0"><head/><body>{outlines}</body></opml>'.encode()
    )


def main(argv: list[str]) -> int:
    smoke = "--smoke" in argv
    runs, articles, feeds = (20_000, 5_000, 500) if smoke else (1_200_000, 500_000, 5_000)
    repeat = 5 if smoke else 20
    settings = parse_settings({"feeds": []}, "bench.yaml")
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        config = Path(tmp) / "feeds.yaml"
        config.write_text("feeds: []\n", encoding="utf-8")
        db = open_db(db_path)
        started = time.perf_counter()
        fill(db, runs=runs, articles=articles)
        print(
            f"archive: {runs:,} job_runs, {articles:,} articles, built in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        db.close()
        reader = open_read_only(db_path)
        names = jobs(settings)

        def check() -> None:
            stalled(latest_runs(reader, names), settings, now=NOW)

        def group_by() -> None:
            reader.execute(
                "SELECT * FROM job_runs WHERE id IN (SELECT max(id) FROM job_runs GROUP BY job)"
            ).fetchall()

        table.append(("--check reads (index lookup per job)", *timed(check, repeat)))
        table.append(("same by GROUP BY over job_runs", *timed(group_by, repeat)))
        table.append(
            ("status --json document (counts too)", *timed(
                lambda: status_document(reader, settings, now=NOW), repeat))
        )  # fmt: skip
        table.append(("`tokentide status --check` process", *whole_command(db_path, config, 3)))
        reader.close()

        target = open_db(Path(tmp) / "opml.db")
        data = opml(feeds)
        table.append(
            (f"OPML import, {feeds:,} feeds", *timed(
                lambda: import_opml(target, parse_opml(data), now=NOW), 1))
        )  # fmt: skip
        target.close()
    print(f"\n{'what':<40} {'median ms':>10} {'p95 ms':>10}")
    for what, median, p95 in table:
        print(f"{what:<40} {median:>10.1f} {p95:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
