"""The deliveries outbox: producers enqueue, the chat worker claims and records.

A delivery is unique per (kind, key, destination), so enqueuing the same digest or alert twice
is a no-op. Producers never talk to Discord; they only call `enqueue`.

A worker claims a delivery before sending it (`claim`: who, since, lease until), keeps the
lease fresh while it sends (`renew`), and writes its progress only while it still holds the
claim (`record(..., holder=...)`), so a worker that lost its claim to a successor cannot
overwrite the successor's progress.
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
    "get",
    "next_attempt_at",
    "pending",
    "queued_id",
    "record",
    "renew",
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
                   message_id = NULL, last_error = NULL, parts_sent = 0, message_ids = '[]',
                   claimed_by = NULL, claimed_at = NULL, lease_until = NULL,
                   sending_part = NULL, resent_parts = '[]'
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


def get(db: sqlite_utils.Database, delivery_id: int) -> Delivery | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?", [delivery_id]).fetchone()
    return Delivery(*row) if row else None


def claim(
    db: sqlite_utils.Database,
    delivery_id: int,
    *,
    holder: str,
    now: datetime,
    until: datetime,
    replacing: str | None,
) -> bool:
    """Hold a pending delivery for `holder` until `until`. Only if its claim is still
    `replacing` (None: unclaimed; else the dead or expired claim the caller saw), so of two
    workers racing for it exactly one wins; False for the other."""
    with transaction(db):
        cur = db.execute(
            """UPDATE deliveries SET claimed_by = ?, claimed_at = ?, lease_until = ?
               WHERE id = ? AND status = 'pending' AND claimed_by IS ?""",
            [holder, to_iso(now), to_iso(until), delivery_id, replacing],
        )
    return cur.rowcount == 1


def renew(db: sqlite_utils.Database, delivery_id: int, *, holder: str, until: datetime) -> bool:
    """Extend `holder`'s lease; False when it no longer holds the delivery."""
    with transaction(db):
        cur = db.execute(
            "UPDATE deliveries SET lease_until = ? WHERE id = ? AND claimed_by = ?",
            [to_iso(until), delivery_id, holder],
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
    "claimed_by",
    "claimed_at",
    "lease_until",
    "sending_part",
    "resent_parts",
}


def record(
    db: sqlite_utils.Database, delivery_id: int, *, holder: str | None = None, **values: Any
) -> bool:
    """Write what happened to a delivery (status, attempts, sent parts, error, claim) in one
    UPDATE. With `holder`, only while that claim still holds it: False (nothing written) when
    another sender has taken it over."""
    unknown = set(values) - _RECORDABLE
    if unknown:
        raise ValueError(f"not a delivery progress column: {', '.join(sorted(unknown))}")
    sets = ", ".join(f"{k} = :{k}" for k in values)
    where = "id = :id" if holder is None else "id = :id AND claimed_by = :holder"
    with transaction(db):
        cur = db.execute(
            f"UPDATE deliveries SET {sets} WHERE {where}",
            {**values, "id": delivery_id, "holder": holder},
        )
    return cur.rowcount == 1


def next_attempt_at(db: sqlite_utils.Database, destination: str) -> str | None:
    """When the earliest pending delivery for `destination` is due (ISO), or None."""
    row = db.execute(
        "SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending' AND destination = ?",
        [destination],
    ).fetchone()
    return row[0] if row else None
