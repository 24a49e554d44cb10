"""Refuse to publish secrets: look for them in the archive before serving it.

Secrets live only in the environment, but an error message can carry one into the archive
(an HTTP library quoting a webhook URL in `last_error`, say). Datasette would then show it to
anyone, so `serve` checks first and names the table and column to clean.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from bot.config import Secrets
from bot.store.scan import content_tables, count_matches, text_columns

# Shapes of secrets that are unsafe to show even when this process does not know their value.
SECRET_PATTERNS: dict[str, str] = {
    "a Discord webhook URL": "%discord%.com/api/webhooks/%/%",
    "an OpenRouter API key": "%sk-or-v1-%",
}
# Tables where those shapes are looked for: the ones that hold our own error and state text.
# Articles are the publishers' text, checked only for the exact values we know.
PATTERN_TABLES = ("feeds", "deliveries", "job_runs")
SKIP_TABLES = ("article_vectors",)
MIN_SECRET_LENGTH = 8  # shorter values would match ordinary text


@dataclass(frozen=True)
class Leak:
    table: str
    column: str
    what: str
    rows: int


def find_leaks(db: sqlite_utils.Database, secrets: Secrets) -> list[Leak]:
    """Every (table, column) holding a known secret value or a secret-shaped string."""
    known = {
        "DISCORD_TOKEN": secrets.discord_token,
        "DISCORD_WEBHOOK_URL": secrets.discord_webhook_url,
        "OPENROUTER_API_KEY": secrets.openrouter_api_key,
    }
    known = {k: v for k, v in known.items() if v and len(v) >= MIN_SECRET_LENGTH}
    leaks: list[Leak] = []
    for table in content_tables(db):
        if table in SKIP_TABLES:
            continue
        # (column, what, how, value): every check on the table, counted in one pass over it.
        checks = []
        for column in text_columns(db, table):
            checks += [(column, name, "contains", value) for name, value in known.items()]
            if table in PATTERN_TABLES:
                checks += [(column, name, "like", p) for name, p in SECRET_PATTERNS.items()]
        counts = count_matches(db, table, [(c, how, v) for c, _, how, v in checks])
        leaks += [
            Leak(table, column, what, rows)
            for (column, what, _, _), rows in zip(checks, counts, strict=True)
            if rows
        ]
    return leaks


def describe_leaks(path: str, leaks: list[Leak]) -> str:
    """One actionable line for the CLI."""
    where = "; ".join(f"{x.table}.{x.column} holds {x.what} in {x.rows} row(s)" for x in leaks)
    return (
        f"{path}: not serving an archive that contains secrets: {where}. "
        f"Clear those values (e.g. sqlite-utils query {path} "
        f'"UPDATE {leaks[0].table} SET {leaks[0].column} = NULL WHERE ...") '
        "and rotate the secret"
    )
