"""The four feed commands through the real CLI: poll, feeds, check-config, import-opml.

End-to-end runs start `python -m bot` as a subprocess against the loopback server; one of them
is killed mid-poll to show a rerun neither duplicates nor loses articles.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import cli

from .feed_server import PUBLISHER_FEEDS

EXPECTED = {
    "theregister_headlines.atom": 50,
    "techmeme_feed.xml": 15,
    "techcrunch_ai_feed.xml": 20,
    "theverge_ai_index.xml": 10,
    "scmp_semiconductors_synthetic.xml": 3,
}
HOSTILE = ["/drip", "/gzip-bomb", "/loop/a", "/login", "/empty", "/status/404", "/status/429"]


def write_config(path: Path, feeds: list[dict], **fetch) -> Path:
    fetch = {"timeout_s": 1.5, "max_bytes": 2 * 1024 * 1024, **fetch}
    path.write_text(yaml.safe_dump({"feeds": feeds, "fetch": fetch}), encoding="utf-8")
    return path


def publisher_feeds(server, prefix: str = "/feed/") -> list[dict]:
    return [{"name": n, "url": server.url(prefix + n), "outlet": n} for n in PUBLISHER_FEEDS]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, timeout=120
    )


def per_feed_counts(db_file: Path) -> dict[str, int]:
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute(
            "SELECT feeds.name, count(articles.id) FROM feeds "
            "LEFT JOIN articles ON articles.feed_id = feeds.id GROUP BY feeds.id"
        ).fetchall()
    return dict(rows)


def test_poll_all_end_to_end_archives_good_items_once(tmp_path, feed_server):
    feeds = publisher_feeds(feed_server) + [
        {"name": f"hostile {p}", "url": feed_server.url(p)} for p in HOSTILE
    ]
    config = write_config(tmp_path / "feeds.yaml", feeds)
    db_file = tmp_path / "archive.db"
    first = run_cli("--config", str(config), "--db", str(db_file), "poll", "--all")
    assert first.returncode == 0, first.stderr
    assert "polled 12 feeds: 98 new articles, 0 not modified, 7 errors" in first.stdout
    second = run_cli("--config", str(config), "--db", str(db_file), "poll", "--all")
    assert "0 new articles, 5 not modified" in second.stdout
    counts = per_feed_counts(db_file)
    for name, n in EXPECTED.items():
        assert counts[name] == n
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchone() == (
            98,
            98,
        )
        errors = dict(conn.execute("SELECT name, last_error FROM feeds WHERE name LIKE 'hostile%'"))
    assert all(errors[f"hostile {p}"] for p in HOSTILE), errors
    assert "Traceback" not in first.stderr + second.stderr


def test_killed_mid_poll_then_rerun_no_duplicate_no_loss(tmp_path, feed_server):
    # per_host 1 on one slow host: feeds finish one after another, ~0.3 s apart.
    config = write_config(
        tmp_path / "feeds.yaml", publisher_feeds(feed_server, "/slow/"), per_host=1
    )
    db_file = tmp_path / "archive.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(config),
            "--db",
            str(db_file),
            "poll",
            "--all",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    done_at_kill = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if db_file.exists():
                try:
                    with sqlite3.connect(db_file, timeout=1) as conn:
                        done_at_kill = conn.execute(
                            "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL"
                        ).fetchone()[0]
                except sqlite3.OperationalError:
                    done_at_kill = 0  # schema not created yet
                if done_at_kill >= 1:
                    break
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    assert 1 <= done_at_kill < len(EXPECTED), "the kill must land mid-cycle"
    rerun = run_cli("--config", str(config), "--db", str(db_file), "poll", "--all")
    assert rerun.returncode == 0, rerun.stderr
    assert per_feed_counts(db_file) == EXPECTED
    with sqlite3.connect(db_file) as conn:
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT url) FROM articles"
        ).fetchone()
    assert total == distinct == sum(EXPECTED.values())


def test_poll_and_feeds_health_in_process(tmp_path, feed_server):
    feeds = [
        {"name": "Verge", "url": feed_server.url("/feed/theverge_ai_index.xml"), "outlet": "V"},
        {"name": "Gone", "url": feed_server.url("/status/404")},
        {"name": "Off", "url": feed_server.url("/feed/techmeme_feed.xml"), "enabled": False},
    ]
    config = write_config(tmp_path / "feeds.yaml", feeds)
    base = ["--config", str(config), "--db", str(tmp_path / "a.db")]
    runner = CliRunner()
    result = runner.invoke(cli, [*base, "poll"])
    assert result.exit_code == 0, result.output
    assert "polled 2 feeds: 10 new articles" in result.output
    table = runner.invoke(cli, [*base, "feeds"])
    assert table.exit_code == 0
    lines = table.output.splitlines()
    assert lines[0].split() == ["name", "last", "success", "errors", "next", "check", "status"]
    gone = next(line for line in lines if line.startswith("Gone"))
    assert "never" in gone and "error: not found (HTTP 404)" in gone
    assert next(line for line in lines if line.startswith("Verge")).rstrip().endswith("ok")
    assert next(line for line in lines if line.startswith("Off")).rstrip().endswith("off")
    doc = json.loads(runner.invoke(cli, [*base, "feeds", "--json"]).output)
    by_name = {row["name"]: row for row in doc}
    assert set(by_name) == {"Verge", "Gone", "Off"}
    assert by_name["Gone"]["error_count"] == 1
    assert by_name["Gone"]["last_error"].startswith("not found (HTTP 404)")
    assert by_name["Verge"]["last_success_at"] and by_name["Off"]["enabled"] is False
    assert {"next_check_at", "disabled_reason", "url"} <= set(by_name["Verge"])


def test_check_config_summary(tmp_path):
    config = write_config(
        tmp_path / "feeds.yaml",
        [{"name": "a", "url": "https://a.example/feed"}, {"url": "https://b.example/rss"}],
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "check-config"], env={})
    assert result.exit_code == 0, result.output
    assert f"{config}: OK" in result.output
    assert "feeds: 2 (2 enabled)" in result.output
    assert "topics: chips, export_controls, token_economics" in result.output
    assert "destination: console" in result.output


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("feeds: []\nfetch: {timout_s: 3}\n", "fetch.timout_s: unknown key"),
        ("feeds:\n  - {url: ftp://x}\n", "feeds[0].url: expected an http(s) URL"),
        ("feeds: [\n", "invalid YAML"),
    ],
)
def test_config_typo_exits_2_with_one_line(tmp_path, text, needle):
    config = tmp_path / "feeds.yaml"
    config.write_text(text, encoding="utf-8")
    result = run_cli("--config", str(config), "check-config")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and str(config) in lines[0]
    poll = run_cli("--config", str(config), "--db", str(tmp_path / "x.db"), "poll")
    assert poll.returncode == 2 and len(poll.stderr.strip().splitlines()) == 1


def test_missing_config_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "nope.yaml"), "check-config"])
    assert result.exit_code == 2
    assert "config file not found" in result.output


OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>subs</title></head><body>
  <outline text="Tech">
    <outline type="rss" text="Ars AI" title="Ars Technica AI" xmlUrl="https://arstechnica.com/ai/feed/"/>
    <outline type="rss" text="Rest of World" xmlUrl="https://restofworld.org/feed/latest"/>
  </outline>
  <outline type="rss" text="dup" xmlUrl="https://restofworld.org/feed/latest"/>
</body></opml>
"""


