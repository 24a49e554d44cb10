"""The shipped metadata against the real schema, and the canned queries against a real archive."""

from __future__ import annotations

import re
import shutil
import sqlite3

import pytest

from bot.config import Secrets
from bot.site.leaks import describe_leaks, find_leaks
from bot.site.site import ARCHIVE_NAME, load_metadata
from bot.store.db import open_db

from .conftest import KNOWN_HEADLINE, SECRETS

INTERNAL = {"_migrations", "article_vectors", "story_vectors", "chat_state"}


@pytest.fixture(scope="module")
def meta():
    return load_metadata()


@pytest.fixture(scope="module")
def tables(meta):
    return meta["databases"][ARCHIVE_NAME]["tables"]


@pytest.fixture(scope="module")
def queries(meta):
    return meta["databases"][ARCHIVE_NAME]["queries"]


def visible_tables(db, tables) -> list[str]:
    fts = set(db.table_names(fts4=True) + db.table_names(fts5=True))
    shadow = {t for t in db.table_names() for f in fts if t.startswith(f"{f}_")}
    return [
        t for t in db.table_names() if t not in fts | shadow and not tables.get(t, {}).get("hidden")
    ]


def test_every_visible_table_and_column_is_described(db, tables):
    # `db` is a fresh archive with every migration applied, other rooms' included.
    missing = []
    for table in visible_tables(db, tables):
        spec = tables.get(table) or {}
        if not spec.get("description"):
            missing.append(table)
        described = spec.get("columns", {})
        missing += [f"{table}.{c}" for c in db[table].columns_dict if not described.get(c)]
    assert missing == [], f"describe these in bot/site/metadata.yaml: {missing}"


def test_described_columns_exist(db, tables):
    # A description for a column that does not exist is a typo hiding a missing one.
    for table, spec in tables.items():
        if spec.get("columns"):
            assert set(spec["columns"]) <= set(db[table].columns_dict), table


def test_internal_tables_are_hidden(db, tables):
    fts = db.table_names(fts5=True)
    assert fts == ["articles_fts"]
    shadow = [t for t in db.table_names() if t.startswith("articles_fts_")]
    for name in INTERNAL | set(fts) | set(shadow):
        assert tables[name].get("hidden") is True, name


def test_labels_facets_search_and_notes(meta, tables):
    assert tables["articles"]["label_column"] == "title"
    assert tables["stories"]["label_column"] == "title"
    assert tables["feeds"]["label_column"] == "name"
    assert tables["articles"]["fts_table"] == "articles_fts"
    # The topic, outlet and story facets, counted from indexes (bot/site/facets.py).
    facets = tables["articles"]["facets"]
    assert {"indexed": {"through": "article_topics", "column": "topic"}} in facets
    assert {"indexed": "outlet"} in facets and {"indexed": "story_id"} in facets
    assert tables["stories"]["sort_desc"] == "last_seen"  # newest first
    assert "country" in tables["token_usage"]["facets"]
    assert "Source: OpenRouter (openrouter.ai/rankings)" in meta["source"]
    assert "publishers" in meta["license"]
    for spec in tables.values():
        for column in spec.get("sortable_columns", []):
            assert column in spec["columns"]


def test_primary_keys_are_sortable(db, tables):
    # Datasette's search and filter forms resubmit the current sort, the primary key by
    # default; a table whose key is not sortable answers those forms with an error 500.
    for table, spec in tables.items():
        if "sortable_columns" in spec:
            assert set(db[table].pks) <= set(spec["sortable_columns"]), table


def test_chart_uses_the_weekly_share_query(meta, queries):
    chart = meta["plugins"]["datasette-dashboards"]["token-share"]["charts"]["share-over-time"]
    assert chart["db"] == ARCHIVE_NAME
    assert chart["library"] == "vega-lite"
    assert chart["query"] == queries["share_over_time"]["sql"]
    assert chart["display"]["mark"]["type"] == "line"
    encoding = chart["display"]["encoding"]
    assert {encoding[k]["field"] for k in ("x", "y", "color")} == {"week", "share_pct", "country"}


def vega_lite_charts(meta):
    for slug, dashboard in meta["plugins"]["datasette-dashboards"].items():
        for name, chart in dashboard["charts"].items():
            if chart.get("library") == "vega-lite":
                yield f"{slug}/{name}", chart


def test_every_time_axis_says_the_full_date_in_utc(meta):
    # Vega's default labels weeks "Mon 29", with no month or year, in the browser's time zone.
    charts = list(vega_lite_charts(meta))
    assert {"token-share/share-over-time", "story/coverage"} <= {name for name, _ in charts}
    for name, chart in charts:
        for channel, spec in chart["display"]["encoding"].items():
            for field in spec if isinstance(spec, list) else [spec]:
                if field.get("type") != "temporal" and "timeUnit" not in field:
                    continue
                utc = field.get("scale") == {"type": "utc"} or field["timeUnit"].startswith("utc")
                assert utc, (name, channel)
                said = field.get("format") or field["axis"]["format"]
                assert all(part in said for part in ("%-d", "%b", "%Y")), (name, channel)


