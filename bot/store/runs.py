"""`job_runs`: when each scheduled job ran and how it ended, so it survives restarts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlite_utils

from bot.clock import to_iso
from bot.models import JobRun
from bot.store.db import refused_write, transaction

_COLUMNS = ", ".join(JobRun.__dataclass_fields__)


def start_run(db: sqlite_utils.Database, job: str, *, now: datetime) -> int:
    """Record that `job` started; returns the run's id for `finish_run`."""
    with refused_write(f"the start of a {job} run"), transaction(db):
        return db.execute(
            "INSERT INTO job_runs (job, started_at, status) VALUES (?, ?, 'running')",
            [job, to_iso(now)],
        ).lastrowid


def finish_run(
    db: sqlite_utils.Database,
    run_id: int,
    *,
    finished: datetime,
    status: str,
    detail: dict[str, Any],
    error: str | None,
) -> None:
    with refused_write(f"the end of job run {run_id}"), transaction(db):
        db.execute(
            "UPDATE job_runs SET finished_at = ?, status = ?, detail = ?, error = ? WHERE id = ?",
            [to_iso(finished), status, json.dumps(detail, default=str), error, run_id],
        )


def latest_runs(db: sqlite_utils.Database, jobs: Iterable[str]) -> dict[str, JobRun]:
    """The newest run of each of `jobs` that has run at all. One index lookup per job, so it
    stays instant however long job_runs grows (outbox checks add ~2,900 rows a day)."""
    found = {}
    for job in jobs:
        row = db.execute(
            f"SELECT {_COLUMNS} FROM job_runs WHERE job = ? "
            "ORDER BY started_at DESC, id DESC LIMIT 1",
            [job],
        ).fetchone()
        if row is not None:
            found[job] = JobRun(*row)
    return found


# An outbox check that found nothing due: nothing sent, failed, retried or held back.
_IDLE_CHECK = " AND ".join(
    f"coalesce(json_extract(detail, '$.{key}'), 0) = 0"
    for key in ("sent", "failed", "retrying", "held")
)


def prune_idle_checks(db: sqlite_utils.Database, *, before: datetime, limit: int = 500) -> int:
    """Delete up to `limit` idle outbox checks (`deliver` runs that ended ok with nothing to
    do) that started before `before`; returns how many. Runs that did something, failed or
    are newer stay. Bounded, so each call is quick; called after each idle check, it keeps up
    with the one row a check adds."""
    with refused_write("pruning old outbox checks"), transaction(db):
        return db.conn.execute(
            f"""DELETE FROM job_runs WHERE id IN (
                    SELECT id FROM job_runs
                    WHERE job = 'deliver' AND started_at < ? AND status = 'ok'
                      AND json_valid(detail) AND {_IDLE_CHECK}
                    LIMIT ?)""",
            [to_iso(before), limit],
        ).rowcount
