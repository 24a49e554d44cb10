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
    stays instant however long job_runs grows (the outbox check alone adds ~2,900 rows a day)."""
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
