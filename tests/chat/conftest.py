"""Fixtures for the chat room: a running fake Discord and settings pointed at it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Secrets, Settings, parse_settings

from .fake_discord import FakeDiscord

# Small numbers so retries and waits never hold a test up.
FAST = {
    "discord": {
        "timeout_s": 2.0,
        "max_attempts": 15,
        "backoff_base_s": 30.0,
        "backoff_max_s": 1800.0,
        "max_inline_wait_s": 1.0,
    }
}


@pytest.fixture
async def fake():
    server = FakeDiscord()
    await server.start()
    yield server
    await server.stop()


def make_settings(
    db_path: Path,
    *,
    base: str = "http://127.0.0.1:9/api/v10",
    webhook: str | None = None,
    token: str | None = None,
    channel_id: int | None = None,
    extra: dict | None = None,
) -> Settings:
    data = {key: dict(value) for key, value in FAST.items()}
    data["discord"]["api_base"] = base
    if channel_id is not None:
        data["discord"]["channel_id"] = channel_id
    for section, values in (extra or {}).items():
        data.setdefault(section, {}).update(values)
    settings = parse_settings(data, "test.yaml")
    return replace(
        settings,
        db_path=str(db_path),
        secrets=Secrets(discord_token=token, discord_webhook_url=webhook),
    )


@pytest.fixture
def webhook_settings(db_path: Path, fake: FakeDiscord) -> Settings:
    return make_settings(db_path, base=fake.base, webhook=f"{fake.base}/webhooks/1/tok")


@pytest.fixture
def bot_settings(db_path: Path, fake: FakeDiscord) -> Settings:
    return make_settings(db_path, base=fake.base, token=fake.token, channel_id=555)


@pytest.fixture(autouse=True)
def _restore_route_base():
    """discord.py's Route.BASE is process-wide; put it back after each test that moves it."""
    from discord.http import Route

    saved = Route.BASE
    yield
    Route.BASE = saved
