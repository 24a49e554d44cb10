"""`analyze_pending`: embed, tag and cluster every article not analysed yet.

Synchronous and CPU-bound: async callers run it with `asyncio.to_thread`. Work goes in
batches; each batch commits its vectors, tags, story assignments, story rows and the
articles' `analyzed_at` in one transaction, so a crash loses at most the batch in flight and a
rerun picks up exactly the articles that were not committed (nothing counted twice).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bot.clock import parse_iso, to_iso
from bot.narratives.cluster import DAY, ActiveStory, StoryIndex, params_from_settings
from bot.narratives.text import article_text, clean, names, normalise_title
from bot.narratives.topics import TopicTagger

Progress = Callable[[int], None]


_ROW_KEYS = ("id", "title", "summary", "outlet", "published_at", "fetched_at")


def _pending_ids(db: Any) -> list[int]:
    # Stream order: publication time (fetch time when the feed gave none), then id.
    rows = db.execute(
        """SELECT id FROM articles WHERE analyzed_at IS NULL
           ORDER BY COALESCE(published_at, fetched_at), id"""
    ).fetchall()
    return [r[0] for r in rows]


def _rows(db: Any, ids: list[int]) -> list[dict]:
    found = db.execute(
        f"SELECT {', '.join(_ROW_KEYS)} FROM articles WHERE id IN ({','.join('?' * len(ids))})",
        ids,
    ).fetchall()
    by_id = {r[0]: dict(zip(_ROW_KEYS, r, strict=True)) for r in found}
    return [by_id[i] for i in ids if i in by_id]


def _texts(rows: list[dict]) -> list[str]:
    return [article_text(r["title"], r["summary"]) for r in rows]


def count_pending(db: Any) -> int:
    return db.execute("SELECT count(*) FROM articles WHERE analyzed_at IS NULL").fetchone()[0]


def _when(row: dict, now: datetime) -> datetime:
    return parse_iso(row["published_at"]) or parse_iso(row["fetched_at"]) or now


def load_active(db: Any, index: StoryIndex, model_id: str, since: datetime) -> None:
    """Put the archive's stories seen since `since` back into the index."""
    stories = db.execute(
        """SELECT s.id, COALESCE(r.title, ''), s.representative_article_id, s.first_seen,
                  s.last_seen, s.article_count, v.vector_sum, v.names
           FROM stories s JOIN story_vectors v ON v.story_id = s.id
           LEFT JOIN articles r ON r.id = s.representative_article_id
           WHERE s.last_seen >= ? AND s.merged_into IS NULL AND v.model = ? AND v.dim = ?
           ORDER BY s.id""",
        [to_iso(since), model_id, index.dim],
    ).fetchall()
    for sid, title, rep, first, last, count, blob, names_json in stories:
        story = ActiveStory(
            story_id=sid,
            vector_sum=np.frombuffer(blob, dtype=np.float32).copy(),
            first_seen=parse_iso(first).timestamp(),
            last_seen=parse_iso(last).timestamp(),
            names=Counter(json.loads(names_json)),
            article_count=count,
            title_article=rep,
            # Empty when the story is still named by a summary snippet: a headline may take over.
            title=clean(title, 300),
        )
        members = db.execute(
            """SELECT a.id, a.title, a.outlet, COALESCE(a.published_at, a.fetched_at),
                      a.duplicate_of, v.vector
               FROM articles a LEFT JOIN article_vectors v ON v.article_id = a.id AND v.model = ?
               WHERE a.story_id = ? ORDER BY COALESCE(a.published_at, a.fetched_at), a.id""",
            [model_id, sid],
        ).fetchall()
        titles = {}
        for aid, atitle, outlet, when, dup, vec in members:
            t = parse_iso(when).timestamp() if when else story.first_seen
            if outlet:
                story.outlets[outlet] = min(story.outlets.get(outlet, t), t)
            if vec is not None:
                story.members.append((aid, np.frombuffer(vec, dtype=np.float32), t, dup))
            key = normalise_title(atitle)
            if key:
                titles.setdefault(key, dup or aid)
        index.add_story(story, titles)


def _story_topics(db: Any, story_id: int, topic_ids: list[str]) -> list[str]:
    """Topics carried by at least half of the story's articles, in configuration order."""
    rows = db.execute("SELECT topics FROM articles WHERE story_id = ?", [story_id]).fetchall()
    counts = Counter(t for (topics,) in rows for t in json.loads(topics or "[]"))
    return [t for t in topic_ids if counts[t] * 2 >= max(len(rows), 1) and counts[t]]


