"""The headline rule for dense streams, story merges and the bounded index (pure logic), and the
bad inputs of a dense stream through `analyze` (hashing embedder, real archive)."""

from __future__ import annotations

import json
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bot.clock import to_iso
from bot.config import StoriesConfig
from bot.errors import StoreError
from bot.narratives.cluster import (
    MEMBER_CAP,
    ClusterParams,
    HeadlineRule,
    StoryIndex,
)
from bot.narratives.pipeline import analyze_pending
from bot.narratives.story_params import params_from_settings
from bot.store import stories as store

from .conftest import HashingEmbedder, insert_article

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
T0 = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
RULE = HeadlineRule(
    max_words=18,
    threshold=0.9,
    name_weight=0.0,
    neighbours=3,
    neighbour_cos=0.8,
    votes=2,
    recent_days=3.0,
    merge_cos=0.0,
    merge_min_size=2,
    merge_days=3.0,
)
BASE = ClusterParams(threshold=0.9, window_days=30, name_weight=0.0, decay=0.0, headlines=RULE)


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def place(index, k, vector, words=8, when=T0, names=frozenset(), key=""):
    a = index.assign(k, unit(vector), when, names, f"o{k}", f"t{k}", key, words)
    story = index.stories[a.slot]
    if a.is_new:
        story.story_id = 100 + k
    return a, story


def test_neighbour_votes_place_a_headline_the_centroid_refuses():
    index = StoryIndex(BASE, 3)
    _, story = place(index, 1, [1, 0.2, 0])
    place(index, 2, [1, -0.2, 0])  # centroid cut 0.9 joins these two
    assert story.article_count == 2
    # Close to both members (>= 0.8), but the long-text rule (centroid only) would refuse it.
    probe = [1, 0.0, 0.6]
    a, found = place(index, 3, probe)
    assert not a.is_new and found is story
    index2 = StoryIndex(BASE, 3)
    place(index2, 1, [1, 0.2, 0])
    place(index2, 2, [1, -0.2, 0])
    assert place(index2, 3, probe, words=40)[0].is_new  # a long text: no votes


def test_headline_stories_that_converge_merge_into_the_bigger_one():
    rule = replace(RULE, merge_cos=0.7, votes=9)
    index = StoryIndex(replace(BASE, headlines=rule), 3)
    _, big = place(index, 1, [1, 0, 0])
    place(index, 2, [1, 0.05, 0])
    place(index, 3, [1, 0, 0.05])
    _, small = place(index, 4, [0.6, 0.8, 0])  # too far from the big centroid: its own story
    assert small is not big
    a, _ = place(index, 5, [0.8, 0.6, 0])  # joins `small` and pulls its centroid to `big`
    assert a.absorbed is small and index.stories[a.slot] is big
    assert small.merged_into is big and small.survivor() is big
    assert big.article_count == 5 and len(index) == 1
    assert sorted(m[0] for m in big.members) == [1, 2, 3, 4, 5]


def test_long_texts_never_merge():
    rule = replace(RULE, merge_cos=0.5)
    index = StoryIndex(replace(BASE, headlines=rule), 3)
    for k, v in enumerate([[1, 0, 0], [1, 0.05, 0], [0.6, 0.8, 0], [0.8, 0.6, 0]]):
        a, _ = place(index, k, v, words=40)
        assert a.absorbed is None


def test_giant_story_keeps_a_bounded_index():
    """5,000 near-identical headlines: one story, at most MEMBER_CAP rows, memory flat."""
    rng = np.random.default_rng(3)
    base = unit(rng.standard_normal(64))
    index = StoryIndex(replace(BASE, headlines=replace(RULE, threshold=0.5)), 64)
    tracemalloc.start()
    for k in range(5000):
        v = base + 0.05 * rng.standard_normal(64)
        place(index, k, v, when=T0 + k, key=f"acme recalls widget batch {k}")
        if k == 999:
            at_1k = tracemalloc.get_traced_memory()[0]
    at_5k = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(index) == 1
    ((_, story),) = index.active()
    assert story.article_count == 5000
    assert len(story.members) == len(story.rows) == MEMBER_CAP
    assert int((index._rows.slot >= 0).sum()) == MEMBER_CAP
    assert len(index._rows.slot) <= 1024  # the row matrix never grew
    # Titles of syndicated copies are kept for the window; vectors are not.
    assert at_5k - at_1k < 2_000_000


