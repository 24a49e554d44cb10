"""Stories and the articles in them: reading stories back, following merges, and writing what
`analyze` decides (article tags and story ids, new stories, story state).

Times are the archive's ISO text (`bot.clock.to_iso`); an article's time is its publication
time, or its fetch time when the feed gave none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlite_utils

from bot.errors import StoreError
from bot.models import (
    ArticleAnalysis,
    PendingArticle,
    Story,
    StoryArticle,
    StoryLead,
    StoryMember,
    StoryState,
    StoryUpdate,
)
from bot.store import vectors
from bot.store.db import chunked, placeholders, transaction

MERGE_HOPS = 10  # merged_into chains are short; the bound guards against a cycle
SQLITE_MAX_ROWS = 2**62  # "no cap" for a LIMIT-like bound

_STORY_COLUMNS = (
    "id",
    "title",
    "representative_article_id",
    "first_seen",
    "last_seen",
    "article_count",
    "outlet_count",
    "first_outlet",
    "topics",
    "merged_into",
)
ARTICLE_COLUMNS = (
    "id",
    "title",
    "url",
    "outlet",
    "published_at",
    "fetched_at",
    "story_id",
    "duplicate_of",
    "topics",
)
# The article's time: publication, else fetch (stories and timelines order by it).
ARTICLE_TIME = "COALESCE(published_at, fetched_at)"


def json_strings(text: str | None) -> tuple[str, ...]:
    """A JSON array column (topics, names) as a tuple of strings; () when it is not one."""
    try:
        found = json.loads(text or "[]")
    except ValueError:
        return ()
    return tuple(str(t) for t in found) if isinstance(found, list) else ()


def _story(row: Sequence[Any]) -> Story:
    values = dict(zip(_STORY_COLUMNS, row, strict=True))
    values["topics"] = json_strings(values["topics"])
    return Story(**values)


def article_record(row: Sequence[Any]) -> StoryArticle:
    values = dict(zip(ARTICLE_COLUMNS, row, strict=True))
    values["topics"] = json_strings(values["topics"])
    return StoryArticle(**values)


# --- reading stories ---


def resolve_merged(db: sqlite_utils.Database, story_ids: Iterable[int]) -> dict[int, int]:
    """Each story id → the story that finally absorbed it (itself when never merged).

    The one place `merged_into` chains are followed, at most `MERGE_HOPS` links deep; an id
    with no row maps to itself."""
    out: dict[int, int] = {}
    for chunk in chunked(story_ids):
        rows = db.execute(
            f"""WITH RECURSIVE chain(start, id, next, hops) AS (
                    SELECT id, id, merged_into, 0 FROM stories WHERE id IN ({placeholders(chunk)})
                    UNION ALL
                    SELECT chain.start, s.id, s.merged_into, chain.hops + 1
                    FROM chain JOIN stories s ON s.id = chain.next
                    WHERE chain.hops < ?
                )
                SELECT start, id FROM chain ORDER BY start, hops""",
            [*chunk, MERGE_HOPS],
        ).fetchall()
        for start, sid in rows:
            out[start] = sid  # ordered by hops: the last one written is the end of the chain
        for sid in chunk:
            out.setdefault(sid, sid)
    return out


def _rows_for_ids(db: sqlite_utils.Database, sql: str, ids: Iterable[int]) -> Iterator[tuple]:
    """Rows of `sql` + "(?, ?, …)" for every id, a chunk of ids per query."""
    for chunk in chunked(ids):
        yield from db.execute(f"{sql}({placeholders(chunk)})", chunk).fetchall()


def stories_by_id(db: sqlite_utils.Database, story_ids: Iterable[int]) -> dict[int, Story]:
    sql = f"SELECT {', '.join(_STORY_COLUMNS)} FROM stories WHERE id IN "
    return {r[0]: _story(r) for r in _rows_for_ids(db, sql, story_ids)}


def get_story(db: sqlite_utils.Database, story_id: int) -> Story | None:
    """The story `story_id`, or the one it was merged into; None when there is none."""
    survivor = resolve_merged(db, [story_id])[story_id]
    return stories_by_id(db, [survivor]).get(survivor)


def stories_seen_between(
    db: sqlite_utils.Database, *, since: str, until: str, topic: str | None = None
) -> list[Story]:
    """Stories not merged away whose last article falls in [since, until], by id; with
    `topic`, only stories tagged with it."""
    sql = f"SELECT {', '.join(_STORY_COLUMNS)} FROM stories WHERE merged_into IS NULL "
    sql += "AND last_seen >= ? AND last_seen <= ?"
    params: list[Any] = [since, until]
    if topic:
        sql += " AND EXISTS (SELECT 1 FROM json_each(stories.topics) WHERE value = ?)"
        params.append(topic)
    return [_story(r) for r in db.execute(sql + " ORDER BY id", params).fetchall()]


def story_articles(
    db: sqlite_utils.Database, story_ids: Iterable[int]
) -> dict[int, list[StoryArticle]]:
    """Each story's articles, oldest first (ties by id); every asked id gets a list."""
    ids = list(dict.fromkeys(story_ids))
    out: dict[int, list[StoryArticle]] = {sid: [] for sid in ids}
    for chunk in chunked(ids):
        rows = db.execute(
            f"""SELECT {", ".join(ARTICLE_COLUMNS)} FROM articles
                WHERE story_id IN ({placeholders(chunk)}) ORDER BY {ARTICLE_TIME}, id""",
            chunk,
        ).fetchall()
        for r in rows:
            article = article_record(r)
            out[article.story_id].append(article)
    return out


