"""Token-room fixtures: the OpenRouter stand-in, settings pointing at it, a fake sleep."""

from __future__ import annotations

import pytest

from bot.config import apply_env, parse_settings

from .or_server import OpenRouterStandIn


@pytest.fixture
def server():
    with OpenRouterStandIn() as srv:
        yield srv


class RecordingSleep:
    """Stands in for asyncio.sleep: records what the client asked to wait, waits nothing."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleep():
    return RecordingSleep()


def make_settings(url: str, *, key: str | None = None, openrouter: dict | None = None):
    conf = {"base_url": url, "timeout_s": 2.0, **(openrouter or {})}
    settings = parse_settings({"feeds": [], "openrouter": conf}, "test.yaml")
    env = {"OPENROUTER_API_KEY": key} if key else {}
    return apply_env(settings, env)


@pytest.fixture
def settings(server):
    return make_settings(server.url)
