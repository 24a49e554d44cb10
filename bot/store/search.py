"""Finding articles by their words: FTS5 over headlines and summaries (`articles_fts`).

User text never reaches FTS as syntax: every word is quoted, so a query or a maker's name can
never make a MATCH invalid.
"""

from __future__ import annotations

import re

import sqlite_utils

from bot.models import StoryArticle
from bot.store.stories import ARTICLE_COLUMNS, article_record

_WORD = re.compile(r"\w+", re.UNICODE)


def fts_words(text: str) -> str:
    """Every word quoted (an AND of the words)."""
    return " ".join(f'"{w}"' for w in _WORD.findall(text))


def fts_phrase(text: str) -> str | None:
    """The words as one quoted phrase; None when there are none."""
    words = _WORD.findall(text)
    return '"' + " ".join(words) + '"' if words else None


def has_full_text(db: sqlite_utils.Database) -> bool:
    return db["articles_fts"].exists()


def articles_with_words(db: sqlite_utils.Database, query: str, *, limit: int) -> list[int]:
    """Ids of the newest `limit` articles holding every word of `query`."""
    match = fts_words(query)
    if not match:
        return []
    # Newest matches first: FTS5 walks rowids in order without scoring every match, so a
    # common word costs the same as a rare name; the caller's own score then ranks them.
    rows = db.execute(
        "SELECT rowid FROM articles_fts WHERE articles_fts MATCH ? ORDER BY rowid DESC LIMIT ?",
        [match, limit],
    ).fetchall()
    return [r[0] for r in rows]


def articles_naming(
    db: sqlite_utils.Database, name: str, *, start: str, end: str
) -> list[StoryArticle]:
    """Articles whose headline or summary holds `name` (as a phrase), timed in [start, end].

    An archive without full-text search still answers (a case-insensitive substring match),
    more slowly."""
    cols = ", ".join(f"a.{c}" for c in ARTICLE_COLUMNS)
    when = "COALESCE(a.published_at, a.fetched_at)"
    if has_full_text(db):
        phrase = fts_phrase(name)
        if phrase is None:
            return []
        sql = (
            f"SELECT {cols} FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid "
            f"WHERE articles_fts MATCH ? AND {when} >= ? AND {when} <= ?"
        )
        params: list[str] = [phrase, start, end]
    else:
        pattern = "%" + name.lower().replace("%", "").replace("_", "") + "%"
        sql = (
            f"SELECT {cols} FROM articles a WHERE (lower(a.title) LIKE ? OR "
            f"lower(a.summary) LIKE ?) AND {when} >= ? AND {when} <= ?"
        )
        params = [pattern, pattern, start, end]
    return [article_record(r) for r in db.execute(sql, params).fetchall()]
