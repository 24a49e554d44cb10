"""Reading and writing token history in the archive (token_snapshots, token_usage).

A snapshot is stored once per (source, window, content hash): the unique index turns a repeat
fetch into a no-op. When the same window is fetched again with different numbers, the newest
snapshot's rows win on read, and the older rows stay for audit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import sqlite_utils

from bot.tokens.countries import country_of
from bot.tokens.parse import Parsed


def content_hash(payload: Any) -> str:
    """Hash of the decoded JSON, so whitespace or key order alone is not a new snapshot."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def store_snapshot(
    db: sqlite_utils.Database,
    parsed: Parsed,
    *,
    body: str,
    digest: str,
    fetched_at: str,
    countries: Mapping[str, str],
) -> tuple[int, bool]:
    """Write the raw body and its rows in one transaction. Returns (snapshot id, newly stored)."""
    with db.conn:
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
                digest,
                body,
                parsed.as_of,
                parsed.skipped_total,
            ],
        )
        if not cur.rowcount:
            found = db.execute(
                """SELECT id FROM token_snapshots WHERE source = ? AND window_start = ?
                   AND window_end = ? AND content_hash = ?""",
                [parsed.source, parsed.window_start, parsed.window_end, digest],
            ).fetchone()
            return found[0], False
        snapshot_id = cur.lastrowid
        db.conn.executemany(
            """INSERT INTO token_usage
                   (snapshot_id, window_start, window_end, granularity, source, model, author,
                    country, prompt_tokens, completion_tokens, total_tokens)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    snapshot_id,
                    r.window_start,
                    r.window_end,
                    r.granularity,
                    parsed.source,
                    r.model,
                    r.author,
                    country_of(r.author, countries),
                    r.prompt_tokens,
                    r.completion_tokens,
                    r.total_tokens,
                )
                for r in parsed.rows
            ],
        )
    return snapshot_id, True


_ROW_COLUMNS = """u.snapshot_id, u.source, u.granularity, u.window_start, u.window_end, u.model,
    u.author, u.country, u.total_tokens, COALESCE(s.as_of, s.fetched_at) AS as_of"""


def latest_rows(db: sqlite_utils.Database) -> list[dict]:
    """Every usage row from the newest snapshot of each (source, granularity, window)."""
    sql = f"""
        WITH latest AS (
            SELECT source, granularity, window_start, window_end, MAX(snapshot_id) AS sid
            FROM token_usage GROUP BY source, granularity, window_start, window_end
        )
        SELECT {_ROW_COLUMNS}
        FROM token_usage u
        JOIN latest l ON u.snapshot_id = l.sid AND u.source = l.source
            AND u.granularity = l.granularity AND u.window_start = l.window_start
            AND u.window_end = l.window_end
        JOIN token_snapshots s ON s.id = u.snapshot_id"""
    return _dicts(db.execute(sql))


def latest_windows(db: sqlite_utils.Database) -> list[dict]:
    """One entry per (source, granularity, window) with its newest snapshot: the index the
    share maths selects periods from before loading any rows (a covering index makes it cheap)."""
    sql = """
        SELECT w.source, w.granularity, w.window_start, w.window_end, w.snapshot_id,
               COALESCE(s.as_of, s.fetched_at) AS as_of
        FROM (
            SELECT source, granularity, window_start, window_end, MAX(snapshot_id) AS snapshot_id
            FROM token_usage GROUP BY source, granularity, window_start, window_end
        ) w JOIN token_snapshots s ON s.id = w.snapshot_id"""
    return _dicts(db.execute(sql))


def window_rows(db: sqlite_utils.Database, windows: list[dict]) -> list[dict]:
    """The usage rows of the given `latest_windows` entries."""
    out: list[dict] = []
    sql = f"""SELECT {_ROW_COLUMNS} FROM token_usage u
              JOIN token_snapshots s ON s.id = u.snapshot_id
              WHERE u.snapshot_id = ? AND u.source = ? AND u.granularity = ?
                AND u.window_start = ? AND u.window_end = ?"""
    for w in windows:
        args = [w["snapshot_id"], w["source"], w["granularity"], w["window_start"], w["window_end"]]
        out += _dicts(db.execute(sql, args))
    return out


def snapshot_rows(db: sqlite_utils.Database, snapshot_id: int) -> list[dict]:
    sql = f"""SELECT {_ROW_COLUMNS} FROM token_usage u
              JOIN token_snapshots s ON s.id = u.snapshot_id WHERE u.snapshot_id = ?"""
    return _dicts(db.execute(sql, [snapshot_id]))


def newest_snapshot(db: sqlite_utils.Database) -> dict | None:
    """The snapshot whose window reaches furthest (ties: the one stored last)."""
    cur = db.execute(
        """SELECT id, source, fetched_at, window_start, window_end, granularity,
                  COALESCE(as_of, fetched_at) AS as_of
           FROM token_snapshots ORDER BY window_end DESC, id DESC LIMIT 1"""
    )
    found = _dicts(cur)
    return found[0] if found else None


def _dicts(cursor) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
