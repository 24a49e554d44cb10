"""Article and story topics: each article's tags with their scores and the definitions that
made them (`topics_hash`), and what `analyze --retag` reads and writes.

A retag batch (the articles' new tags and their stories' recomputed topics) is one transaction,
so an interrupted retag leaves every article either on the old definitions or fully on the new
ones, and a rerun picks up exactly the articles still carrying another hash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlite_utils

from bot.models import ArticleTags, RetagArticle
from bot.store import vectors
from bot.store.db import refused_write, transaction

_CHUNK = 500  # ids per IN (...) list


def _json(text: str | None, kind: type) -> Any:
    try:
        found = json.loads(text or "null")
    except ValueError:
        return kind()
    return found if isinstance(found, kind) else kind()


def tags_record(topics: str | None, scores: str | None) -> ArticleTags:
    """The stored JSON of an article's `topics` and `topic_scores` as a record (bad JSON reads
    as no tags, never as an error)."""
    found = _json(scores, dict)
    return ArticleTags(
        topics=tuple(str(t) for t in _json(topics, list)),
        scores={
            str(k): float(v)
            for k, v in found.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        },
    )


def article_tags_by_story(
    db: sqlite_utils.Database, story_ids: Iterable[int]
) -> dict[int, list[ArticleTags]]:
    """Each story's articles' tags and scores (one entry per article); every asked id gets a
    list."""
    ids = list(dict.fromkeys(story_ids))
    out: dict[int, list[ArticleTags]] = {sid: [] for sid in ids}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        rows = db.execute(
            f"""SELECT story_id, topics, topic_scores FROM articles
                WHERE story_id IN ({",".join("?" * len(chunk))})""",
            chunk,
        ).fetchall()
        for sid, topics, scores in rows:
            out[sid].append(tags_record(topics, scores))
    return out


_TO_RETAG = """FROM articles a JOIN article_vectors v ON v.article_id = a.id
               WHERE a.analyzed_at IS NOT NULL AND a.topics_hash IS NOT ?
                 AND v.model = ? AND v.dim = ?"""


def count_to_retag(db: sqlite_utils.Database, *, topics_hash: str, model: str, dim: int) -> int:
    """Analysed articles tagged under other definitions that have a vector of `model`."""
    return db.execute(f"SELECT count(*) {_TO_RETAG}", [topics_hash, model, dim]).fetchone()[0]


def count_without_vector(db: sqlite_utils.Database, *, model: str, dim: int) -> int:
    """Analysed articles with no vector of `model` (a retag cannot reach them)."""
    return db.execute(
        """SELECT count(*) FROM articles a WHERE a.analyzed_at IS NOT NULL AND NOT EXISTS
               (SELECT 1 FROM article_vectors v
                WHERE v.article_id = a.id AND v.model = ? AND v.dim = ?)""",
        [model, dim],
    ).fetchone()[0]


def articles_to_retag(
    db: sqlite_utils.Database,
    *,
    topics_hash: str,
    model: str,
    dim: int,
    after_id: int,
    limit: int,
) -> list[RetagArticle]:
    """The next `limit` articles above `after_id` (by id) still tagged under other
    definitions, with their stored vectors."""
    rows = db.execute(
        f"""SELECT a.id, a.story_id, a.title, a.summary, v.vector {_TO_RETAG} AND a.id > ?
            ORDER BY a.id LIMIT ?""",
        [topics_hash, model, dim, after_id, limit],
    ).fetchall()
    return [RetagArticle(r[0], r[1], r[2], r[3], vectors.decode(r[4])) for r in rows]


def save_story_topics(db: sqlite_utils.Database, topics: Mapping[int, Sequence[str]]) -> None:
    """Set each story's topics (best-first)."""
    with transaction(db):
        db.conn.executemany(
            "UPDATE stories SET topics = ? WHERE id = ?",
            [(json.dumps(list(t)), sid) for sid, t in topics.items()],
        )


def save_article_tags(
    db: sqlite_utils.Database, tags: Mapping[int, ArticleTags], *, topics_hash: str
) -> None:
    """Set articles' tags, scores and the hash of the definitions that made them."""
    with refused_write(f"retagging {len(tags)} article(s)"), transaction(db):
        db.conn.executemany(
            "UPDATE articles SET topics = ?, topic_scores = ?, topics_hash = ? WHERE id = ?",
            [
                (json.dumps(list(t.topics)), json.dumps(t.scores, sort_keys=True), topics_hash, aid)
                for aid, t in tags.items()
            ],
        )
