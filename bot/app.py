"""Composition root: every resource the process uses is built here, once, from settings, and
handed to whoever needs it (the pipeline, the commands, the Discord bot).

    feed_client   httpx client for feeds (no redirects followed by httpx: fetch checks each hop)
    api_client    httpx client for OpenRouter (redirects followed, JSON Accept)
    db            the write connection (the event loop's; worker threads open their own)
    read_only     a factory of read-only connections, one per reader
    embedder      the sentence-transformers model, loaded on first encode
    parse_pool    processes that parse feed bodies (`fetch.parse_processes`), or None
    sink          where deliveries go (bot channel, webhook with its own client, or console)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import sqlite_utils

from bot.config import Settings

T = TypeVar("T")


@dataclass
class App:
    settings: Settings
    db: sqlite_utils.Database
    feed_client: httpx.AsyncClient
    api_client: httpx.AsyncClient
    sink: Any  # bot.chat.sinks.Sink
    read_only: Callable[[], sqlite_utils.Database]
    embedder: Any  # bot.narratives.embed.Embedder
    parse_pool: Any = None  # concurrent.futures.Executor
    # Delivery tasks running now; shutdown waits for them (a message half-sent is worse
    # than a shutdown a few seconds late).
    in_flight: set[Any] = field(default_factory=set, repr=False)

    def open_writer(self) -> sqlite_utils.Database:
        """A separate write connection for a worker thread: one SQLite connection must not
        carry two threads' transactions at once."""
        from bot.store.db import open_db

        return open_db(self.settings.db_path, migrate_schema=False)

    async def in_thread(self, fn: Callable[[sqlite_utils.Database], T], *, write: bool) -> T:
        """Run `fn(db)` in a worker thread on its own connection (writable or read-only)."""

        def call() -> T:
            db = self.open_writer() if write else self.read_only()
            try:
                return fn(db)
            finally:
                db.close()

        return await asyncio.to_thread(call)


@asynccontextmanager
async def open_app(
    settings: Settings,
    db: sqlite_utils.Database | None = None,
    *,
    bot_http: Any = None,
    sink: Any = None,
    parse_pool: bool = False,
) -> AsyncIterator[App]:
    """Everything the process needs, closed again on exit.

    `db` lets a caller that already opened the archive (the CLI) share it; `bot_http` is the
    running bot's discord.py HTTP client (the bot-channel sink reuses it and its rate-limit
    state); `sink` replaces the configured sink (tests); `parse_pool` starts the feed parser
    processes (the daemon and `poll` want them, one-shot commands that do not poll do not).
    """
    from bot.chat.sinks import make_sink
    from bot.feeds.fetch import make_client, user_agent
    from bot.feeds.poll import make_parse_pool
    from bot.narratives.embed import Embedder
    from bot.store.db import open_db, read_only_factory
    from bot.tokens.client import make_api_client

    async with AsyncExitStack() as stack:
        if db is None:
            db = open_db(settings.db_path)
            stack.callback(db.close)
        feed_client = make_client(settings)
        stack.push_async_callback(feed_client.aclose)
        api_client = make_api_client(settings)
        stack.push_async_callback(api_client.aclose)
        pool = make_parse_pool(settings) if parse_pool else None
        if pool is not None:
            stack.callback(pool.shutdown, cancel_futures=True)
        if sink is None:
            # The webhook sink's own client: Discord's answers must not share the feed
            # client's redirect policy and Accept header, nor OpenRouter's timeouts.
            discord_client = httpx.AsyncClient(headers={"User-Agent": user_agent(settings)})
            stack.push_async_callback(discord_client.aclose)
            sink = make_sink(settings, client=discord_client, bot_http=bot_http)
        stack.push_async_callback(sink.aclose)
        yield App(
            settings=settings,
            db=db,
            feed_client=feed_client,
            api_client=api_client,
            sink=sink,
            read_only=read_only_factory(settings.db_path),
            embedder=Embedder.from_settings(settings),
            parse_pool=pool,
        )
