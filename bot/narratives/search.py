"""Search the archive by meaning, with full-text search catching exact names.

Vectors are scored by brute force with numpy (50k × 384 floats is ~12 ms). A long-lived
process (the Discord bot) keeps one `VectorMatrix` and refreshes it before each query, so only
new rows are read; a one-off CLI call loads it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlite_utils

from bot.clock import to_iso
from bot.digest.alerts import RELATED_DAYS, related_stories, search_names
from bot.store import search as text_search
from bot.store import stories as story_store
from bot.store.vectors import article_vectors_after

TEXT_BONUS = 0.15  # an exact-word hit lifts a result by this much cosine
_HIT_KEYS = ("id", "title", "url", "outlet", "published_at", "story_id", "topics", "duplicate_of")


class VectorMatrix:
    """All article vectors of one model as one matrix, grown incrementally."""

    def __init__(self, model_id: str, dim: int) -> None:
        self.model_id = model_id
        self.dim = dim
        self.ids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self._max_id = 0

    def refresh(self, db: sqlite_utils.Database) -> None:
        ids, block = article_vectors_after(
            db, model=self.model_id, dim=self.dim, after_id=self._max_id
        )
        if not len(ids):
            return
        self.ids = np.concatenate([self.ids, ids])
        self.matrix = np.vstack([self.matrix, block])
        self._max_id = int(ids[-1])


def search(
    db: sqlite_utils.Database,
    embedder: Any,
    query: str,
    *,
    limit: int = 10,
    matrix: VectorMatrix | None = None,
) -> list[dict]:
    """Best `limit` articles for `query`: cosine to the query, plus a bonus for exact words."""
    query = query.strip()
    if not query or limit <= 0:
        return []
    if matrix is None:
        matrix = VectorMatrix(embedder.model_id, embedder.dim)
    matrix.refresh(db)
    qvec = embedder.encode([query])[0]
    sims = matrix.matrix @ qvec if len(matrix.ids) else np.zeros(0, np.float32)
    pool = max(limit * 3, 30)
    top = np.argsort(-sims)[:pool] if len(sims) else np.zeros(0, int)
    scores: dict[int, float] = {int(matrix.ids[i]): float(sims[i]) for i in top}
    meaning = set(scores)
    text = text_search.articles_with_words(db, query, limit=pool)
    if text:
        positions = np.searchsorted(matrix.ids, text)
        for aid, pos in zip(text, positions, strict=True):
            found = pos < len(matrix.ids) and matrix.ids[pos] == aid
            scores[aid] = (float(sims[pos]) if found else 0.0) + TEXT_BONUS
    best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    if not best:
        return []
    articles = story_store.articles_by_id(db, [aid for aid, _ in best])
    text_set = set(text)
    out = []
    for aid, score in best:
        article = articles.get(aid)
        if article is None:
            continue
        matched = (
            "both"
            if aid in meaning and aid in text_set
            else ("text" if aid in text_set else "meaning")
        )
        hit = {k: getattr(article, k) for k in _HIT_KEYS}
        hit["topics"] = list(article.topics)
        out.append(hit | {"score": round(score, 4), "matched": matched})
    return out


def find_related_stories(
    db: sqlite_utils.Database,
    payload: Mapping[str, Any],
    *,
    now: datetime,
    days: float = RELATED_DAYS,
    limit: int = 5,
) -> list[dict[str, Any]]:
    """The archive's stories of the last `days` naming a share alert's movers, best first.

    Reads the articles naming each mover (`bot.digest.alerts.search_names`) and the stories
    they belong to (after merges); `bot.digest.alerts.related_stories` groups and ranks them.
    """
    start, end = to_iso(now - timedelta(days=days)), to_iso(now)
    matches = {
        name: text_search.articles_naming(db, name, start=start, end=end)
        for name in search_names(payload)
    }
    story_ids = {a.story_id for found in matches.values() for a in found if a.story_id is not None}
    survivors = story_store.resolve_merged(db, story_ids)
    stories = story_store.stories_by_id(db, set(survivors.values()))
    by_article_story = {sid: stories[s] for sid, s in survivors.items() if s in stories}
    return related_stories(payload, matches, by_article_story, limit=limit)