def articles_by_id(
    db: sqlite_utils.Database, article_ids: Iterable[int]
) -> dict[int, StoryArticle]:
    sql = f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM articles WHERE id IN "
    return {r[0]: article_record(r) for r in _rows_for_ids(db, sql, article_ids)}


# --- analysis: reading what is pending and the active stories ---


def count_pending(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM articles WHERE analyzed_at IS NULL").fetchone()[0]


def pending_article_ids(db: sqlite_utils.Database) -> list[int]:
    """Articles not analysed yet, in stream order: article time, then id."""
    rows = db.execute(
        f"SELECT id FROM articles WHERE analyzed_at IS NULL ORDER BY {ARTICLE_TIME}, id"
    ).fetchall()
    return [r[0] for r in rows]


def pending_articles(db: sqlite_utils.Database, article_ids: Sequence[int]) -> list[PendingArticle]:
    """The articles `article_ids`, in that order (ids with no row are left out)."""
    keys = ("id", "title", "summary", "outlet", "published_at", "fetched_at")
    by_id: dict[int, PendingArticle] = {}
    for chunk in chunked(article_ids):
        rows = db.execute(
            f"SELECT {', '.join(keys)} FROM articles WHERE id IN ({placeholders(chunk)})", chunk
        ).fetchall()
        by_id.update((r[0], PendingArticle(*r)) for r in rows)
    return [by_id[i] for i in article_ids if i in by_id]


def active_stories(
    db: sqlite_utils.Database, *, since: str, model: str, dim: int, member_cap: int | None = None
) -> list[StoryState]:
    """Stories seen since `since` (not merged away) with a vector sum of `model`, by id, each
    with its members (oldest first; with `member_cap`, only that many of the newest, so a story
    of thousands of articles loads no more than that) and their vectors of `model`."""
    rows = db.execute(
        """SELECT s.id, COALESCE(r.title, ''), s.representative_article_id, s.first_seen,
                  s.last_seen, s.article_count, v.vector_sum, v.names
           FROM stories s JOIN story_vectors v ON v.story_id = s.id
           LEFT JOIN articles r ON r.id = s.representative_article_id
           WHERE s.last_seen >= ? AND s.merged_into IS NULL AND v.model = ? AND v.dim = ?
           ORDER BY s.id""",
        [since, model, dim],
    ).fetchall()
    members: dict[int, list[StoryMember]] = {r[0]: [] for r in rows}
    for chunk in chunked(members):
        found = db.execute(
            f"""WITH m AS (
                    SELECT a.story_id, a.id, a.title, a.outlet, a.published_at, a.fetched_at,
                           a.duplicate_of,
                           ROW_NUMBER() OVER (PARTITION BY a.story_id
                               ORDER BY COALESCE(a.published_at, a.fetched_at) DESC, a.id DESC
                           ) AS newest
                    FROM articles a WHERE a.story_id IN ({placeholders(chunk)}))
                SELECT m.story_id, m.id, m.title, m.outlet, m.published_at, m.fetched_at,
                       m.duplicate_of, v.vector
                FROM m LEFT JOIN article_vectors v ON v.article_id = m.id AND v.model = ?
                WHERE m.newest <= ?
                ORDER BY COALESCE(m.published_at, m.fetched_at), m.id""",
            [*chunk, model, member_cap if member_cap is not None else SQLITE_MAX_ROWS],
        ).fetchall()
        for sid, *member, blob in found:
            vector = vectors.decode(blob) if blob is not None else None
            members[sid].append(StoryMember(*member, vector=vector))
    return [
        StoryState(
            id=sid,
            title=title,
            representative_article_id=rep,
            first_seen=first,
            last_seen=last,
            article_count=count,
            vector_sum=vectors.decode(blob),
            names=json.loads(names or "{}"),
            members=tuple(members[sid]),
        )
        for sid, title, rep, first, last, count, blob, names in rows
    ]


# --- analysis: writing ---


def create_story(db: sqlite_utils.Database, *, title: str) -> int:
    """A new, empty story; its id. `save_stories` fills in the rest in the same batch."""
    return db.execute("INSERT INTO stories (title) VALUES (?)", [title]).lastrowid


def save_analyses(
    db: sqlite_utils.Database, analyses: Sequence[ArticleAnalysis], *, model: str
) -> None:
    """Each article's vector, topics (with their scores and the definitions' hash), story,
    near-duplicate and `analyzed_at`, together."""
    with transaction(db):
        vectors.save_article_vectors(db, [(a.id, a.vector) for a in analyses], model=model)
        db.conn.executemany(
            """UPDATE articles SET topics = ?, story_id = ?, duplicate_of = ?, analyzed_at = ?,
                   topic_scores = ?, topics_hash = ?
               WHERE id = ?""",
            [
                (
                    json.dumps(list(a.topics)),
                    a.story_id,
                    a.duplicate_of,
                    a.analyzed_at,
                    json.dumps(a.topic_scores or {}, sort_keys=True),
                    a.topics_hash,
                    a.id,
                )
                for a in analyses
            ],
        )


def save_stories(db: sqlite_utils.Database, updates: Sequence[StoryUpdate], *, model: str) -> None:
    """Each story's columns and its vector sum and name counts, together."""
    with transaction(db):
        db.conn.executemany(
            """UPDATE stories SET title = COALESCE(?, title), representative_article_id = ?,
                   first_seen = ?, last_seen = ?, article_count = ?, outlet_count = ?,
                   first_outlet = ?, topics = ?
               WHERE id = ?""",
            [
                (
                    u.title,
                    u.representative_article_id,
                    u.first_seen,
                    u.last_seen,
                    u.article_count,
                    u.outlet_count,
                    u.first_outlet,
                    json.dumps(list(u.topics)),
                    u.id,
                )
                for u in updates
            ],
        )
        vectors.save_story_vectors(
            db, [(u.id, u.vector_sum, u.names) for u in updates], model=model
        )


def save_story_leads(db: sqlite_utils.Database, leads: Sequence[StoryLead]) -> None:
    """Each story's outlet count, first outlet and China/West lead columns, together with its
    `story_outlets` rows."""
    with transaction(db):
        refresh_story_outlets(db, [x.id for x in leads])
        db.conn.executemany(
            """UPDATE stories SET outlet_count = ?, first_outlet = ?, first_china_outlet = ?,
                   first_china_at = ?, first_west_outlet = ?, first_west_at = ?,
                   lead_hours = ?, china_share = ?, west_share = ?
               WHERE id = ?""",
            [
                (
                    x.outlet_count,
                    x.first_outlet,
                    x.first_china_outlet,
                    x.first_china_at,
                    x.first_west_outlet,
                    x.first_west_at,
                    x.lead_hours,
                    x.china_share,
                    x.west_share,
                    x.id,
                )
                for x in leads
            ],
        )


def refresh_story_outlets(db: sqlite_utils.Database, story_ids: Iterable[int]) -> None:
    """Rewrite these stories' `story_outlets` rows from their articles: one per distinct
    outlet of an original (not syndicated) article, with its country, kind and first report."""
    with transaction(db):
        for chunk in chunked(story_ids):
            marks = placeholders(chunk)
            db.conn.execute(f"DELETE FROM story_outlets WHERE story_id IN ({marks})", chunk)
            db.conn.execute(
                f"""INSERT INTO story_outlets (story_id, outlet, country, kind, first_report)
                    SELECT story_id, outlet, max(outlet_country), max(outlet_kind),
                           min(coalesce(published_at, fetched_at))
                    FROM articles
                    WHERE story_id IN ({marks}) AND duplicate_of IS NULL AND outlet IS NOT NULL
                    GROUP BY story_id, outlet""",
                chunk,
            )


# Per topic and outlet, among live stories with two or more outlets: how many it covered and
# how many it reported first (`stories.first_outlet`). A story under several topics counts in each.
_OUTLET_LEADS = """
    INSERT INTO outlet_leads (topic, outlet, country, kind, led, covered)
    WITH multi AS MATERIALIZED (
      SELECT st.topic, s.id AS story_id, s.first_outlet
      FROM story_topics st JOIN stories s ON s.id = st.story_id
      WHERE s.merged_into IS NULL AND s.outlet_count >= 2
    ),
    covered AS (
      SELECT m.topic, so.outlet, count(*) AS covered, max(so.country) AS country,
             max(so.kind) AS kind
      FROM multi m JOIN story_outlets so ON so.story_id = m.story_id
      GROUP BY m.topic, so.outlet
    ),
    led AS (
      SELECT topic, first_outlet AS outlet, count(*) AS led
      FROM multi WHERE first_outlet IS NOT NULL GROUP BY topic, first_outlet
    )
    SELECT c.topic, c.outlet, c.country, c.kind, coalesce(l.led, 0), c.covered
    FROM covered c LEFT JOIN led l ON l.topic = c.topic AND l.outlet = c.outlet"""


def refresh_outlet_leads(db: sqlite_utils.Database) -> None:
    """Count `outlet_leads` again from the stories as they are now, in one transaction (a
    reader sees the old counts or the new, never none). About 0.3 s at 500k articles."""
    with transaction(db):
        db.conn.execute("DELETE FROM outlet_leads")
        db.conn.execute(_OUTLET_LEADS)


# --- merges ---


def merge_story(db: sqlite_utils.Database, gone: int, into: int) -> int:
    """Record that story `gone` was absorbed by `into` (or the story `into` was merged into):
    `merged_into` set, its articles moved to the survivor, its narrative kept by the survivor
    when that had none. Returns the survivor's id.

    Refused with a StoreError, changing nothing, when `gone` does not exist or was already
    merged, or when the survivor is `gone` itself (the merge would make a cycle)."""
    survivor = resolve_merged(db, [into])[into]
    row = db.execute("SELECT merged_into FROM stories WHERE id = ?", [gone]).fetchone()
    if row is None or not db.execute("SELECT 1 FROM stories WHERE id = ?", [into]).fetchone():
        raise StoreError(f"cannot merge story {gone} into {into}: no such story")
    if row[0] is not None:
        raise StoreError(f"cannot merge story {gone}: it was already merged into {row[0]}")
    if survivor == gone:
        raise StoreError(
            f"cannot merge story {gone} into {into}: {into} was merged into {gone}, so the "
            "merge would make a cycle"
        )
    with transaction(db):
        db.conn.execute("UPDATE stories SET merged_into = ? WHERE id = ?", [survivor, gone])
        db.conn.execute("UPDATE articles SET story_id = ? WHERE story_id = ?", [survivor, gone])
        db.conn.execute(
            """UPDATE stories SET narrative_id = COALESCE(narrative_id,
                   (SELECT narrative_id FROM stories WHERE id = ?))
               WHERE id = ?""",
            [gone, survivor],
        )
        db.conn.execute("DELETE FROM story_vectors WHERE story_id = ?", [gone])
        refresh_story_outlets(db, [gone, survivor])
    return survivor
