"""The process: the scheduler alone, or the scheduler beside the Discord bot; graceful shutdown.
Also the commands that drive the cycle by hand (`run`, `digest`, `deliver`).

The scheduler is APScheduler 3's `AsyncIOScheduler`, one instance of each job at a time,
missed runs merged. A missed daily digest is caught up on start.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click

from bot.clock import utcnow
from bot.config import Settings
from bot.errors import StoreError
from bot.params import HOURS

# --- the scheduler --------------------------------------------------------------------------


def last_digest_time(settings: Settings, now: datetime) -> datetime:
    """The most recent scheduled digest time at or before `now` (UTC), for catch-up on start."""
    zone = ZoneInfo(settings.digest.timezone)
    hour, minute = (int(x) for x in settings.digest.time.split(":"))
    local = now.astimezone(zone)
    scheduled = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if scheduled > local:
        scheduled = (local - timedelta(days=1)).replace(
            hour=hour, minute=minute, second=0, microsecond=0
        )
    return scheduled.astimezone(UTC)


def _tick(app: Any, job: Callable[..., Awaitable[dict]]) -> Callable[[], Awaitable[dict]]:
    import logging

    async def run() -> dict:
        try:
            return await job(app, now=utcnow())
        except asyncio.CancelledError:
            # Shutdown cancels jobs still polling; job_runs says so, no traceback needed.
            logging.getLogger(__name__).info("%s stopped by shutdown", job.__name__)
            return {"status": "cancelled"}
        except StoreError as exc:
            # The archive refused even the job's own record (a full disk, a lock held too
            # long): one line, and the next tick tries again.
            name = job.__name__.removesuffix("_job")
            logging.getLogger(__name__).error("%s: %s (tried again at its next run)", name, exc)
            return {"status": "error", "error": str(exc)}

    run.__name__ = job.__name__
    return run


def build_scheduler(app: Any) -> Any:
    """An AsyncIOScheduler with every job; one instance of each at a time, missed runs merged."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    from bot import pipeline

    s = app.settings
    scheduler = AsyncIOScheduler(
        timezone=UTC,
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 3600},
    )
    start = datetime.now(UTC)
    hour, minute = (int(x) for x in s.digest.time.split(":"))
    sch = s.schedule
    # (job, interval, delay of its first run): the first runs are staggered so analysis and
    # change detection see what the polls just stored.
    interval_jobs = [
        (pipeline.poll_feeds_job, timedelta(minutes=sch.poll_minutes), timedelta(0)),
        (pipeline.analyze_job, timedelta(minutes=sch.analyze_minutes), timedelta(minutes=1)),
        (pipeline.breaking_alerts_job, timedelta(minutes=sch.analyze_minutes), timedelta(0, 150)),
        (pipeline.poll_tokens_job, timedelta(hours=sch.tokens_hours), timedelta(0)),
        (pipeline.detect_changes_job, timedelta(hours=sch.tokens_hours), timedelta(minutes=2)),
        (pipeline.deliver_job, timedelta(seconds=sch.deliver_seconds), timedelta(0)),
    ]
    for job, every, delay in interval_jobs:
        scheduler.add_job(
            _tick(app, job),
            IntervalTrigger(seconds=every.total_seconds()),
            id=job.__name__.removesuffix("_job"),
            next_run_time=start + delay,
        )
    scheduler.add_job(
        _tick(app, pipeline.daily_digest_job),
        CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(s.digest.timezone)),
        id="daily_digest",
    )
    return scheduler


async def start_scheduler(app: Any, *, now: datetime) -> Any:
    """Catch up a missed daily digest, then start the scheduler inside the running loop."""
    from bot.pipeline import daily_digest_job

    await daily_digest_job(app, now=last_digest_time(app.settings, now))
    scheduler = build_scheduler(app)
    scheduler.start()
    return scheduler


async def stop_scheduler(app: Any, scheduler: Any) -> None:
    """Stop scheduling, then give in-flight deliveries `schedule.shutdown_grace_s` to finish."""
    scheduler.shutdown(wait=False)
    await asyncio.sleep(0)  # AsyncIOScheduler applies the shutdown on the loop's next turn
    pending = [t for t in app.in_flight if not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=app.settings.schedule.shutdown_grace_s)


