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


def count_matches(
    db: sqlite_utils.Database, table: str, checks: list[tuple[str, str, str]]
) -> list[int]:
    """For each (column, how, value) check, the rows of `table` it matches, all counted in one
    pass over the table. `how` is "contains" (the column holds `value` exactly, case-sensitive)
    or "like" (the column matches the LIKE pattern `value`, `%` any run of characters)."""
    if not checks:
        return []
    terms = []
    for column, how, _ in checks:
        if how == "contains":
            terms.append(f"coalesce(sum(instr([{column}], ?) > 0), 0)")
        elif how == "like":
            terms.append(f"coalesce(sum([{column}] LIKE ?), 0)")
        else:
            raise ValueError(f"unknown check {how!r}")
    sql = f"SELECT {', '.join(terms)} FROM [{table}]"
    return list(db.execute(sql, [value for _, _, value in checks]).fetchone())
