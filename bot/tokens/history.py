"""Token history: what makes a snapshot new, and which country each of its rows counts for.

The archive side (one transaction per snapshot, newest snapshot wins on read) lives in
`bot.store.tokens`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import sqlite_utils

from bot.models import ParsedSnapshot
from bot.store.tokens import save_snapshot
from bot.tokens.countries import country_of


def content_hash(payload: Any) -> str:
    """Hash of the decoded JSON, so whitespace or key order alone is not a new snapshot."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def store_snapshot(
    db: sqlite_utils.Database,
    parsed: ParsedSnapshot,
    *,
    body: str,
    digest: str,
    fetched_at: str,
    countries: Mapping[str, str],
    holds: str = "superseded",
) -> tuple[int, bool]:
    """Store the raw body and its rows, each row's maker given a country from the `countries`
    table (author slug → code). Returns (snapshot id, newly stored). A snapshot of the source
    held for confirmation is resolved as `holds` (confirmed | superseded)."""
    authors = {row.author for row in parsed.rows}
    return save_snapshot(
        db,
        parsed,
        body=body,
        content_hash=digest,
        fetched_at=fetched_at,
        countries={author: country_of(author, countries) for author in authors},
        holds=holds,
    )
