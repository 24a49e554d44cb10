"""Token history and share alerts: `token_snapshots`, `token_usage` and `share_alerts`.

A snapshot is stored once per (source, window, content hash): the unique index turns a repeat
fetch into a no-op. The snapshot and its usage rows are one transaction, so a failure half-way
leaves neither (an empty snapshot would make the next poll of the same answer look "already
stored"). When the same window is fetched again with different numbers, the newest snapshot's
rows win on read and the older rows stay for audit. A share-alert decision and the delivery it
queues are one transaction too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

import sqlite_utils

from bot.clock import parse_iso
from bot.models import (
    ParsedSnapshot,
    Rejection,
    ShareAlert,
    Snapshot,
    SnapshotTotals,
    TokenRow,
    TokenWindow,
)
from bot.store.db import refused_write, transaction
from bot.store.outbox import enqueue, queued_id

SHARE_ALERT = "share_alert"  # the outbox kind of a share alert, keyed by its snapshot


def save_snapshot(
    db: sqlite_utils.Database,
    parsed: ParsedSnapshot,
    *,
    body: str,
    content_hash: str,
    fetched_at: str,
    countries: Mapping[str, str],
    holds: str = "superseded",
) -> tuple[int, bool]:
    """Write the raw body and its usage rows, all or nothing. Returns (snapshot id, newly stored).

    `countries` maps each row's author to its country (the caller attributes them). A snapshot
    of the source held for confirmation is resolved as `holds` (confirmed | superseded) in the
    same transaction."""
    with refused_write(f"storing the OpenRouter {parsed.source} snapshot"), transaction(db):
        db.execute(
            """UPDATE rejected_snapshots SET resolution = ?, resolved_at = ?
               WHERE source = ? AND verdict = 'held' AND resolution IS NULL""",
            [holds, fetched_at, parsed.source],
        )
        cur = db.execute(
            """INSERT INTO token_snapshots
                   (source, fetched_at, window_start, window_end, granularity, content_hash,
                    payload, as_of, rows_skipped)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (source, window_start, window_end, content_hash) DO NOTHING""",
            [
                parsed.source,
                fetched_at,
                parsed.window_start,
                parsed.window_end,
                parsed.granularity,
                content_hash,
                body,
                parsed.as_of,
                sum(parsed.skipped.values()),
            ],
        )
        if not cur.rowcount:
            found = db.execute(
                """SELECT id FROM token_snapshots WHERE source = ? AND window_start = ?
                   AND window_end = ? AND content_hash = ?""",
                [parsed.source, parsed.window_start, parsed.window_end, content_hash],
            ).fetchone()
            return found[0], False
        snapshot_id = cur.lastrowid
        db.conn.executemany(
            """INSERT INTO token_usage
                   (snapshot_id, window_start, window_end, granularity, source, model, variant,
                    author, country, prompt_tokens, completion_tokens, total_tokens)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    snapshot_id,
                    r.window_start,
                    r.window_end,
                    r.granularity,
                    parsed.source,
                    r.model,
                    r.variant,
                    r.author,
                    countries[r.author],
                    r.prompt_tokens,
                    r.completion_tokens,
                    r.total_tokens,
                )
                for r in parsed.rows
            ],
        )
    return snapshot_id, True


_ROWS = """SELECT u.snapshot_id, u.source, u.granularity, u.window_start, u.window_end, u.model,
    u.author, u.country, u.prompt_tokens, u.completion_tokens, u.total_tokens,
    COALESCE(s.as_of, s.fetched_at) AS as_of, u.variant
    FROM token_usage u JOIN token_snapshots s ON s.id = u.snapshot_id"""

# The newest snapshot of each (source, granularity, window): a covering index makes it cheap.
_NEWEST = """SELECT source, granularity, window_start, window_end, MAX(snapshot_id) AS snapshot_id
    FROM token_usage GROUP BY source, granularity, window_start, window_end"""


def latest_windows(db: sqlite_utils.Database) -> list[TokenWindow]:
    """Every (source, granularity, window) with its newest snapshot: the index the share maths
    chooses periods from before loading any rows."""
    sql = f"""SELECT w.source, w.granularity, w.window_start, w.window_end, w.snapshot_id,
                     COALESCE(s.as_of, s.fetched_at) AS as_of
              FROM ({_NEWEST}) w JOIN token_snapshots s ON s.id = w.snapshot_id"""
    return [TokenWindow(*row) for row in db.execute(sql).fetchall()]


