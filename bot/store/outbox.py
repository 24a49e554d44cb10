"""The deliveries outbox: producers enqueue, the chat worker delivers.

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
from bot.config import Settings


def destination_for(settings: Settings) -> str:
    """The one destination messages go to (DESIGN: bot channel, else webhook, else console)."""
    if settings.secrets.discord_token and settings.discord.channel_id:
        return f"discord-channel:{settings.discord.channel_id}"
    if settings.secrets.discord_webhook_url:
        # The webhook id (not its token) identifies it; the URL itself is a secret.
        parts = settings.secrets.discord_webhook_url.rstrip("/").split("/")
        webhook_id = parts[-2] if len(parts) >= 2 else "webhook"
        return f"discord-webhook:{webhook_id}"
    return "console"


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
    with db.conn:
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
        if replace_existing:
            db.execute(
                """UPDATE deliveries SET payload = :payload, status = 'pending', attempts = 0,
                       next_attempt_at = :next_attempt_at, nonce = :nonce, sent_at = NULL,
                       message_id = NULL, last_error = NULL, parts_sent = 0, message_ids = '[]'
                   WHERE kind = :kind AND key = :key AND destination = :destination""",
                row,
            )
            found = db.execute(
                "SELECT id FROM deliveries WHERE kind = ? AND key = ? AND destination = ?",
                [kind, key, destination],
            ).fetchone()
            return found[0]
    return None
