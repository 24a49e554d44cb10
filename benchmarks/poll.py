"""Poll-cycle benchmark: N feeds on H loopback hosts, each answering after a fixed latency.

Runs the real poll (`bot.feeds.poll.poll_feeds`: shared httpx client, per-host limit, feedparser,
dedupe, SQLite writes) against aiohttp servers in a child process, one port per "host".
Cycle 1 fetches full 20-item bodies; cycle 2 repeats it with the stored validators, so every
answer is a 304. Prints one table.

    python benchmarks/poll.py            # 200 feeds, 50 hosts, 300 ms, per-host 2
    python benchmarks/poll.py --smoke    # 40 feeds, 10 hosts
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import platform
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CAPTURE = ROOT / "tests" / "fixtures" / "feeds" / "techcrunch_ai_feed.xml"  # 20 full articles


def small_body(index: int) -> bytes:
    """A 20-item teaser feed (SCMP-like: title, link, guid, date, author, ~200-char teaser)."""
    items = "".join(
        f"<item><title>Feed {index} headline {i} about chips and export controls</title>"
        f"<link>https://f{index}.example/article/{index * 100 + i}/slug?utm_source=rss_feed</link>"
        f"<guid>https://f{index}.example/article/{index * 100 + i}/slug?utm_source=rss_feed</guid>"
        f"<pubDate>Sat, 28 Nov 2026 0{i % 10}:00:00 +0800</pubDate>"
        f"<author>Reporter {i}, Editor {index}</author>"
        f"<description>{'A short teaser sentence about semiconductors. ' * 4}</description></item>"
        for i in range(20)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Feed {index}</title><link>https://f{index}.example/</link>{items}</channel></rss>"
    ).encode()


def full_body(index: int) -> bytes:
    # Distinct article URLs per feed, so every item is a real insert rather than a dedupe hit.
    return CAPTURE.read_bytes().replace(
        b"https://techcrunch.com/", f"https://f{index}.example/".encode()
    )


def feed_body(index: int, kind: str) -> bytes:
    return small_body(index) if kind == "small" else full_body(index)


def serve(ports: list[int], feeds_per_host: int, latency_s: float, kind: str, ready) -> None:
    from aiohttp import web

    async def main() -> None:
        bodies: dict[tuple[int, int], tuple[bytes, str]] = {}
        for h in range(len(ports)):
            for f in range(feeds_per_host):
                body = feed_body(h * feeds_per_host + f, kind)
                bodies[(h, f)] = (body, '"' + hashlib.sha1(body).hexdigest() + '"')

        def handler_for(h: int):
            async def handle(request: web.Request) -> web.Response:
                await asyncio.sleep(latency_s)
                body, etag = bodies[(h, int(request.match_info["f"]))]
                if request.headers.get("If-None-Match") == etag:
                    return web.Response(status=304, headers={"ETag": etag})
                return web.Response(
                    body=body, headers={"Content-Type": "application/rss+xml", "ETag": etag}
                )

            return handle

        runners = []
        for h, port in enumerate(ports):
            app = web.Application()
            app.add_routes([web.get("/feed/{f}", handler_for(h))])
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port, backlog=512).start()
            runners.append(runner)
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def free_ports(n: int) -> list[int]:
    import socket

    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def run_cycles(settings, db, now, kind: str) -> list[dict]:
    from bot.feeds.fetch import make_client
    from bot.feeds.parse import read_items
    from bot.feeds.poll import make_parse_pool, poll_feeds, sync_config_feeds

    sync_config_feeds(db, settings, now=now)
    workers = settings.fetch.parse_processes
    mode = f"{workers} parser processes" if workers else "parser thread"
    rows = []
    pool = make_parse_pool(settings)
    if pool is not None:
        # Start the workers before timing: the scheduler keeps them for the process lifetime.
        tiny = small_body(0)
        futures = [
            pool.submit(read_items, tiny, {}, url="http://warm/", outlet="")
            for _ in range(workers * 2)
        ]
        for future in futures:
            future.result()
    try:
        async with make_client(settings) as client:
            for label, when in (("200", now), ("304", now + timedelta(hours=1))):
                cpu0, t0 = time.process_time(), time.perf_counter()
                counts = await poll_feeds(
                    db,
                    settings,
                    client,
                    now=when,
                    all_feeds=True,
                    rng=random.Random(0),
                    parse_pool=pool,
                )
                rows.append(
                    {
                        "cycle": f"{kind} feeds, {label}s, {mode}",
                        "wall_s": time.perf_counter() - t0,
                        "cpu_s": time.process_time() - cpu0,
                        "new": counts["new_articles"],
                        "304s": counts["not_modified"],
                        "errors": counts["errors"],
                        "peak_rss_mib": rss_mib(),
                    }
                )
    finally:
        if pool is not None:
            pool.shutdown()
    return rows


def run_kind(kind: str, args, per_host_feeds: int, workers: int) -> list[dict]:
    from bot.config import parse_settings
    from bot.store.db import open_db

    ports = free_ports(args.hosts)
    ready = multiprocessing.Event()
    server = multiprocessing.Process(
        target=serve,
        args=(ports, per_host_feeds, args.latency_ms / 1000, kind, ready),
        daemon=True,
    )
    server.start()
    try:
        if not ready.wait(30):
            raise SystemExit("benchmark servers did not start")
        feeds = [
            {
                "name": f"feed {i}",
                "url": f"http://127.0.0.1:{ports[i % args.hosts]}/feed/{i // args.hosts}",
            }
            for i in range(args.feeds)
        ]
        settings = parse_settings(
            {"feeds": feeds, "fetch": {"per_host": args.per_host, "parse_processes": workers}},
            "<benchmark>",
        )
        with tempfile.TemporaryDirectory() as tmp:
            db = open_db(Path(tmp) / "bench.db")
            rows = asyncio.run(run_cycles(settings, db, datetime(2026, 11, 28, tzinfo=UTC), kind))
            db.close()
    finally:
        server.terminate()
        server.join(5)
    return rows


def parse_cpu_s(kind: str, feeds: int) -> float:
    """CPU to parse + normalise every body of one cycle in this process (no network, no DB)."""
    from bot.feeds.parse import read_items

    bodies = [feed_body(i, kind) for i in range(feeds)]
    start = time.process_time()
    for body in bodies:
        read_items(body, {"content-type": "application/rss+xml"}, url="http://b/", outlet="")
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small size (40 feeds, 10 hosts)")
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=300)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument(
        "--parse-processes", type=int, default=2, help="parser processes for the second run"
    )
    args = parser.parse_args()
    if args.smoke:
        args.feeds, args.hosts = 40, 10
    per_host_feeds = -(-args.feeds // args.hosts)
    rss_before = rss_mib()
    rows = []
    for kind in ("small", "full"):
        for workers in (0, args.parse_processes):
            rows += run_kind(kind, args, per_host_feeds, workers)

    rounds = -(-per_host_feeds // args.per_host)
    floor = rounds * args.latency_ms / 1000
    print(
        f"poll cycle: {args.feeds} feeds of 20 items on {args.hosts} loopback hosts, "
        f"{args.latency_ms:.0f} ms latency, per-host limit {args.per_host}"
    )
    print(
        f"machine: {platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print("small = 20 teasers (~6 KB); full = TechCrunch capture with full article HTML (~18 KB)")
    print(f"latency floor ({rounds} rounds per host): {floor:.2f} s; target: cycle <= 2 s")
    print(f"RSS before polling: {rss_before:.0f} MiB; load average now: {os.getloadavg()[0]:.1f}")
    print()
    header = ("cycle", "wall s", "main-process CPU s", "new", "304s", "errors", "peak RSS MiB")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print(
            f"| {r['cycle']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['new']} | "
            f"{r['304s']} | {r['errors']} | {r['peak_rss_mib']:.0f} |"
        )
    cores = multiprocessing.cpu_count()
    print()
    for kind in ("small", "full"):
        cpu = parse_cpu_s(kind, args.feeds)
        print(
            f"{kind} feeds: parse CPU {cpu:.2f} s for {args.feeds} bodies; "
            f"parse CPU / {cores} cores + latency floor = {cpu / cores + floor:.2f} s"
        )
    if any(r["errors"] for r in rows):
        raise SystemExit("some feeds failed during the benchmark")


if __name__ == "__main__":
    main()
