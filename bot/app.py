"""Composition root: build the archive handle, the HTTP client, the embedder and the delivery
sink once, from settings, and hand them to whoever needs them (jobs, commands, the bot)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlite_utils

from bot.config import Settings


@dataclass
class App:
    settings: Settings
    db: sqlite_utils.Database
    client: httpx.AsyncClient
    sink: Any  # bot.chat.sinks.Sink
    _embedder: Any = field(default=None, repr=False)
    # Delivery tasks running now; shutdown waits for them (a message half-sent is worse
    # than a shutdown a few seconds late).
    in_flight: set[Any] = field(default_factory=set, repr=False)

    @property
    def embedder(self) -> Any:
        """Built on first use: checking the model path is cheap, loading it happens on encode."""
        if self._embedder is None:
            from bot.narratives.embed import Embedder

            self._embedder = Embedder.from_settings(self.settings)
        return self._embedder


@asynccontextmanager
async def open_app(
    settings: Settings,
    db: sqlite_utils.Database | None = None,
    *,
    bot_http: Any = None,
    sink: Any = None,
) -> AsyncIterator[App]:
    """Everything a job needs, closed again on exit. `bot_http` is the running bot's discord.py
    HTTP client (the bot-channel sink reuses it and its rate-limit state)."""
    from bot.chat.sinks import make_sink
    from bot.feeds.fetch import make_client
    from bot.store.db import open_db

    own_db = db is None
    if db is None:
        db = open_db(settings.db_path)
    client = make_client(settings)
    try:
        if sink is None:
            sink = make_sink(settings, client=client, bot_http=bot_http)
        app = App(settings=settings, db=db, client=client, sink=sink)
        try:
            yield app
        finally:
            await sink.aclose()
    finally:
        await client.aclose()
        if own_db:
            db.close()