def _write_story(db: Any, story: ActiveStory, model_id: str, topic_ids: list[str]) -> None:
    if story.title:
        db.execute("UPDATE stories SET title = ? WHERE id = ?", [story.title, story.story_id])
    row = {
        "representative_article_id": story.title_article,
        "first_seen": to_iso(datetime.fromtimestamp(story.first_seen, tz=UTC)),
        "last_seen": to_iso(datetime.fromtimestamp(story.last_seen, tz=UTC)),
        "article_count": story.article_count,
        "outlet_count": len(story.outlets),
        "first_outlet": story.first_outlet,
    }
    db.execute(
        f"UPDATE stories SET {', '.join(f'{k} = ?' for k in row)} WHERE id = ?",
        [*row.values(), story.story_id],
    )
    db.execute(
        "UPDATE stories SET topics = ? WHERE id = ?",
        [json.dumps(_story_topics(db, story.story_id, topic_ids)), story.story_id],
    )
    db.execute(
        """INSERT INTO story_vectors (story_id, model, dim, vector_sum, names)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(story_id) DO UPDATE SET model = excluded.model, dim = excluded.dim,
               vector_sum = excluded.vector_sum, names = excluded.names""",
        [
            story.story_id,
            model_id,
            len(story.vector_sum),
            story.vector_sum.astype(np.float32).tobytes(),
            json.dumps(dict(story.names), sort_keys=True),
        ],
    )


def _process_batch(
    db: Any,
    index: StoryIndex,
    tagger: TopicTagger,
    model_id: str,
    batch: list[dict],
    texts: list[str],
    vectors: np.ndarray,
    now: datetime,
) -> tuple[int, int]:
    tags = tagger.tag(vectors, texts)
    new_stories = 0
    touched: dict[int, ActiveStory] = {}
    vector_rows: list[tuple] = []
    article_rows: list[tuple] = []
    stamp = to_iso(now)
    with db.conn:
        for row, text, vector, topics in zip(batch, texts, vectors, tags, strict=True):
            when = _when(row, now)
            index.expire(when.timestamp())
            title = clean(row["title"], 300)
            a = index.assign(
                row["id"],
                vector,
                when.timestamp(),
                names(text),
                row["outlet"],
                title,
                normalise_title(row["title"]),
            )
            story = index.stories[a.slot]
            if a.is_new:
                # Until an article with a headline joins, the story is named by a summary snippet.
                snippet = title or clean(row["summary"], 120)
                cur = db.execute("INSERT INTO stories (title) VALUES (?)", [snippet])
                story.story_id = cur.lastrowid
                new_stories += 1
            vector_rows.append(
                (row["id"], model_id, len(vector), vector.astype(np.float32).tobytes())
            )
            article_rows.append(
                (json.dumps(topics), story.story_id, a.duplicate_of, stamp, row["id"])
            )
            touched[story.story_id] = story
        db.conn.executemany(
            """INSERT OR REPLACE INTO article_vectors (article_id, model, dim, vector)
               VALUES (?, ?, ?, ?)""",
            vector_rows,
        )
        db.conn.executemany(
            """UPDATE articles SET topics = ?, story_id = ?, duplicate_of = ?, analyzed_at = ?
               WHERE id = ?""",
            article_rows,
        )
        topic_ids = [r.topic_id for r in tagger.rules]
        for story in touched.values():
            _write_story(db, story, model_id, topic_ids)
    return len(batch), new_stories


def analyze_pending(
    db: Any,
    settings: Any,
    embedder: Any,
    *,
    now: datetime,
    progress: Progress | None = None,
    tagger: TopicTagger | None = None,
    batch_size: int | None = None,
    embed_batches: int = 8,
) -> dict:
    """Analyse every article with `analyzed_at` NULL. Returns counts for logs and job_runs.

    `progress(n)` is called after each committed batch with the number of articles in it.
    """
    params = params_from_settings(settings.stories, embedder.model_id)
    batch_size = batch_size or settings.model.batch_size
    ids = _pending_ids(db)
    result = {"analyzed": 0, "new_stories": 0, "pending_before": len(ids)}
    if not ids:
        return result
    if tagger is None:
        encode = getattr(embedder, "encode_memo", embedder.encode)
        tagger = TopicTagger.build(settings.topics, encode, embedder.model_id)
    index = StoryIndex(params, embedder.dim)
    first = _rows(db, ids[:1])[0]
    since = _when(first, now) - timedelta(seconds=params.window_days * DAY)
    load_active(db, index, embedder.model_id, since)
    # The model sees `embed_batches` commit batches per call: sentence-transformers sorts a
    # call's texts by length, so bigger calls pad less (measured: 64-text calls ran ~25%
    # slower than one call over the same texts). It embeds the next chunk in a worker thread
    # (torch releases the GIL) while this thread clusters and writes, one transaction per
    # batch of `batch_size`. SQLite is touched only from this thread.
    step = batch_size * max(1, embed_batches)
    chunks = [ids[i : i + step] for i in range(0, len(ids), step)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed") as pool:
        rows = _rows(db, chunks[0])
        texts = _texts(rows)
        future = pool.submit(embedder.encode, texts)
        for k in range(len(chunks)):
            vectors = future.result()  # an embedding failure surfaces here, before any write
            if k + 1 < len(chunks):
                next_rows = _rows(db, chunks[k + 1])
                next_texts = _texts(next_rows)
                future = pool.submit(embedder.encode, next_texts)
            for j in range(0, len(rows), batch_size):
                part = slice(j, j + batch_size)
                done, created = _process_batch(
                    db,
                    index,
                    tagger,
                    embedder.model_id,
                    rows[part],
                    texts[part],
                    vectors[part],
                    now,
                )
                result["analyzed"] += done
                result["new_stories"] += created
                if progress is not None:
                    progress(done)
            if k + 1 < len(chunks):
                rows, texts = next_rows, next_texts
    result["active_stories"] = len(index)
    return result
