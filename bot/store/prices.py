"""Token prices: `price_snapshots` and `model_prices`.

A price list is stored only when it differs from the newest stored one (content hash); a poll
that finds the same list moves that snapshot's `last_seen_at` instead. A snapshot and its rows
are one transaction. Which list prices a period is decided here in SQL-shaped terms and
restated by the Datasette canned queries (bot/site/metadata.yaml).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import sqlite_utils

from bot.clock import parse_iso, to_iso
from bot.models import PriceRow, PriceSnapshot
from bot.store.db import refused_write, transaction

_SNAPSHOT = "SELECT id, fetched_at, last_seen_at, content_hash, varies FROM price_snapshots"


def save_prices(db: sqlite_utils.Database, prices: PriceSnapshot) -> tuple[int, bool]:
    """Store `prices` unless the newest stored list is the same. Returns (id, newly stored)."""
    with refused_write("storing the OpenRouter price list"), transaction(db):
        newest = db.execute(f"{_SNAPSHOT} ORDER BY fetched_at DESC, id DESC LIMIT 1").fetchone()
        if newest is not None and newest[3] == prices.content_hash:
            db.execute(
                "UPDATE price_snapshots SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?",
                [prices.fetched_at, newest[0]],
            )
            return newest[0], False
        cur = db.execute(
            """INSERT INTO price_snapshots (fetched_at, last_seen_at, content_hash, models, varies)
               VALUES (?, ?, ?, ?, ?)""",
            [
                prices.fetched_at,
                prices.fetched_at,
                prices.content_hash,
                len(prices.rows),
                json.dumps(list(prices.varies)),
            ],
        )
        snapshot_id = cur.lastrowid
        db.conn.executemany(
            """INSERT INTO model_prices
                   (snapshot_id, model_id, canonical_slug, model, variant, prompt_price,
                    completion_price, hugging_face_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    snapshot_id,
                    r.id,
                    r.canonical_slug,
                    r.model,
                    r.variant,
                    r.prompt,
                    r.completion,
                    r.hugging_face_id,
                )
                for r in prices.rows
            ],
        )
    return snapshot_id, True


def _header(row: tuple | None) -> PriceSnapshot | None:
    if row is None:
        return None
    return PriceSnapshot(
        fetched_at=row[1],
        rows=(),
        content_hash=row[3],
        varies=tuple(json.loads(row[4] or "[]")),
        id=row[0],
        last_seen_at=row[2],
    )


def with_rows(db: sqlite_utils.Database, prices: PriceSnapshot) -> PriceSnapshot:
    """A stored snapshot (as `prices_for_period` finds it, without rows) with its rows."""
    rows = db.execute(
        """SELECT model_id, canonical_slug, variant, prompt_price, completion_price,
                  hugging_face_id, model
           FROM model_prices WHERE snapshot_id = ? ORDER BY model_id""",
        [prices.id],
    ).fetchall()
    return replace(prices, rows=tuple(PriceRow(*r) for r in rows))


def latest_prices(db: sqlite_utils.Database) -> PriceSnapshot | None:
    """The newest stored price list, with its rows."""
    newest = db.execute(f"{_SNAPSHOT} ORDER BY fetched_at DESC, id DESC LIMIT 1").fetchone()
    found = _header(newest)
    return None if found is None else with_rows(db, found)


def first_prices_at(db: sqlite_utils.Database) -> str | None:
    """When the first price list was fetched: prices exist only from then on."""
    return db.execute("SELECT MIN(fetched_at) FROM price_snapshots").fetchone()[0]


def prices_for_period(
    db: sqlite_utils.Database, *, start: str, end: str, grace: timedelta
) -> PriceSnapshot | None:
    """The price list that prices the period [start, end): the newest list fetched at or before
    `end + grace`, provided a poll still found it at or after `start`; else None (the period
    is older than every list, or no list was seen while it ran). Without its rows (see
    `with_rows`), so a series over many periods loads each list once."""
    limit = to_iso(parse_iso(end) + grace)
    row = db.execute(
        f"{_SNAPSHOT} WHERE fetched_at <= ? ORDER BY fetched_at DESC, id DESC LIMIT 1", [limit]
    ).fetchone()
    if row is None or row[2] < start:
        return None
    return _header(row)