def latest_rows(db: sqlite_utils.Database) -> list[TokenRow]:
    """Every usage row from the newest snapshot of each (source, granularity, window)."""
    sql = f"""WITH latest AS ({_NEWEST})
              {_ROWS}
              JOIN latest l ON u.snapshot_id = l.snapshot_id AND u.source = l.source
                  AND u.granularity = l.granularity AND u.window_start = l.window_start
                  AND u.window_end = l.window_end"""
    return [TokenRow(*row) for row in db.execute(sql).fetchall()]


def window_rows(db: sqlite_utils.Database, windows: Iterable[TokenWindow]) -> list[TokenRow]:
    """The usage rows of the given windows (each from its own snapshot)."""
    sql = f"""{_ROWS}
              WHERE u.snapshot_id = ? AND u.source = ? AND u.granularity = ?
                AND u.window_start = ? AND u.window_end = ?"""
    out: list[TokenRow] = []
    for w in windows:
        args = [w.snapshot_id, w.source, w.granularity, w.window_start, w.window_end]
        out += [TokenRow(*row) for row in db.execute(sql, args).fetchall()]
    return out


def snapshot_rows(db: sqlite_utils.Database, *, snapshot_id: int) -> list[TokenRow]:
    """Every usage row one snapshot brought, whatever newer snapshots say about its windows."""
    rows = db.execute(f"{_ROWS} WHERE u.snapshot_id = ?", [snapshot_id]).fetchall()
    return [TokenRow(*row) for row in rows]


def newest_snapshot(db: sqlite_utils.Database) -> Snapshot | None:
    """The snapshot whose window reaches furthest (ties: the one stored last)."""
    row = db.execute(
        """SELECT id, source, fetched_at, window_start, window_end, granularity,
                  COALESCE(as_of, fetched_at) AS as_of
           FROM token_snapshots ORDER BY window_end DESC, id DESC LIMIT 1"""
    ).fetchone()
    return None if row is None else Snapshot(*row)


_ALERT_COLUMNS = ", ".join(f.name for f in fields(ShareAlert))


def _share_alert(row: tuple) -> ShareAlert:
    return ShareAlert(*row[:5], json.loads(row[5]), *row[6:])


def share_alert(db: sqlite_utils.Database, *, snapshot_id: int) -> ShareAlert | None:
    """The decision taken on a snapshot, or None while it has not been judged."""
    row = db.execute(
        f"SELECT {_ALERT_COLUMNS} FROM share_alerts WHERE snapshot_id = ?", [snapshot_id]
    ).fetchone()
    return None if row is None else _share_alert(row)


def last_reference(db: sqlite_utils.Database, *, source: str) -> ShareAlert | None:
    """The newest baseline or alert of `source`: the shares a new snapshot is compared with."""
    row = db.execute(
        f"""SELECT {_ALERT_COLUMNS} FROM share_alerts
            WHERE source = ? AND kind IN ('baseline', 'alert')
            ORDER BY evaluated_at DESC, snapshot_id DESC LIMIT 1""",
        [source],
    ).fetchone()
    return None if row is None else _share_alert(row)


def last_alert_at(db: sqlite_utils.Database) -> str | None:
    """When the last alert (of any source) was decided, for the cooldown."""
    return db.execute("SELECT MAX(evaluated_at) FROM share_alerts WHERE kind = 'alert'").fetchone()[
        0
    ]


