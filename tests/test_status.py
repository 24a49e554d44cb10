"""`tokentide status` and its `--check` health check, read from job_runs with `now` injected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.clock import utcnow
from bot.config import parse_settings
from bot.status import intervals, job_table, jobs, next_digest_at, stalled, status_document
from bot.store.outbox import enqueue
from bot.store.runs import finish_run, latest_runs, start_run

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(db_path):
    return replace(parse_settings({"feeds": []}, "test.yaml"), db_path=str(db_path))


def ran(db, job: str, *, at: datetime, took_s: float = 2, status: str = "ok", detail=None):
    run = start_run(db, job, now=at)
    if status != "running":
        finish_run(
            db,
            run,
            finished=at + timedelta(seconds=took_s),
            status=status,
            detail=detail or {},
            error="OpenRouterError: offline" if status == "error" else None,
        )
    return run


def alive(db, settings, now: datetime, *, but: str | None = None) -> None:
    """Every interval job (but one) ran one interval ago, as a working scheduler leaves
    job_runs."""
    for job, every in intervals(settings).items():
        if job != but:
            ran(db, job, at=now - every)


def test_a_fresh_scheduler_is_healthy(db, settings):
    alive(db, settings, NOW)
    assert stalled(latest_runs(db, jobs(settings)), settings, now=NOW) is None


def test_a_stalled_scheduler_is_caught_naming_the_latest_job(db, settings):
    alive(db, settings, NOW - timedelta(minutes=45))  # then nothing for 45 minutes
    problem = stalled(latest_runs(db, jobs(settings)), settings, now=NOW)
    # Every job is late; the outbox check (every 30 s) is the latest relative to its interval.
    assert problem == (
        "deliver last finished 45 min ago, but runs every 30 s: the scheduler looks stalled"
    )


def test_one_job_late_by_more_than_twice_its_interval(db, settings):
    alive(db, settings, NOW, but="poll_feeds")
    ran(db, "poll_feeds", at=NOW - timedelta(minutes=31), took_s=0)  # every 15 min
    problem = stalled(latest_runs(db, jobs(settings)), settings, now=NOW)
    assert problem is not None and problem.startswith("poll_feeds last finished 31 min ago")


def test_a_run_that_hangs_goes_stale_too(db, settings):
    alive(db, settings, NOW, but="analyze")
    ran(db, "analyze", at=NOW - timedelta(minutes=40), status="running")
    problem = stalled(latest_runs(db, jobs(settings)), settings, now=NOW)
    assert problem is not None
    assert problem.startswith("analyze started a run that has not finished 40 min ago")


def test_failing_jobs_still_prove_the_scheduler_alive(db, settings):
    # OpenRouter down is not a reason to restart the container.
    alive(db, settings, NOW)
    ran(db, "poll_tokens", at=NOW - timedelta(minutes=5), status="error")
    assert stalled(latest_runs(db, jobs(settings)), settings, now=NOW) is None


def test_jobs_waiting_for_their_first_run_but_not_an_idle_archive(db, settings):
    runs = latest_runs(db, jobs(settings))
    assert "no scheduled job has run yet" in stalled(runs, settings, now=NOW)
    ran(db, "poll_feeds", at=NOW - timedelta(seconds=20))  # the others start a bit later
    assert stalled(latest_runs(db, jobs(settings)), settings, now=NOW) is None


def test_the_status_table_matches_the_scheduler(db, settings):
    """Every job the scheduler runs has its interval here: a job added there must be added to
    bot/status.intervals too, or its health goes unwatched."""
    from bot.app import open_app
    from bot.run import build_scheduler

    async def scheduled():
        async with open_app(settings, db) as app:
            scheduler = build_scheduler(app)
            scheduler.start(paused=True)
            found = {j.id: getattr(j.trigger, "interval", None) for j in scheduler.get_jobs()}
            scheduler.shutdown(wait=False)
            return found

    import asyncio

    found = asyncio.run(scheduled())
    assert set(found) == set(jobs(settings))
    for job, every in intervals(settings).items():
        assert found[job] == every, job


def test_job_table_next_runs(db, settings):
    ran(db, "poll_feeds", at=NOW - timedelta(minutes=5), detail={"feeds_polled": 2})
    rows = {r["job"]: r for r in job_table(latest_runs(db, jobs(settings)), settings, now=NOW)}
    poll = rows["poll_feeds"]
    assert poll["next_run_at"] == "2026-11-29T12:10:00Z"  # last start + 15 min
    assert poll["summary"].startswith("poll: 2 feeds") and poll["summary"].endswith("in 2.0 s")
    assert poll["late"] is False and poll["interval_s"] == 900
    assert rows["analyze"]["started_at"] is None and rows["analyze"]["next_run_at"] is None
    # The digest runs at digest.time (08:00 UTC by default): next is tomorrow morning.
    assert rows["daily_digest"]["next_run_at"] == "2026-11-30T08:00:00Z"


@pytest.mark.parametrize(
    ("time", "zone", "now", "expected"),
    [
        ("08:00", "UTC", "2026-11-29T07:59:00", "2026-11-29T08:00:00"),
        ("08:00", "UTC", "2026-11-29T08:00:00", "2026-11-30T08:00:00"),
        # New York 08:00 on the day summer time ends is 13:00 UTC (12:00 the day before).
        ("08:00", "America/New_York", "2026-10-31T12:30:00", "2026-11-01T13:00:00"),
    ],
)
def test_next_digest_time(settings, time, zone, now, expected):
    s = replace(settings, digest=replace(settings.digest, time=time, timezone=zone))
    got = next_digest_at(s, datetime.fromisoformat(now).replace(tzinfo=UTC))
    assert got == datetime.fromisoformat(expected).replace(tzinfo=UTC)


def test_status_document_counts_archive_and_outbox(db, settings):
    alive(db, settings, NOW)
    for key in ("a", "b"):
        enqueue(db, kind="digest", key=key, destination="console", payload={}, now=NOW)
    doc = status_document(db, settings, now=NOW)
    assert doc["healthy"] is True and doc["problem"] is None
    assert doc["archive"]["articles"] == 0 and doc["archive"]["size_bytes"] > 0
    assert doc["outbox"] == {"pending": 2, "oldest_due": "2026-11-29T12:00:00Z", "failed": 0}


def tokentide(*args: str, db_path: Path, config: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENTIDE_", "DISCORD_"))}
    env |= {"TOKENTIDE_DB": str(db_path), "TOKENTIDE_CONFIG": str(config)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: []\n", encoding="utf-8")
    return path


def test_status_json_keys(db, db_path, config, settings):
    alive(db, settings, utcnow())
    result = CliRunner().invoke(
        cli, ["--config", str(config), "--db", str(db_path), "status", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"now", "healthy", "problem", "jobs", "archive", "outbox"}
    assert [row["job"] for row in doc["jobs"]] == jobs(settings)
    assert set(doc["jobs"][0]) == {
        "job",
        "started_at",
        "finished_at",
        "status",
        "error",
        "summary",
        "interval_s",
        "next_run_at",
        "late",
    }
    assert set(doc["archive"]) == {"path", "size_bytes", "articles", "stories"}
    assert set(doc["outbox"]) == {"pending", "oldest_due", "failed"}

    text = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db_path), "status"])
    assert text.exit_code == 0, text.output
    assert "poll_feeds" in text.stdout and "scheduler: ok" in text.stdout


def test_health_check_command_stalled_then_alive(db, db_path, config, settings):
    """The container's HEALTHCHECK command, as Docker runs it."""
    now = utcnow()
    alive(db, settings, now - timedelta(hours=1))
    stale = tokentide("status", "--check", db_path=db_path, config=config)
    assert stale.returncode == 1
    assert stale.stderr.splitlines() == [
        "unhealthy: deliver last finished 60 min ago, but runs every 30 s: "
        "the scheduler looks stalled"
    ]
    alive(db, settings, now)
    fresh = tokentide("status", "--check", db_path=db_path, config=config)
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.startswith("healthy")


def test_status_without_an_archive_is_one_clear_line(tmp_path, config):
    result = tokentide("status", "--check", db_path=tmp_path / "none.db", config=config)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {tmp_path / 'none.db'}: no archive yet "
        "(`tokentide run` or `tokentide poll` makes it)"
    )
    assert not (tmp_path / "none.db").exists()  # a read, never a create
