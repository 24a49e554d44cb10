"""Narratives (`narratives`, `stories.narrative_id`): the candidates linking reads, the links it
writes, each narrative's row recomputed from its live stories, and reading narratives back.

A story merged away (`stories.merged_into`) never counts: its articles moved to the survivor,
and so did its narrative when the survivor had none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlite_utils

from bot.models import Narrative, NarrativeStory, NarrativeUpdate, StoryCentroid
from bot.store import vectors
from bot.store.db import chunked, placeholders, refused_write, transaction
from bot.store.stories import json_strings

_COLUMNS = (
    "id",
    "title",
    "first_story_id",
    "first_seen",
    "last_seen",
    "story_count",
    "article_count",
    "topics",
    "names",
    "created_at",
)
ARTICLE_TIME = "COALESCE(a.published_at, a.fetched_at)"


def _narrative(row: Sequence[Any]) -> Narrative:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["topics"] = json_strings(values["topics"])
    values["names"] = json_strings(values["names"])
    return Narrative(**values)


# --- linking ---


def story_centroids(db: sqlite_utils.Database, *, model: str, dim: int) -> list[StoryCentroid]:
    """Every live story with a vector sum of `model`, by id, with its narrative."""
    rows = db.execute(
        """SELECT s.id, v.vector_sum, s.narrative_id
           FROM stories s JOIN story_vectors v ON v.story_id = s.id
           WHERE s.merged_into IS NULL AND v.model = ? AND v.dim = ?
           ORDER BY s.id""",
        [model, dim],
    ).fetchall()
    return [StoryCentroid(sid, vectors.decode(blob), nid) for sid, blob, nid in rows]


def create_narrative(db: sqlite_utils.Database, *, now: str) -> int:
    """A new, empty narrative; `link_stories` and `refresh` fill it in the same transaction."""
    return db.execute("INSERT INTO narratives (created_at) VALUES (?)", [now]).lastrowid


def link_stories(db: sqlite_utils.Database, story_ids: Sequence[int], narrative_id: int) -> None:
    db.conn.executemany(
        "UPDATE stories SET narrative_id = ? WHERE id = ?",
        [(narrative_id, sid) for sid in story_ids],
    )


def narratives_of(db: sqlite_utils.Database, story_ids: Iterable[int]) -> dict[int, int]:
    """story id -> narrative id, for those of `story_ids` that have one."""
    out: dict[int, int] = {}
    for chunk in chunked(story_ids):
        rows = db.execute(
            f"""SELECT id, narrative_id FROM stories
                WHERE id IN ({placeholders(chunk)}) AND narrative_id IS NOT NULL""",
            chunk,
        ).fetchall()
        out.update(rows)
    return out


def narrative_stories(
    db: sqlite_utils.Database, narrative_ids: Iterable[int]
) -> dict[int, list[NarrativeStory]]:
    """Each narrative's live stories (by first_seen, then id), with their name counts."""
    ids = list(dict.fromkeys(narrative_ids))
    out: dict[int, list[NarrativeStory]] = {nid: [] for nid in ids}
    for chunk in chunked(ids):
        rows = db.execute(
            f"""SELECT s.narrative_id, s.id, s.title, s.first_seen, s.last_seen,
                       s.article_count, s.outlet_count, s.topics, v.names
                FROM stories s LEFT JOIN story_vectors v ON v.story_id = s.id
                WHERE s.narrative_id IN ({placeholders(chunk)}) AND s.merged_into IS NULL
                ORDER BY s.first_seen, s.id""",
            chunk,
        ).fetchall()
        for nid, sid, title, first, last, count, outlets, topics, names in rows:
            try:
                name_counts = json.loads(names or "{}")
            except ValueError:
                name_counts = {}
            out[nid].append(
                NarrativeStory(
                    id=sid,
                    title=title or "",
                    first_seen=first,
                    last_seen=last,
                    article_count=count,
                    outlet_count=outlets,
                    topics=json_strings(topics),
                    names=name_counts if isinstance(name_counts, dict) else {},
                )
            )
    return out


def save_narratives(db: sqlite_utils.Database, updates: Mapping[int, NarrativeUpdate]) -> None:
    """Each narrative's row, recomputed from its live stories."""
    with refused_write("saving narratives"), transaction(db):
        db.conn.executemany(
            """UPDATE narratives SET title = ?, first_story_id = ?, first_seen = ?,
                   last_seen = ?, story_count = ?, article_count = ?, topics = ?, names = ?
               WHERE id = ?""",
            [
                (
                    u.title,
                    u.first_story_id,
                    u.first_seen,
                    u.last_seen,
                    u.story_count,
                    u.article_count,
                    json.dumps(list(u.topics)),
                    json.dumps(list(u.names)),
                    nid,
                )
                for nid, u in updates.items()
            ],
        )


# --- reading ---


def get_narrative(db: sqlite_utils.Database, narrative_id: int) -> Narrative | None:
    row = db.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM narratives WHERE id = ?", [narrative_id]
    ).fetchone()
    return _narrative(row) if row else None


def narratives_by_id(db: sqlite_utils.Database, ids: Iterable[int]) -> dict[int, Narrative]:
    out: dict[int, Narrative] = {}
    for chunk in chunked(ids):
        rows = db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM narratives WHERE id IN ({placeholders(chunk)})",
            chunk,
        ).fetchall()
        out.update((r[0], _narrative(r)) for r in rows)
    return out


def list_narratives(
    db: sqlite_utils.Database,
    *,
    topic: str | None = None,
    min_stories: int = 2,
    since: str | None = None,
) -> list[Narrative]:
    """Narratives with at least `min_stories` live stories, newest last_seen first; with
    `topic`, only those tagged with it; with `since`, only those seen since then."""
    sql = f"SELECT {', '.join(_COLUMNS)} FROM narratives WHERE story_count >= ?"
    params: list[Any] = [min_stories]
    if topic:
        sql += " AND EXISTS (SELECT 1 FROM json_each(narratives.topics) WHERE value = ?)"
        params.append(topic)
    if since:
        sql += " AND last_seen >= ?"
        params.append(since)
    sql += " ORDER BY last_seen DESC, id"
    return [_narrative(r) for r in db.execute(sql, params).fetchall()]


def article_counts_since(
    db: sqlite_utils.Database, narrative_ids: Iterable[int], since: str
) -> dict[int, tuple[int, int]]:
    """Each narrative's (articles since `since`, articles before), over its live stories."""
    out: dict[int, tuple[int, int]] = {}
    for chunk in chunked(narrative_ids):
        rows = db.execute(
            f"""SELECT s.narrative_id,
                       SUM({ARTICLE_TIME} >= ?), SUM({ARTICLE_TIME} < ?)
                FROM stories s JOIN articles a ON a.story_id = s.id
                WHERE s.narrative_id IN ({placeholders(chunk)}) AND s.merged_into IS NULL
                GROUP BY s.narrative_id""",
            [since, since, *chunk],
        ).fetchall()
        out.update((nid, (int(recent or 0), int(earlier or 0))) for nid, recent, earlier in rows)
    for nid in narrative_ids:
        out.setdefault(nid, (0, 0))
    return out
