"""The public archive under hostile queries, against the real `tokentide serve`: memory stays
bounded, the bot's internal tables and the archive's file path stay out of sight, and an
archive from a newer Tokentide is served read-only without being upgraded."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import httpx
import pytest

from bot.store.db import open_db

from .conftest import free_port, serve_env, start_serve, stop_serve, wait_until_up

MiB = 1024 * 1024


def sql(base: str, query: str, **params) -> httpx.Response:
    return httpx.get(
        f"{base}/archive.json", params={"sql": query, "_shape": "array", **params}, timeout=60
    )


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def served(archive, config_file, tmp_path_factory):
    """A server of its own (its memory is measured), over a copy of the test archive."""
    path = tmp_path_factory.mktemp("hardening") / "tokentide.db"
    shutil.copy(archive[0], path)
    port = free_port()
    proc = start_serve(path, config_file, port, serve_env())
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, base)
        yield base, proc, path
    finally:
        stop_serve(proc)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("select randomblob(400000000)", "string or blob too big"),
        ("select zeroblob(400000000) as z", "string or blob too big"),
        ("select hex(zeroblob(20000000))", "string or blob too big"),
        # Many values each under the per-value limit: the answer's budget stops them.
        (
            "with recursive n(i) as (select 1 union all select i + 1 from n where i < 1000) "
            "select randomblob(2000000) from n",
            "the answer is larger than 66 MiB",
        ),
        # One row of many large values: SQLite's heap limit stops it.
        (
            "with b(x) as (select zeroblob(30000000)) "
            "select x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x from b",
            "the query needs more than the 256 MiB",
        ),
    ],
)
def test_a_query_cannot_balloon_the_server(served, query, error):
    base, proc, _ = served
    answer = sql(base, query)
    assert answer.status_code == 400, answer.text[:300]
    assert error in answer.text, answer.text[:1500]
    assert peak_rss_mib(proc.pid) < 600
    assert httpx.get(f"{base}/archive/stories.json", timeout=10).status_code == 200


def test_ordinary_queries_and_pages_still_work(served):
    base, _, _ = served
    assert len(sql(base, "select id, title from articles limit 5").json()) == 5
    assert sql(base, "select length(randomblob(1000000)) as n").json() == [{"n": 1000000}]
    for page in ("/archive/articles.json?_size=max", "/archive/token_snapshots.json",
                 "/archive/top_stories_this_week.json",
                 "/archive/articles_matching.json?phrase=chip",
                 "/archive/articles.json?_search=chip"):  # fmt: skip
        assert httpx.get(f"{base}{page}", timeout=30).status_code == 200, page


@pytest.mark.parametrize(
    "table",
    ["_migrations", "chat_state", "article_vectors", "story_vectors", "articles_fts_data"],
)
def test_internal_tables_are_not_served_as_pages(served, table):
    base, _, _ = served
    for suffix in ("", ".json", "/1", "/1.json"):
        assert httpx.get(f"{base}/archive/{table}{suffix}", timeout=10).status_code == 403


@pytest.mark.parametrize("table", ["_migrations", "chat_state", "article_vectors", "story_vectors"])
def test_internal_tables_read_as_nothing_from_sql(served, table):
    base, _, path = served
    db = open_db(path)
    rows = db.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0]
    db.close()
    for query in (
        f"select * from {table}",
        f"select * from {table.upper()}",
        f"with t as (select *, rowid as r from [{table}]) select * from t",
    ):
        answer = sql(base, query)
        assert answer.status_code == 200, answer.text[:600]
        assert len(answer.json()) == rows
        assert all(value is None for row in answer.json() for value in row.values()), query


def test_pages_linking_to_internal_tables_still_work(served):
    base, _, _ = served
    for page in ("/archive/stories/1", "/archive/articles/1", "/archive/stories/1.json"):
        assert httpx.get(f"{base}{page}", timeout=10).status_code == 200, page


def test_the_archive_path_is_not_shown(served):
    base, _, path = served
    for query in ("select * from pragma_database_list()", "select file from pragma_database_list"):
        answer = sql(base, query)
        assert answer.status_code == 400 and "is prohibited" in answer.text, answer.text[:600]
    assert httpx.get(f"{base}/-/databases.json", timeout=10).status_code == 404
    assert httpx.get(f"{base}/-/databases", timeout=10).status_code == 404
    for page in ("/", "/archive", "/archive.json", "/-/metadata.json", "/-/settings.json",
                 "/-/versions.json", "/-/plugins.json", "/archive/feeds"):  # fmt: skip
        assert str(path.parent) not in httpx.get(f"{base}{page}", timeout=10).text, page
    # The table list still counts the internal tables' rows; nothing more.
    tables = {t["name"]: t for t in httpx.get(f"{base}/archive.json", timeout=10).json()["tables"]}
    assert "article_vectors" not in tables or tables["article_vectors"]["hidden"] is True


def test_an_archive_from_a_newer_version_is_served_read_only(archive, config_file, tmp_path):
    path = tmp_path / "future.db"
    shutil.copy(archive[0], path)
    db = open_db(path)
    with db.conn:
        db.execute("INSERT INTO _migrations (name, applied_at) VALUES ('future-1', 'later')")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    port = free_port()
    proc = start_serve(path, config_file, port, serve_env())
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, base)
        assert httpx.get(f"{base}/archive/stories.json", timeout=10).status_code == 200
        assert len(sql(base, "select id from articles limit 3").json()) == 3
    finally:
        stop_serve(proc)
    log = (path.parent / f"serve-{port}.log").read_text()
    assert (
        f"warning: {path} was written by a newer Tokentide (unknown migrations: future-1); "
        "serving it read-only as it is, without upgrading it." in log
    )
    assert "Traceback" not in log
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
