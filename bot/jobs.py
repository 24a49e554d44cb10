"""The scheduler's jobs, and the scheduler (APScheduler 3.x `AsyncIOScheduler`).

Each job is a plain async function `job(app, *, now) -> dict` that tests call directly; each
run is recorded in `job_runs`. A job that fails for a reason a person can act on (a feed or
OpenRouter unreachable, Discord down, the model missing) records the error and returns — the
next tick tries again; nothing here stops the scheduler.

CPU-bound work (embedding, drawing the digest chart) runs in a worker thread with its own
SQLite connection, so the event loop keeps answering Discord and the shared connection is
never used from two threads at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bot.app import App
from bot.clock import to_iso, utcnow
from bot.config import Settings
from bot.errors import TokentideError

log = logging.getLogger(__name__)

# What a job may fail with and still leave the scheduler running: our own errors (already
# worded for people) and the network/file errors the libraries raise.
JOB_ERRORS = (TokentideError, httpx.HTTPError, OSError)


async def record_run(
    app: App, job: str, work: Callable[[], Awaitable[dict]], *, now: datetime
) -> dict[str, Any]:
    """Run `work`, recording it in job_runs. Returns {"job", "status", ...detail or "error"}."""
    with app.db.conn:
        run_id = app.db.execute(
            "INSERT INTO job_runs (job, started_at, status) VALUES (?, ?, 'running')",
            [job, to_iso(now)],
        ).lastrowid
    started = time.monotonic()
    status, detail, error = "ok", {}, None

    def finish() -> None:
        finished = now + timedelta(seconds=round(time.monotonic() - started))
        with app.db.conn:
            app.db.execute(
                "UPDATE job_runs SET finished_at = ?, status = ?, detail = ?, error = ? "
                "WHERE id = ?",
                [to_iso(finished), status, json.dumps(detail, default=str), error, run_id],
            )

    try:
        detail = await work() or {}
    except JOB_ERRORS as exc:
        status, error = "error", f"{type(exc).__name__}: {exc}"
        log.warning("job %s failed: %s", job, error)
    except asyncio.CancelledError:
        status, error = "cancelled", "stopped by shutdown"
        finish()
        raise
    except BaseException as exc:
        # A bug or a cancellation: record it so job_runs never shows a ghost "running" row,
        # then let it propagate.
        status, error = "error", f"{type(exc).__name__}: {exc}"
        finish()
        raise
    finish()
    result = {"job": job, "status": status, **detail}
    if error:
        result["error"] = error
    return result


def _in_thread(settings: Settings, fn: Callable[[Any], Any]) -> Awaitable[Any]:
    """Run fn(db) in a worker thread on its own connection to the archive."""

    def call() -> Any:
        from bot.store.db import open_db

        db = open_db(settings.db_path)
        try:
            return fn(db)
        finally:
            db.close()

    return asyncio.to_thread(call)


async def poll_feeds_job(app: App, *, now: datetime) -> dict[str, Any]:
    async def work() -> dict:
        from bot.feeds.poll import poll_feeds, sync_config_feeds

        sync_config_feeds(app.db, app.settings, now=now)
        return await poll_feeds(app.db, app.settings, app.client, now=now)

    return await record_run(app, "poll_feeds", work, now=now)


async def analyze_job(app: App, *, now: datetime) -> dict[str, Any]:
    async def work() -> dict:
        from bot.narratives.pipeline import analyze_pending

        embedder = app.embedder
        return await _in_thread(
            app.settings, lambda db: analyze_pending(db, app.settings, embedder, now=now)
        )

    return await record_run(app, "analyze", work, now=now)


async def poll_tokens_job(app: App, *, now: datetime) -> dict[str, Any]:
    async def work() -> dict:
        from bot.tokens.poll import poll_tokens

        return await poll_tokens(app.db, app.settings, app.client, now=now)

    return await record_run(app, "poll_tokens", work, now=now)


async def detect_changes_job(app: App, *, now: datetime) -> dict[str, Any]:
    async def work() -> dict:
        from bot.tokens.alerts import detect_changes

        return {"enqueued": detect_changes(app.db, app.settings, now=now)}

    return await record_run(app, "detect_changes", work, now=now)


async def daily_digest_job(
    app: App, *, now: datetime, hours: float | None = None, force: bool = False
) -> dict[str, Any]:
    """Enqueue the digest for `now`'s period (a no-op when it is already queued)."""

    async def work() -> dict:
        from bot.digest.service import compose_and_enqueue_digest

        delivery = await _in_thread(
            app.settings,
            lambda db: compose_and_enqueue_digest(
                db, app.settings, now=now, hours=hours, force=force
            ),
        )
        return {"delivery_id": delivery, "queued": delivery is not None}

    return await record_run(app, "daily_digest", work, now=now)