class Daemon:
    """The scheduler and the resources it runs on, for the lifetime of a running loop.

    `start(bot_http)` opens the composition root (with the bot's HTTP client when the bot is
    running, so the bot-channel sink shares its rate-limit state) and starts the scheduler;
    `stop()` stops it and closes everything. The Discord bot calls both as its lifecycle."""

    def __init__(self, settings: Settings, db: Any) -> None:
        self.settings = settings
        self.db = db
        self.app: Any = None
        self.scheduler: Any = None
        self._stack = AsyncExitStack()

    async def start(self, bot_http: Any = None) -> None:
        from bot.app import open_app

        self.app = await self._stack.enter_async_context(
            open_app(self.settings, self.db, bot_http=bot_http, parse_pool=True)
        )
        self.scheduler = await start_scheduler(self.app, now=utcnow())

    async def stop(self) -> None:
        if self.scheduler is not None:
            await stop_scheduler(self.app, self.scheduler)
            self.scheduler = None
        await self._stack.aclose()

    def embedder(self) -> Any:
        if self.app is None:
            from bot.errors import TokentideError

            raise TokentideError("the model is not loaded yet: try again in a moment")
        return self.app.embedder


async def run_forever(settings: Settings, db: Any, stop: asyncio.Event) -> None:
    """The scheduler alone (no bot token): run until `stop` is set (SIGINT/SIGTERM)."""
    daemon = Daemon(settings, db)
    await daemon.start()
    click.echo(
        f"tokentide: scheduler running, delivering to {type(daemon.app.sink).__name__}", err=True
    )
    try:
        await stop.wait()
    finally:
        await daemon.stop()


async def run_with_bot(settings: Settings, db: Any) -> None:
    """The Discord bot with the scheduler in its event loop."""
    from bot.chat.bot import TokentideBot, serve_bot
    from bot.chat.sinks import configure_route_base
    from bot.pipeline import build_digest

    configure_route_base(settings.discord.api_base)
    daemon = Daemon(settings, db)
    bot = TokentideBot(
        settings, db, embedder=daemon.embedder, build_digest=build_digest, lifecycle=daemon
    )
    await serve_bot(bot, settings.secrets.discord_token or "")


# --- commands -------------------------------------------------------------------------------


def _summary(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if isinstance(v, int))


def _exit_for(counts: dict) -> None:
    """Exit 1 when a delivery failed; 3 when the run stopped at one another live process is
    sending (it names that process: `deliver` never goes quiet about a stuck outbox)."""
    if counts.get("held_by"):
        click.echo(f"held: {counts['held_by']}", err=True)
    if counts.get("failed"):
        sys.exit(1)
    if counts.get("held"):
        sys.exit(3)


@click.command("run")
@click.option(
    "--once",
    is_flag=True,
    help="Do one full cycle (poll, analyse, tokens, digest, deliver) and exit.",
)
@click.pass_obj
def run_cmd(obj, once: bool) -> None:
    """Run everything on schedule: poll feeds and OpenRouter, analyse, post digests and alerts.

    With DISCORD_TOKEN set the Discord bot runs too (slash commands) and the scheduler lives
    in its event loop; without it the scheduler runs alone and messages go to the webhook or
    the console. Stop with Ctrl-C: deliveries in flight are finished first.

    \b
    Example:
      tokentide run --once
    """
    settings = obj.settings
    with instance_lock(settings):
        db = obj.db
        if once:
            from bot.summaries import summarize

            # The same lines the daemon logs, one per step as it finishes.
            asyncio.run(_run_once(settings, db, report=lambda r: click.echo(summarize(r))))
            return
        if settings.secrets.discord_token:
            asyncio.run(run_with_bot(settings, db))
        else:
            asyncio.run(_run_scheduler(settings, db))


