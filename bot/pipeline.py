"""The cycle, as plain functions: poll feeds → analyse → poll tokens → detect changes →
compose and enqueue the digest → deliver.

Each step is `step(app, *, now) -> dict` and is recorded in `job_runs`; the scheduler
(`bot.run`) calls them on their intervals and `tokentide run --once` calls them in order. A
step that fails for a reason a person can act on (a feed or OpenRouter unreachable, Discord
down, the model missing) records the error and returns: the next tick tries again.

CPU-bound work (embedding, composing and drawing the digest) runs in a worker thread on its
own connection, so the event loop keeps answering Discord.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import sqlite_utils

from bot.app import App
from bot.clock import to_iso
from bot.config import Settings, destination_for
from bot.digest.compose import Digest, compose_digest
from bot.digest.payload import check_hours, digest_key, digest_payload
from bot.errors import TokentideError
from bot.store import outbox, runs
from bot.store.db import archive_error
from bot.summaries import is_idle, summarize

log = logging.getLogger(__name__)

# What a step may fail with and still leave the scheduler running: our own errors (already
# worded for people) and the network/file errors the libraries raise.
JOB_ERRORS = (TokentideError, httpx.HTTPError, OSError)
# How long job_runs keeps outbox checks that found nothing to send.
IDLE_CHECKS_KEPT = timedelta(days=7)


async def record_run(
    app: App, job: str, work: Callable[[], Awaitable[dict]], *, now: datetime
) -> dict[str, Any]:
    """Run `work`, recording it in job_runs, and log its one-line summary (bot/summaries.py).
    Returns {"job", "status", ...detail or "error", "duration_s"}."""
    run_id = runs.start_run(app.db, job, now=now)
    started = time.monotonic()
    status, detail, error = "ok", {}, None

    def finish() -> None:
        finished = now + timedelta(seconds=round(time.monotonic() - started))
        runs.finish_run(
            app.db, run_id, finished=finished, status=status, detail=detail, error=error
        )

    try:
        detail = await work() or {}
    except JOB_ERRORS as exc:
        status, error = "error", f"{type(exc).__name__}: {exc}"
    except sqlite3.DatabaseError as exc:
        # The archive refused a write mid-job (a full disk, a damaged page): said in words.
        problem = archive_error(exc, app.settings.db_path)
        status, error = "error", f"{type(problem).__name__}: {problem}"
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
    result["duration_s"] = round(time.monotonic() - started, 3)
    level = logging.WARNING if error else logging.DEBUG if is_idle(result) else logging.INFO
    log.log(level, "%s", summarize(result))
    return result


# --- the steps ------------------------------------------------------------------------------


async def poll_feeds_job(app: App, *, now: datetime) -> dict[str, Any]:
    async def work() -> dict:
        from bot.feeds.poll import poll_feeds, sync_config_feeds

        sync_config_feeds(app.db, app.settings, now=now)
        return await poll_feeds(
            app.db, app.settings, app.feed_client, now=now, parse_pool=app.parse_pool
        )

    return await record_run(app, "poll_feeds", work, now=now)


async def analyze_job(app: App, *, now: datetime) -> dict[str, Any]:
    async def work() -> dict:
        from bot.narratives.pipeline import analyze_pending

        # wait=False: while a CLI `analyze` holds the archive this tick skips ("held").
        return await app.in_thread(
            lambda db: analyze_pending(db, app.settings, app.embedder, now=now, wait=False),
            write=True,
        )

    return await record_run(app, "analyze", work, now=now)


async def breaking_alerts_job(app: App, *, now: datetime) -> dict[str, Any]:
    async def work() -> dict:
        return await app.in_thread(
            lambda db: enqueue_breaking_alerts(db, app.settings, now=now), write=True
        )

    return await record_run(app, "breaking_alerts", work, now=now)


async def poll_tokens_job(app: App, *, now: datetime) -> dict[str, Any]:
    async def work() -> dict:
        from bot.tokens.poll import poll_tokens

        result = await poll_tokens(app.db, app.settings, app.api_client, now=now)
        return {**result, "share": tracked_share(app.db, app.settings, now=now)}

    return await record_run(app, "poll_tokens", work, now=now)


def tracked_share(db: sqlite_utils.Database, settings: Settings, *, now: datetime) -> dict | None:
    """The current weekly share of the tracked countries (openrouter.alert.track) with their
    moves in points, for the tokens summary; None before a complete period exists."""
    from bot.tokens.report import current_share

    doc = current_share(db, by="country", period="week", now=now)
    if doc is None:
        return None
    track = settings.openrouter.alert.track
    return {
        "period": doc["period"],
        "shares": {c: doc["shares"].get(c, 0.0) for c in track},
        "deltas": {c: doc["deltas"][c] for c in track if c in doc["deltas"]},
    }


async def detect_changes_job(app: App, *, now: datetime) -> dict[str, Any]:
    async def work() -> dict:
        from bot.tokens.changes import detect_changes

        return {"enqueued": detect_changes(app.db, app.settings, now=now)}

    return await record_run(app, "detect_changes", work, now=now)


async def daily_digest_job(
    app: App, *, now: datetime, hours: float | None = None, force: bool = False
) -> dict[str, Any]:
    """Enqueue the digest for `now`'s period (a no-op when it is already queued)."""

    async def work() -> dict:
        delivery = await app.in_thread(
            lambda db: compose_and_enqueue_digest(
                db, app.settings, now=now, hours=hours, force=force
            ),
            write=True,
        )
        return {"delivery_id": delivery, "queued": delivery is not None}

    return await record_run(app, "daily_digest", work, now=now)


