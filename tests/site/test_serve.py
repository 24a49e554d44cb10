"""`tokentide serve` as a real process: pages, read-only guarantee, secrets, concurrent writes."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from bot.clock import to_iso
from bot.site.site import load_metadata
from bot.store.db import open_db

from .conftest import (
    KNOWN_HEADLINE,
    REPO,
    SECRETS,
    free_port,
    serve_env,
    start_serve,
    stop_serve,
    wait_until_up,
)

QUERY_PARAMS = {
    "story_timeline": "story_id=4",
    "narrative_timeline": "narrative_id=1",
    "articles_matching": "phrase=annualized+revenue",
}


def get(base: str, path: str) -> httpx.Response:
    return httpx.get(base + path, timeout=20)


def count_articles(path: Path) -> int:
    db = open_db(path, migrate_schema=False)
    try:
        return db["articles"].count
    finally:
        db.close()


def test_home_lists_the_tables_and_hides_internal_ones(server):
    tables = {t["name"]: t for t in get(server, "/archive.json").json()["tables"]}
    for name in ("articles", "stories", "feeds", "token_usage", "token_snapshots"):
        assert tables[name]["hidden"] is False
    for name in ("_migrations", "article_vectors", "articles_fts"):
        assert name not in tables  # not served at all (tests/site/test_hardening.py)
    home = get(server, "/").text
    assert "Tokentide archive" in home and "articles" in home and "stories" in home


def test_every_canned_query_answers_with_rows(server):
    for name in load_metadata()["databases"]["archive"]["queries"]:
        url = f"/archive/{name}.json?_shape=objects&{QUERY_PARAMS.get(name, '')}"
        response = get(server, url)
        assert response.status_code == 200, (name, response.text[:300])
        assert response.json()["rows"], name
        page = get(server, f"/archive/{name}?{QUERY_PARAMS.get(name, '')}")
        assert page.status_code == 200 and "<table" in page.text, name


def test_full_text_search_finds_a_known_headline(server):
    rows = get(server, "/archive/articles.json?_search=annualized+revenue&_shape=objects").json()
    assert [r["title"] for r in rows["rows"]] == [KNOWN_HEADLINE]


def test_foreign_keys_show_labels(server):
    page = get(server, "/archive/articles?story_id=4").text
    story_title = get(server, "/archive/stories/4.json?_shape=objects").json()["rows"][0]["title"]
    assert story_title.replace("’", "&#39;") in page or story_title in page


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM articles",
        "UPDATE articles SET title = 'x'",
        "INSERT INTO feeds (url, created_at) VALUES ('http://x', 'now')",
        "WITH x AS (SELECT 1) INSERT INTO feeds (url, created_at) SELECT 'http://x', 'now' FROM x",
        "DROP TABLE articles",
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "PRAGMA query_only = 0",
    ],
)
def test_anonymous_users_cannot_write(server, archive, sql):
    before = count_articles(archive[0])
    response = httpx.get(server + "/archive.json", params={"sql": sql}, timeout=20)
    assert response.status_code in (400, 403), response.text[:300]
    assert count_articles(archive[0]) == before
    assert get(server, "/archive/feeds.json").json()["rows"].__len__() == 3


def test_every_write_method_is_refused(server, archive):
    before = count_articles(archive[0])
    paths = ["/archive/articles/-/insert", "/archive/-/create", "/archive/feed_health", "/-/logout"]
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in paths:
            response = httpx.request(method, server + path, json={"row": {"title": "x"}})
            assert response.status_code == 405, (method, path, response.status_code)
            assert "read-only" in response.text
    assert count_articles(archive[0]) == before
    plugins = {p["name"] for p in get(server, "/-/plugins.json").json()}
    # No plugin that writes: a new one here needs a look at what it lets visitors do.
    assert plugins == {
        "bot.site.facets",
        "bot.site.front",
        "bot.site.guard",
        "datasette-dashboards",
        "datasette-leaflet",
        "datasette-render-markdown",
    }


PAGES = [
    "/",
    "/.json",
    "/archive",
    "/archive/articles",
    "/archive/articles.json",
    "/archive/stories/4",
    "/archive/feeds",
    "/archive/deliveries",
    "/archive/token_usage",
    "/archive/feed_health",
    "/-/settings",
    "/-/settings.json",
    "/-/metadata",
    "/-/metadata.json",
    "/-/plugins.json",
    "/-/versions.json",
    "/-/threads.json",
    "/-/actor.json",
    "/-/config.json",
    "/-/dashboards",
    "/-/dashboards/token-share",
    "/archive.json?sql=select+*+from+pragma_function_list",
]  # /-/databases and pragma_database_list() are refused: tests/site/test_hardening.py


def test_no_secret_on_any_page_or_in_the_file(server, archive):
    seen = 0
    for path in PAGES:
        response = httpx.get(server + path, timeout=20, follow_redirects=True)
        assert response.status_code == 200, path
        for name, value in SECRETS.items():
            assert value not in response.text, f"{name} shown on {path}"
            seen += 1
    raw = Path(archive[0]).read_bytes()
    for value in SECRETS.values():
        assert value.encode() not in raw
    assert seen == len(PAGES) * len(SECRETS)


def test_pages_load_no_script_or_style_from_elsewhere(server):
    # The chart must work offline: every script and stylesheet comes from this server.
    for path in (
        "/",
        "/archive",
        "/archive/articles",
        "/-/dashboards/token-share",
        "/-/dashboards/token-share/share-over-time",
        "/archive/share_over_time",
    ):
        html = get(server, path).text
        found = re.findall(r'<(?:script|link)[^>]+(?:src|href)="((?:https?:)?//[^"]+)"', html)
        external = [url for url in found if not url.startswith(server + "/")]
        assert external == [], (path, external)
    html = get(server, "/-/dashboards/token-share").text
    for script in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js"):
        assert f"/-/static-plugins/datasette_dashboards/{script}" in html
        assert get(server, f"/-/static-plugins/datasette_dashboards/{script}").status_code == 200


@pytest.fixture
def copy_server(archive, config_file, tmp_path):
    """A second server over a copy of the archive, for tests that write to it."""
    path = tmp_path / "tokentide.db"
    shutil.copy(archive[0], path)
    port = free_port()
    proc = start_serve(path, config_file, port, serve_env())
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, base)
        yield base, path
    finally:
        stop_serve(proc)


def test_reading_while_the_bot_writes_never_sees_a_locked_database(copy_server, archive):
    base, path = copy_server
    writes = 300
    done = threading.Event()
    errors: list[str] = []

    def writer() -> None:
        db = open_db(path)  # the bot's way of opening the archive
        try:
            for i in range(writes):
                with db.conn:
                    db.execute(
                        "INSERT INTO articles (url, title, summary, outlet, fetched_at, topics)"
                        " VALUES (?, ?, ?, 'Loop', ?, '[\"chips\"]')",
                        [
                            f"https://example.org/{i}",
                            f"Loop chip story {i}",
                            "chips " * 50,
                            "2026-11-28T12:00:00Z",
                        ],
                    )
                    db.execute("UPDATE feeds SET last_checked_at = ? WHERE id = 1", [str(i)])
                if i % 100 == 50:
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                if i == 150:  # a migration landing while people browse
                    db.execute("CREATE TABLE IF NOT EXISTS extra_room (id INTEGER PRIMARY KEY)")
        except Exception as exc:  # reported to the test thread, which fails on it
            errors.append(repr(exc))
        finally:
            db.close()
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    paths = [
        "/archive/articles?_sort_desc=fetched_at",
        "/archive/articles.json?_search=chip",
        "/archive/articles?_facet_array=topics&_facet=outlet",
        "/archive/articles",
        "/",
        "/archive/top_stories_this_week",
        "/archive/feed_health.json",
        "/archive/share_over_time.json",
        "/archive",
    ]
    answered = 0
    with httpx.Client(base_url=base, timeout=30) as client:
        while not done.is_set() or answered < len(paths):
            response = client.get(paths[answered % len(paths)])
            answered += 1
            assert response.status_code == 200, response.text[:300]
            assert "database is locked" not in response.text.lower()
            assert answered < 5000  # bounded even if the writer hung
    thread.join()
    assert errors == []
    assert count_articles(path) == archive[1]["articles"] + writes
    search = client_get_json(base, "/archive/articles.json?_search=Loop+chip&_size=1")
    assert search["filtered_table_rows_count"] == writes


def client_get_json(base: str, path: str) -> dict:
    return httpx.get(base + path, timeout=20).json()


def run_serve(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=REPO,
        env=serve_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_refuses_an_archive_holding_a_secret_and_leaves_it_alone(archive, config_file, tmp_path):
    path = tmp_path / "tokentide.db"
    shutil.copy(archive[0], path)
    db = open_db(path)
    with db.conn:
        db["job_runs"].insert(
            {
                "job": "deliver",
                "started_at": to_iso(__import__("datetime").datetime(2026, 11, 28)),
                "error": f"HTTP 404 for url '{SECRETS['DISCORD_WEBHOOK_URL']}'",
            }
        )
    db.close()
    before = digest(path)
    proc = run_serve(
        ["--config", str(config_file), "--db", str(path), "serve", "--port", str(free_port())]
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "job_runs.error" in lines[0] and "Discord webhook URL" in lines[0]
    assert SECRETS["DISCORD_WEBHOOK_URL"] not in proc.stderr
    assert digest(path) == before


def test_port_in_use_is_one_clear_line(archive, config_file, tmp_path):
    path = tmp_path / "tokentide.db"
    shutil.copy(archive[0], path)
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_serve(
            ["--config", str(config_file), "--db", str(path), "serve", "--port", str(port)]
        )
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "--port" in proc.stderr
    assert count_articles(path) == archive[1]["articles"]


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_bad_port_is_a_usage_error(config_file, tmp_path, port):
    proc = run_serve(
        ["--config", str(config_file), "--db", str(tmp_path / "a.db"), "serve", "--port", port]
    )
    assert proc.returncode == 2
    assert "--port" in proc.stderr
    assert not (tmp_path / "a.db").exists()


def test_not_an_archive_is_one_clear_line_and_untouched(config_file, tmp_path):
    path = tmp_path / "tokentide.db"
    path.write_bytes(b"this is not a database\n" * 100)
    before = digest(path)
    proc = run_serve(
        ["--config", str(config_file), "--db", str(path), "serve", "--port", str(free_port())]
    )
    assert proc.returncode == 1
    assert str(path) in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert digest(path) == before


def test_a_fresh_archive_is_created_migrated_and_served(config_file, tmp_path):
    path = tmp_path / "new" / "tokentide.db"
    port = free_port()
    proc = start_serve(path, config_file, port, serve_env())
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, base)
        assert get(base, "/archive/articles.json").json()["rows"] == []
        for name in ("feed_health", "latest_share_by_country", "share_over_time"):
            assert get(base, f"/archive/{name}.json").status_code == 200
    finally:
        stop_serve(proc)
    db = open_db(path, migrate_schema=False)
    assert "core-1" in {r[0] for r in db.execute("SELECT name FROM _migrations")}
    db.close()


def test_articles_page_shows_topic_outlet_and_story_facets(server):
    for query in ("", "?_search=AI", "?outlet=TechCrunch"):
        page = get(server, f"/archive/articles{query}").text
        assert "These facets timed out" not in page
        body = get(server, f"/archive/articles.json{query}").json()
        shown = {f["name"] for f in body["facet_results"].values() if f["results"]}
        assert {"topic", "outlet", "story_id"} <= shown, (query, shown)
