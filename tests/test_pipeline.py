"""Scheduler jobs, called directly with `now`; the scheduler's wiring; graceful shutdown."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.app import open_app
from bot.chat.sinks import ConsoleSink
from bot.config import Secrets, parse_settings
from bot.errors import OpenRouterError
from bot.pipeline import deliver_job, poll_tokens_job, record_run
from bot.run import build_scheduler, last_digest_time, stop_scheduler
from bot.store.outbox import enqueue

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def settings_for(db_path, **sections):
    data = {
        "openrouter": {
            "base_url": "http://127.0.0.1:9",
            "timeout_s": 1,
            "max_retries": 0,
            "retry_backoff_s": 0.01,
            "requests_per_minute": 6000,
        },
        "fetch": {"timeout_s": 1},
        **sections,
    }
    return replace(parse_settings(data, "test.yaml"), db_path=str(db_path), secrets=Secrets())


@pytest.mark.parametrize(
    ("time", "zone", "now", "expected"),
    [
        ("08:00", "UTC", "2026-11-28T12:00:00Z", "2026-11-28T08:00:00Z"),
        ("08:00", "UTC", "2026-11-28T07:59:00Z", "2026-11-27T08:00:00Z"),
        ("08:00", "UTC", "2026-11-28T08:00:00Z", "2026-11-28T08:00:00Z"),
        # Shanghai 08:00 is 00:00 UTC.
        ("08:00", "Asia/Shanghai", "2026-11-28T12:00:00Z", "2026-11-28T00:00:00Z"),
        # New York 08:00 on the day DST ends (EDT → EST) is 13:00 UTC.
        ("08:00", "America/New_York", "2026-11-01T14:00:00Z", "2026-11-01T13:00:00Z"),
    ],
)
def test_last_digest_time(db_path, time, zone, now, expected):
    settings = settings_for(db_path, digest={"time": time, "timezone": zone})
    got = last_digest_time(settings, datetime.fromisoformat(now.replace("Z", "+00:00")))
    assert got.strftime("%Y-%m-%dT%H:%M:%SZ") == expected


async def test_record_run_records_ok_error_and_bugs(db, db_path):
    async with open_app(settings_for(db_path), db) as app:

        async def ok() -> dict:
            return {"new": 3}

        async def unreachable() -> dict:
            raise OpenRouterError("OpenRouter unreachable: check the network")

        async def bug() -> dict:
            raise RuntimeError("a bug")

        done = await record_run(app, "a", ok, now=NOW)
        assert done.pop("duration_s") >= 0
        assert done == {"job": "a", "status": "ok", "new": 3}
        result = await record_run(app, "b", unreachable, now=NOW)
        assert result["status"] == "error" and "unreachable" in result["error"]
        with pytest.raises(RuntimeError):
            await record_run(app, "c", bug, now=NOW)
    rows = db.execute(
        "SELECT job, status, started_at, finished_at, detail, error FROM job_runs ORDER BY id"
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("a", "ok"), ("b", "error"), ("c", "error")]
    assert rows[0][2] == "2026-11-28T12:00:00Z" and rows[0][3] is not None
    assert json.loads(rows[0][4]) == {"new": 3}
    assert "RuntimeError" in rows[2][5]


async def test_offline_token_poll_is_recorded_not_fatal(db, db_path):
    async with open_app(settings_for(db_path), db) as app:
        result = await poll_tokens_job(app, now=NOW)
    assert result["status"] == "error"
    assert db.execute("SELECT status FROM job_runs WHERE job='poll_tokens'").fetchone() == (
        "error",
    )


async def test_deliver_job_sends_to_the_console_and_records(db, db_path, capsys):
    settings = settings_for(db_path)
    enqueue(
        db,
        kind="digest",
        key="2026-11-28",
        destination="console",
        payload={"messages": [{"content": "hello"}], "markdown": "# hello", "text": "hello"},
        now=NOW,
    )
    async with open_app(settings, db) as app:
        result = await deliver_job(app, now=NOW)
    assert result["status"] == "ok" and result["sent"] == 1
    assert (db_path.parent / "digests" / "digest-2026-11-28.md").read_text() == "# hello"
    assert "hello" in capsys.readouterr().out


async def test_scheduler_wiring(db, db_path):
    settings = settings_for(db_path, digest={"time": "07:30", "timezone": "Europe/London"})
    async with open_app(settings, db) as app:
        scheduler = build_scheduler(app)
        scheduler.start(paused=True)  # job defaults are applied when the scheduler starts
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {
            "poll_feeds",
            "analyze",
            "breaking_alerts",
            "poll_tokens",
            "detect_changes",
            "daily_digest",
            "deliver",
        }
        for job in jobs.values():
            assert job.max_instances == 1 and job.coalesce is True
        trigger = jobs["daily_digest"].trigger
        assert str(trigger.timezone) == "Europe/London"
        assert "hour='7'" in str(trigger) and "minute='30'" in str(trigger)
        await stop_scheduler(app, scheduler)
        assert not scheduler.running


class GatedConsole(ConsoleSink):
    """The real console sink, held at a gate so a shutdown can arrive mid-delivery."""

    def __init__(self, settings, gate: asyncio.Event, entered: asyncio.Event) -> None:
        super().__init__(settings, stream=io.StringIO())
        self.gate, self.entered = gate, entered

    async def send(self, out):
        self.entered.set()
        await self.gate.wait()
        return await super().send(out)


async def test_shutdown_finishes_in_flight_delivery(db, db_path):
    settings = settings_for(db_path)
    delivery = enqueue(
        db,
        kind="digest",
        key="k",
        destination="console",
        payload={"messages": [{"content": "a"}, {"content": "b"}]},
        now=NOW,
    )
    gate, entered = asyncio.Event(), asyncio.Event()
    async with open_app(settings, db, sink=GatedConsole(settings, gate, entered)) as app:
        scheduler = build_scheduler(app)
        scheduler.start(paused=True)
        job = asyncio.create_task(deliver_job(app, now=NOW))
        await entered.wait()
        job.cancel()  # what a shutdown does to running jobs
        stopping = asyncio.create_task(stop_scheduler(app, scheduler))
        await asyncio.sleep(0)
        gate.set()
        await stopping
    row = db["deliveries"].get(delivery)
    assert row["status"] == "sent" and row["parts_sent"] == 2


async def test_start_catches_up_a_missed_daily_digest_once(db, db_path, capsys):
    from bot.run import start_scheduler

    settings = settings_for(db_path, digest={"time": "08:00", "timezone": "UTC"})
    for _ in range(2):  # a restart later the same day
        async with open_app(settings, db) as app:
            scheduler = await start_scheduler(app, now=NOW)
            scheduler.pause()
            await stop_scheduler(app, scheduler)
    rows = db.execute("SELECT kind, key, created_at FROM deliveries").fetchall()
    assert rows == [("digest", "2026-11-28", "2026-11-28T08:00:00Z")]
    runs = db.execute(
        "SELECT started_at, status FROM job_runs WHERE job = 'daily_digest'"
    ).fetchall()
    assert runs == [("2026-11-28T08:00:00Z", "ok")] * 2


async def test_a_job_the_archive_refuses_mid_way_is_recorded_in_words(db, db_path):
    """A real refusal: the archive may not grow, and the job writes a row that needs a page.
    The run is recorded as an error saying the disk is full, not raised into the scheduler."""
    async with open_app(settings_for(db_path), db) as app:
        runs_before = db.execute("SELECT count(*) FROM job_runs").fetchone()[0]

        async def big_write() -> dict:
            db.execute(
                "INSERT INTO chat_state (key, value, updated_at) VALUES ('k', ?, 'now')",
                ["x" * 100_000],
            )
            return {}

        db.execute("INSERT INTO job_runs (job, started_at, status) VALUES ('room', 'now', 'ok')")
        db.execute("DELETE FROM job_runs WHERE job = 'room'")  # leaves room for the run's row
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        result = await record_run(app, "analyze", big_write, now=NOW)
    assert result["status"] == "error"
    assert result["error"].startswith("ArchiveProblem: archive disk full: ")
    assert db.execute("SELECT count(*) FROM chat_state").fetchone()[0] == 0
    row = db.execute("SELECT job, status, error FROM job_runs ORDER BY id DESC").fetchone()
    assert row[:2] == ("analyze", "error") and "disk full" in row[2]
    assert db.execute("SELECT count(*) FROM job_runs").fetchone()[0] == runs_before + 1


async def test_idle_outbox_checks_older_than_a_week_are_pruned_and_nothing_else(db, db_path):
    """Outbox checks every few seconds would fill job_runs; old ones that found nothing go,
    while old checks that sent or failed, other jobs' runs and the last week stay."""
    from datetime import timedelta

    idle = json.dumps({"sent": 0, "failed": 0, "retrying": 0, "skipped": 0, "held": 0})
    busy = json.dumps({"sent": 1, "failed": 0, "retrying": 0, "skipped": 0, "held": 0})
    old, recent = NOW - timedelta(days=9), NOW - timedelta(days=2)
    rows = [
        ("deliver", old, "ok", idle),  # pruned
        ("deliver", old, "ok", idle),  # pruned
        ("deliver", old, "ok", busy),
        ("deliver", old, "error", idle),
        ("poll_feeds", old, "ok", idle),
        ("deliver", recent, "ok", idle),
    ]
    db.conn.executemany(
        "INSERT INTO job_runs (job, started_at, finished_at, status, detail) VALUES (?, ?, ?, ?, ?)",
        [(j, t.strftime("%Y-%m-%dT%H:%M:%SZ"), None, s, d) for j, t, s, d in rows],
    )
    async with open_app(settings_for(db_path), db) as app:
        result = await deliver_job(app, now=NOW)  # nothing queued: an idle check
    assert result["status"] == "ok" and result["sent"] == 0
    left = db.execute(
        "SELECT job, substr(started_at, 1, 10), status, json_extract(detail, '$.sent') "
        "FROM job_runs ORDER BY id"
    ).fetchall()
    assert left == [
        ("deliver", "2026-11-19", "ok", 1),
        ("deliver", "2026-11-19", "error", 0),
        ("poll_feeds", "2026-11-19", "ok", 0),
        ("deliver", "2026-11-26", "ok", 0),
        ("deliver", "2026-11-28", "ok", 0),  # this check
    ]
