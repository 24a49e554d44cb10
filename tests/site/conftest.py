"""An archive filled from real captured feeds, and a real `tokentide serve` over it.

The articles come from three publishers' captured feeds (tests/fixtures/archive/), fetched by
the feeds room's real poll from a local HTTP server; stories group a few of them; token_usage rows
are made up (six ISO weeks, a handful of makers). The server is the real command in a
subprocess on a free localhost port, with fake secrets in its environment so tests can prove
they never reach a page.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.clock import to_iso
from bot.store.db import open_db
from bot.store.stories import refresh_outlet_leads, refresh_story_outlets

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "archive"
ARTIFACTS = REPO / "test-artifacts"

# (file, feed name, outlet, content type)
FEEDS = [
    ("theregister_headlines.atom", "The Register", "The Register", "application/atom+xml"),
    ("techcrunch_ai_feed.xml", "TechCrunch – AI", "TechCrunch", "application/rss+xml"),
    ("theverge_ai_index.xml", "The Verge – AI", "The Verge", "application/atom+xml"),
]
# Values that must never appear on any page (they are set in the server's environment).
SECRETS = {
    "DISCORD_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.secret-discord-token-do-not-show",
    "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1234567890/secret-webhook-token-xyz",
    "OPENROUTER_API_KEY": "sk-or-v1-0123456789abcdef0123456789abcdef-secret-key",
}
# Made-up weekly tokens per (author, country), in billions; CN rises week by week.
MAKERS = [
    ("openai", "US", 60),
    ("anthropic", "US", 50),
    ("google", "US", 40),
    ("deepseek", "CN", 20),
    ("qwen", "CN", 15),
    ("mistralai", "FR", 8),
    ("stealth", "UNKNOWN", 3),
]
KNOWN_HEADLINE = "Anthropic’s annualized revenue surges to $65B"
STORY_SIZE = 4


def _topics_for(title: str) -> list[str]:
    text = title.lower()
    topics = []
    if any(w in text for w in ("chip", "nvidia", "gpu", "semiconductor")):
        topics.append("chips")
    if any(w in text for w in ("export", "ban", "sanction")):
        topics.append("export_controls")
    if any(w in text for w in ("token", "revenue", "price", "openai", "anthropic")):
        topics.append("token_economics")
    return topics


class _FeedHandler(http.server.BaseHTTPRequestHandler):
    """Serves the captured feeds with their real content types (a local stand-in publisher)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        types = {file: ctype for file, _, _, ctype in FEEDS}
        name = self.path.lstrip("/")
        if name not in types:
            self.send_error(404)
            return
        body = (FIXTURES / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", types[name])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep test output clean
        pass


def poll_fixture_feeds(db, now: datetime) -> int:
    """Run the feeds room's real poll against a local server serving the captured feeds."""
    from bot.config import parse_settings
    from bot.feeds.fetch import make_client
    from bot.feeds.poll import poll_feeds, sync_config_feeds

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FeedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        feeds = [
            {"name": name, "url": f"http://127.0.0.1:{port}/{file}", "outlet": outlet}
            for file, name, outlet, _ in FEEDS
        ]
        settings = parse_settings({"feeds": feeds, "fetch": {"timeout_s": 10}}, "test.yaml")
        sync_config_feeds(db, settings, now=now)

        async def poll() -> dict:
            async with make_client(settings) as client:
                return await poll_feeds(db, settings, client, now=now, all_feeds=True)

        counts = asyncio.run(poll())
    finally:
        server.shutdown()
        server.server_close()
    assert counts["errors"] == 0 and counts["new_articles"] > 0, counts
    return counts["new_articles"]


def fill_archive(path: Path, now: datetime) -> dict:
    """Fill a fresh archive at `path`; returns facts the tests check against."""
    db = open_db(path)
    facts: dict = {"stories": {}, "articles": poll_fixture_feeds(db, now)}
    with db.conn:
        # Topic tags as the narratives room would leave them (keyword stand-in, no model here).
        for article_id, title in db.execute("SELECT id, title FROM articles").fetchall():
            db.execute(
                "UPDATE articles SET topics = ? WHERE id = ?",
                [json.dumps(_topics_for(title)), article_id],
            )
        # Stories: the first STORY_SIZE articles of each feed, so each story has one outlet,
        # plus one cross-outlet story made of every feed's newest article.
        feed_ids = [r[0] for r in db.execute("SELECT id FROM feeds ORDER BY id").fetchall()]
        for feed_id in feed_ids:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM articles WHERE feed_id = ? ORDER BY id LIMIT ?",
                    [feed_id, STORY_SIZE],
                ).fetchall()
            ]
            _make_story(db, ids, facts)
        newest = [
            r[0]
            for r in db.execute(
                "SELECT (SELECT id FROM articles a WHERE a.feed_id = f.id "
                "ORDER BY published_at DESC LIMIT 1) FROM feeds f ORDER BY f.id"
            ).fetchall()
        ]
        facts["cross_outlet_story"] = _make_story(db, newest, facts)
        # A narrative: the first two stories, as analyze would link them.
        first_two = [r[0] for r in db.execute("SELECT id FROM stories ORDER BY id LIMIT 2")]
        title = facts["stories"][first_two[0]][0]
        row = {"title": title, "story_count": 2, "created_at": "2026-11-28T00:00:00Z"}
        facts["narrative"] = db["narratives"].insert(row).last_pk
        db.execute(
            "UPDATE stories SET narrative_id = ? WHERE id IN (?, ?)",
            [facts["narrative"], *first_two],
        )
        refresh_outlet_leads(db)  # as the end of an analysis does
        _fill_tokens(db, now)
        db.execute(
            "UPDATE feeds SET error_count = 3, last_error = 'HTTP 503' WHERE id = ?",
            [feed_ids[-1]],
        )
    db.close()
    return facts