async def deliver_job(app: App, *, now: datetime) -> dict[str, Any]:
    async def work() -> dict:
        from bot.chat.deliver import deliver_pending

        task = asyncio.ensure_future(deliver_pending(app.db, app.settings, app.sink, now=now))
        app.in_flight.add(task)
        try:
            # Shielded: a shutdown cancelling this job still lets the send finish and be
            # recorded, instead of leaving a message Discord has but we do not know about.
            return await asyncio.shield(task)
        finally:
            if task.done():
                app.in_flight.discard(task)

    result = await record_run(app, "deliver", work, now=now)
    if is_idle(result):
        # A check every few seconds is ~3,000 rows a day; the old idle ones say nothing.
        runs.prune_idle_checks(app.db, before=now - IDLE_CHECKS_KEPT)
    return result


async def run_cycle(
    app: App, *, now: datetime, report: Callable[[dict[str, Any]], None] | None = None
) -> list[dict[str, Any]]:
    """One full cycle in order (`tokentide run --once`). Each step's failure is recorded and
    the cycle goes on; `report` sees each step's result as soon as it is done."""
    steps = (
        poll_feeds_job,
        analyze_job,
        breaking_alerts_job,
        poll_tokens_job,
        detect_changes_job,
        daily_digest_job,
        deliver_job,
    )
    results = []
    for step in steps:
        results.append(await step(app, now=now))
        if report is not None:
            report(results[-1])
    return results


# --- the digest: gather from the archive, compose (pure), enqueue ---------------------------


def build_digest(
    db: sqlite_utils.Database, settings: Settings, *, now: datetime, hours: float | None = None
) -> Digest:
    """Read the period's stories and the token share, and compose the digest."""
    from bot.narratives.stories import recent_stories
    from bot.tokens.price_report import prices_if_any
    from bot.tokens.report import current_share

    span = check_hours(settings, hours)
    return compose_digest(
        recent_stories(db, now=now, hours=span),
        current_share(db, by="country", period="week", now=now),
        now=now,
        hours=span,
        per_topic=settings.digest.per_topic,
        topics=list(settings.topics),
        timezone=settings.digest.timezone,
        prices=prices_if_any(db, now=now, pair=settings.openrouter.alert.track),
    )


