"""The four commands through the real CLI, on a real archive file."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.narratives.pipeline import analyze_pending

from .conftest import HashingEmbedder, feed_articles, insert_article, run_cli

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
ALL_TIME = ["--hours", "1000000"]  # the CLI reads the wall clock; fixtures are dated


def test_missing_model_path_fails_cleanly_and_changes_nothing(tmp_path, db, db_path):
    config = tmp_path / "feeds.yaml"
    config.write_text(f"feeds: []\nmodel: {{path: {tmp_path / 'missing-model'}}}\n", "utf-8")
    insert_article(db, url="https://x.test/1", title="Chip news")
    before = db.execute("SELECT * FROM articles").fetchall()
    result = run_cli(config, db_path, "analyze")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: model.path: {tmp_path / 'missing-model'} does not exist (point it at a "
        "sentence-transformers model directory, or remove model.path to use the bundled "
        "all-MiniLM-L6-v2)"
    ]
    assert db.execute("SELECT * FROM articles").fetchall() == before


def test_stories_and_story_json(db, db_path, config, settings):
    for item in feed_articles():
        insert_article(db, **item)
    analyze_pending(db, settings, HashingEmbedder(), now=NOW)
    result = run_cli(config, db_path, "stories", "--json", "--all", *ALL_TIME)
    assert result.exit_code == 0, result.output
    stories = json.loads(result.stdout)
    assert stories and stories == sorted(stories, key=lambda s: -s["score"])
    assert sum(s["article_count"] for s in stories) == len(feed_articles())

    one = json.loads(run_cli(config, db_path, "story", str(stories[0]["id"]), "--json").stdout)
    assert one["id"] == stories[0]["id"]
    assert [a["id"] for a in one["articles"]] == [a["id"] for a in stories[0]["articles"]]

    text = run_cli(config, db_path, "story", str(stories[0]["id"]))
    assert text.exit_code == 0 and one["title"] in text.output

    missing = run_cli(config, db_path, "story", "99999")
    assert missing.exit_code == 1 and "story 99999 not found" in missing.output
    bad_topic = run_cli(config, db_path, "stories", "--topic", "nope")
    assert bad_topic.exit_code == 2 and "unknown topic" in bad_topic.output


@pytest.mark.model
def test_end_to_end_analyze_stories_search(db, db_path, config):
    for item in feed_articles():
        insert_article(db, **item)
    result = run_cli(config, db_path, "analyze")
    assert result.exit_code == 0, result.output
    assert "analysed" in result.output
    n = len(feed_articles())
    assert f"analyze: {n}/{n} articles (100%)" in result.stderr  # not a terminal: plain lines
    assert (
        db.execute(
            "SELECT count(*) FROM articles WHERE story_id IS NULL OR analyzed_at IS NULL"
        ).fetchone()[0]
        == 0
    )
    tagged = db.execute("SELECT count(*) FROM articles WHERE topics != '[]'").fetchone()[0]
    assert tagged >= 1

    def story_of(fragment):
        return db.execute(
            "SELECT story_id FROM articles WHERE title LIKE ?", [f"%{fragment}%"]
        ).fetchone()[0]

    # One event covered by two outlets is one story (the second pair is a join the centroid
    # rule alone misses); money-raising and deal articles of one week stay apart.
    assert story_of("new watermarks will work") == story_of("invisible text watermarks")
    assert story_of("remove visible watermark") == story_of("turn off Google Gemini")
    deals = ["Databricks wanted to raise", "Groq raises", "Stripe will reportedly", "Wispr raises"]
    deals.append("Nvidia investing")
    assert len({story_of(t) for t in deals}) == len(deals)
    assert story_of("Writer introduces") not in {story_of("deal gone very wrong"), story_of("Groq")}
    # The live-feed guard: only a few small multi-article stories in 30 mostly unrelated items.
    sizes = [n for (n,) in db.execute("SELECT count(*) FROM articles GROUP BY story_id")]
    assert max(sizes) <= 3 and sum(n for n in sizes if n > 1) <= 8

    again = run_cli(config, db_path, "analyze")
    assert again.exit_code == 0 and "nothing to analyse" in again.output

    stories = json.loads(run_cli(config, db_path, "stories", "--json", "--all", *ALL_TIME).stdout)
    assert sum(s["article_count"] for s in stories) == len(feed_articles())

    title = db.execute("SELECT title FROM articles ORDER BY id LIMIT 1").fetchone()[0]
    hits = json.loads(run_cli(config, db_path, "search", title, "--json", "--limit", "3").stdout)
    assert len(hits) == 3 and hits[0]["title"] == title
    assert set(hits[0]) >= {"id", "title", "url", "outlet", "published_at", "story_id", "score"}


def test_search_rejects_an_empty_query_before_loading_the_model(db_path, config):
    result = run_cli(config, db_path, "search", "   ")
    assert result.exit_code == 2 and "empty query" in result.output
