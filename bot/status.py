"""`tokentide status`: is the bot working? Each job's last run, its result and its next run,
the archive's size and counts, the outbox's backlog — and `--check`, the container's health
check, which fails when the scheduler has stopped finishing its jobs.

Everything is read from the archive (`job_runs`, `deliveries`), so it works from another
process or container while `tokentide run` is going, and says the same after a restart.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click

from bot.clock import parse_iso, to_iso, utcnow
from bot.config import Settings
from bot.errors import TokentideError
from bot.models import JobRun
from bot.summaries import summarize

DIGEST = "daily_digest"


def intervals(settings: Settings) -> dict[str, timedelta]:
    """How often the scheduler runs each interval job (bot/run.py build_scheduler), by the
    name it records in job_runs. The daily digest runs on a clock time instead."""
    s = settings.schedule
    return {
        "poll_feeds": timedelta(minutes=s.poll_minutes),
        "analyze": timedelta(minutes=s.analyze_minutes),
        "breaking_alerts": timedelta(minutes=s.analyze_minutes),
        "poll_tokens": timedelta(hours=s.tokens_hours),
        "detect_changes": timedelta(hours=s.tokens_hours),
        "deliver": timedelta(seconds=s.deliver_seconds),
    }


def jobs(settings: Settings) -> list[str]:
    return [*intervals(settings), DIGEST]


def next_digest_at(settings: Settings, now: datetime) -> datetime:
    """The first `digest.time` in `digest.timezone` after `now`, as UTC."""
    zone = ZoneInfo(settings.digest.timezone)
    hour, minute = (int(x) for x in settings.digest.time.split(":"))
    local = now.astimezone(zone)
    day = local.date()
    while True:
        at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if at > local:
            return at.astimezone(UTC)
        day += timedelta(days=1)


def silent_for(run: JobRun, interval: timedelta, now: datetime) -> timedelta | None:
    """How long the job has been silent when that is more than twice its interval, else None.

    Silent since the end of its newest run, or since its start while that run is still going,
    so a run that hangs goes stale like a scheduler that stopped."""
    seen = parse_iso(run.finished_at or run.started_at)
    since = now - seen if seen else None
    return since if since is not None and since > 2 * interval else None


def _detail(run: JobRun) -> dict[str, Any]:
    try:
        detail = json.loads(run.detail) if run.detail else {}
    except ValueError:
        detail = {}
    return detail if isinstance(detail, dict) else {}


def run_summary(run: JobRun) -> str:
    """The run's one-line summary, rebuilt from what job_runs kept of it."""
    started, finished = parse_iso(run.started_at), parse_iso(run.finished_at)
    if run.status == "running":
        return f"{run.job}: running since {run.started_at}"
    result = {**_detail(run), "job": run.job, "status": run.status, "error": run.error}
    if started and finished:
        result["duration_s"] = (finished - started).total_seconds()
    return summarize(result)


def job_table(
    runs: dict[str, JobRun], settings: Settings, *, now: datetime
) -> list[dict[str, Any]]:
    """One row per scheduled job: job_runs' columns of its newest run (None when it never ran)
    plus summary, interval_s, next_run_at and late (no run finished within twice the interval)."""
    every = intervals(settings)
    rows = []
    for job in jobs(settings):
        run = runs.get(job)
        row: dict[str, Any] = {
            "job": job,
            "started_at": run.started_at if run else None,
            "finished_at": run.finished_at if run else None,
            "status": run.status if run else None,
            "error": run.error if run else None,
            "summary": run_summary(run) if run else None,
            "interval_s": every[job].total_seconds() if job in every else None,
            "next_run_at": None,
            "late": False,
        }
        if job == DIGEST:
            row["next_run_at"] = to_iso(next_digest_at(settings, now))
        elif run is not None:
            row["next_run_at"] = to_iso(parse_iso(run.started_at) + every[job])
            row["late"] = silent_for(run, every[job], now) is not None
        rows.append(row)
    return rows


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def stalled(runs: dict[str, JobRun], settings: Settings, *, now: datetime) -> str | None:
    """None when the scheduler is alive: every interval job that has run finished a run (or
    is in one) within twice its interval. Otherwise one line naming the most overdue job.

    A job that never ran is waiting for its first turn (they start staggered over the first
    minutes), unless no job ran at all."""
    every = intervals(settings)
    if not any(job in runs for job in every):
        return "no scheduled job has run yet: is `tokentide run` running on this archive?"
    late = []
    for job, interval in every.items():
        run = runs.get(job)
        since = silent_for(run, interval, now) if run else None
        if run is not None and since is not None:
            late.append((since / interval, job, since, interval, run))
    if not late:
        return None
    _, job, since, interval, run = max(late)
    what = "started a run that has not finished" if run.status == "running" else "last finished"
    return (
        f"{job} {what} {_ago(since)} ago, but runs every {_ago(interval)}: "
        "the scheduler looks stalled"
    )


