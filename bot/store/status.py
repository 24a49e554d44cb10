"""What `tokentide status` reports about the archive as a whole: its size and row counts, and
the outbox's backlog. Read-only."""

from __future__ import annotations

import sqlite_utils

from bot.models import ArchiveStats, OutboxBacklog


def archive_stats(db: sqlite_utils.Database) -> ArchiveStats:
    """Size from the pages in use (the -wal file not counted) and the article and story rows."""
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    stories = db.execute("SELECT count(*) FROM stories").fetchone()[0]
    return ArchiveStats(size_bytes=pages * page_size, articles=articles, stories=stories)


def outbox_backlog(db: sqlite_utils.Database) -> OutboxBacklog:
    """Pending deliveries (any destination), the earliest one's due time, and failed ones."""
    pending, oldest_due = db.execute(
        "SELECT count(*), min(next_attempt_at) FROM deliveries WHERE status = 'pending'"
    ).fetchone()
    failed = db.execute("SELECT count(*) FROM deliveries WHERE status = 'failed'").fetchone()[0]
    return OutboxBacklog(pending=pending, oldest_due=oldest_due, failed=failed)