def record_share_alert(
    db: sqlite_utils.Database,
    alert: ShareAlert,
    *,
    destination: str | None = None,
    payload: Mapping[str, Any] | None = None,
) -> int | None:
    """Record the decision on a snapshot; with `payload`, also queue it for `destination` as a
    share_alert keyed by the snapshot. Both or neither are written. Returns the decision's
    delivery id (None when nothing was queued).

    A snapshot is judged once: when a decision on it is already recorded (another process
    judged it at the same moment), nothing is written and that decision's delivery id is
    returned.
    """
    if payload is not None and destination is None:
        raise ValueError("record_share_alert: a payload needs a destination")
    what = f"recording the share-alert decision on snapshot {alert.snapshot_id}"
    with refused_write(what), transaction(db):
        cur = db.execute(
            f"""INSERT OR IGNORE INTO share_alerts ({_ALERT_COLUMNS})
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                alert.snapshot_id,
                alert.evaluated_at,
                alert.source,
                alert.period_start,
                alert.period_end,
                json.dumps(alert.shares, sort_keys=True),
                alert.leader,
                alert.kind,
                alert.delivery_id,
                alert.reason,
            ],
        )
        if not cur.rowcount:
            return db.execute(
                "SELECT delivery_id FROM share_alerts WHERE snapshot_id = ?", [alert.snapshot_id]
            ).fetchone()[0]
        if payload is None:
            return alert.delivery_id
        key = f"snapshot:{alert.snapshot_id}"
        delivery_id = enqueue(
            db,
            kind=SHARE_ALERT,
            key=key,
            destination=destination,
            payload=dict(payload),
            now=parse_iso(alert.evaluated_at),
        )
        if delivery_id is None:
            # Queued without its decision by an older version that stopped in between: the
            # same alert, so it is recorded against that delivery rather than sent twice.
            delivery_id = queued_id(db, kind=SHARE_ALERT, key=key, destination=destination)
        db.execute(
            "UPDATE share_alerts SET delivery_id = ? WHERE snapshot_id = ?",
            [delivery_id, alert.snapshot_id],
        )
    return delivery_id


# --- whole-snapshot checks: what a new answer is compared with, and what was refused ---------


def previous_totals(
    db: sqlite_utils.Database, *, source: str, window_end: str
) -> SnapshotTotals | None:
    """The stored snapshot of `source` whose window ends nearest at or before `window_end`
    (the newest such), with its tokens and distinct models."""
    # The snapshot first, then its sums: with the sums in the same SELECT, SQLite computes them
    # for every candidate before sorting (80 ms at a year of snapshots instead of 0.2).
    row = db.execute(
        """WITH found AS (
               SELECT id, window_start, window_end FROM token_snapshots
               WHERE source = ? AND window_end <= ?
               ORDER BY window_end DESC, id DESC LIMIT 1)
           SELECT f.id, f.window_start, f.window_end,
                  (SELECT COALESCE(SUM(total_tokens), 0) FROM token_usage WHERE snapshot_id = f.id),
                  (SELECT COUNT(DISTINCT model) FROM token_usage WHERE snapshot_id = f.id)
           FROM found f""",
        [source, window_end],
    ).fetchone()
    if row is None:
        return None
    return SnapshotTotals(source, row[1], row[2], row[3], row[4], snapshot_id=row[0])


def held_totals(db: sqlite_utils.Database, *, source: str) -> SnapshotTotals | None:
    """The snapshot of `source` held for confirmation and not yet resolved, if any."""
    row = db.execute(
        """SELECT id, window_start, window_end, total_tokens, models FROM rejected_snapshots
           WHERE source = ? AND verdict = 'held' AND resolution IS NULL
           ORDER BY id DESC LIMIT 1""",
        [source],
    ).fetchone()
    if row is None:
        return None
    return SnapshotTotals(source, row[1], row[2], row[3], row[4], held_id=row[0])


def record_rejection(
    db: sqlite_utils.Database,
    *,
    source: str,
    fetched_at: str,
    verdict: str,
    reason: str,
    content_hash: str | None = None,
    totals: SnapshotTotals | None = None,
) -> int:
    """Record an answer refused (`rejected`) or held for the next poll (`held`). A new hold
    supersedes an older unresolved one of the same source."""
    if verdict not in ("rejected", "held"):
        raise ValueError(f"record_rejection: verdict must be rejected or held, not {verdict!r}")
    with refused_write(f"recording the refused OpenRouter {source} answer"), transaction(db):
        if verdict == "held":
            db.execute(
                """UPDATE rejected_snapshots SET resolution = 'superseded', resolved_at = ?
                   WHERE source = ? AND verdict = 'held' AND resolution IS NULL""",
                [fetched_at, source],
            )
        cur = db.execute(
            """INSERT INTO rejected_snapshots
                   (source, fetched_at, verdict, reason, content_hash, window_start, window_end,
                    total_tokens, models)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                source,
                fetched_at,
                verdict,
                reason,
                content_hash,
                totals.window_start if totals else None,
                totals.window_end if totals else None,
                totals.total_tokens if totals else None,
                totals.models if totals else None,
            ],
        )
        return cur.lastrowid


def rejections(db: sqlite_utils.Database, *, source: str | None = None) -> list[Rejection]:
    """Refused and held answers, oldest first (all sources, or one)."""
    sql = """SELECT id, source, fetched_at, verdict, reason, content_hash, window_start,
                    window_end, total_tokens, models, resolution
             FROM rejected_snapshots"""
    args: list = []
    if source is not None:
        sql += " WHERE source = ?"
        args.append(source)
    return [Rejection(*row) for row in db.execute(sql + " ORDER BY id", args).fetchall()]
