"""`tokentide digest`, `deliver` and `run --once` as a user runs them: a real process, a real
archive file, and the local Discord stand-in reached through DISCORD_API_BASE."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from bot.clock import to_iso, utcnow
from bot.store.db import open_db

ROOT = Path(__file__).resolve().parents[2]

HEADLINES = [
    "@everyone Nvidia H20 export ban <@&123456> widened",
    "**TSMC** [2nm](https://evil.example/phish) fab ||delayed|| <@42>",
    "DeepSeek tokens surge as Qwen follows @here",
]


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "feeds:\n"
        '  - {name: "Offline feed", url: "http://127.0.0.1:9/rss", outlet: Nowhere}\n'
        "fetch: {timeout_s: 1}\n"
        'openrouter: {base_url: "http://127.0.0.1:9", timeout_s: 1, max_retries: 0,'
        " retry_backoff_s: 0.01, requests_per_minute: 6000}\n"
        "discord: {backoff_base_s: 0.05, backoff_max_s: 0.2, max_inline_wait_s: 1.0,"
        " timeout_s: 3}\n" + extra,
        encoding="utf-8",
    )
    return config


def seed_stories(db_path: Path) -> None:
    """Three clustered stories from the last hours, with hostile headlines."""
    db = open_db(db_path)
    now = utcnow()
    with db.conn:
        for n, title in enumerate(HEADLINES, 1):
            db.execute(
                "INSERT INTO stories (id, title, first_seen, last_seen, article_count, "
                "outlet_count, first_outlet, topics) VALUES (?, ?, ?, ?, 2, 2, 'SCMP', ?)",
                [n, title, to_iso(now), to_iso(now), json.dumps(["chips"])],
            )
            for k, outlet in enumerate(["SCMP", "Reuters"]):
                db.execute(
                    "INSERT INTO articles (url, title, outlet, published_at, fetched_at, "
                    "story_id, topics, analyzed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        f"https://news.example/{n}/{k}",
                        title,
                        outlet,
                        to_iso(now),
                        to_iso(now),
                        n,
                        json.dumps(["chips"]),
                        to_iso(now),
                    ],
                )
    db.close()


async def tokentide(
    *args: str, env: dict[str, str] | None = None, cwd: Path
) -> tuple[int, str, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "TOKENTIDE_"))}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(ROOT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    write_config(tmp_path)
    seed_stories(tmp_path / "data" / "tokentide.db")
    return tmp_path


async def test_digest_post_delivers_once_through_500_and_429(fake, workdir):
    env = {"DISCORD_API_BASE": fake.base, "DISCORD_WEBHOOK_URL": f"{fake.base}/webhooks/1/tok"}
    fake.fail_next(500)
    fake.fail_next(429, retry_after=0.05)
    code, out, err = await tokentide("digest", "--post", env=env, cwd=workdir)
    assert code == 0, err
    assert len(fake.plan) == 0  # both injected failures were met
    first = list(fake.messages)
    assert first, err
    # Everything accepted was within Discord's limits and pings nobody.
    assert all(m["allowed_mentions"] == {"parse": []} for m in first)
    text = json.dumps([m["content"] for m in first] + [m["embeds"] for m in first])
    assert "@everyone" not in text and "<@&123456>" not in text and "evil.example" not in text
    db = open_db(workdir / "data" / "tokentide.db")
    row = db.execute("SELECT status, attempts, message_ids FROM deliveries").fetchone()
    assert row[0] == "sent" and json.loads(row[2]) == [m["id"] for m in first]

    # The same period again: nothing new.
    code, out, err = await tokentide("digest", "--post", env=env, cwd=workdir)
    assert code == 0 and "already queued" in err
    assert fake.messages == first

    # --force sends it again, once.
    code, out, err = await tokentide("digest", "--post", "--force", env=env, cwd=workdir)
    assert code == 0, err
    assert len(fake.messages) == 2 * len(first)


async def test_run_once_without_discord_prints_and_writes_markdown(workdir):
    code, out, err = await tokentide("run", "--once", cwd=workdir)
    assert code == 0, err
    assert "Nvidia H20" in out  # the digest went to the console
    files = list((workdir / "data" / "digests").glob("digest-*.md"))
    assert len(files) == 1 and "Nvidia H20" in files[0].read_text()
    db = open_db(workdir / "data" / "tokentide.db")
    runs = dict(db.execute("SELECT job, status FROM job_runs").fetchall())
    assert set(runs) == {
        "poll_feeds",
        "analyze",
        "breaking_alerts",
        "poll_tokens",
        "detect_changes",
        "daily_digest",
        "deliver",
    }
    assert runs["poll_tokens"] == "error" and runs["deliver"] == "ok"  # offline, not fatal
    assert db.execute("SELECT status FROM deliveries").fetchone()[0] == "sent"
    # A second cycle the same day does not post the digest again.
    code, out2, err = await tokentide("run", "--once", cwd=workdir)
    assert code == 0, err
    assert "Nvidia H20" not in out2


async def test_digest_prints_text_and_json_without_posting(workdir):
    code, out, err = await tokentide("digest", "--hours", "6", cwd=workdir)
    assert code == 0, err
    assert "Nvidia H20" in out
    code, out, err = await tokentide("digest", "--json", cwd=workdir)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["story_count"] == 3
    db = open_db(workdir / "data" / "tokentide.db")
    assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0


async def test_bad_inputs_fail_cleanly_and_keep_the_queue(fake, workdir):
    code, out, err = await tokentide("digest", "--hours", "-3", cwd=workdir)
    assert code == 2 and "--hours" in err
    env = {"DISCORD_API_BASE": fake.base, "DISCORD_WEBHOOK_URL": "https://example.com/hooks/x"}
    code, out, err = await tokentide("digest", "--post", env=env, cwd=workdir)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: DISCORD_WEBHOOK_URL")
    db = open_db(workdir / "data" / "tokentide.db")
    # Checked before anything is queued; the archive is untouched.
    assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM stories").fetchone()[0] == 3
    # With a good URL the digest goes out.
    env["DISCORD_WEBHOOK_URL"] = f"{fake.base}/webhooks/1/tok"
    code, out, err = await tokentide("digest", "--post", env=env, cwd=workdir)
    assert code == 0, err
    code, out, err = await tokentide("deliver", env=env, cwd=workdir)
    assert code == 0 and out.startswith("sent 0"), err


async def test_digest_post_through_the_bot_channel(fake, workdir):
    config = workdir / "feeds.yaml"
    config.write_text(config.read_text().replace("timeout_s: 3}", "timeout_s: 3, channel_id: 555}"))
    env = {"DISCORD_API_BASE": fake.base, "DISCORD_TOKEN": fake.token}
    fake.fail_next(503)  # discord.py gives up on 503 at once; our retry takes over
    code, out, err = await tokentide("digest", "--post", env=env, cwd=workdir)
    assert code == 0, err
    posted = [m for m in fake.messages if m["where"] == "channel:555"]
    assert posted and all(m["nonce"] and m["allowed_mentions"] == {"parse": []} for m in posted)
    code, out, err = await tokentide("deliver", env=env, cwd=workdir)
    assert code == 0 and out.startswith("sent 0"), err
    assert len(fake.messages) == len(posted)