def instance_lock(settings: Settings) -> Any:
    """One `tokentide run` (daemon or --once) per archive: an advisory lock on
    `<archive>.run.lock`, released by the kernel however the holder ends. A second one stops
    with one line naming the holder (exit 3). `run --once` takes it too: one cycle beside a
    running scheduler would poll, alert and post alongside it. The single-step commands
    (`poll`, `analyze`, `deliver`, `digest --post`) stay usable beside it: analysis and
    delivery have their own claims."""
    from bot.store.locks import hold, lock_path

    archive = settings.db_path
    return hold(
        lock_path(archive, "run"),
        now=utcnow(),
        refusal=lambda who: (
            f"{archive} is already used by another `tokentide run` ({who}); stop that one "
            "first, or give this one its own archive with --db"
        ),
    )


async def _run_once(
    settings: Settings, db: Any, report: Callable[[dict], None] | None = None
) -> list[dict]:
    from bot.app import open_app
    from bot.pipeline import run_cycle

    async with open_app(settings, db, parse_pool=True) as app:
        return await run_cycle(app, now=utcnow(), report=report)


async def _run_scheduler(settings: Settings, db: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_forever(settings, db, stop)


@click.command("digest")
@click.option("--hours", type=HOURS, default=None, help="Period length (default digest.hours, 24).")
@click.option("--json", "as_json", is_flag=True, help="Print the digest as one JSON document.")
@click.option("--post", is_flag=True, help="Enqueue the digest and deliver it now.")
@click.option("--force", is_flag=True, help="With --post: send again even if already posted.")
@click.pass_obj
def digest_cmd(obj, hours: float | None, as_json: bool, post: bool, force: bool) -> None:
    """Compose the digest of recent stories and the token share; print it, or --post it.

    --post goes to the configured destination (bot channel, webhook, else the console and
    digests/*.md). Posting the same period twice sends nothing new unless --force.

    \b
    Example:
      tokentide digest --hours 12 --post
    """
    from bot.config import delivery_target
    from bot.pipeline import build_digest, compose_and_enqueue_digest

    settings, db = obj.settings, obj.db
    now = utcnow()
    if not post:
        from bot.digest.payload import digest_json
        from bot.digest.render import to_text

        digest = build_digest(db, settings, now=now, hours=hours)
        if as_json:
            click.echo(json.dumps(digest_json(digest), ensure_ascii=False, indent=2))
        else:
            click.echo(to_text(digest))
        return
    if delivery_target(settings)[0] == "discord-webhook":
        from bot.chat.sinks import parse_webhook_url

        parse_webhook_url(settings.secrets.discord_webhook_url or "")  # fail before queuing
    delivery = compose_and_enqueue_digest(db, settings, now=now, hours=hours, force=force)
    if delivery is None:
        click.echo(
            "digest for this period already queued or sent; use --force to send again", err=True
        )
    counts = asyncio.run(_deliver(settings, db))
    if as_json:
        click.echo(json.dumps({"delivery_id": delivery, **counts}))
    else:
        click.echo(
            f"delivery {delivery if delivery is not None else '-'}: {_summary(counts)}", err=True
        )
    _exit_for(counts)


async def _deliver(settings: Settings, db: Any) -> dict:
    from bot.app import open_app
    from bot.chat.deliver import deliver_until_settled

    async with open_app(settings, db) as app:
        return await deliver_until_settled(db, settings, app.sink, clock=utcnow)


@click.command("deliver")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_obj
def deliver_cmd(obj, as_json: bool) -> None:
    """Deliver every due message in the outbox (digests, share alerts) and print the counts.

    Messages that Discord answered with 5xx, a timeout or a rate limit are retried on a later
    run after backoff; refused ones are marked failed with Discord's reason (exit 1). A
    message another running process is sending is left to it: the run says who holds it
    since when, and exits 3; a sender that died is replaced at once.

    \b
    Example:
      tokentide deliver
    """
    counts = asyncio.run(_deliver(obj.settings, obj.db))
    if as_json:
        click.echo(json.dumps(counts))
    else:
        click.echo(_summary(counts))
    _exit_for(counts)