def test_same_input_order_gives_same_stories_and_merges():
    rng = np.random.default_rng(0)
    centres = [unit(rng.standard_normal(16)) for _ in range(4)]
    stream = [centres[k % 4] + 0.4 * rng.standard_normal(16) for k in range(200)]
    rule = replace(RULE, threshold=0.6, merge_cos=0.7, neighbour_cos=0.6)

    def run():
        index = StoryIndex(replace(BASE, headlines=rule), 16)
        out = []
        for k, v in enumerate(stream):
            a, story = place(index, k, v, when=T0 + k * 60)
            out.append((story.story_id, a.absorbed.story_id if a.absorbed else None))
        return out, index.merges

    assert run() == run()


def test_headline_settings_override_the_fit_and_zero_turns_the_rule_off():
    d = params_from_settings(StoriesConfig(), MINILM)
    assert d.headlines is not None and d.headlines.max_words > 0
    p = params_from_settings(StoriesConfig(headline_threshold=0.7, headline_merge=0.8), MINILM)
    assert p.headlines.threshold == 0.7 and p.headlines.merge_cos == 0.8
    assert params_from_settings(StoriesConfig(headline_words=0), MINILM).headlines is None
    assert params_from_settings(StoriesConfig(method="centroid"), MINILM).headlines is None
    assert params_from_settings(StoriesConfig(), "hashing-256").headlines is None


# --- through analyze ---

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


class LabelledHashing(HashingEmbedder):
    """The hashing embedder under the shipped model's id, so the shipped (headline) rules run."""

    model_id = MINILM

    def __init__(self) -> None:
        super().__init__(dim=384)
        self.model_id = MINILM


def _settings(settings):
    return replace(settings, stories=StoriesConfig())


def test_empty_archive_analyses_nothing(db, settings):
    result = analyze_pending(db, _settings(settings), LabelledHashing(), now=NOW)
    assert result["analyzed"] == 0 and result["pending_before"] == 0
    assert db.execute("SELECT count(*) FROM stories").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM narratives").fetchone()[0] == 0


def test_headline_only_summary_only_and_undated_articles_mixed(db, settings):
    when = NOW - timedelta(hours=5)
    rows = [
        {"title": "Acme recalls Widget 3 batteries after fires", "summary": ""},
        {"title": "", "summary": "Acme recalls Widget 3 batteries after fires in two homes"},
        {"title": "Widget 3 battery recall: Acme says fires are rare", "summary": ""},
        {
            "title": "Acme Widget 3 recall",
            "summary": "Acme Widget 3 recall",
            "published_at": None,
        },  # undated, and its summary only repeats the headline
        {"title": "Orbital launches weather satellite", "summary": "", "published_at": None},
    ]
    ids = []
    for k, row in enumerate(rows):
        published = row.pop("published_at", to_iso(when + timedelta(minutes=k)))
        ids.append(
            insert_article(
                db,
                url=f"https://mix.test/{k}",
                published_at=published,
                fetched_at=to_iso(when + timedelta(minutes=30)),
                **row,
            )
        )
    result = analyze_pending(db, _settings(settings), LabelledHashing(), now=NOW)
    assert result["analyzed"] == len(rows)
    got = dict(db.execute("SELECT id, story_id FROM articles").fetchall())
    assert all(got[i] is not None for i in ids)  # every article placed, none lost
    # Counts match the articles each live story holds.
    for sid, count in db.execute(
        "SELECT id, article_count FROM stories WHERE merged_into IS NULL"
    ).fetchall():
        held = db.execute("SELECT count(*) FROM articles WHERE story_id = ?", [sid]).fetchone()
        assert held[0] == count
    assert db.execute("SELECT count(*) FROM articles WHERE analyzed_at IS NULL").fetchone() == (0,)