def render_chart(db: sqlite_utils.Database, path: Path, *, now: datetime) -> Path | None:
    """Draw the share chart; None when it cannot be drawn.

    A digest without its chart is still worth sending, so a chart error costs only the
    picture (logged), never the digest.
    """
    from bot.tokens.chart import render_share_chart

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        render_share_chart(db, path, by="country", now=now)
    except (TokentideError, OSError, ValueError) as exc:
        log.warning("share chart skipped: %s", exc)
        return None
    return path if path.exists() else None


def compose_and_enqueue_digest(
    db: sqlite_utils.Database,
    settings: Settings,
    *,
    now: datetime,
    hours: float | None = None,
    force: bool = False,
) -> int | None:
    """Enqueue the digest for this period; the delivery id, or None if it was already queued.

    The daily digest is keyed by its calendar date in `digest.timezone`, an explicit
    `--hours N` digest by date plus "/Nh". `force` replaces an existing delivery for the
    period (re-composed, sent again).
    """
    check_hours(settings, hours)
    key = digest_key(settings, now=now, hours=hours)
    destination = destination_for(settings)
    queued = outbox.queued_id(db, kind="digest", key=key, destination=destination)
    if not force and queued is not None:
        return None  # checked first so a repeat run does no composing or chart drawing
    digest = build_digest(db, settings, now=now, hours=hours)
    chart = None
    if digest.share is not None:
        name = re.sub(r"[^0-9A-Za-z-]+", "_", key)
        chart = render_chart(
            db, Path(settings.db_path).parent / "charts" / f"digest-{name}.png", now=now
        )
    return outbox.enqueue(
        db,
        kind="digest",
        key=key,
        destination=destination,
        payload=digest_payload(digest, key=key, chart=chart),
        now=now,
        replace_existing=force,
    )


# --- breaking-story alerts: find (narratives), compose (pure), queue with the daily cap ------


def local_day(settings: Settings, now: datetime) -> tuple[str, str]:
    """[start, end) of `now`'s calendar day in `digest.timezone`, as archive ISO times."""
    zone = ZoneInfo(settings.digest.timezone)
    start = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return to_iso(start), to_iso(end)


def enqueue_breaking_alerts(
    db: sqlite_utils.Database, settings: Settings, *, now: datetime
) -> dict[str, Any]:
    """Queue one `story_alert` per story that broke within `alerts.breaking.window_hours`,
    at most `alerts.breaking.max_per_day` a day. Returns counts and the queued delivery ids."""
    from bot.digest.story_alert import compose_story_alert, story_alert_payload
    from bot.narratives.breaking import family_articles, family_signals, find_breaking
    from bot.store import signals

    conf = settings.alerts.breaking
    if not conf.enabled:
        return {"enabled": False}
    day = local_day(settings, now)
    room = max(conf.max_per_day - signals.alerts_between(db, since=day[0], until=day[1]), 0)
    if not room:
        # Nothing more can go out today: the check itself is skipped.
        return {"stories_checked": 0, "breaking": 0, "queued": [], "daily_cap_reached": True}
    found, counts = find_breaking(db, settings, now=now)
    result: dict[str, Any] = {**counts, "queued": [], "capped": max(len(found) - room, 0)}
    for item in found[:room]:
        item = family_articles(db, item)
        alert = compose_story_alert(
            {"id": item.story.id, "title": item.story.title, "topics": item.story.topics},
            [{k: getattr(a, k) for k in ("outlet", "url", "duplicate_of")} for a in item.articles],
            family_signals(db, item),
            broke_at=item.broke_at,
            window_hours=conf.window_hours,
            topics=list(settings.topics),
            timezone=settings.digest.timezone,
        )
        delivery, outcome = signals.enqueue_story_alert(
            db,
            story_id=item.story.id,
            family=item.family,
            destination=destination_for(settings),
            payload=story_alert_payload(alert),
            now=now,
            day=day,
            max_per_day=conf.max_per_day,
        )
        if delivery is not None:
            result["queued"].append(delivery)
        elif outcome == "daily cap":
            result["capped"] += 1
    return result