def feeds_rows(db_file: Path) -> list[tuple]:
    with sqlite3.connect(db_file) as conn:
        return conn.execute("SELECT url, name, origin FROM feeds ORDER BY url").fetchall()


def test_import_opml_adds_feeds_once(tmp_path):
    config = write_config(tmp_path / "feeds.yaml", [])
    opml = tmp_path / "subs.opml"
    opml.write_text(OPML, encoding="utf-8")
    base = ["--config", str(config), "--db", str(tmp_path / "a.db")]
    result = CliRunner().invoke(cli, [*base, "import-opml", str(opml)])
    assert result.exit_code == 0, result.output
    assert "2 feeds added, 0 already present" in result.output
    assert feeds_rows(tmp_path / "a.db") == [
        ("https://arstechnica.com/ai/feed/", "Ars Technica AI", "opml"),
        ("https://restofworld.org/feed/latest", "Rest of World", "opml"),
    ]
    again = CliRunner().invoke(cli, [*base, "import-opml", str(opml)])
    assert "0 feeds added, 2 already present" in again.output


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("<opml><body><outline xmlUrl='https://a.example/f'>", "not valid OPML/XML"),
        ("<rss version='2.0'><channel/></rss>", "not an OPML file"),
        ("<opml><body><outline text='folder'/></body></opml>", "no feeds found"),
        (
            "<opml><body><outline xmlUrl='https://ok.example/f'/>"
            "<outline text='bad' xmlUrl='file:///etc/passwd'/></body></opml>",
            "feed 'bad': expected an http(s) URL",
        ),
        (
            '<!DOCTYPE opml [<!ENTITY a "aaaa">]><opml><body>'
            "<outline xmlUrl='https://a.example/&a;'/></body></opml>",
            "DOCTYPE or entity",
        ),
    ],
)
def test_bad_opml_changes_nothing(tmp_path, text, needle):
    config = write_config(tmp_path / "feeds.yaml", [{"url": "https://kept.example/feed"}])
    db_file = tmp_path / "a.db"
    base = ["--config", str(config), "--db", str(db_file)]
    CliRunner().invoke(cli, [*base, "feeds"])  # syncs the config feed
    before = feeds_rows(db_file)
    opml = tmp_path / "bad.opml"
    opml.write_text(text, encoding="utf-8")
    result = run_cli(*base, "import-opml", str(opml))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and str(opml) in lines[0]
    assert feeds_rows(db_file) == before


def test_every_feed_command_has_an_example():
    for name in ("poll", "feeds", "check-config", "import-opml"):
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Example:" in result.output
