"""No secret in any log line, at any verbosity, from our code or a library's.

httpx logs every request at INFO: `POST …/webhooks/123456/TOKEN?wait=true`. The commands that
post (`digest --post`, `deliver`, `run --once`, and the daemon) run here as real processes at
-v and -vv against the local Discord stand-in, with every secret set; their output must show
the webhook's id but never its token, the bot token or the OpenRouter key.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import pytest

from bot.clock import utcnow
from bot.config import load_settings
from bot.logs import REDACTED, Redactor, install_redaction
from bot.pipeline import compose_and_enqueue_digest
from bot.store.db import open_db
from tests.chat.fake_discord import FakeDiscord
from tests.chat.test_commands import seed_stories, write_config

from .process import clean_env

WEBHOOK_TOKEN = "SECRETTOKEN-0123456789_abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUV"
BOT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.SECRET-bot-token-value"
OPENROUTER_KEY = "sk-or-v1-SECRETKEY0123456789abcdef0123456789abcdef"
SECRET_PARTS = ("SECRETTOKEN", "SECRET-bot-token", "SECRETKEY")


@pytest.fixture
async def fake():
    server = FakeDiscord()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    write_config(tmp_path)
    seed_stories(tmp_path / "data" / "tokentide.db")
    return tmp_path


def secret_env(fake: FakeDiscord) -> dict[str, str]:
    return clean_env(
        DISCORD_API_BASE=fake.base,
        DISCORD_WEBHOOK_URL=f"{fake.base}/webhooks/123456/{WEBHOOK_TOKEN}",
        # Set, so they are known to the filter, but unused: no channel_id, an offline API.
        DISCORD_TOKEN=BOT_TOKEN,
        OPENROUTER_API_KEY=OPENROUTER_KEY,
    )


async def tokentide(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=180)
    return proc.returncode, out.decode()


def assert_clean(output: str) -> None:
    for part in SECRET_PARTS:
        assert part not in output, output
    # The request was logged, with the webhook's id and without its token.
    assert f"/webhooks/123456/{REDACTED}?wait=true" in output, output


@pytest.mark.parametrize("verbosity", ["-v", "-vv"])
async def test_digest_post_logs_no_secret(fake, workdir, verbosity):
    code, output = await tokentide(verbosity, "digest", "--post", cwd=workdir, env=secret_env(fake))
    assert code == 0, output
    assert fake.messages
    assert_clean(output)


@pytest.mark.parametrize("verbosity", ["-v", "-vv"])
async def test_deliver_logs_no_secret(fake, workdir, verbosity):
    env = secret_env(fake)
    archive = workdir / "data" / "tokentide.db"
    settings = load_settings(workdir / "feeds.yaml", archive, env=env)
    db = open_db(archive)
    assert compose_and_enqueue_digest(db, settings, now=utcnow()) is not None
    db.close()
    code, output = await tokentide(verbosity, "deliver", cwd=workdir, env=env)
    assert code == 0, output
    assert fake.messages
    assert_clean(output)


@pytest.mark.parametrize("verbosity", ["-v", "-vv"])
async def test_run_once_logs_no_secret(fake, workdir, verbosity):
    code, output = await tokentide(verbosity, "run", "--once", cwd=workdir, env=secret_env(fake))
    assert code == 0, output
    assert fake.messages
    assert_clean(output)


@pytest.mark.parametrize("verbosity", ["-v", "-vv"])
async def test_the_daemon_logs_no_secret(fake, workdir, verbosity):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        verbosity,
        "run",
        cwd=workdir,
        # Without the bot token: the scheduler alone (the stand-in speaks no gateway).
        env={k: v for k, v in secret_env(fake).items() if k != "DISCORD_TOKEN"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []

    async def until_posted() -> None:
        # The daemon catches up today's digest at start and delivers it.
        while True:
            line = await proc.stdout.readline()
            if not line:
                raise AssertionError("the daemon stopped:\n" + "".join(lines))
            lines.append(line.decode())
            if "/webhooks/123456/" in lines[-1]:
                return

    try:
        await asyncio.wait_for(until_posted(), timeout=120)
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    output = "".join(lines) + rest.decode()
    assert proc.returncode == 0, output
    assert fake.messages
    assert_clean(output)


def test_every_record_is_cleaned_whoever_logs_it(caplog):
    handler_count = len(logging.getLogger().handlers)
    assert handler_count  # pytest's capture handlers stand in for the CLI's stderr handler
    install_redaction([f"https://discord.test/api/webhooks/42/{WEBHOOK_TOKEN}", BOT_TOKEN])
    try:
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("httpx").info(
                'HTTP Request: POST %s "HTTP/1.1 200 OK"',
                f"https://discord.test/api/webhooks/42/{WEBHOOK_TOKEN}?wait=true",
            )
            logging.getLogger("discord.http").debug("token is %s", BOT_TOKEN)
            logging.getLogger("bot.tokens").warning("key %s refused", OPENROUTER_KEY)
            try:
                raise RuntimeError(f"failed with {BOT_TOKEN}")
            except RuntimeError:
                logging.getLogger("bot.run").exception("job failed")
        text = caplog.text
        for part in SECRET_PARTS:
            assert part not in text
        assert "webhooks/42/[redacted]?wait=true" in text and "token is [redacted]" in text
        assert "key [redacted] refused" in text and "RuntimeError: failed with [redacted]" in text
    finally:
        install_redaction([])


def test_the_redactor_keeps_ordinary_text():
    redact = Redactor(["short", None, "", BOT_TOKEN])
    assert redact("a short note about /api/v10/channels/5/messages") == (
        "a short note about /api/v10/channels/5/messages"
    )
    assert redact(f"Bot {BOT_TOKEN}") == "Bot [redacted]"