def status_document(db: Any, settings: Settings, *, now: datetime) -> dict[str, Any]:
    """Everything `status --json` prints."""
    from bot.store.runs import latest_runs
    from bot.store.status import archive_stats, outbox_backlog

    runs = latest_runs(db, jobs(settings))
    problem = stalled(runs, settings, now=now)
    return {
        "now": to_iso(now),
        "healthy": problem is None,
        "problem": problem,
        "jobs": job_table(runs, settings, now=now),
        "archive": {"path": settings.db_path, **asdict(archive_stats(db))},
        "outbox": asdict(outbox_backlog(db)),
    }


def _open(settings: Settings) -> Any:
    from bot.store.db import open_read_only

    if not os.path.isfile(settings.db_path):
        raise TokentideError(
            f"{settings.db_path}: no archive yet (`tokentide run` or `tokentide poll` makes it)"
        )
    return open_read_only(settings.db_path, timeout=10)


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def print_text(doc: dict[str, Any]) -> None:
    now = parse_iso(doc["now"])
    assert now is not None
    click.echo("job              last run               next run               result")
    for row in doc["jobs"]:
        last = row["started_at"] or "never"
        nxt = row["next_run_at"] or "at start"
        if row["next_run_at"] and parse_iso(row["next_run_at"]) <= now:
            nxt += " (due)"
        flag = "LATE " if row["late"] else ""
        click.echo(f"{row['job']:<16} {last:<22} {nxt:<22} {flag}{row['summary'] or '-'}")
    a, o = doc["archive"], doc["outbox"]
    click.echo(
        f"archive: {a['path']}, {_size(a['size_bytes'])}, {a['articles']} articles, "
        f"{a['stories']} stories"
    )
    due = f", oldest due {o['oldest_due']}" if o["oldest_due"] else ""
    failed = f", {o['failed']} failed" if o["failed"] else ""
    click.echo(f"outbox: {o['pending']} pending{due}{failed}")
    click.echo("scheduler: ok" if doc["healthy"] else f"scheduler: {doc['problem']}")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
@click.option(
    "--check",
    is_flag=True,
    help="Health check: exit 1 with one line when a job is late (not finished within twice "
    "its interval), else exit 0.",
)
@click.pass_obj
def status_cmd(obj: Any, as_json: bool, check: bool) -> None:
    """Show each job's last run, result and next run, the archive's size, article and story
    counts, and the outbox backlog. Reads the archive only; safe beside `tokentide run`.

    --check is the container's health check: it only reads job_runs and exits 1 with one line
    naming the late job when the scheduler has not finished a job within twice its interval.

    \b
    Example:
      tokentide status --json
    """
    settings = obj.settings
    db = _open(settings)
    try:
        now = utcnow()
        if check:
            from bot.store.runs import latest_runs

            problem = stalled(latest_runs(db, jobs(settings)), settings, now=now)
            if problem:
                click.echo(f"unhealthy: {problem}", err=True)
                sys.exit(1)
            click.echo("healthy: every scheduled job ran within twice its interval")
            return
        doc = status_document(db, settings, now=now)
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        print_text(doc)