def _make_story(db, article_ids: list[int], facts: dict) -> int:
    marks = ",".join("?" * len(article_ids))
    rows = db.execute(
        f"SELECT id, title, outlet, published_at, topics FROM articles WHERE id IN ({marks}) "
        "ORDER BY published_at",
        article_ids,
    ).fetchall()
    topics = sorted({t for r in rows for t in json.loads(r[4])})
    story_id = (
        db["stories"]
        .insert(
            {
                "title": rows[0][1],
                "representative_article_id": rows[0][0],
                "first_seen": rows[0][3],
                "last_seen": rows[-1][3],
                "article_count": len(rows),
                "outlet_count": len({r[2] for r in rows}),
                "first_outlet": rows[0][2],
                "topics": json.dumps(topics),
            }
        )
        .last_pk
    )
    db.execute(f"UPDATE articles SET story_id = ? WHERE id IN ({marks})", [story_id, *article_ids])
    refresh_story_outlets(db, [story_id])  # as analyze keeps them with the story's lead
    facts["stories"][story_id] = [r[1] for r in rows]
    return story_id


def _fill_tokens(db, now: datetime) -> None:
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0)
    for week in range(6, 0, -1):
        start = monday - timedelta(weeks=week)
        end = start + timedelta(days=7)
        snapshot = (
            db["token_snapshots"]
            .insert(
                {
                    "source": "market-share",
                    "fetched_at": to_iso(end),
                    "window_start": to_iso(start),
                    "window_end": to_iso(end),
                    "granularity": "week",
                    "content_hash": f"hash-{week}",
                    "payload": "{}",
                }
            )
            .last_pk
        )
        db["token_usage"].insert_all(
            {
                "snapshot_id": snapshot,
                "window_start": to_iso(start),
                "window_end": to_iso(end),
                "granularity": "week",
                "source": "market-share",
                "model": f"{author}/model-{week}",
                "author": author,
                "country": country,
                "total_tokens": int(
                    billions * 10**9 * (1 + (6 - week) * 0.1 if country == "CN" else 1)
                ),
            }
            for author, country, billions in MAKERS
        )
        # Prompt/completion split (4:1) so the weeks can be priced, as rankings/models rows are.
        db.execute(
            "UPDATE token_usage SET variant = 'standard', prompt_tokens = total_tokens * 4 / 5,"
            " completion_tokens = total_tokens - total_tokens * 4 / 5 WHERE snapshot_id = ?",
            [snapshot],
        )
    # One made-up price list, fetched before the first week and seen until now: USD per token
    # (US makers $3/$15 per million, Chinese $0.30/$1.20, mistralai $1/$3; stealth unlisted).
    prices = {"US": (3e-6, 15e-6), "CN": (0.3e-6, 1.2e-6), "FR": (1e-6, 3e-6)}
    listed = (
        db["price_snapshots"]
        .insert(
            {
                "fetched_at": to_iso(monday - timedelta(weeks=6)),
                "last_seen_at": to_iso(now),
                "content_hash": "prices-1",
                "models": 36,
            }
        )
        .last_pk
    )
    db["model_prices"].insert_all(
        {
            "snapshot_id": listed,
            "model_id": f"{author}/model-{week}",
            "canonical_slug": f"{author}/model-{week}",
            "model": f"{author}/model-{week}",
            "variant": "standard",
            "prompt_price": prices[country][0],
            "completion_price": prices[country][1],
            "hugging_face_id": f"{author}/Model-{week}" if country != "US" else None,
        }
        for week in range(6, 0, -1)
        for author, country, _ in MAKERS
        if country in prices
    )


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("archive") / "tokentide.db"
    facts = fill_archive(path, datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    return path, facts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENTIDE_")}
    env.update(SECRETS)
    env.update(extra or {})
    return env


def start_serve(db: Path, config: Path, port: int, env: dict) -> subprocess.Popen:
    # Output goes to a file beside the archive: an unread pipe would fill up and stall the server.
    db.parent.mkdir(parents=True, exist_ok=True)
    log = open(db.parent / f"serve-{port}.log", "w+", encoding="utf-8")  # noqa: SIM115
    args = ["--config", str(config), "--db", str(db), "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    proc.log = log
    return proc


def stop_serve(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.log.close()


def wait_until_up(proc: subprocess.Popen, base: str, timeout_s: float = 30.0) -> None:
    """Poll the server until it answers (bounded), failing early if the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            proc.log.seek(0)
            raise AssertionError(f"serve exited {proc.returncode}: {proc.log.read()}")
        try:
            if httpx.get(f"{base}/-/versions.json", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("serve did not answer in time")


@pytest.fixture(scope="session")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "feeds.yaml"
    path.write_text("feeds: []\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def server(archive, config_file):
    """Base URL of a real `tokentide serve` over the test archive."""
    path, _ = archive
    port = free_port()
    proc = start_serve(path, config_file, port, serve_env())
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, base)
        yield base
    finally:
        stop_serve(proc)
