"""Topic tables and the indexed facets: the same counts as Datasette's own facets, faster.

`article_topics` and `story_topics` are kept in step with the JSON arrays by triggers, whoever
writes them; the `indexed` facet type counts from them and from column indexes. Every count is
checked against Datasette's own array and column facets over the same archive and filters.
"""

from __future__ import annotations

import copy
import json
import shutil
from urllib.parse import urlsplit

import pytest

from bot.site.site import build_datasette, load_metadata
from bot.store import migrations
from bot.store.db import open_db

THROUGH_CHIPS = json.dumps({"table": "article_topics", "column": "topic", "value": "chips"})


def topics_of(db, table: str, key: str) -> set[tuple[str, int]]:
    return {(t, i) for t, i in db.execute(f"SELECT topic, {key} FROM {table}").fetchall()}


def test_article_topics_follow_every_write_of_the_array(db):
    now = "2026-11-28T12:00:00Z"
    with db.conn:
        db.execute(
            "INSERT INTO articles (id, url, fetched_at, topics) VALUES"
            ' (1, \'https://a\', ?, \'["chips", "chips", "export_controls"]\'),'
            " (2, 'https://b', ?, 'not json'), (3, 'https://c', ?, '{\"a\": \"chips\"}'),"
            " (4, 'https://d', ?, '[7, null, \"token_economics\"]')",
            [now] * 4,
        )
    assert topics_of(db, "article_topics", "article_id") == {
        ("chips", 1),
        ("export_controls", 1),
        ("token_economics", 4),
    }
    with db.conn:  # analyze re-tagging, as save_analyses or --retag write it
        db.execute("UPDATE articles SET topics = '[\"token_economics\"]' WHERE id = 1")
        db.execute("UPDATE articles SET topics = '[\"chips\"]' WHERE id = 2")
        db.execute("UPDATE articles SET title = 'no topic change' WHERE id = 4")
    assert topics_of(db, "article_topics", "article_id") == {
        ("token_economics", 1),
        ("chips", 2),
        ("token_economics", 4),
    }
    with db.conn:
        db.execute("DELETE FROM articles WHERE id = 1")
    assert topics_of(db, "article_topics", "article_id") == {("chips", 2), ("token_economics", 4)}


def test_story_topics_follow_the_stories_array(db):
    with db.conn:
        db.execute("INSERT INTO stories (id, title, topics) VALUES (1, 's', '[\"chips\"]')")
        db.execute('UPDATE stories SET topics = \'["chips", "export_controls"]\' WHERE id = 1')
    assert topics_of(db, "story_topics", "story_id") == {("chips", 1), ("export_controls", 1)}