async def deliver_job(app: App, *, now: datetime) -> dict[str, Any]:
    async def work() -> dict:
        from bot.chat.outbox import deliver_pending

        task = asyncio.ensure_future(deliver_pending(app.db, app.settings, app.sink, now=now))
        app.in_flight.add(task)
        try:
            # Shielded: a shutdown cancelling this job still lets the send finish and be
            # recorded, instead of leaving a message Discord has but we do not know about.
            return await asyncio.shield(task)
        finally:
            if task.done():
                app.in_flight.discard(task)

    return await record_run(app, "deliver", work, now=now)


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


async def run_cycle(app: App, *, now: datetime) -> list[dict[str, Any]]:
    """One full cycle in order (`tokentide run --once`): poll, analyse, tokens, detect, digest,
    deliver. Each step's failure is recorded and the cycle goes on."""
    results = [
        await poll_feeds_job(app, now=now),
        await analyze_job(app, now=now),
        await poll_tokens_job(app, now=now),
        await detect_changes_job(app, now=now),
        await daily_digest_job(app, now=now),
        await deliver_job(app, now=now),
    ]
    return results


def _tick(app: App, job: Callable[..., Awaitable[dict]]) -> Callable[[], Awaitable[dict]]:
    async def run() -> dict:
        try:
            return await job(app, now=utcnow())
        except asyncio.CancelledError:
            # Shutdown cancels jobs still polling; job_runs says so, no traceback needed.
            log.info("%s stopped by shutdown", job.__name__)
            return {"status": "cancelled"}

    run.__name__ = job.__name__
    return run


def build_scheduler(app: App) -> Any:
    """An AsyncIOScheduler with every job; one instance of each at a time, missed runs merged."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

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
        (poll_feeds_job, timedelta(minutes=sch.poll_minutes), timedelta(0)),
        (analyze_job, timedelta(minutes=sch.analyze_minutes), timedelta(minutes=1)),
        (poll_tokens_job, timedelta(hours=sch.tokens_hours), timedelta(0)),
        (detect_changes_job, timedelta(hours=sch.tokens_hours), timedelta(minutes=2)),
        (deliver_job, timedelta(seconds=sch.deliver_seconds), timedelta(0)),
    ]
    for job, every, delay in interval_jobs:
        scheduler.add_job(
            _tick(app, job),
            IntervalTrigger(seconds=every.total_seconds()),
            id=job.__name__.removesuffix("_job"),
            next_run_time=start + delay,
        )
    scheduler.add_job(
        _tick(app, daily_digest_job),
        CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(s.digest.timezone)),
        id="daily_digest",
    )
    return scheduler


async def start_scheduler(app: App, *, now: datetime) -> Any:
    """Catch up a missed daily digest, then start the scheduler inside the running loop."""
    await daily_digest_job(app, now=last_digest_time(app.settings, now))
    scheduler = build_scheduler(app)
    scheduler.start()
    return scheduler


async def stop_scheduler(app: App, scheduler: Any) -> None:
    """Stop scheduling, then give in-flight deliveries `schedule.shutdown_grace_s` to finish."""
    scheduler.shutdown(wait=False)
    await asyncio.sleep(0)  # AsyncIOScheduler applies the shutdown on the loop's next turn
    pending = [t for t in app.in_flight if not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=app.settings.schedule.shutdown_grace_s)


async def run_forever(app: App, stop: asyncio.Event) -> None:
    """The scheduler alone (no bot token): run until `stop` is set (SIGINT/SIGTERM)."""
    scheduler = await start_scheduler(app, now=utcnow())
    try:
        await stop.wait()
    finally:
        await stop_scheduler(app, scheduler)
