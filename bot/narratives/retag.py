"""`analyze --retag`: apply the current topic definitions to articles already analysed.

Nothing is embedded again: each article's stored vector and its title and summary are scored
by the current rules. Every article records the fingerprint of the definitions that tagged it
(`articles.topics_hash`), so the work left is always "articles with another fingerprint":
a retag killed half-way resumes where it stopped when run again, and a rerun with nothing
changed does nothing. Each batch writes its articles' tags and the recomputed topics of their
stories in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import sqlite_utils

from bot.models import ArticleTags
from bot.narratives.pipeline import story_topics
from bot.narratives.text import article_text
from bot.narratives.topics import TopicTagger
from bot.store import stories as story_store
from bot.store import topics as store
from bot.store.db import refused_write, transaction

Progress = Callable[[int], None]
DEFAULT_BATCH = 500


def build_tagger(settings: Any, embedder: Any) -> TopicTagger:
    """The current definitions' rules (embeds only the few definition texts)."""
    encode = getattr(embedder, "encode_memo", embedder.encode)
    return TopicTagger.build(settings.topics, encode, embedder.model_id)


def count_to_retag(db: sqlite_utils.Database, tagger: TopicTagger, embedder: Any) -> int:
    return store.count_to_retag(
        db, topics_hash=tagger.fingerprint or "", model=embedder.model_id, dim=embedder.dim
    )


def retag_archive(
    db: sqlite_utils.Database,
    tagger: TopicTagger,
    embedder: Any,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Retag every analysed article tagged under other definitions, a batch per transaction,
    and recompute the topics of the stories they belong to. Returns counts: retagged, stories
    (story updates written), no_vector (articles this model has no vector for, left alone).

    `embedder` only names the model and dimension whose stored vectors are used."""
    fingerprint = tagger.fingerprint
    if not fingerprint:
        raise ValueError("retag needs a tagger built from settings (it has no fingerprint)")
    model, dim = embedder.model_id, embedder.dim
    topic_ids = tagger.topic_ids
    result = {"retagged": 0, "stories": 0, "no_vector": 0}
    after = 0
    while True:
        rows = store.articles_to_retag(
            db, topics_hash=fingerprint, model=model, dim=dim, after_id=after, limit=batch_size
        )
        if not rows:
            break
        texts = [article_text(r.title, r.summary) for r in rows]
        tags, scores = tagger.tag_scored(np.stack([r.vector for r in rows]), texts)
        batch = {r.id: ArticleTags(tuple(t), s) for r, t, s in zip(rows, tags, scores, strict=True)}
        story_ids = sorted({r.story_id for r in rows if r.story_id is not None})
        what = f"retagging articles {rows[0].id}-{rows[-1].id}"
        with refused_write(what), transaction(db):
            store.save_article_tags(db, batch, topics_hash=fingerprint)
            by_story = store.article_tags_by_story(db, story_ids)
            store.save_story_topics(
                db, {sid: story_topics(arts, topic_ids) for sid, arts in by_story.items()}
            )
        after = rows[-1].id
        result["retagged"] += len(rows)
        result["stories"] += len(story_ids)
        if progress is not None:
            progress(len(rows))
    result["no_vector"] = store.count_without_vector(db, model=model, dim=dim)
    if result["stories"]:
        with refused_write("who reported first, per topic"):
            story_store.refresh_outlet_leads(db)
    return result
