"""Best topic first: a story is filed under the topic its articles score highest on; `stories`
lists the tracked topics unless --all; `analyze --retag` re-applies changed definitions to the
archive without embedding again, and resumes after an interruption."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.config import parse_settings
from bot.models import ArticleTags
from bot.narratives.pipeline import analyze_pending, story_topics
from bot.narratives.retag import build_tagger, count_to_retag, retag_archive
from bot.store.db import open_db

from .conftest import HashingEmbedder, insert_article, run_cli

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
IDS = ["chips", "export_controls", "token_economics"]


class CountingEmbedder(HashingEmbedder):
    """The hashing stand-in, remembering every text it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen.extend(texts)
        return super().encode(texts)


def tags(topics, **scores) -> ArticleTags:
    return ArticleTags(tuple(topics), dict(scores))


def test_story_is_filed_under_the_topic_its_articles_score_highest_on():
    articles = [
        tags(["export_controls", "chips"], chips=0.7, export_controls=0.95),
        tags(["export_controls", "chips"], chips=0.6, export_controls=0.9),
        tags(["chips"], chips=0.8, export_controls=0.4),
    ]
    assert story_topics(articles, IDS) == ("export_controls", "chips")
    # A topic on fewer than half of the articles is not the story's, however high it scores.
    assert story_topics([*articles, tags([]), tags([])], IDS) == ("chips",)


def test_articles_tagged_before_scores_were_kept_fall_back_to_counts_then_order():
    old = [tags(["chips", "export_controls"]), tags(["export_controls"])]
    assert story_topics(old, IDS) == ("export_controls", "chips")
    assert story_topics([tags(["chips", "export_controls"])], IDS) == ("chips", "export_controls")


# --- the archive: analyze stores scores, best-first story topics, stories lists tracked --------

SETTINGS = {
    "feeds": [],
    "stories": {"threshold": 0.5, "window_days": 5, "decay": 0.0, "name_weight": 0.0},
    "topics": {
        "chips": {
            "description": "semiconductor chips, foundries and chipmakers",
            "keywords": ["chip", "chips", "semiconductor", "foundry", "Nvidia"],
            "threshold": 0.3,
        },
        "export_controls": {
            "description": "US export controls, licences and curbs on chip sales to China",
            "keywords": ["export controls", "export curbs", "licences", "Entity List", "ban"],
            "threshold": 0.3,
        },
    },
}
EXPORT_STORY = [
    "US export curbs and licences ban Nvidia chip sales to China, Entity List widened",
    "US widens export curbs: licences needed, Entity List grows, ban on Nvidia chip sales",
]
OFF_TOPIC = ["Restaurant hired priest to bless the kitchen", "Priest blesses restaurant kitchen"]


def make_settings(db_path, data=SETTINGS):
    return replace(parse_settings(data, "test.yaml"), db_path=str(db_path))


def seed(db, titles_by_group, *, first=0):
    n = first
    for group in titles_by_group:
        for title in group:
            insert_article(
                db,
                url=f"https://t.example/{n}",
                title=title,
                outlet=f"Outlet {n}",
                published_at=f"2026-11-28T{(n % 10) + 1:02d}:00:00Z",
            )
            n += 1
    return n


def test_analyze_keeps_scores_and_files_the_story_under_its_best_topic(db, db_path):
    settings = make_settings(db_path)
    seed(db, [EXPORT_STORY, OFF_TOPIC])
    embedder = HashingEmbedder()
    analyze_pending(db, settings, embedder, now=NOW)
    rows = db.execute("SELECT topics, topic_scores, topics_hash FROM articles").fetchall()
    tagger = build_tagger(settings, embedder)
    for topics, scores, fingerprint in rows:
        scores = json.loads(scores)
        assert set(scores) == {"chips", "export_controls"} and fingerprint == tagger.fingerprint
        chosen = json.loads(topics)
        assert chosen == sorted(chosen, key=lambda t: -scores[t])  # best-first
    story = db.execute(
        "SELECT topics FROM stories WHERE id = (SELECT story_id FROM articles WHERE id = 1)"
    ).fetchone()[0]
    assert json.loads(story) == ["export_controls", "chips"]


