"""Outbox delivery throughput and slash-command answer time, against the local Discord stand-in.

Prints one table: deliveries enqueued, messages per delivery, wall time and messages/s through
the webhook sink (with a 500 and a short 429 injected), and the time from an interaction
arriving to its response reaching "Discord" for /story and /feeds (Discord allows 3 s).

Usage: python benchmarks/delivery.py [--smoke]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402
from chat.fake_discord import FakeDiscord  # noqa: E402

from bot.chat.deliver import deliver_pending  # noqa: E402
from bot.chat.sinks import WebhookSink  # noqa: E402
from bot.config import Secrets, parse_settings  # noqa: E402
from bot.store.db import open_db  # noqa: E402
from bot.store.outbox import destination_for, enqueue  # noqa: E402

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def settings_for(tmp: Path, base: str):
    data = {"discord": {"api_base": base, "backoff_base_s": 1.0, "max_inline_wait_s": 1.0}}
    return replace(
        parse_settings(data, "bench.yaml"),
        db_path=str(tmp / "bench.db"),
        secrets=Secrets(discord_webhook_url=f"{base}/webhooks/1/tok"),
    )


async def bench_delivery(deliveries: int, parts: int) -> dict:
    fake = FakeDiscord()
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), fake.base)
        db = open_db(settings.db_path)
        for n in range(deliveries):
            messages = [
                {
                    "content": f"delivery {n} part {p}",
                    "embeds": [{"title": "t", "description": "d" * 500}],
                }
                for p in range(parts)
            ]
            enqueue(
                db,
                kind="digest",
                key=f"k{n}",
                destination=destination_for(settings),
                payload={"messages": messages},
                now=NOW,
            )
        fake.fail_next(500)
        fake.fail_next(429, retry_after=0.05)
        started = time.perf_counter()
        async with httpx.AsyncClient() as client:
            sink = WebhookSink(settings, client)
            await deliver_pending(db, settings, sink, now=NOW)  # hits the 500, reschedules
            await deliver_pending(db, settings, sink, now=NOW + timedelta(seconds=2))
        wall = time.perf_counter() - started
        sent = db.execute("SELECT count(*) FROM deliveries WHERE status='sent'").fetchone()[0]
        db.close()
    await fake.stop()
    assert sent == deliveries and len(fake.messages) == deliveries * parts
    return {
        "deliveries": deliveries,
        "parts": parts,
        "wall_s": wall,
        "msgs_per_s": deliveries * parts / wall,
    }


async def bench_slash(rounds: int) -> dict[str, list[float]]:
    import discord
    from chat.test_slash import _add_story, interaction_payload
    from discord.http import Route

    from bot.chat.bot import TokentideBot
    from bot.chat.sinks import configure_route_base

    fake = FakeDiscord()
    await fake.start()
    timings: dict[str, list[float]] = {"story": [], "feeds": []}
    with tempfile.TemporaryDirectory() as tmp:
        settings = replace(
            settings_for(Path(tmp), fake.base), secrets=Secrets(discord_token=fake.token)
        )
        db = open_db(settings.db_path)
        _add_story(db, 1, "Nvidia H20 export rules tighten")
        saved = Route.BASE
        configure_route_base(fake.base)
        bot = TokentideBot(settings, db)
        await bot.login(fake.token)
        for _ in range(rounds):
            for name, options in (
                ("story", [{"name": "id", "type": 4, "value": 1}]),
                ("feeds", None),
            ):
                payload = interaction_payload(name, options)
                started = time.perf_counter()
                await bot.tree._call(discord.Interaction(data=payload, state=bot._connection))
                timings[name].append(time.perf_counter() - started)
        await bot.close()
        Route.BASE = saved
        db.close()
    await fake.stop()
    return timings


def main(argv: list[str]) -> int:
    import logging

    logging.basicConfig(level=logging.ERROR)  # the injected 500 is expected; keep the table clean
    smoke = "--smoke" in argv
    sizes = [(20, 2)] if smoke else [(20, 2), (200, 3), (1000, 1)]
    print(f"{'deliveries':>10} {'msgs each':>9} {'wall s':>8} {'msgs/s':>8}")
    for deliveries, parts in sizes:
        row = asyncio.run(bench_delivery(deliveries, parts))
        print(
            f"{row['deliveries']:>10} {row['parts']:>9} {row['wall_s']:>8.2f} {row['msgs_per_s']:>8.0f}"
        )
    timings = asyncio.run(bench_slash(5 if smoke else 50))
    print(f"\n{'command':>10} {'median ms':>10} {'max ms':>8}   (Discord's window: 3000 ms)")
    for name, values in timings.items():
        print(
            f"{'/' + name:>10} {statistics.median(values) * 1000:>10.1f} {max(values) * 1000:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