def test_canned_queries_have_titles_and_hide_their_sql(queries):
    for name, spec in queries.items():
        assert spec.get("title") and spec.get("hide_sql") is True, name


QUERY_PARAMS = {
    "story_timeline": {"story_id": 4},
    "narrative_timeline": {"narrative_id": 1},
    "articles_matching": {"phrase": "annualized revenue"},
}


def run_query(path, queries, name, params=None):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [
            dict(r)
            for r in conn.execute(queries[name]["sql"], params or QUERY_PARAMS.get(name, {}))
        ]
    finally:
        conn.close()


def test_expected_canned_queries_exist(queries):
    assert set(queries) >= {
        "latest_share_by_country",
        "share_over_time",
        "top_stories_this_week",
        "story_timeline",
        "articles_matching",
        "feed_health",
    }
    for name, spec in queries.items():
        assert spec.get("title") and spec.get("description"), name
        assert re.match(r"\s*(WITH|SELECT)\b", spec["sql"], re.I), name
        assert not spec.get("write"), name


def test_every_canned_query_returns_rows(archive, queries):
    path, _ = archive
    for name in queries:
        assert run_query(path, queries, name), name


def test_latest_share_sums_to_100_and_cites_openrouter(archive, queries):
    rows = run_query(archive[0], queries, "latest_share_by_country")
    assert abs(sum(r["share_pct"] for r in rows) - 100) < 0.1
    assert rows[0]["country"] == "US"
    assert {r["window_end"] for r in rows} == {"2026-11-23T00:00:00Z"}
    assert rows[0]["citation"].startswith("Source: OpenRouter (openrouter.ai/rankings), as of ")


def test_weekly_share_uses_iso_weeks_and_counts_a_repolled_week_once(tmp_path, archive, queries):
    path = tmp_path / "copy.db"
    shutil.copy(archive[0], path)
    before = run_query(path, queries, "share_over_time")
    weeks = sorted({r["week"] for r in before})
    assert len(weeks) == 6
    assert all(__import__("datetime").date.fromisoformat(w).isoweekday() == 1 for w in weeks)
    cn = [r["share_pct"] for r in before if r["country"] == "CN"]
    assert cn == sorted(cn) and cn[0] < cn[-1]
    # The newest week fetched again (a new snapshot of the same window): counted once.
    db = open_db(path)
    with db.conn:
        snap = db.execute("SELECT MAX(snapshot_id) FROM token_usage").fetchone()[0]
        new = (
            db["token_snapshots"]
            .insert({**db["token_snapshots"].get(snap), "id": None, "content_hash": "again"})
            .last_pk
        )
        db.execute(
            "INSERT INTO token_usage (snapshot_id, window_start, window_end, granularity, source,"
            " model, author, country, total_tokens) SELECT ?, window_start, window_end,"
            " granularity, source, model, author, country, total_tokens FROM token_usage"
            " WHERE snapshot_id = ?",
            [new, snap],
        )
    db.close()
    assert run_query(path, queries, "share_over_time") == before


def _add_period(db, source, granularity, start, end, tokens_by_country):
    snap = db["token_snapshots"].insert(
        {"source": source, "fetched_at": end, "window_start": start, "window_end": end,
         "granularity": granularity, "content_hash": f"{source}{start}{end}", "payload": "{}"}
    ).last_pk  # fmt: skip
    db["token_usage"].insert_all(
        {"snapshot_id": snap, "window_start": start, "window_end": end,
         "granularity": granularity, "source": source, "model": f"{country.lower()}/m",
         "author": country.lower(), "country": country, "total_tokens": tokens}
        for country, tokens in tokens_by_country.items()
    )  # fmt: skip


