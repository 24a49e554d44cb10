"""The dense headline stream end to end: UCI headlines served as local feeds, through
`tokentide poll --all` and `tokentide analyze`, scored against Google News' stories.

The 6,366 headlines of ../shared/eval/uci_news_head.jsonl (87 stories, 36 hours) are split by
outlet over FEEDS Google-News-shaped RSS feeds (title, link, pubDate, and a description that is
the headline again plus the outlet's name), served by an aiohttp server on 127.0.0.1 in a child
process. The real CLI polls them into a fresh archive and analyses it; each stored article's
story (after merges) is compared with its UCI story: BCubed P/R/F1 over the stored articles,
plus stories, merges and narratives made, and the time of each step. Prints one table.

    python benchmarks/dense_feeds.py [--feeds 20] [--int8] [--smoke] [--keep DIR]

--smoke: the first 300 headlines over 3 feeds. Without the eval file it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality import bcubed, load_rows  # noqa: E402

UCI = ROOT.parent / "shared" / "eval" / "uci_news_head.jsonl"


def feed_bodies(rows: list[dict], feeds: int) -> list[bytes]:
    """RSS documents: each outlet's items in one feed (as a publisher's own feed would)."""
    outlets = sorted({r.get("publisher") or "" for r in rows})
    feed_of = {o: k % feeds for k, o in enumerate(outlets)}
    items: list[list[str]] = [[] for _ in range(feeds)]
    for r in rows:
        when = datetime.fromisoformat(r["published"])
        title, outlet, url = escape(r["title"]), escape(r.get("publisher") or ""), escape(r["url"])
        description = escape(
            f'<a href="{r["url"]}">{r["title"]}</a>&nbsp;&nbsp;'
            f'<font color="#6f6f6f">{r.get("publisher") or ""}</font>'
        )
        items[feed_of[r.get("publisher") or ""]].append(
            f"<item><title>{title}</title><link>{url}</link><guid>{escape(r['id'])}</guid>"
            f"<pubDate>{format_datetime(when)}</pubDate><description>{description}</description>"
            f"<source>{outlet}</source></item>"
        )
    return [
        (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Dense feed {k}</title><link>http://127.0.0.1/</link>"
            + "".join(body)
            + "</channel></rss>"
        ).encode()
        for k, body in enumerate(items)
    ]


def serve(port: int, bodies: list[bytes], ready) -> None:
    import asyncio

    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        k = int(request.match_info["k"])
        return web.Response(body=bodies[k], content_type="application/rss+xml")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{k}.xml", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tokentide(config: Path, db: Path, *args: str) -> float:
    """Run the real CLI; seconds taken. A failure ends the benchmark with its output."""
    env = {**os.environ, "TOKENTIDE_CONFIG": str(config), "TOKENTIDE_DB": str(db)}
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"tokentide {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - t


def score(db_path: Path, rows: list[dict]) -> dict:
    gold = {}
    for r in rows:
        gold.setdefault(r["url"], r["story"])
    conn = sqlite3.connect(db_path)
    try:
        found = conn.execute(
            """WITH RECURSIVE up(start, id, next, hops) AS (
                   SELECT id, id, merged_into, 0 FROM stories
                   UNION ALL
                   SELECT up.start, s.id, s.merged_into, up.hops + 1
                   FROM up JOIN stories s ON s.id = up.next WHERE up.hops < 20)
               SELECT a.link, a.url, (SELECT id FROM up WHERE up.start = a.story_id
                                      ORDER BY hops DESC LIMIT 1)
               FROM articles a"""
        ).fetchall()
        counts = {
            "stories": conn.execute(
                "SELECT count(*) FROM stories WHERE merged_into IS NULL"
            ).fetchone()[0],
            "merged": conn.execute(
                "SELECT count(*) FROM stories WHERE merged_into IS NOT NULL"
            ).fetchone()[0],
            "narratives": conn.execute(
                "SELECT count(*) FROM narratives WHERE story_count >= 2"
            ).fetchone()[0],
        }
    finally:
        conn.close()
    pred, truth = [], []
    for link, url, story in found:
        label = gold.get(link) or gold.get(url)
        if label is not None and story is not None:
            pred.append(story)
            truth.append(label)
    p, r, f1 = bcubed(pred, truth)
    return {"p": p, "r": r, "f1": f1, "scored": len(pred), "stored": len(found), **counts}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=20)
    ap.add_argument("--smoke", action="store_true", help="300 headlines over 3 feeds")
    ap.add_argument("--keep", type=Path, default=None, help="leave the archive in this folder")
    ap.add_argument("--int8", action="store_true", help="model.quantize: true (the fast path)")
    args = ap.parse_args(argv)
    if not UCI.exists():
        print(f"dense_feeds: {UCI} not found (the eval set lives in ../shared/eval/); skipped.")
        return 0
    rows = load_rows(UCI)
    feeds = args.feeds
    if args.smoke:
        rows, feeds = rows[:300], 3
    bodies = feed_bodies(rows, feeds)
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, bodies, ready), daemon=True)
    server.start()
    ready.wait(30)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = args.keep or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            config, db = work / "feeds.yaml", work / "dense.db"
            config.write_text(
                ("model: {quantize: true}\n" if args.int8 else "")
                + "feeds:\n"
                + "".join(
                    f'  - {{name: "Dense {k}", url: "http://127.0.0.1:{port}/feed/{k}.xml"}}\n'
                    for k in range(feeds)
                ),
                "utf-8",
            )
            poll_s = tokentide(config, db, "poll", "--all")
            analyze_s = tokentide(config, db, "analyze")
            result = score(db, rows)
    finally:
        server.terminate()
        server.join(5)
    outlets = len(Counter(r.get("publisher") for r in rows))
    table = [
        ("headlines served", f"{len(rows)} in {feeds} feeds, {outlets} outlets"),
        ("articles stored / scored", f"{result['stored']} / {result['scored']}"),
        ("poll --all", f"{poll_s:.1f} s"),
        ("analyze", f"{analyze_s:.1f} s ({result['scored'] / analyze_s:.0f} articles/s)"),
        ("stories (live / merged away)", f"{result['stories']} / {result['merged']}"),
        ("gold stories", str(len({r["story"] for r in rows}))),
        ("narratives (2+ stories)", str(result["narratives"])),
        ("BCubed P / R / F1", f"{result['p']:.3f} / {result['r']:.3f} / {result['f1']:.3f}"),
    ]
    width = max(len(k) for k, _ in table)
    for k, v in table:
        print(f"{k:<{width}}  {v}")
    print(f"elapsed {time.monotonic() - started:.1f}s")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
