"""Container health checks, small enough to run every minute.

    python -m bot.site.health          the archive ($TOKENTIDE_DB) opens and is migrated
    python -m bot.site.health URL      the Datasette at URL answers 200

Exit code 0 when healthy, 1 with one line on stderr saying what is wrong. Imports only the
config and the store, never Datasette or the model, so a check stays small.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import urllib.error
import urllib.request

from bot.config import DEFAULT_DB
from bot.errors import StoreError
from bot.store.db import open_read_only
from bot.store.migrations import applied_migrations


def check_archive(path: str) -> str | None:
    """None when the archive opens read-only and records at least one migration."""
    if not os.path.isfile(path):
        return f"{path}: no archive yet"
    try:
        db = open_read_only(path, timeout=5)
        try:
            applied = applied_migrations(db)
        finally:
            db.close()
    except StoreError as exc:
        return str(exc)
    except sqlite3.Error as exc:
        return f"{path}: cannot read the archive: {exc}"
    return None if applied else f"{path}: no migration applied yet"


def check_url(url: str, timeout_s: float = 5.0) -> str | None:
    """None when `url` answers 200 within `timeout_s`."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"{url}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {getattr(exc, 'reason', exc)}"
    return None if status == 200 else f"{url}: HTTP {status}"


def main(argv: list[str]) -> int:
    if argv:
        problem = check_url(argv[0])
    else:
        problem = check_archive(os.environ.get("TOKENTIDE_DB") or DEFAULT_DB)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
