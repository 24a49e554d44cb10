"""Embedding vectors: one float32 blob per article (`article_vectors`) and per story's running
sum (`story_vectors`), each stored with the model that made it so vectors of different models
are never mixed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import sqlite_utils

from bot.store.db import transaction


def encode(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def decode(blob: bytes) -> np.ndarray:
    """A stored vector as a writable float32 array."""
    return np.frombuffer(blob, dtype=np.float32).copy()


def save_article_vectors(
    db: sqlite_utils.Database, vectors: Sequence[tuple[int, np.ndarray]], *, model: str
) -> None:
    """Store (article id, vector) pairs, replacing an article's earlier vector."""
    with transaction(db):
        db.conn.executemany(
            """INSERT OR REPLACE INTO article_vectors (article_id, model, dim, vector)
               VALUES (?, ?, ?, ?)""",
            [(aid, model, len(vec), encode(vec)) for aid, vec in vectors],
        )


def save_story_vectors(
    db: sqlite_utils.Database,
    sums: Sequence[tuple[int, np.ndarray, Mapping[str, int]]],
    *,
    model: str,
) -> None:
    """Store each story's (id, vector sum, name counts), replacing the previous state."""
    with transaction(db):
        db.conn.executemany(
            """INSERT INTO story_vectors (story_id, model, dim, vector_sum, names)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT(story_id) DO UPDATE SET model = excluded.model, dim = excluded.dim,
                   vector_sum = excluded.vector_sum, names = excluded.names""",
            [
                (sid, model, len(vec), encode(vec), json.dumps(dict(names), sort_keys=True))
                for sid, vec, names in sums
            ],
        )


def article_vectors_after(
    db: sqlite_utils.Database, *, model: str, dim: int, after_id: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Article ids above `after_id` with a vector of `model`, ascending, and their vectors as
    one (n, dim) float32 matrix."""
    rows = db.execute(
        """SELECT article_id, vector FROM article_vectors
           WHERE article_id > ? AND model = ? AND dim = ? ORDER BY article_id""",
        [after_id, model, dim],
    ).fetchall()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    block = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
    return ids, block.reshape(len(rows), dim)