def test_stories_lists_tracked_topics_unless_all(db, db_path, tmp_path):
    settings = make_settings(db_path)
    seed(db, [EXPORT_STORY, OFF_TOPIC])
    analyze_pending(db, settings, HashingEmbedder(), now=NOW)
    config = tmp_path / "feeds.yaml"
    config.write_text(json.dumps(SETTINGS), encoding="utf-8")  # JSON is YAML
    hours = ["--hours", "1000000"]
    tracked = json.loads(run_cli(config, db_path, "stories", "--json", *hours).stdout)
    assert [s["topics"] for s in tracked] == [["export_controls", "chips"]]
    everything = json.loads(run_cli(config, db_path, "stories", "--json", "--all", *hours).stdout)
    assert len(everything) == 2 and [] in [s["topics"] for s in everything]
    text = run_cli(config, db_path, "stories", *hours)
    assert text.exit_code == 0
    assert "[export_controls; also in chips]" in text.output and "priest" not in text.output
    assert "priest" in run_cli(config, db_path, "stories", "--all", *hours).output


# --- analyze --retag ----------------------------------------------------------------------------

CHANGED = json.loads(json.dumps(SETTINGS))
CHANGED["topics"]["token_economics"] = {
    "description": "prices of AI model tokens and API price wars",
    "keywords": ["token", "tokens", "price war", "API prices"],
    "threshold": 0.3,
}
TOKENS = [
    "DeepSeek cuts API prices for tokens, price war deepens",
    "DeepSeek token price war: API prices halved",
]


def analysed_archive(db, db_path):
    seed(db, [EXPORT_STORY, OFF_TOPIC, TOKENS, EXPORT_STORY[:1], OFF_TOPIC[:1]])
    analyze_pending(db, make_settings(db_path), HashingEmbedder(), now=NOW)
    return db.execute("SELECT count(*) FROM articles").fetchone()[0]


def snapshot(db):
    articles = db.execute(
        "SELECT id, topics, topic_scores, topics_hash FROM articles ORDER BY id"
    ).fetchall()
    stories = db.execute("SELECT id, topics FROM stories ORDER BY id").fetchall()
    return articles, stories


class Interrupted(Exception):
    pass


def test_retag_applies_new_definitions_without_embedding_articles(db, db_path):
    total = analysed_archive(db, db_path)
    assert (
        "token_economics"
        not in db.execute("SELECT topics FROM articles WHERE id = 5").fetchone()[0]
    )
    before = db.execute("SELECT vector FROM article_vectors ORDER BY article_id").fetchall()
    settings = make_settings(db_path, CHANGED)
    embedder = CountingEmbedder()
    tagger = build_tagger(settings, embedder)
    assert count_to_retag(db, tagger, embedder) == total
    result = retag_archive(db, tagger, embedder, batch_size=3)
    assert result["retagged"] == total and result["no_vector"] == 0
    # Only the definitions were embedded; the articles' stored vectors were used as they are.
    titles = {r[0] for r in db.execute("SELECT title FROM articles")}
    assert not titles & set(embedder.seen)
    assert db.execute("SELECT vector FROM article_vectors ORDER BY article_id").fetchall() == before
    tokens = json.loads(db.execute("SELECT topics FROM articles WHERE id = 5").fetchone()[0])
    assert tokens[0] == "token_economics"  # the new topic took effect on an old article
    token_story = db.execute(
        "SELECT s.topics FROM stories s JOIN articles a ON a.story_id = s.id WHERE a.id = 5"
    ).fetchone()[0]
    assert json.loads(token_story)[0] == "token_economics"
    # Nothing left: a second run does nothing.
    assert count_to_retag(db, tagger, embedder) == 0
    assert retag_archive(db, tagger, embedder)["retagged"] == 0