def test_the_migration_fills_the_topic_tables_of_an_existing_archive(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    names = [m[0] for m in migrations.MIGRATIONS]
    before = migrations.MIGRATIONS[: names.index("site-2")]  # the release before site-2
    monkeypatch.setattr(migrations, "MIGRATIONS", before)
    db = open_db(path)
    with db.conn:
        db.execute(
            "INSERT INTO articles (id, url, fetched_at, topics) VALUES"
            " (1, 'https://a', 'now', '[\"chips\"]'), (2, 'https://b', 'now', 'broken')"
        )
        db.execute(
            "INSERT INTO stories (id, title, topics) VALUES (5, 's', '[\"export_controls\"]')"
        )
    db.close()
    monkeypatch.undo()
    db = open_db(path)  # applies site-2 and the migrations after it
    try:
        assert topics_of(db, "article_topics", "article_id") == {("chips", 1)}
        assert topics_of(db, "story_topics", "story_id") == {("export_controls", 5)}
        assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 2  # nothing lost
    finally:
        db.close()


def builtin_metadata() -> dict:
    """The shipped metadata with the articles' and stories' facets as Datasette's own."""
    meta = copy.deepcopy(load_metadata())
    tables = meta["databases"]["archive"]["tables"]
    tables["articles"]["facets"] = [
        {"array": "topics"},
        "outlet",
        "outlet_country",
        "outlet_kind",
        "story_id",
    ]
    tables["stories"]["facets"] = [
        {"array": "topics"},
        "first_outlet",
        "first_china_outlet",
        "first_west_outlet",
    ]
    return meta


def facet_counts(body: dict) -> dict[str, dict]:
    found = {}
    for facet in body["facet_results"].values():
        name = "topic" if facet["name"] in ("topics", "topic") else facet["name"]
        found[name] = {str(v["value"]): v["count"] for v in facet["results"]}
    return found


@pytest.fixture(scope="module")
def both(archive):
    return build_datasette(archive[0]), build_datasette(archive[0], metadata=builtin_metadata())


@pytest.mark.parametrize(
    "query",
    [
        "",
        "_search=AI",
        "_search=the+chips",
        "outlet=TechCrunch",
        "story_id=1",
        "published_at__gte=2026-01-01",
        "_through=" + THROUGH_CHIPS,
        "_search=nothing-matches-this",
    ],
)
@pytest.mark.parametrize("table", ["articles", "stories"])
async def test_indexed_facets_count_what_datasettes_own_facets_count(both, table, query):
    if table == "stories" and ("_search" in query or "_through" in query or "outlet=" in query):
        query = "article_count__gte=2" if query.startswith("outlet") else ""
    ours, theirs = both
    url = f"/archive/{table}.json?_facet_size=max&{query}"
    mine, builtin = (await ours.client.get(url)).json(), (await theirs.client.get(url)).json()
    assert facet_counts(mine) == facet_counts(builtin)
    assert mine["filtered_table_rows_count"] == builtin["filtered_table_rows_count"]
    if table == "articles":
        assert {"topic", "outlet", "story_id"} <= set(facet_counts(mine))


async def test_following_a_facet_link_filters_and_a_second_click_clears_it(both):
    ours, _ = both
    body = (await ours.client.get("/archive/articles.json")).json()
    chips = next(v for v in body["facet_results"]["topic"]["results"] if v["value"] == "chips")
    link = urlsplit(chips["toggle_url"])
    filtered = (await ours.client.get(f"{link.path}?{link.query}")).json()
    assert filtered["filtered_table_rows_count"] == chips["count"]
    selected = next(v for v in filtered["facet_results"]["topic"]["results"] if v["selected"])
    assert selected["value"] == "chips" and selected["count"] == chips["count"]
    cleared = urlsplit(selected["toggle_url"])
    assert "_through" not in cleared.query
    story = body["facet_results"]["story_id"]["results"][0]
    assert story["label"] != str(story["value"])  # foreign keys show the story's title


async def test_a_facet_out_of_time_is_reported_not_wrong(archive, tmp_path):
    # 100k more articles, so that counting cannot finish within a millisecond.
    path = tmp_path / "big.db"
    shutil.copy(archive[0], path)
    db = open_db(path)
    with db.conn:
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)"
            " INSERT INTO articles (url, title, fetched_at, outlet, topics)"
            " SELECT 'https://example.org/' || i, 'AI ' || i, '2026-11-28T12:00:00Z',"
            " 'Outlet ' || (i % 50), '[\"chips\"]' FROM n"
        )
    db.close()
    ds = build_datasette(path, settings={"facet_time_limit_ms": 1})
    for query in ("", "?_search=AI"):
        body = (await ds.client.get(f"/archive/articles.json{query}")).json()
        assert body["rows"], body  # the page itself still answers
        shown = {f["name"]: f["results"] for f in body["facet_results"].values()}
        assert "topic" not in shown and "outlet" not in shown, shown  # no partial counts
        page = (await ds.client.get(f"/archive/articles{query}")).text
        timed_out = page.split("These facets timed out:", 1)[1].split("<", 1)[0]
        assert {"topic", "outlet"} <= {n.strip() for n in timed_out.split(",")}


# Datasette leaves its facet-suggestion coroutine unawaited when a facet refuses the request.
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
async def test_a_bad_through_table_is_an_error_not_a_crash(archive, tmp_path):
    path = tmp_path / "copy.db"
    shutil.copy(archive[0], path)
    ds = build_datasette(path)
    url = '/archive/articles.json?_facet_indexed={"through": "feeds", "column": "name"}'
    response = await ds.client.get(url)
    assert response.status_code == 400
    assert "no foreign key to articles" in response.text
