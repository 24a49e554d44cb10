"""Search the archive by meaning, with full-text search catching exact names.

Vectors are scored by brute force with numpy (50k × 384 floats is ~12 ms). A long-lived
process (the Discord bot) keeps one `VectorMatrix` and refreshes it before each query, so only
new rows are read; a one-off CLI call loads it once.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

TEXT_BONUS = 0.15  # an exact-word hit lifts a result by this much cosine
_WORD = re.compile(r"\w+", re.UNICODE)


class VectorMatrix:
    """All article vectors of one model as one matrix, grown incrementally."""

    def __init__(self, model_id: str, dim: int) -> None:
        self.model_id = model_id
        self.dim = dim
        self.ids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self._max_id = 0

    def refresh(self, db: Any) -> None:
        rows = db.execute(
            """SELECT article_id, vector FROM article_vectors
               WHERE article_id > ? AND model = ? AND dim = ? ORDER BY article_id""",
            [self._max_id, self.model_id, self.dim],
        ).fetchall()
        if not rows:
            return
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        block = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        self.ids = np.concatenate([self.ids, ids])
        self.matrix = np.vstack([self.matrix, block.reshape(len(rows), self.dim)])
        self._max_id = int(ids[-1])


def fts_query(query: str) -> str:
    """Every word quoted, so user input can never be FTS syntax (AND of the words)."""
    return " ".join(f'"{w}"' for w in _WORD.findall(query))


def _text_hits(db: Any, query: str, limit: int) -> list[int]:
    match = fts_query(query)
    if not match:
        return []
    # Newest matches first: FTS5 walks rowids in order without scoring every match, so a
    # common word costs the same as a rare name; the semantic score then ranks them.
    rows = db.execute(
        "SELECT rowid FROM articles_fts WHERE articles_fts MATCH ? ORDER BY rowid DESC LIMIT ?",
        [match, limit],
    ).fetchall()
    return [r[0] for r in rows]


def search(
    db: Any,
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
    text = _text_hits(db, query, pool)
    if text:
        positions = np.searchsorted(matrix.ids, text)
        for aid, pos in zip(text, positions, strict=True):
            found = pos < len(matrix.ids) and matrix.ids[pos] == aid
            scores[aid] = (float(sims[pos]) if found else 0.0) + TEXT_BONUS
    best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    if not best:
        return []
    ids = [aid for aid, _ in best]
    rows = db.execute(
        f"""SELECT id, title, url, outlet, published_at, story_id, topics, duplicate_of
            FROM articles WHERE id IN ({",".join("?" * len(ids))})""",
        ids,
    ).fetchall()
    by_id = {r[0]: r for r in rows}
    text_set = set(text)
    out = []
    for aid, score in best:
        r = by_id.get(aid)
        if r is None:
            continue
        matched = (
            "both"
            if aid in meaning and aid in text_set
            else ("text" if aid in text_set else "meaning")
        )
        out.append(
            {
                "id": r[0],
                "title": r[1],
                "url": r[2],
                "outlet": r[3],
                "published_at": r[4],
                "story_id": r[5],
                "topics": json.loads(r[6] or "[]"),
                "duplicate_of": r[7],
                "score": round(score, 4),
                "matched": matched,
            }
        )
    return out
