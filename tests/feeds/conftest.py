"""Fixtures for the feeds room: the loopback feed server and test-sized settings."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web

from .feed_server import FeedServer, MiB


@pytest.fixture(scope="session")
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    ready = threading.Event()
    stop: dict = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        server.loop = loop
        runner = web.AppRunner(
            server.app(), handle_signals=False, access_log=None, shutdown_timeout=0.1
        )
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        server.port = site._server.sockets[0].getsockname()[1]
        stop["event"] = asyncio.Event()
        ready.set()
        loop.run_until_complete(stop["event"].wait())
        loop.run_until_complete(runner.cleanup())
        loop.close()

    # Server and client share one process: a short GIL switch interval keeps request
    # hand-offs between their threads from queueing behind 5 ms time slices.
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "feed test server did not start"
    yield server
    assert server.loop is not None
    server.loop.call_soon_threadsafe(stop["event"].set)
    thread.join(5)
    sys.setswitchinterval(old_interval)


@pytest.fixture
def feed_settings():
    """Settings factory: feeds as (name, url[, outlet]) with test-sized limits."""
    from bot.config import parse_settings

    def make(feeds, **fetch):
        cfg = {"timeout_s": 1.5, "max_bytes": 2 * MiB, "max_failures": 3, **fetch}
        items = [
            {"name": f[0], "url": f[1], **({"outlet": f[2]} if len(f) > 2 else {})} for f in feeds
        ]
        return parse_settings({"feeds": items, "fetch": cfg}, "test.yaml")

    return make
