"""`analyze_pending`: embed, tag and cluster every article not analysed yet.

Synchronous and CPU-bound: async callers run it with `asyncio.to_thread`. Work goes in
batches; each batch commits its vectors, tags, story assignments, story rows and the
articles' `analyzed_at` in one transaction, so a crash loses at most the batch in flight and a
rerun picks up exactly the articles that were not committed (nothing counted twice).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import sqlite_utils

from bot.clock import parse_iso, to_iso
from bot.models import ArticleAnalysis, ArticleTags, PendingArticle, StoryUpdate
from bot.narratives.cluster import DAY, MEMBER_CAP, ActiveStory, StoryIndex
from bot.narratives.narratives import Narrator, follow_merges
from bot.narratives.stories import refresh_story_leads
from bot.narratives.story_params import params_from_settings
from bot.narratives.text import article_text, clean, names, normalise_title
from bot.narratives.topics import TopicTagger
from bot.store import stories as store
from bot.store import topics as topic_store
from bot.store.db import transaction

Progress = Callable[[int], None]


def _texts(rows: list[PendingArticle]) -> list[str]:
    return [article_text(r.title, r.summary) for r in rows]


def count_pending(db: sqlite_utils.Database) -> int:
    return store.count_pending(db)


def _when(published_at: str | None, fetched_at: str | None, now: datetime) -> datetime:
    return parse_iso(published_at) or parse_iso(fetched_at) or now


def load_active(
    db: sqlite_utils.Database, index: StoryIndex, model_id: str, since: datetime
) -> None:
    """Put the archive's stories seen since `since` back into the index."""
    for saved in store.active_stories(
        db, since=to_iso(since), model=model_id, dim=index.dim, member_cap=MEMBER_CAP
    ):
        story = ActiveStory(
            story_id=saved.id,
            vector_sum=saved.vector_sum,
            first_seen=parse_iso(saved.first_seen).timestamp(),
            last_seen=parse_iso(saved.last_seen).timestamp(),
            names=Counter(saved.names),
            article_count=saved.article_count,
            title_article=saved.representative_article_id,
            # Empty when the story is still named by a summary snippet: a headline may take over.
            title=clean(saved.title, 300),
        )
        titles = {}
        for m in saved.members:
            when = m.published_at or m.fetched_at
            t = parse_iso(when).timestamp() if when else story.first_seen
            if m.outlet:
                story.outlets[m.outlet] = min(story.outlets.get(m.outlet, t), t)
            if m.vector is not None:
                story.members.append((m.id, m.vector, t, m.duplicate_of))
            key = normalise_title(m.title)
            if key:
                titles.setdefault(key, m.duplicate_of or m.id)
        index.add_story(story, titles)


def story_topics(articles: Sequence[ArticleTags], topic_ids: Sequence[str]) -> tuple[str, ...]:
    """Topics carried by at least half of the story's articles, best-first: the topic its
    articles score highest on (summed probability) leads, then more articles carrying it, then
    configuration order. Articles tagged before scores were kept add only to the counts."""
    counts = Counter(t for a in articles for t in a.topics)
    sums: Counter[str] = Counter()
    for a in articles:
        sums.update({t: p for t, p in a.scores.items() if counts[t]})
    n = max(len(articles), 1)
    kept = [t for t in topic_ids if counts[t] and counts[t] * 2 >= n]
    order = {t: i for i, t in enumerate(topic_ids)}
    return tuple(sorted(kept, key=lambda t: (-sums[t], -counts[t], order[t])))


def _story_update(story: ActiveStory, topics: tuple[str, ...]) -> StoryUpdate:
    return StoryUpdate(
        id=story.story_id,
        title=story.title or None,
        representative_article_id=story.title_article,
        first_seen=to_iso(datetime.fromtimestamp(story.first_seen, tz=UTC)),
        last_seen=to_iso(datetime.fromtimestamp(story.last_seen, tz=UTC)),
        article_count=story.article_count,
        outlet_count=len(story.outlets),
        first_outlet=story.first_outlet,
        topics=topics,
        vector_sum=story.vector_sum,
        names=dict(story.names),
    )


def _process_batch(
    db: sqlite_utils.Database,
    index: StoryIndex,
    tagger: TopicTagger,
    model_id: str,
    batch: list[PendingArticle],
    texts: list[str],
    vectors: np.ndarray,
    now: datetime,
    narrator: Narrator | None = None,
) -> tuple[int, int, set[int]]:
    """Cluster one batch and write all it decided as one transaction: new stories, the
    articles' vectors, topics, stories and `analyzed_at`, and the touched stories' state.

    A failure anywhere rolls the whole batch back; the index it mutated is then stale, so the
    caller must not reuse it (analyze_pending lets the error end the run)."""
    tags, scores = tagger.tag_scored(vectors, texts)
    new_stories = 0
    touched: dict[int, ActiveStory] = {}
    analyses: list[ArticleAnalysis] = []
    merges: list[tuple[int, int]] = []  # (absorbed story, survivor)
    stamp = to_iso(now)
    with transaction(db):
        for row, text, vector, topics, scored in zip(
            batch, texts, vectors, tags, scores, strict=True
        ):
            when = _when(row.published_at, row.fetched_at, now)
            index.expire(when.timestamp())
            title = clean(row.title, 300)
            a = index.assign(
                row.id,
                vector,
                when.timestamp(),
                names(text),
                row.outlet,
                title,
                normalise_title(row.title),
                len(text.split()),
            )
            story = index.stories[a.slot]
            if a.absorbed is not None:  # two headline stories converged: one story now
                store.merge_story(db, a.absorbed.story_id, story.story_id)
                merges.append((a.absorbed.story_id, story.story_id))
                touched.pop(a.absorbed.story_id, None)
            if a.is_new:
                # Until an article with a headline joins, the story is named by a summary snippet.
                story.story_id = store.create_story(db, title=title or clean(row.summary, 120))
                new_stories += 1
            analyses.append(
                ArticleAnalysis(
                    id=row.id,
                    topics=tuple(topics),
                    story_id=story.story_id,
                    duplicate_of=a.duplicate_of,
                    analyzed_at=stamp,
                    vector=vector,
                    topic_scores=scored,
                    topics_hash=tagger.fingerprint,
                )
            )
            touched[story.story_id] = story
        store.save_analyses(db, follow_merges(analyses, merges), model=model_id)
        topic_ids = tagger.topic_ids
        article_topics = topic_store.article_tags_by_story(db, touched)
        store.save_stories(
            db,
            [
                _story_update(story, story_topics(article_topics[sid], topic_ids))
                for sid, story in touched.items()
            ],
            model=model_id,
        )
        # Outlet count, first outlet and the China/West lead, from the stored articles (the
        # index counts syndicated copies and knows no countries).
        refresh_story_leads(db, touched)
        if narrator is not None:
            narrator.after_batch(db, touched, merges, topic_ids=topic_ids, now=now)
    return len(batch), new_stories, set(touched)


