"""Narratives: stories linked into one actor's continuing thread on one subject. Pure logic.

A story with no narrative is compared with every live story of the archive, of any age (a
thread runs for months: Nvidia's China chip sales went from an April ban to a December
approval), by the cosine of their centroids. If the closest one reaches `ThreadRule.threshold`
the story joins that story's narrative, or the two start one. On the labelled threads every
same-thread pair of stories has centroids within 0.70–0.95 and every pair across threads or with
a lone story (Nvidia's valuation, Huawei's roadmap, the Dutch seizure of Nexperia) is below
0.72: the cosine of two whole stories says "same actor, same subject" far more reliably than
names, which miss governments ("China" is on every article of the beat).

Links are made once and kept, so a narrative's id and its stories stay stable; a story that
had none is looked at again each time it grows. Matching on the closest single story (not a
narrative's average) lets a thread move on — from the ban to the resumption to the halt —
while each link is still between two close stories.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from bot.models import NarrativeStory, NarrativeUpdate


@dataclass(frozen=True)
class ThreadRule:
    threshold: float  # centroid cosine of two stories of one narrative


# Fitted on the labelled threads of the dev set (benchmarks/quality.py, leave-one-thread-out);
# `narratives.threshold` in feeds.yaml overrides it.
DEFAULT_RULE = ThreadRule(threshold=0.72)


class ThreadIndex:
    """The centroid of every live story (id order), with the narrative each belongs to."""

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        self._centroids = np.zeros((capacity, dim), np.float32)
        self._ids = np.full(capacity, -1, dtype=np.int64)
        self._row: dict[int, int] = {}
        self.narrative: dict[int, int] = {}  # story id -> narrative id

    def __len__(self) -> int:
        return len(self._row)

    def put(self, story_id: int, vector_sum: np.ndarray, narrative_id: int | None = None) -> None:
        """Add a story or replace its centroid (from its vector sum)."""
        row = self._row.get(story_id)
        if row is None:
            row = len(self._row)
            if row >= len(self._ids):
                self._centroids = np.vstack([self._centroids, np.zeros_like(self._centroids)])
                self._ids = np.concatenate([self._ids, np.full(len(self._ids), -1, np.int64)])
            self._row[story_id] = row
            self._ids[row] = story_id
        norm = float(np.linalg.norm(vector_sum)) or 1.0
        self._centroids[row] = np.asarray(vector_sum, np.float32) / norm
        if narrative_id is not None:
            self.narrative[story_id] = narrative_id

    def load(self, story_ids: Sequence[int], vector_sums: np.ndarray, narratives) -> None:
        """Many stories at once (an empty index): ids, their vector sums as rows, and each one's
        narrative or None."""
        n = len(story_ids)
        capacity = max(len(self._ids), 1)
        while capacity < n:
            capacity *= 2
        self._centroids = np.zeros((capacity, self.dim), np.float32)
        self._ids = np.full(capacity, -1, dtype=np.int64)
        if n:
            sums = np.asarray(vector_sums, np.float32)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            self._centroids[:n] = sums / norms
            self._ids[:n] = story_ids
        self._row = {int(s): k for k, s in enumerate(story_ids)}
        self.narrative = {int(s): int(g) for s, g in zip(story_ids, narratives, strict=True) if g}

    def remove(self, story_id: int) -> None:
        """A story merged away: never a candidate again."""
        row = self._row.get(story_id)
        if row is not None:
            self._centroids[row] = 0.0
            self._ids[row] = -1
        self.narrative.pop(story_id, None)

    def link_all(
        self, story_ids: Sequence[int], rule: ThreadRule
    ) -> Iterator[tuple[int, int, int | None]]:
        """For each story of `story_ids` with no narrative, in that order: (story, closest live
        story, that story's narrative or None) when their cosine reaches `rule.threshold`.

        A generator: the caller records each link (`assign`) before taking the next, so a story
        whose partner was linked a moment ago joins the same narrative. The cosines come from
        one matrix product."""
        queries = [s for s in story_ids if s not in self.narrative and s in self._row]
        n = len(self._row)
        if not queries or n < 2:
            return
        rows = np.array([self._row[s] for s in queries])
        sims = self._centroids[:n] @ self._centroids[rows].T  # (n, queries)
        sims[self._ids[:n] < 0] = -np.inf
        sims[rows, np.arange(len(rows))] = -np.inf
        best = np.argmax(sims, axis=0)  # lowest row (= oldest story) on a tie
        for q, (story_id, row) in enumerate(zip(queries, best, strict=True)):
            if story_id in self.narrative or sims[row, q] < rule.threshold:
                continue
            partner = int(self._ids[row])
            yield story_id, partner, self.narrative.get(partner)

    def assign(self, story_ids: Iterable[int], narrative_id: int) -> None:
        for story_id in story_ids:
            self.narrative[story_id] = narrative_id


def summarise(stories: Sequence[NarrativeStory], topic_ids: Iterable[str] = ()) -> NarrativeUpdate:
    """A narrative's row from its live stories: named after its first story; the topics and the
    names (up to three) carried by at least half of them."""
    ordered = sorted(stories, key=lambda s: (s.first_seen or "", s.id))
    if not ordered:
        return NarrativeUpdate("", None, None, None, 0, 0, (), ())
    half = len(ordered) / 2
    topic_counts = Counter(t for s in ordered for t in s.topics)
    order = {t: i for i, t in enumerate(topic_ids)}
    topics = sorted(
        (t for t, c in topic_counts.items() if c >= half),
        key=lambda t: (-topic_counts[t], order.get(t, len(order)), t),
    )
    name_counts = Counter(n for s in ordered for n in s.names)
    weight = Counter()
    for s in ordered:
        weight.update(s.names)
    names = sorted(
        (n for n, c in name_counts.items() if c >= max(half, 2 if len(ordered) > 1 else 1)),
        key=lambda n: (-name_counts[n], -weight[n], n),
    )[:3]
    lasts = [s.last_seen for s in ordered if s.last_seen]
    return NarrativeUpdate(
        title=ordered[0].title,
        first_story_id=ordered[0].id,
        first_seen=ordered[0].first_seen,
        last_seen=max(lasts) if lasts else None,
        story_count=len(ordered),
        article_count=sum(s.article_count for s in ordered),
        topics=tuple(topics),
        names=tuple(names),
    )


def momentum(recent_articles: int, earlier_articles: int) -> float:
    """Articles of the last 7 days over (1 + articles before): a thread back in the news scores
    high, one quiet for a week scores 0."""
    return round(recent_articles / (1 + earlier_articles), 3)


MOMENTUM_DAYS = 7


def momentum_since(now: datetime) -> datetime:
    return now - timedelta(days=MOMENTUM_DAYS)
