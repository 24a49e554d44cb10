"""Soak: the real jobs over many simulated days, with crashes, an outage and a corrupt snapshot.

A worker process opens the composition root once (`bot.app.open_app`, the real model, the parse
pool, the bot-channel sink) under the archive's `run` lock, and runs the cycle's steps from
`bot/pipeline.py` on the ticks it is sent, each with its simulated `now`. The driver (this
process) owns the clock and the outside world, all on localhost:

- feeds (tests/feeds/feed_server.py) that change every tick: the captured fixture items,
  rotated and re-dated to the simulated day, under new links;
- OpenRouter's Data API (tests/tokens/or_server.py): daily rows whose Chinese share drifts
  up (with a step on day 40 of 60), and one answer with every token count negated;
- Discord (tests/chat/fake_discord.py; 100 ms per message, the message created halfway)
  answering 503 for two simulated hours on day 20 of 60;
- kill -9 of the worker's process group on ten days, then a new worker and the interrupted
  tick again: on half of them at a random moment of a random tick, on the other half at a
  random moment while the day's digest is on the wire.

It then checks, from the archive and from what "Discord" received: one digest per day, share
alerts (false: sent for the corrupt answer, or stating a share more than 0.5 points from the
served truth), duplicates (a message body twice) and messages no delivery recorded, story
invariants; and prints the table docs/performance.md keeps. Exit 1 if a check fails.

Usage: python benchmarks/soak.py [--smoke] [--days N] [--kills N] [--per-day N] [--seed S]
       [--sink bot|webhook] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import random
import re
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
# (hour, steps): a simulated day. The digest is due at 08:00 UTC; deliveries go out hourly.
TICKS = [
    (6, ["poll_feeds", "analyze", "breaking_alerts", "poll_tokens", "detect_changes", "deliver"]),
    (8, ["daily_digest", "deliver"]),
    (9, ["deliver"]),
    (10, ["deliver"]),
    (12, ["poll_feeds", "analyze", "breaking_alerts", "deliver"]),
    (18, ["poll_feeds", "analyze", "breaking_alerts", "poll_tokens", "detect_changes", "deliver"]),
]
# feed name, fixture, outlet, domain, items per day (of --per-day 16)
OUTLETS = [
    ("register", "theregister_headlines.atom", "The Register", "www.theregister.com", 6),
    ("techcrunch", "techcrunch_ai_feed.xml", "TechCrunch", "techcrunch.com", 4),
    ("techmeme", "techmeme_feed.xml", "Techmeme", "www.techmeme.com", 3),
    ("verge", "theverge_ai_index.xml", "The Verge", "www.theverge.com", 2),
    ("scmp", "scmp_semiconductors_synthetic.xml", "SCMP", "www.scmp.com", 1),
]
# permaslug, country, weight within its country ("other" is OpenRouter's remainder row)
MODELS = [
    ("deepseek/deepseek-v3.2", "CN", 0.35),
    ("qwen/qwen3-coder", "CN", 0.25),
    ("moonshotai/kimi-k2", "CN", 0.2),
    ("z-ai/glm-4.6", "CN", 0.2),
    ("anthropic/claude-sonnet-4.5", "US", 0.35),
    ("openai/gpt-5", "US", 0.25),
    ("google/gemini-2.5-flash", "US", 0.25),
    ("x-ai/grok-4-fast", "US", 0.15),
    ("mistralai/mistral-medium-3.1", "FR", 1.0),
]


# --- the world the driver serves ------------------------------------------------------------


def load_pools() -> dict[str, list[tuple[str, str]]]:
    import feedparser

    pools = {}
    for name, fixture, *_ in OUTLETS:
        parsed = feedparser.parse(ROOT / "tests" / "fixtures" / "feeds" / fixture)
        pools[name] = [
            (e.get("title") or "untitled", re.sub(r"<[^>]+>", " ", e.get("summary") or "")[:400])
            for e in parsed.entries
        ]
    return pools


def feed_body(pools, name: str, outlet: str, domain: str, k: int, now: datetime) -> bytes:
    """The feed as it reads at `now`: its items of the last 48 h, `k` a day, re-dated."""
    items = []
    for back in (2, 1, 0):
        day = (now - timedelta(days=back)).replace(hour=0, minute=0, second=0, microsecond=0)
        d = (day - START).days
        for j in range(k):
            published = day + timedelta(hours=24 * (j + 0.5) / k, minutes=7 * len(name))
            if not now - timedelta(hours=48) < published <= now:
                continue
            pool = pools[name]
            title, summary = pool[(d * k + j) % len(pool)]
            slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60]
            link = f"https://{domain}/soak/{day.date()}/{slug}-{j}"
            items.append(
                f"<item><title>{html.escape(title)}</title><link>{html.escape(link)}</link>"
                f'<guid isPermaLink="true">{html.escape(link)}</guid>'
                f"<pubDate>{format_datetime(published)}</pubDate>"
                f"<description>{html.escape(summary)}</description></item>"
            )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{html.escape(outlet)}</title><link>https://{domain}/</link>"
        f"<description>soak</description>{''.join(items)}</channel></rss>"
    ).encode()


def cn_share(day: date, step_day: int) -> float:
    d = (day - START.date()).days
    noise = random.Random(day.toordinal()).uniform(-0.003, 0.003)
    return max(0.2, 0.30 + 0.15 * d / 60 + (0.04 if d >= step_day else 0.0) + noise)


def day_tokens(day: date, step_day: int) -> dict[str, int]:
    """Tokens per model slug (and "other") served for `day`."""
    total = 4e11 * (1 + 0.003 * (day - START.date()).days)
    cn = cn_share(day, step_day)
    shares = {"CN": cn, "US": 0.90 - cn, "FR": 0.06}
    out = {slug: round(total * shares[c] * w) for slug, c, w in MODELS}
    out["other"] = round(total * 0.04)
    return out


def daily_payload(now: datetime, step_day: int, *, corrupt: bool) -> dict:
    """What the Data API answers at `now` for the 14 complete days before it."""
    end = now.date() - timedelta(days=1)
    rows = []
    for back in range(13, -1, -1):
        day = end - timedelta(days=back)
        for slug, tokens in day_tokens(day, step_day).items():
            value = -tokens if corrupt else tokens
            rows.append(
                {"date": day.isoformat(), "model_permaslug": slug, "total_tokens": str(value)}
            )
    meta = {"as_of": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "version": "v1"}
    meta |= {"start_date": (end - timedelta(days=13)).isoformat(), "end_date": end.isoformat()}
    return {"data": rows, "meta": meta}


def true_share(start: date, end: date, step_day: int) -> dict[str, float]:
    """Country shares over [start, end) as served."""
    sums: Counter = Counter()
    day = start
    while day < end:
        for slug, tokens in day_tokens(day, step_day).items():
            country = next((c for s, c, _ in MODELS if s == slug), "UNKNOWN")
            sums[country] += tokens
        day += timedelta(days=1)
    total = sum(sums.values())
    return {c: v / total for c, v in sums.items()}


# --- the worker: real jobs on a simulated clock ---------------------------------------------


def _proc_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def worker(config: str, db_file: str) -> None:
    import logging

    from bot import pipeline
    from bot.app import open_app
    from bot.clock import parse_iso
    from bot.config import load_settings
    from bot.run import instance_lock

    # The protocol gets its own copy of stdout; anything printed by the code goes to stderr.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def emit(doc: dict) -> None:
        proto.write(json.dumps(doc) + "\n")

    settings = load_settings(config, db_file)
    started = time.monotonic()
    with instance_lock(settings):
        async with open_app(settings, parse_pool=True) as app:
            app.embedder.encode(["warm up"])
            emit({"ready": True, "pid": os.getpid(), "startup_s": time.monotonic() - started})
            while line := await asyncio.to_thread(sys.stdin.readline):
                cmd = json.loads(line)
                if cmd.get("reset_peak"):
                    Path("/proc/self/clear_refs").write_text("5")  # restart VmHWM
                now = parse_iso(cmd["now"])
                results = []
                for name in cmd["steps"]:
                    job = getattr(pipeline, f"{name}_job", None)
                    if job is None:
                        continue
                    emit({"event": "start", "step": name})
                    t, cpu = time.monotonic(), time.process_time()
                    r = await job(app, now=now)
                    results.append(
                        {
                            "job": name,
                            "status": r["status"],
                            "error": r.get("error"),
                            "seconds": time.monotonic() - t,
                            "cpu": time.process_time() - cpu,  # all threads of the worker
                        }
                    )
                emit(
                    {
                        "tick": cmd["tick"],
                        "results": results,
                        "rss_kb": _proc_kb("VmRSS"),
                        "hwm_kb": _proc_kb("VmHWM"),
                    }
                )


# --- the driver -----------------------------------------------------------------------------


class Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, work: Path, env: dict[str, str]) -> tuple[Worker, float]:
        log = open(work / "worker.log", "ab")  # noqa: SIM115 (handed to the child)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--worker",
            "--keep",
            str(work),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env=env,
            start_new_session=True,  # its own process group: kill -9 takes the parse pool too
        )
        log.close()
        worker = cls(proc)
        ready = await worker.read(timeout=300)
        return worker, ready["startup_s"]

    async def read(self, timeout: float) -> dict:
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=timeout)
        if not line:
            raise RuntimeError("the worker exited; see worker.log")
        return json.loads(line)

    async def tick(self, cmd: dict, kill: tuple[str | None, float] | None) -> dict | str:
        """Run one tick. With `kill` = (step, seconds): SIGKILL the worker that long after the
        step starts (step None: after the tick is sent) and return the step it was in, or
        "between ticks" when the tick ended first."""
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()
        current, deadline = "between ticks", None
        if kill is not None and kill[0] is None:
            deadline = time.monotonic() + kill[1]
        while True:
            timeout = 600.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                doc = await self.read(timeout)
            except TimeoutError:
                if deadline is None:
                    raise
                self.kill()
                return current
            if "event" in doc:
                current = doc["step"]
                if kill is not None and current == kill[0]:
                    deadline = time.monotonic() + kill[1]
                continue
            if kill is not None:
                # The tick ended before the kill moment: the kill lands while it idles.
                self.kill()
                return "between ticks"
            return doc

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)

    async def close(self) -> None:
        self.proc.stdin.close()
        await asyncio.wait_for(self.proc.wait(), timeout=120)


def _env(fake, sink: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "TOKENTIDE_", "OPENROUTER_"))
    }
    env |= {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OPENROUTER_API_KEY": "soak-key"}
    if sink == "bot":
        env["DISCORD_TOKEN"] = fake.token
    else:
        env["DISCORD_WEBHOOK_URL"] = f"{fake.base}/webhooks/1/soak-token"
    return env


def _archive_bytes(db_file: Path) -> int:
    """The archive file's size once the write-ahead log is copied into it (the log itself is
    scratch space SQLite reuses, not archive growth)."""
    with sqlite3.connect(db_file) as conn:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    return db_file.stat().st_size


async def drive(args: argparse.Namespace, work: Path) -> int:
    from aiohttp import web
    from chat.fake_discord import FakeDiscord
    from feeds.feed_server import FeedServer
    from tokens.or_server import DAILY, OpenRouterStandIn, json_response

    days = args.days
    fail_day, corrupt_day, step_day = days // 3, days // 2, (2 * days) // 3
    rng = random.Random(args.seed)
    kill_days = set(rng.sample(range(1, days), min(args.kills, days - 1)))
    scale = args.per_day / 16

    fake = FakeDiscord(latency_s=0.1)
    await fake.start()
    feeds = FeedServer()
    runner = web.AppRunner(feeds.app(), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    feeds.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    opr = OpenRouterStandIn().__enter__()
    pools = load_pools()
    per_day = {name: max(1, round(k * scale)) for name, *_, k in OUTLETS}
    db_file = work / "tokentide.db"
    config = {
        "feeds": [
            {"name": outlet, "url": feeds.url(f"/dyn/{name}"), "outlet": outlet}
            for name, _, outlet, *_ in OUTLETS
        ],
        "openrouter": {"base_url": opr.url},
        "discord": {"api_base": fake.base, "channel_id": 555, "timeout_s": 10.0},
        "digest": {"time": "08:00", "timezone": "UTC"},
    }
    (work / "feeds.yaml").write_text(json.dumps(config), encoding="utf-8")
    env = _env(fake, args.sink)

    wall = time.monotonic()
    worker, startup = await Worker.start(work, env)
    startups = [startup]
    kills: list[dict] = []
    corrupt_at = None
    seconds: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    cpu: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    peak: dict[int, int] = defaultdict(int)
    size: dict[int, tuple[int, int]] = {}
    errors: Counter = Counter()
    typical: dict[str, float] = defaultdict(lambda: 0.3)
    outage_posts = 0
    for day in range(days):
        week = day // 7 + 1
        kill_tick = None
        if day in kill_days:
            kill_tick = rng.randrange(len(TICKS)) if len(kills) % 2 == 0 else 1  # 1: 08:00
        for t, (hour, steps) in enumerate(TICKS):
            now = START + timedelta(days=day, hours=hour)
            for name, _, outlet, domain, _ in OUTLETS:
                feeds.set(name, feed_body(pools, name, outlet, domain, per_day[name], now))
            corrupt = day == corrupt_day and hour == 6
            if corrupt:
                corrupt_at = now
            opr.set(DAILY, json_response(daily_payload(now, step_day, corrupt=corrupt)))
            fake.down_status = 503 if day == fail_day and 8 <= hour < 10 else None
            cmd = {
                "tick": f"{day}/{hour}",
                "now": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "steps": steps,
                "reset_peak": day % 7 == 0 and t == 0,
            }
            kill = None
            if t == kill_tick and len(kills) % 2 == 0:
                # Any moment of the tick, by how long its steps usually take.
                kill = (None, rng.uniform(0, 1.1) * sum(typical[x] for x in steps))
            elif t == kill_tick:
                # While the digest is on the wire (Discord takes latency_s to answer).
                kill = ("deliver", rng.uniform(0, 1.2) * fake.latency_s)
            posts = len(fake.requests)
            done = await worker.tick(cmd, kill)
            if isinstance(done, str):
                await worker.proc.wait()
                kills.append({"day": day, "tick": cmd["tick"], "in": done})
                worker, startup = await Worker.start(work, env)
                startups.append(startup)
                done = await worker.tick(cmd, None)
            for r in done["results"]:
                seconds[week][r["job"]].append(r["seconds"])
                cpu[week][r["job"]].append(r["cpu"])
                typical[r["job"]] = r["seconds"]
                if r["status"] != "ok":
                    errors[f"{r['job']}: {r.get('error') or r['status']}"[:140]] += 1
            peak[week] = max(peak[week], done["hwm_kb"])
            if fake.down_status is not None:
                outage_posts += len(fake.requests) - posts
        with sqlite3.connect(db_file) as conn:
            articles = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        size[week] = (articles, _archive_bytes(db_file))
        print(f"day {day + 1}/{days}: {articles} articles", file=sys.stderr, flush=True)
    await worker.close()
    elapsed = time.monotonic() - wall

    report = check(db_file, fake, days, corrupt_at, step_day)
    report |= {
        "kills": kills,
        "startup_s": startups,
        "errors": errors,
        "elapsed_s": elapsed,
        "fail_day": fail_day + 1,
        "corrupt_day": corrupt_day + 1,
        "outage_posts": outage_posts,
    }
    print_report(args, report, seconds, cpu, peak, size)
    await fake.stop()
    await runner.cleanup()
    opr.__exit__(None, None, None)
    return 0 if report["ok"] else 1


def check(db_file: Path, fake, days: int, corrupt_at: datetime | None, step_day: int) -> dict:
    """Everything the soak promises, read from the archive and from what Discord received."""
    total_bytes = _archive_bytes(db_file)
    conn = sqlite3.connect(db_file)
    try:
        pages = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.OperationalError:
        pages = []  # SQLite built without the dbstat table
    # Tables and indexes that grow with articles; the rest (token snapshots, deliveries, job
    # runs) grows with time.
    by_article = sum(
        n for name, n in pages if name.startswith(("article", "stor", "sqlite_autoindex_art"))
    )
    rows = conn.execute(
        "SELECT kind, key, status, message_ids, payload, resent_parts FROM deliveries"
    ).fetchall()
    digests = [r for r in rows if r[0] == "digest"]
    want = {(START + timedelta(days=d)).date().isoformat() for d in range(days)}
    digest_keys = Counter(r[1] for r in digests if r[2] == "sent")
    corrupt_ids = set()
    if corrupt_at is not None:
        stamp = corrupt_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        corrupt_ids = {
            r[0]
            for r in conn.execute("SELECT id FROM token_snapshots WHERE fetched_at = ?", [stamp])
        }
    alerts, false_alerts = 0, []
    for kind, key, status, _, payload, _ in rows:
        if kind != "share_alert" or status != "sent":
            continue
        alerts += 1
        doc = json.loads(payload)
        period = doc["period"]
        truth = true_share(
            datetime.fromisoformat(period["start"].replace("Z", "+00:00")).date(),
            datetime.fromisoformat(period["end"].replace("Z", "+00:00")).date(),
            step_day,
        )
        off = [m for m in doc["moves"] if abs(m["to"] - truth.get(m["country"], 0.0)) * 100 > 0.5]
        if doc["snapshot_id"] in corrupt_ids or off:
            false_alerts.append(f"{key}: {doc['moves']}")
    recorded = Counter(i for r in rows if r[2] == "sent" for i in json.loads(r[3] or "[]"))
    bodies = Counter(
        json.dumps([m["content"], m["embeds"], [a["filename"] for a in m["attachments"]]])
        for m in fake.messages
    )
    # A duplicate is a copy of a message body already in the channel; an unrecorded message
    # is one no delivery knows it sent (a copy whose answer a killed sender never got).
    duplicates = sum(n - 1 for n in bodies.values())
    unrecorded = sum(1 for m in fake.messages if m["id"] not in recorded)
    breaks = conn.execute(
        """SELECT count(*) FROM stories s WHERE s.merged_into IS NULL AND (
               s.article_count != (SELECT count(*) FROM articles a WHERE a.story_id = s.id)
               OR s.article_count = 0
               OR (s.representative_article_id IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM articles a WHERE a.id = s.representative_article_id
                   AND a.story_id = s.id)))"""
    ).fetchone()[0]
    try:
        rejected = conn.execute(
            "SELECT verdict, reason FROM rejected_snapshots WHERE source = 'rankings-daily'"
        ).fetchall()
    except sqlite3.OperationalError:
        rejected = []  # an archive from before snapshot checks
    report = {
        "articles": conn.execute("SELECT count(*) FROM articles").fetchone()[0],
        "unanalysed": conn.execute(
            "SELECT count(*) FROM articles WHERE analyzed_at IS NULL"
        ).fetchone()[0],
        "stories": conn.execute("SELECT count(*) FROM stories").fetchone()[0],
        "bytes": (total_bytes, by_article, sum(n for _, n in pages) - by_article),
        "digests": sum(digest_keys.values()),
        "digest_days_ok": set(digest_keys) == want and max(digest_keys.values(), default=0) == 1,
        "alerts": alerts,
        "false_alerts": false_alerts,
        "story_alerts": sum(1 for r in rows if r[0] == "story_alert" and r[2] == "sent"),
        "corrupt_stored": bool(corrupt_ids),
        "rejected": rejected,
        "messages": len(fake.messages),
        "duplicates": duplicates,
        "unrecorded": unrecorded,
        "resent": sum(len(json.loads(r[5] or "[]")) for r in rows),
        "left": Counter(r[2] for r in rows if r[2] != "sent"),
        "story_breaks": breaks,
    }
    conn.close()
    report["ok"] = (
        report["digests"] == days
        and report["digest_days_ok"]
        and not report["false_alerts"]
        and report["duplicates"] == 0
        and report["unrecorded"] == 0
        and report["story_breaks"] == 0
        and report["unanalysed"] == 0
        and not report["left"]
    )
    return report


def print_report(args, report: dict, seconds, cpu, peak, size) -> None:
    days = args.days
    print(
        f"\nSoak: {days} simulated days, {args.per_day} articles a day, sink {args.sink}, "
        f"seed {args.seed}; wall {report['elapsed_s'] / 60:.1f} min"
    )
    print("\n| check | result |\n|---|---|")
    lines = [
        (
            "digests delivered",
            f"{report['digests']} of {days} "
            f"({'one per day' if report['digest_days_ok'] else 'NOT one per day'})",
        ),
        ("share alerts sent", report["alerts"]),
        ("false alerts", len(report["false_alerts"])),
        (
            f"corrupt snapshot (day {report['corrupt_day']})",
            "stored" if report["corrupt_stored"] else "not stored",
        ),
        (
            "rankings answers refused or held",
            ", ".join(f"{v}: {r[:70]}" for v, r in report["rejected"][:2]) or "0",
        ),
        ("breaking-story alerts sent", report["story_alerts"]),
        (
            "Discord messages / duplicates / not recorded",
            f"{report['messages']} / {report['duplicates']} / {report['unrecorded']}",
        ),
        ("messages sent again after a kill mid-send (resent_parts)", report["resent"]),
        (
            f"Discord 503 for two hours on day {report['fail_day']}: posts refused",
            report["outage_posts"],
        ),
        (
            "kill -9 of the worker",
            f"{len(report['kills'])}: "
            + ", ".join(f"day {k['day'] + 1} in {k['in']}" for k in report["kills"]),
        ),
        ("deliveries not sent at the end", dict(report["left"]) or 0),
        (
            "articles / stories / unanalysed",
            f"{report['articles']} / {report['stories']} / {report['unanalysed']}",
        ),
        ("story invariant breaks", report["story_breaks"]),
        (
            "archive size",
            f"{report['bytes'][0] / 2**20:.1f} MiB: articles and stories "
            f"{report['bytes'][1] / 1024 / max(report['articles'], 1) * 1000:,.0f} KiB per "
            f"1,000 articles; token snapshots, deliveries, job runs "
            f"{report['bytes'][2] / 1024 / days:,.0f} KiB per day",
        ),
        ("worker start-up (model load), median s", f"{statistics.median(report['startup_s']):.1f}"),
    ]
    for name, value in lines:
        print(f"| {name} | {value} |")
    jobs = [
        "poll_feeds",
        "analyze",
        "breaking_alerts",
        "poll_tokens",
        "detect_changes",
        "daily_digest",
        "deliver",
    ]
    jobs = [j for j in jobs if any(j in seconds[w] for w in seconds)]
    print(
        "\n| week | articles | archive MiB | KiB per 1,000 articles | peak RSS MiB | "
        + " | ".join(f"{j} s: wall mean/max (CPU mean)" for j in jobs)
        + " |"
    )
    print("|---" * (5 + len(jobs)) + "|")
    for week in sorted(seconds):
        articles, size_bytes = size[week]
        per_k = size_bytes / 1024 / max(articles, 1) * 1000
        cells = []
        for j in jobs:
            xs = seconds[week].get(j) or [0.0]
            cs = cpu[week].get(j) or [0.0]
            cells.append(f"{statistics.mean(xs):.2f}/{max(xs):.2f} ({statistics.mean(cs):.2f})")
        print(
            f"| {week} | {articles} | {size_bytes / 2**20:.1f} | {per_k:,.0f} | "
            f"{peak[week] / 1024:.0f} | " + " | ".join(cells) + " |"
        )
    if report["false_alerts"]:
        print("\nfalse alerts:\n  " + "\n  ".join(report["false_alerts"]))
    if report["errors"]:
        print("\nstep errors (count):")
        for text, n in report["errors"].most_common(8):
            print(f"  {n} x {text}")
    print("\nresult:", "all checks pass" if report["ok"] else "CHECKS FAILED")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="5 days, 1 kill (CI)")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--per-day", type=int, default=16, help="new articles a day")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--sink", choices=("bot", "webhook"), default="bot")
    parser.add_argument("--keep", type=Path, default=None, help="work directory to keep")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        asyncio.run(worker(str(args.keep / "feeds.yaml"), str(args.keep / "tokentide.db")))
        return 0
    if args.smoke:
        args.days, args.kills, args.per_day = 5, 1, 8
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        return asyncio.run(drive(args, args.keep))
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        return asyncio.run(drive(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