def test_retag_interrupted_resumes_and_matches_a_fresh_run(db, db_path, tmp_path):
    analysed_archive(db, db_path)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fresh_path = tmp_path / "fresh.db"
    shutil.copy(db_path, fresh_path)
    settings = make_settings(db_path, CHANGED)
    embedder = HashingEmbedder()
    tagger = build_tagger(settings, embedder)

    done = []

    def stop_after_two_batches(n):
        done.append(n)
        if len(done) == 2:
            raise Interrupted  # Ctrl-C between batches

    with pytest.raises(Interrupted):
        retag_archive(db, tagger, embedder, batch_size=3, progress=stop_after_two_batches)
    left = count_to_retag(db, tagger, embedder)
    assert 0 < left < db.execute("SELECT count(*) FROM articles").fetchone()[0]
    resumed = retag_archive(db, tagger, embedder, batch_size=3)
    assert resumed["retagged"] == left

    fresh = open_db(fresh_path)
    retag_archive(fresh, build_tagger(settings, embedder), embedder, batch_size=100)
    assert snapshot(db) == snapshot(fresh)
    fresh.close()


def test_retag_failing_inside_a_batch_keeps_that_batch_whole(db, db_path, tmp_path):
    """A write refused half-way through a batch (its story topics, after its articles' tags)
    leaves that batch untouched; the rerun finishes it and matches an uninterrupted run."""
    from bot.errors import StoreError

    analysed_archive(db, db_path)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fresh_path = tmp_path / "fresh.db"
    shutil.copy(db_path, fresh_path)
    settings = make_settings(db_path, CHANGED)
    embedder = HashingEmbedder()
    tagger = build_tagger(settings, embedder)
    with db.conn:  # the disk fills up once three articles carry the new tags
        db.execute(
            f"""CREATE TRIGGER full_disk BEFORE UPDATE OF topics ON stories
                WHEN (SELECT count(*) FROM articles WHERE topics_hash = '{tagger.fingerprint}') > 3
                BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"""
        )
    with pytest.raises(StoreError, match="disk is full"):
        retag_archive(db, tagger, embedder, batch_size=3)
    done = db.execute(
        "SELECT count(*) FROM articles WHERE topics_hash = ?", [tagger.fingerprint]
    ).fetchone()[0]
    assert done == 3  # the first batch; none of the second
    with db.conn:
        db.execute("DROP TRIGGER full_disk")
    retag_archive(db, tagger, embedder, batch_size=3)
    fresh = open_db(fresh_path)
    retag_archive(fresh, build_tagger(settings, embedder), embedder)
    assert snapshot(db) == snapshot(fresh)
    fresh.close()


def test_retag_leaves_articles_of_another_model_alone(db, db_path):
    total = analysed_archive(db, db_path)
    other = HashingEmbedder(dim=128)  # a different model id: no stored vectors of it
    result = retag_archive(db, build_tagger(make_settings(db_path, CHANGED), other), other)
    assert result == {"retagged": 0, "stories": 0, "no_vector": total}


@pytest.mark.model
def test_analyze_retag_command_with_the_real_model(db, db_path, tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text(json.dumps({"feeds": [], "topics": SETTINGS["topics"]}), encoding="utf-8")
    seed(db, [EXPORT_STORY, OFF_TOPIC, TOKENS])
    first = run_cli(config, db_path, "analyze")
    assert first.exit_code == 0, first.output
    config.write_text(json.dumps({"feeds": [], "topics": CHANGED["topics"]}), encoding="utf-8")
    result = run_cli(config, db_path, "analyze", "--retag")
    assert result.exit_code == 0, result.output
    assert "retag: 6/6 articles (100%)" in result.stderr  # not a terminal: plain lines
    assert "retagged 6 articles" in result.stderr and "nothing to analyse" in result.stderr
    again = run_cli(config, db_path, "analyze", "--retag")
    assert "retagged 0 articles" in again.stderr
    bad = run_cli(config, db_path, "analyze", "--retag", "--batch-size", "0")
    assert bad.exit_code == 2 and "--batch-size" in bad.output
