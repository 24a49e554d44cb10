"""Looking through the archive's text: which tables and text columns there are, and how many
rows of one column hold a given string. The site uses it to refuse to publish secrets."""

from __future__ import annotations

import sqlite_utils


def content_tables(db: sqlite_utils.Database) -> list[str]:
    """Every table except full-text indexes and their shadow tables (`articles_fts_data`, ...)."""
    fts = set(db.table_names(fts5=True) + db.table_names(fts4=True))
    return [
        name
        for name in db.table_names()
        if name not in fts and not any(name.startswith(f"{index}_") for index in fts)
    ]


def text_columns(db: sqlite_utils.Database, table: str) -> list[str]:
    """Columns of `table` declared TEXT or with no type (where SQLite keeps text as given)."""
    return [c.name for c in db[table].columns if c.type.upper() in ("TEXT", "")]


def count_containing(db: sqlite_utils.Database, *, table: str, column: str, text: str) -> int:
    """Rows of `table` whose `column` contains `text` exactly (case-sensitive)."""
    return _count(db, table, f"instr([{column}], ?) > 0", text)


def count_like(db: sqlite_utils.Database, *, table: str, column: str, pattern: str) -> int:
    """Rows of `table` whose `column` matches the LIKE `pattern` (`%` any run of characters)."""
    return _count(db, table, f"[{column}] LIKE ?", pattern)


def _count(db: sqlite_utils.Database, table: str, condition: str, arg: str) -> int:
    (rows,) = db.execute(f"SELECT COUNT(*) FROM [{table}] WHERE {condition}", [arg]).fetchone()
    return rows
