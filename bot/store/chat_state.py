"""`chat_state`: small facts the Discord side must remember across restarts (e.g. the hash of
the slash commands last uploaded)."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from bot.clock import to_iso
from bot.store.db import transaction


def get_state(db: sqlite_utils.Database, key: str) -> str | None:
    row = db.execute("SELECT value FROM chat_state WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_state(db: sqlite_utils.Database, key: str, value: str, *, now: datetime) -> None:
    with transaction(db):
        db.execute(
            "INSERT INTO chat_state (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            [key, value, to_iso(now)],
        )
