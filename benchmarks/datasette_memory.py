"""Memory of `tokentide serve` under queries built to balloon it, with the limits in force.

Starts the real `tokentide serve` over a small archive (the real schema, a few hundred articles)
in a child process and sends each query once, one at a time, through the JSON API, as a visitor
could. Reports the answer (HTTP status and its error, if any), the wall time and the server's
peak resident memory so far (VmHWM from /proc, so the peak only grows down the table).
--smoke leaves out the largest allowed answer (a 30 MB blob), the slowest line.

Usage: python benchmarks/datasette_memory.py [--smoke]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.clock import to_iso  # noqa: E402
from bot.store.db import open_db  # noqa: E402

QUERIES = [
    ("one 400 MB blob", "select randomblob(400000000)"),
    ("one 400 MB zero blob", "select zeroblob(400000000)"),
    (
        "1,000 rows of 2 MB",
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < 1000) "
        "select randomblob(2000000) from n",
    ),
    (
        "one row of 16 x 30 MB",
        "with b(x) as (select zeroblob(30000000)) "
        "select x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x from b",
    ),
    ("500 articles", "select * from articles"),
]
LARGEST_ALLOWED = ("one 30 MB blob (allowed)", "select randomblob(30000000)")


def build_archive(path: Path) -> None:
    db = open_db(path)
    now = to_iso(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    with db.conn:
        db.execute(
            "INSERT INTO feeds (url, name, origin, created_at) VALUES (?, 'Feed', 'config', ?)",
            ["http://127.0.0.1:9/rss", now],
        )
        db.conn.executemany(
            "INSERT INTO articles (feed_id, url, title, summary, outlet, published_at, "
            "fetched_at, topics) VALUES (1, ?, ?, ?, 'SCMP', ?, ?, '[\"chips\"]')",
            [
                (f"https://news.example/{i}", f"Chip story {i}", "summary " * 40, now, now)
                for i in range(500)
            ],
        )
    db.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str]) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--smoke", action="store_true")
    opts = args.parse_args(argv)
    queries = QUERIES if opts.smoke else [*QUERIES, LARGEST_ALLOWED]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokentide.db"
        build_archive(path)
        (Path(tmp) / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = (Path(tmp) / "serve.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(Path(tmp) / "feeds.yaml"), "--db",
             str(path), "serve", "--port", str(port)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/-/versions.json", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    print("serve did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            print(f"{'query':28} {'status':>6} {'time s':>7} {'peak MiB':>9}  answer")
            print(f"{'(idle)':28} {'':>6} {'':>7} {peak_mib(proc.pid):9.0f}")
            for name, sql in queries:
                started = time.monotonic()
                answer = httpx.get(
                    f"{base}/archive.json", params={"sql": sql, "_shape": "objects"}, timeout=120
                )
                took = time.monotonic() - started
                try:
                    error = json.loads(answer.text).get("error") or ""
                except ValueError:
                    error = answer.text[:60]
                shown = error[:60] or f"{len(answer.content) / 1e6:.1f} MB of JSON"
                print(
                    f"{name:28} {answer.status_code:>6} {took:7.2f} {peak_mib(proc.pid):9.0f}"
                    f"  {shown}"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
