"""What the breaking-story check reads and writes: recent dated reports, merge families, and
story alerts in the outbox.

A story alert is a `deliveries` row of kind 'story_alert' keyed by the story id. The check that
no story of the family was alerted yet, the day's cap and the enqueue are one transaction, so
two processes checking at once still queue one alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlite_utils

from bot.models import DatedReport, StoryActivity
from bot.store.db import chunked, refused_write, transaction
from bot.store.outbox import enqueue
from bot.store.stories import MERGE_HOPS

STORY_ALERT = "story_alert"


# Original articles (no `duplicate_of`) with an outlet and a story, published in (since, until].
# Undated articles are left out: their fetch time says when we saw them, not when news broke.
_REPORTED = """published_at > ? AND published_at <= ? AND story_id IS NOT NULL
               AND duplicate_of IS NULL AND outlet IS NOT NULL AND trim(outlet) != ''"""


def story_activity(
    db: sqlite_utils.Database, *, since: str, until: str, min_names: int, recent: str
) -> list[StoryActivity]:
    """Stories with reports in (since, until] that may be breaking, with their `merged_into`:
    each one's count of distinct outlet names as stored (never fewer than its distinct
    outlets, however spelled) and its newest report. Left out are stories that cannot break
    on their own — fewer than `min_names` names, or nothing reported since `recent` — unless
    merges join them with others (a story merged away, or one others were merged into).

    Read from the partial index `articles_reports` alone (left to itself SQLite walks the
    duplicate_of index for "IS NULL", nearly every article: ~66 ms instead of ~1.5 ms at 100k)."""
    rows = db.execute(
        f"""SELECT g.story_id, s.merged_into, g.names, g.last
            FROM (SELECT story_id, count(DISTINCT outlet) AS names, max(published_at) AS last
                  FROM articles INDEXED BY articles_reports WHERE {_REPORTED}
                  GROUP BY story_id) AS g
            JOIN stories s ON s.id = g.story_id
            WHERE (g.names >= ? AND g.last >= ?) OR s.merged_into IS NOT NULL
               OR EXISTS (SELECT 1 FROM stories m WHERE m.merged_into = g.story_id)""",
        [since, until, min_names, recent],
    ).fetchall()
    return [StoryActivity(*r) for r in rows]


def on_topics(
    db: sqlite_utils.Database, story_ids: Iterable[int], topics: Iterable[str]
) -> set[int]:
    """Which of `story_ids` are live stories (not merged away) tagged with one of `topics`."""
    wanted = list(dict.fromkeys(topics))
    if not wanted:
        return set()
    found: set[int] = set()
    for chunk in chunked(story_ids):
        rows = db.execute(
            f"""SELECT id FROM stories
                WHERE id IN ({",".join("?" * len(chunk))}) AND merged_into IS NULL
                  AND EXISTS (SELECT 1 FROM json_each(stories.topics)
                              WHERE value IN ({",".join("?" * len(wanted))}))""",
            [*chunk, *wanted],
        ).fetchall()
        found.update(r[0] for r in rows)
    return found


def dated_reports(
    db: sqlite_utils.Database, story_ids: Iterable[int], *, since: str, until: str
) -> list[DatedReport]:
    """The reports of these stories in (since, until], oldest first."""
    out: list[DatedReport] = []
    for chunk in chunked(story_ids):
        rows = db.execute(
            f"""SELECT story_id, id, outlet, published_at FROM articles INDEXED BY
                    articles_story_id
                WHERE {_REPORTED} AND story_id IN ({",".join("?" * len(chunk))})""",
            [since, until, *chunk],
        ).fetchall()
        out.extend(DatedReport(*r) for r in rows)
    out.sort(key=lambda r: (r.published_at, r.article_id))
    return out


def merge_families(db: sqlite_utils.Database, story_ids: Iterable[int]) -> dict[int, set[int]]:
    """Each story id → itself and every story merged into it (however many links back)."""
    out: dict[int, set[int]] = {}
    for chunk in chunked(story_ids):
        rows = db.execute(
            f"""WITH RECURSIVE family(root, id, hops) AS (
                    SELECT id, id, 0 FROM stories WHERE id IN ({",".join("?" * len(chunk))})
                    UNION ALL
                    SELECT family.root, s.id, family.hops + 1
                    FROM stories s JOIN family ON s.merged_into = family.id
                    WHERE s.merged_into IS NOT NULL AND family.hops < ?
                )
                SELECT root, id FROM family""",
            [*chunk, MERGE_HOPS],
        ).fetchall()
        for root, sid in rows:
            out.setdefault(root, set()).add(sid)
        for sid in chunk:
            out.setdefault(sid, {sid})
    return out


def alerted(db: sqlite_utils.Database, story_ids: Iterable[int]) -> set[int]:
    """Which of `story_ids` already have a story alert in the outbox (any destination or
    status: a failed alert was still the story's one alert)."""
    found: set[int] = set()
    for chunk in chunked(str(s) for s in story_ids):
        rows = db.execute(
            f"""SELECT DISTINCT key FROM deliveries
                WHERE kind = ? AND key IN ({",".join("?" * len(chunk))})""",
            [STORY_ALERT, *chunk],
        ).fetchall()
        found.update(int(r[0]) for r in rows)
    return found


def alerts_between(db: sqlite_utils.Database, *, since: str, until: str) -> int:
    """Story alerts queued in [since, until)."""
    return db.execute(
        "SELECT count(*) FROM deliveries WHERE kind = ? AND created_at >= ? AND created_at < ?",
        [STORY_ALERT, since, until],
    ).fetchone()[0]


def enqueue_story_alert(
    db: sqlite_utils.Database,
    *,
    story_id: int,
    family: Iterable[int],
    destination: str,
    payload: Mapping[str, Any],
    now: datetime,
    day: tuple[str, str],
    max_per_day: int,
) -> tuple[int | None, str]:
    """Queue the alert for `story_id` unless a story of its merge `family` was alerted already
    or `max_per_day` alerts were queued in `day` ([start, end) ISO times). Returns (delivery id
    or None, 'queued' | 'already alerted' | 'daily cap')."""
    ids = {story_id, *family}
    with refused_write(f"queuing the breaking-story alert for story {story_id}"), transaction(db):
        if alerted(db, ids):
            return None, "already alerted"
        if alerts_between(db, since=day[0], until=day[1]) >= max_per_day:
            return None, "daily cap"
        delivery = enqueue(
            db,
            kind=STORY_ALERT,
            key=str(story_id),
            destination=destination,
            payload=dict(payload),
            now=now,
        )
    return delivery, "queued" if delivery is not None else "already alerted"