def _analyze_pending_locked(
    db: sqlite_utils.Database,
    settings: Any,
    embedder: Any,
    *,
    now: datetime,
    progress: Progress | None = None,
    tagger: TopicTagger | None = None,
    batch_size: int | None = None,
    embed_batches: int = 8,
) -> dict:
    """Analyse every article with `analyzed_at` NULL. Returns counts for logs and job_runs:
    analyzed, new_stories, stories_joined (earlier stories that gained articles),
    pending_before, active_stories, stories_merged (headline stories that converged) and
    narrative_links (stories linked into a narrative).

    `progress(n)` is called after each committed batch with the number of articles in it.
    """
    params = params_from_settings(settings.stories, embedder.model_id)
    batch_size = batch_size or settings.model.batch_size
    ids = store.pending_article_ids(db)
    result = {"analyzed": 0, "new_stories": 0, "stories_joined": 0, "pending_before": len(ids)}
    touched: set[int] = set()  # every story given an article: the new ones and those joined
    if not ids:
        return result
    if tagger is None:
        encode = getattr(embedder, "encode_memo", embedder.encode)
        tagger = TopicTagger.build(settings.topics, encode, embedder.model_id)
    index = StoryIndex(params, embedder.dim)
    first = store.pending_articles(db, ids[:1])[0]
    start = _when(first.published_at, first.fetched_at, now)
    since = start - timedelta(seconds=params.window_days * DAY)
    load_active(db, index, embedder.model_id, since)
    narrator = Narrator.start(db, settings, model=embedder.model_id, dim=embedder.dim)
    # The model sees `embed_batches` commit batches per call: sentence-transformers sorts a
    # call's texts by length, so bigger calls pad less (measured: 64-text calls ran ~25%
    # slower than one call over the same texts). It embeds the next chunk in a worker thread
    # (torch releases the GIL) while this thread clusters and writes, one transaction per
    # batch of `batch_size`. SQLite is touched only from this thread.
    step = batch_size * max(1, embed_batches)
    chunks = [ids[i : i + step] for i in range(0, len(ids), step)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed") as pool:
        rows = store.pending_articles(db, chunks[0])
        texts = _texts(rows)
        future = pool.submit(embedder.encode, texts)
        for k in range(len(chunks)):
            vectors = future.result()  # an embedding failure surfaces here, before any write
            if k + 1 < len(chunks):
                next_rows = store.pending_articles(db, chunks[k + 1])
                next_texts = _texts(next_rows)
                future = pool.submit(embedder.encode, next_texts)
            for j in range(0, len(rows), batch_size):
                part = slice(j, j + batch_size)
                done, created, grown = _process_batch(
                    db,
                    index,
                    tagger,
                    embedder.model_id,
                    rows[part],
                    texts[part],
                    vectors[part],
                    now,
                    narrator,
                )
                result["analyzed"] += done
                result["new_stories"] += created
                touched |= grown
                result["stories_joined"] = len(touched) - result["new_stories"]
                if progress is not None:
                    progress(done)
            if k + 1 < len(chunks):
                rows, texts = next_rows, next_texts
    # Who reported first, per topic and outlet, over the stories as this run left them.
    store.refresh_outlet_leads(db)
    result["active_stories"] = len(index)
    result["stories_merged"] = index.merges
    result["narrative_links"] = narrator.links if narrator is not None else 0
    return result


def analyze_pending(
    db: sqlite_utils.Database,
    settings: Any,
    embedder: Any,
    *,
    now: datetime,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
    **options: Any,
) -> dict:
    """Analyse what is pending (`_analyze_pending_locked`, which takes `options`: progress,
    tagger, batch_size, embed_batches) under the archive's analysis lock.

    Two analysers reading the same pending articles and active stories would each create
    stories for them, and the later writer would empty the other's. So one runs at a time:
    with `wait` (the CLI) a second one reports who holds the lock through `on_wait`, waits,
    then analyses what is left; without (the scheduler) it returns at once with `held` set,
    and the next tick tries again."""
    from contextlib import ExitStack

    from bot.store.locks import LockHeld, analysis_lock

    with ExitStack() as stack:
        try:
            stack.enter_context(analysis_lock(db, now=now, wait=wait, on_wait=on_wait))
        except LockHeld as exc:
            return {"analyzed": 0, "new_stories": 0, "pending_before": None, "held": str(exc)}
        return _analyze_pending_locked(db, settings, embedder, now=now, **options)
