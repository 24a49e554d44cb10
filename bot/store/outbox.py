"""The deliveries outbox: producers enqueue, the chat worker claims and records.

A delivery is unique per (kind, key, destination), so enqueuing the same digest or alert twice
is a no-op. Producers never talk to Discord; they only call `enqueue`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import sqlite_utils

from bot.clock import to_iso
from bot.config import destination_for
from bot.models import Delivery
from bot.store.db import transaction

__all__ = [
    "claim",
    "destination_for",
    "enqueue",
    "next_attempt_at",
    "pending",
    "queued_id",
    "record",
]

_COLUMNS = ", ".join(Delivery.__dataclass_fields__)


def enqueue(
    db: sqlite_utils.Database,
    *,
    kind: str,
    key: str,
    destination: str,
    payload: dict[str, Any],
    now: datetime,
    replace_existing: bool = False,
) -> int | None:
    """Add a delivery; return its id, or None when (kind, key, destination) is already queued.

    `replace_existing` (used by `digest --post --force`) resets a sent delivery so it goes again.
    """
    row = {
        "kind": kind,
        "key": key,
        "destination": destination,
        "payload": json.dumps(payload, ensure_ascii=False, sort_keys=True),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": to_iso(now),
        "nonce": uuid.uuid4().hex[:25],
        "created_at": to_iso(now),
    }
    with transaction(db):
        cur = db.execute(
            """INSERT INTO deliveries
                   (kind, key, destination, payload, status, attempts, next_attempt_at, nonce,
                    created_at)
               VALUES (:kind, :key, :destination, :payload, :status, :attempts, :next_attempt_at,
                       :nonce, :created_at)
               ON CONFLICT (kind, key, destination) DO NOTHING""",
            row,
        )
        if cur.rowcount:
            return cur.lastrowid
        if not replace_existing:
            return None
        db.execute(
            """UPDATE deliveries SET payload = :payload, status = 'pending', attempts = 0,
                   next_attempt_at = :next_attempt_at, nonce = :nonce, sent_at = NULL,
                   message_id = NULL, last_error = NULL, parts_sent = 0, message_ids = '[]'
               WHERE kind = :kind AND key = :key AND destination = :destination""",
            row,
        )
        return queued_id(db, kind=kind, key=key, destination=destination)


def queued_id(db: sqlite_utils.Database, *, kind: str, key: str, destination: str) -> int | None:
    """The id of (kind, key, destination) in the outbox, whatever its status, or None."""
    row = db.execute(
        "SELECT id FROM deliveries WHERE kind = ? AND key = ? AND destination = ?",
        [kind, key, destination],
    ).fetchone()
    return row[0] if row else None


def pending(db: sqlite_utils.Database, destination: str) -> list[Delivery]:
    """Deliveries still to send to `destination`, in the order they were enqueued."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM deliveries WHERE status = 'pending' AND destination = ? "
        "ORDER BY id",
        [destination],
    ).fetchall()
    return [Delivery(*row) for row in rows]


def claim(db: sqlite_utils.Database, delivery: Delivery, *, until: datetime) -> bool:
    """Hold `delivery` until `until` so a second worker skips it; False if someone else did
    (its `next_attempt_at` moved since it was read)."""
    with transaction(db):
        cur = db.execute(
            """UPDATE deliveries SET next_attempt_at = ?
               WHERE id = ? AND status = 'pending' AND next_attempt_at = ?""",
            [to_iso(until), delivery.id, delivery.next_attempt_at],
        )
    return cur.rowcount == 1


_RECORDABLE = {
    "status",
    "attempts",
    "next_attempt_at",
    "sent_at",
    "message_id",
    "message_ids",
    "parts_sent",
    "last_error",
}


def record(db: sqlite_utils.Database, delivery_id: int, **values: Any) -> None:
    """Write what happened to a delivery (status, attempts, sent parts, error) in one UPDATE."""
    unknown = set(values) - _RECORDABLE
    if unknown:
        raise ValueError(f"not a delivery progress column: {', '.join(sorted(unknown))}")
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with transaction(db):
        db.execute(f"UPDATE deliveries SET {sets} WHERE id = :id", {**values, "id": delivery_id})


def next_attempt_at(db: sqlite_utils.Database, destination: str) -> str | None:
    """When the earliest pending delivery for `destination` is due (ISO), or None."""
    row = db.execute(
        "SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending' AND destination = ?",
        [destination],
    ).fetchone()
    return row[0] if row else None
