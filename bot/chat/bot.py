"""The Discord client: slash commands, and a `lifecycle` the process hands it.

It needs no privileged intents (slash commands arrive as interactions). When the process runs
the scheduler beside the bot (`bot.run`), it passes a lifecycle whose `start(http)` runs in
`setup_hook`, inside the bot's own event loop, with the bot's HTTP client, so deliveries share
discord.py's rate-limit buckets with everything else; `stop()` runs on close. This module knows
nothing about the scheduler itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import signal
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import discord
import sqlite_utils
from discord import app_commands

from bot.chat.slash import NO_PINGS, ChatContext, register_commands
from bot.clock import utcnow
from bot.config import Settings
from bot.store.chat_state import get_state, set_state

log = logging.getLogger(__name__)


def command_tree_hash(tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None) -> str:
    """A fingerprint of the command set as Discord would receive it."""
    payload = [cmd.to_dict(tree) for cmd in tree.get_commands(guild=guild)]
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


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
    if get_state(db, key) == fingerprint:
        return False
    await tree.sync(guild=guild)
    set_state(db, key, fingerprint, now=now)
    log.info("slash commands synced (%s)", key)
    return True


class Lifecycle(Protocol):
    """What the process runs beside the bot (the scheduler): started with the bot's HTTP
    client once logged in, stopped before the HTTP session closes."""

    async def start(self, http: Any) -> None: ...

    async def stop(self) -> None: ...


class TokentideBot(discord.Client):
    def __init__(
        self,
        settings: Settings,
        db: sqlite_utils.Database,
        *,
        embedder: Callable[[], Any] | None = None,
        build_digest: Callable[..., Any] | None = None,
        lifecycle: Lifecycle | None = None,
    ):
        super().__init__(intents=discord.Intents(guilds=True), allowed_mentions=NO_PINGS)
        self.settings = settings
        self.db = db
        self.lifecycle = lifecycle
        self.tree = app_commands.CommandTree(self)
        self.chat = ChatContext(
            settings=settings, db=db, embedder=embedder, build_digest=build_digest
        )
        register_commands(self.tree, self.chat)

    async def setup_hook(self) -> None:
        await sync_commands_if_changed(
            self.tree, self.db, guild_id=self.settings.discord.guild_id, now=utcnow()
        )
        if self.lifecycle is not None:
            await self.lifecycle.start(self.http)

    async def close(self) -> None:
        # Stop scheduling and let deliveries in flight finish before the HTTP session closes.
        if self.lifecycle is not None:
            await self.lifecycle.stop()
        await super().close()


async def serve_bot(bot: TokentideBot, token: str) -> None:
    """Log in and serve until SIGINT/SIGTERM."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
    async with bot:
        try:
            await bot.start(token)
        except discord.LoginFailure:
            from bot.errors import ConfigError

            raise ConfigError("DISCORD_TOKEN: Discord rejected the bot token") from None
