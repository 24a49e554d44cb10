"""The Discord bot: slash commands, and the home of the scheduler when DISCORD_TOKEN is set.

It needs no privileged intents (slash commands arrive as interactions). The scheduler starts
inside the bot's own event loop (`setup_hook`), and the bot-channel sink reuses the bot's
HTTP client so deliveries share discord.py's rate-limit buckets with everything else.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import signal
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

import discord
import sqlite_utils
from discord import app_commands

from bot.chat.sinks import configure_route_base
from bot.chat.slash import NO_PINGS, ChatContext, register_commands
from bot.clock import to_iso, utcnow
from bot.config import Settings

log = logging.getLogger(__name__)


def command_tree_hash(tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None) -> str:
    """A fingerprint of the command set as Discord would receive it."""
    payload = [cmd.to_dict(tree) for cmd in tree.get_commands(guild=guild)]
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _state_get(db: sqlite_utils.Database, key: str) -> str | None:
    row = db.execute("SELECT value FROM chat_state WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def _state_set(db: sqlite_utils.Database, key: str, value: str, now: datetime) -> None:
    with db.conn:
        db.execute(
            "INSERT INTO chat_state (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            [key, value, to_iso(now)],
        )


async def sync_commands_if_changed(
    tree: app_commands.CommandTree,
    db: sqlite_utils.Database,
    *,
    guild_id: int | None,
    now: datetime,
) -> bool:
    """Upload the command set only when it differs from the last upload (Discord rate-limits
    command syncs hard, and a restart should not spend them). Returns True when it synced."""
    guild = discord.Object(id=guild_id) if guild_id else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    fingerprint = command_tree_hash(tree, guild)
    key = f"commands:{guild_id or 'global'}"
    if _state_get(db, key) == fingerprint:
        return False
    await tree.sync(guild=guild)
    _state_set(db, key, fingerprint, now)
    log.info("slash commands synced (%s)", key)
    return True


class TokentideBot(discord.Client):
    def __init__(self, settings: Settings, db: sqlite_utils.Database, *, run_jobs: bool = True):
        super().__init__(intents=discord.Intents(guilds=True), allowed_mentions=NO_PINGS)
        self.settings = settings
        self.db = db
        self.run_jobs = run_jobs
        self.tree = app_commands.CommandTree(self)
        self._stack = AsyncExitStack()
        self._app: Any = None
        self._scheduler: Any = None
        self.chat = ChatContext(settings=settings, db=db, embedder=self._embedder)
        register_commands(self.tree, self.chat)

    def _embedder(self) -> Any:
        if self._app is not None:
            return self._app.embedder
        from bot.narratives.embed import Embedder

        embedder = Embedder.from_settings(self.settings)
        self.chat.embedder = lambda: embedder
        return embedder

    async def setup_hook(self) -> None:
        await sync_commands_if_changed(
            self.tree, self.db, guild_id=self.settings.discord.guild_id, now=utcnow()
        )
        if self.run_jobs:
            from bot.app import open_app
            from bot.jobs import start_scheduler

            self._app = await self._stack.enter_async_context(
                open_app(self.settings, self.db, bot_http=self.http)
            )
            self._scheduler = await start_scheduler(self._app, now=utcnow())

    async def close(self) -> None:
        # Stop scheduling and let deliveries in flight finish before the HTTP session closes.
        if self._scheduler is not None:
            from bot.jobs import stop_scheduler

            await stop_scheduler(self._app, self._scheduler)
            self._scheduler = None
        await self._stack.aclose()
        await super().close()


async def run_bot(settings: Settings, db: sqlite_utils.Database) -> None:
    """Log in, sync commands if needed, run the scheduler, and serve until SIGINT/SIGTERM."""
    configure_route_base(settings.discord.api_base)
    bot = TokentideBot(settings, db)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
    async with bot:
        try:
            await bot.start(settings.secrets.discord_token or "")
        except discord.LoginFailure:
            from bot.errors import ConfigError

            raise ConfigError("DISCORD_TOKEN: Discord rejected the bot token") from None