def test_giant_story_through_analyze_keeps_counts_and_bounded_reload(db, settings):
    """A story of 600 near-identical headlines over two runs: one story, counts exact, and the
    second run reloads at most MEMBER_CAP members into the index."""
    s = _settings(settings)
    for k in range(600):
        insert_article(
            db,
            url=f"https://giant.test/{k}",
            title=f"Acme recalls every Widget 3 sold, update {k}",
            published_at=to_iso(NOW - timedelta(hours=10) + timedelta(seconds=k)),
        )
        if k == 299:
            analyze_pending(db, s, LabelledHashing(), now=NOW)
    analyze_pending(db, s, LabelledHashing(), now=NOW)
    live = db.execute("SELECT id, article_count FROM stories WHERE merged_into IS NULL").fetchall()
    assert sum(c for _, c in live) == 600
    biggest = max(live, key=lambda r: r[1])
    assert biggest[1] >= 590
    held = db.execute("SELECT count(*) FROM articles WHERE story_id = ?", [biggest[0]]).fetchone()
    assert held[0] == biggest[1]
    # What the next run reloads of it: the newest MEMBER_CAP articles, with their vectors.
    (state,) = [
        x
        for x in store.active_stories(
            db, since="2000-01-01T00:00:00Z", model=MINILM, dim=384, member_cap=MEMBER_CAP
        )
        if x.id == biggest[0]
    ]
    assert len(state.members) == MEMBER_CAP and all(m.vector is not None for m in state.members)
    assert state.members[-1].title.endswith("update 599")


# --- merges in the store ---


def _story(db, title: str) -> int:
    return store.create_story(db, title=title)


def test_a_merge_that_would_cycle_is_refused_and_changes_nothing(db):
    a, b, c = (_story(db, t) for t in "abc")
    aid = insert_article(db, url="https://m.test/1", title="one", story_id=a)
    bid = insert_article(db, url="https://m.test/2", title="two", story_id=b)
    assert store.merge_story(db, b, a) == a
    assert dict(db.execute("SELECT id, story_id FROM articles").fetchall()) == {aid: a, bid: a}
    before = db.execute("SELECT id, merged_into FROM stories ORDER BY id").fetchall()
    with pytest.raises(StoreError, match="cycle"):
        store.merge_story(db, a, b)  # b already points at a
    with pytest.raises(StoreError, match="already merged"):
        store.merge_story(db, b, c)
    with pytest.raises(StoreError, match="cycle"):
        store.merge_story(db, a, a)
    with pytest.raises(StoreError, match="no such story"):
        store.merge_story(db, 999, a)
    assert db.execute("SELECT id, merged_into FROM stories ORDER BY id").fetchall() == before
    # A merge into a story that was itself merged goes to the survivor.
    assert store.merge_story(db, c, b) == a
    assert store.resolve_merged(db, [a, b, c]) == {a: a, b: a, c: a}
    assert json.loads(json.dumps(store.get_story(db, c).id)) == a


# --- the fast path ---


def test_int8_is_opt_in_and_gets_its_own_fitted_rules(settings):
    from bot.narratives.embed import Embedder

    assert not Embedder.from_settings(settings).quantize  # fp32 unless asked
    fast = Embedder.from_settings(replace(settings, model=replace(settings.model, quantize=True)))
    assert fast.model_id == MINILM + "+int8"
    fp32, int8 = (params_from_settings(StoriesConfig(), m) for m in (MINILM, fast.model_id))
    assert int8.link is not None and int8.link != fp32.link  # fitted for its own scale
    assert int8.hybrid.min_member_cos > fp32.hybrid.min_member_cos
    assert int8.headlines is not None
