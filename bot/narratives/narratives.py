"""Narratives in the archive: linking the stories `analyze` touched (`link_touched`), and
reading narratives back (`list_narratives`, `narrative_detail`, `story_narratives`).

The decisions are `bot.narratives.threads`' (pure); this module reads and writes through
`bot.store.narratives`. A narrative's row is recomputed from its live stories whenever one of
them changes, joins, or is merged away, so its counts and span never go stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import sqlite_utils

from bot.clock import to_iso
from bot.models import ArticleAnalysis, Narrative
from bot.narratives.threads import (
    DEFAULT_RULE,
    ThreadIndex,
    ThreadRule,
    momentum,
    momentum_since,
    summarise,
)
from bot.store import narratives as store
from bot.store import stories as story_store


def rule_from_settings(settings: Any) -> ThreadRule | None:
    """The linking rule, or None when `narratives.enabled` is false."""
    config = getattr(settings, "narratives", None)
    if config is not None and not config.enabled:
        return None
    threshold = getattr(config, "threshold", None)
    return DEFAULT_RULE if threshold is None else ThreadRule(float(threshold))


def load_thread_index(db: sqlite_utils.Database, *, model: str, dim: int) -> ThreadIndex:
    """Every live story's centroid and narrative: what a new story may link to."""
    index = ThreadIndex(dim)
    found = store.story_centroids(db, model=model, dim=dim)
    sums = np.stack([c.vector_sum for c in found]) if found else np.zeros((0, dim), np.float32)
    index.load([c.story_id for c in found], sums, [c.narrative_id for c in found])
    return index


def link_touched(
    db: sqlite_utils.Database,
    index: ThreadIndex,
    rule: ThreadRule,
    touched: Mapping[int, Any],
    merges: Sequence[tuple[int, int]],
    *,
    topic_ids: Sequence[str],
    now: datetime,
) -> int:
    """After a batch: forget stories merged away, update the touched stories' centroids, link
    those without a narrative, and recompute every narrative they belong to. `touched` maps
    story id -> an object with `vector_sum`; `merges` are (absorbed, survivor) ids, already
    recorded. Runs inside the batch's transaction. Returns the number of new links."""
    affected: set[int] = set()
    merged_ids = [i for pair in merges for i in pair]
    before = store.narratives_of(db, [*touched, *merged_ids])
    affected.update(before.values())
    for gone, survivor in merges:
        index.remove(gone)
        if survivor in before:
            index.assign([survivor], before[survivor])
    for story_id in sorted(touched):
        index.put(story_id, touched[story_id].vector_sum, before.get(story_id))
    stamp = to_iso(now)
    links = 0
    for story_id, partner, narrative_id in index.link_all(sorted(touched), rule):
        if narrative_id is None:
            narrative_id = store.create_narrative(db, now=stamp)
            store.link_stories(db, [partner], narrative_id)
            index.assign([partner], narrative_id)
        store.link_stories(db, [story_id], narrative_id)
        index.assign([story_id], narrative_id)
        affected.add(narrative_id)
        links += 1
    refresh(db, affected, topic_ids=topic_ids)
    return links


def refresh(
    db: sqlite_utils.Database, narrative_ids: Iterable[int], *, topic_ids: Sequence[str] = ()
) -> None:
    """Recompute the rows of `narrative_ids` from their live stories."""
    members = store.narrative_stories(db, narrative_ids)
    store.save_narratives(db, {nid: summarise(s, topic_ids) for nid, s in members.items()})


# --- reading ---


def narrative_summary(n: Narrative, counts: tuple[int, int]) -> dict:
    """A narrative as `narratives --json` lists it: the table's columns plus momentum."""
    return {
        "id": n.id,
        "title": n.title,
        "first_story_id": n.first_story_id,
        "first_seen": n.first_seen,
        "last_seen": n.last_seen,
        "story_count": n.story_count,
        "article_count": n.article_count,
        "topics": list(n.topics),
        "names": list(n.names),
        "momentum": momentum(*counts),
    }


def list_narratives(
    db: sqlite_utils.Database,
    *,
    now: datetime,
    topic: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Narratives of two or more stories, most recently active first."""
    found = store.list_narratives(db, topic=topic)
    if limit:
        found = found[:limit]
    counts = store.article_counts_since(db, [n.id for n in found], to_iso(momentum_since(now)))
    return [narrative_summary(n, counts[n.id]) for n in found]


def narrative_detail(db: sqlite_utils.Database, narrative_id: int, *, now: datetime) -> dict | None:
    """One narrative with its timeline: its live stories, oldest first."""
    n = store.get_narrative(db, narrative_id)
    if n is None:
        return None
    counts = store.article_counts_since(db, [n.id], to_iso(momentum_since(now)))
    doc = narrative_summary(n, counts[n.id])
    stories = store.narrative_stories(db, [n.id])[n.id]
    doc["stories"] = [
        {
            "id": s.id,
            "title": s.title,
            "first_seen": s.first_seen,
            "last_seen": s.last_seen,
            "article_count": s.article_count,
            "outlet_count": s.outlet_count,
            "topics": list(s.topics),
        }
        for s in stories
    ]
    return doc


def story_narratives(db: sqlite_utils.Database, story_ids: Iterable[int]) -> dict[int, dict]:
    """For each story in a narrative: the narrative's id, title, story count, first seen, the
    story's place in it (1 = first) — what `story --json` and the digest show."""
    of = store.narratives_of(db, story_ids)
    if not of:
        return {}
    found = store.narratives_by_id(db, of.values())
    members = store.narrative_stories(db, found)
    out = {}
    for story_id, nid in of.items():
        n = found.get(nid)
        order = [s.id for s in members.get(nid, [])]
        if n is None or story_id not in order or n.story_count < 2:
            continue
        out[story_id] = {
            "id": n.id,
            "title": n.title,
            "story_count": n.story_count,
            "position": order.index(story_id) + 1,
            "first_seen": n.first_seen,
            "names": list(n.names),
        }
    return out


def story_narrative(db: sqlite_utils.Database, story_id: int) -> dict | None:
    survivor = story_store.resolve_merged(db, [story_id])[story_id]
    return story_narratives(db, [survivor]).get(survivor)


class Narrator:
    """The analyze step's narrative work for one run: the thread index, loaded once."""

    def __init__(self, index: ThreadIndex, rule: ThreadRule) -> None:
        self.index, self.rule = index, rule
        self.links = 0

    @classmethod
    def start(
        cls, db: sqlite_utils.Database, settings: Any, *, model: str, dim: int
    ) -> Narrator | None:
        rule = rule_from_settings(settings)
        if rule is None:
            return None
        return cls(load_thread_index(db, model=model, dim=dim), rule)

    def after_batch(
        self,
        db: sqlite_utils.Database,
        touched: Mapping[int, Any],
        merges: Sequence[tuple[int, int]],
        *,
        topic_ids: Sequence[str],
        now: datetime,
    ) -> None:
        self.links += link_touched(
            db, self.index, self.rule, touched, merges, topic_ids=topic_ids, now=now
        )


def follow_merges(
    analyses: Sequence[ArticleAnalysis], merges: Sequence[tuple[int, int]]
) -> list[ArticleAnalysis]:
    """Analyses with each story id replaced by the story it was merged into (chains followed)."""
    into = dict(merges)
    if not into:
        return list(analyses)

    def survivor(story_id: int) -> int:
        seen = set()
        while story_id in into and story_id not in seen:
            seen.add(story_id)
            story_id = into[story_id]
        return story_id

    return [replace(a, story_id=survivor(a.story_id)) for a in analyses]