def test_weekly_share_never_mixes_sources_in_a_week(tmp_path, archive, queries):
    path = tmp_path / "copy.db"
    shutil.copy(archive[0], path)
    before = {(r["week"], r["country"]): r for r in run_query(path, queries, "share_over_time")}
    db = open_db(path)
    with db.conn:
        # Rolling 7-day windows inside a week the market share covers: ignored for it.
        _add_period(db, "rankings-models", "week", "2026-11-17T00:00:00Z",
                    "2026-11-24T00:00:00Z", {"CN": 900, "US": 100})  # fmt: skip
        # A week only rolling windows cover: the newest window of the week alone counts.
        _add_period(db, "rankings-models", "week", "2026-11-23T00:00:00Z",
                    "2026-11-30T00:00:00Z", {"CN": 10, "US": 90})  # fmt: skip
        _add_period(db, "rankings-models", "week", "2026-11-24T00:00:00Z",
                    "2026-12-01T00:00:00Z", {"CN": 40, "US": 60})  # fmt: skip
        # A week with daily Data API figures: they win over the market share, summed.
        for day in range(12, 19):
            _add_period(db, "rankings-daily", "day", f"2026-10-{day}T00:00:00Z",
                        f"2026-10-{day + 1}T00:00:00Z", {"CN": 1, "US": 3})  # fmt: skip
    db.close()
    after = {(r["week"], r["country"]): r for r in run_query(path, queries, "share_over_time")}
    assert after[("2026-11-16", "CN")] == before[("2026-11-16", "CN")]
    assert after[("2026-11-23", "CN")]["share_pct"] == 40.0
    assert after[("2026-11-23", "CN")]["source"] == "rankings-models"
    daily = {c: r for (w, c), r in after.items() if w == "2026-10-12"}
    assert set(daily) == {"CN", "US"}
    assert daily["CN"]["tokens"] == 7 and daily["CN"]["share_pct"] == 25.0
    # The newest period is the rolling window ending last.
    latest = run_query(path, queries, "latest_share_by_country")
    assert {r["country"]: r["share_pct"] for r in latest} == {"CN": 40.0, "US": 60.0}
    assert latest[0]["source"] == "rankings-models"


def test_phrase_search_finds_the_headline_and_tolerates_quotes(archive, queries):
    path = archive[0]
    rows = run_query(path, queries, "articles_matching")
    assert [r["title"] for r in rows] == [KNOWN_HEADLINE]
    for phrase in ['"', "AND OR NOT", "(*", "", "annualized' revenue"]:
        run_query(path, queries, "articles_matching", {"phrase": phrase})  # no syntax error


def test_story_timeline_lists_the_story_in_order(archive, queries):
    path, facts = archive
    story = facts["cross_outlet_story"]
    rows = run_query(path, queries, "story_timeline", {"story_id": story})
    assert sorted(r["title"] for r in rows) == sorted(facts["stories"][story])
    assert [r["published"] for r in rows] == sorted(r["published"] for r in rows)


def test_top_stories_rank_by_outlets(archive, queries):
    rows = run_query(archive[0], queries, "top_stories_this_week")
    assert rows[0]["story_id"] == archive[1]["cross_outlet_story"]
    assert rows[0]["outlets"] == max(r["outlets"] for r in rows)


def test_feed_health_puts_failing_feeds_first(archive, queries):
    rows = run_query(archive[0], queries, "feed_health")
    assert rows[0]["error_count"] == 3 and rows[0]["last_error"] == "HTTP 503"
    assert sum(r["articles"] for r in rows) == archive[1]["articles"]


def test_clean_archive_has_no_leaks(archive):
    db = open_db(archive[0], migrate_schema=False)
    try:
        assert find_leaks(db, Secrets(*SECRETS.values())) == []
    finally:
        db.close()


def test_leaked_secrets_are_found_by_value_and_by_shape(db):
    now = "2026-11-28T12:00:00Z"
    with db.conn:
        db["deliveries"].insert(
            {
                "kind": "digest",
                "key": "2026-11-28",
                "destination": "discord-webhook:1234567890",
                "payload": "{}",
                "created_at": now,
                "last_error": f"404 for url '{SECRETS['DISCORD_WEBHOOK_URL']}'",
            }
        )
        db["job_runs"].insert(
            {"job": "tokens", "started_at": now, "error": "auth failed for sk-or-v1-abc123"}
        )
        db["articles"].insert(
            {"url": "https://example.org/a", "title": SECRETS["DISCORD_TOKEN"], "fetched_at": now}
        )
    # Without the values (the archive service has no secrets): shapes are still caught.
    shapes = find_leaks(db, Secrets())
    assert {(x.table, x.column, x.what) for x in shapes} == {
        ("deliveries", "last_error", "a Discord webhook URL"),
        ("job_runs", "error", "an OpenRouter API key"),
    }
    # With the values: the exact token is found even in an article.
    known = find_leaks(db, Secrets(*SECRETS.values()))
    assert ("articles", "title", "DISCORD_TOKEN", 1) in {
        (x.table, x.column, x.what, x.rows) for x in known
    }
    # The full-text index holds a copy of the title; the secret is reported once, where it is.
    assert {x.table for x in known} == {"articles", "deliveries", "job_runs"}
    message = describe_leaks("a.db", shapes)
    assert "deliveries.last_error" in message and SECRETS["DISCORD_WEBHOOK_URL"] not in message
