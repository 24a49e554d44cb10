"""The `tokentide` command. Thin: parse options, call one function, print the result.

Commands live beside the code they drive (`bot/<room>/commands.py`) and are imported only
when invoked, so `tokentide --help` never pulls in torch, discord.py or Datasette.
"""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import click

from bot import __version__
from bot.errors import TokentideError

# command name -> ("module", "attribute", short help shown by `tokentide --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("bot.run", "run_cmd", "Run everything on schedule until stopped."),
    "poll": ("bot.feeds.commands", "poll_cmd", "Poll feeds that are due (or --all now)."),
    "feeds": ("bot.feeds.commands", "feeds_cmd", "Show feed health."),
    "check-config": ("bot.feeds.commands", "check_config_cmd", "Validate feeds.yaml and exit."),
    "import-opml": ("bot.feeds.commands", "import_opml_cmd", "Add feeds from an OPML file."),
    "analyze": ("bot.narratives.commands", "analyze_cmd", "Embed, tag and cluster new articles."),
    "stories": ("bot.narratives.commands", "stories_cmd", "List recent stories."),
    "story": ("bot.narratives.commands", "story_cmd", "Show one story's timeline."),
    "search": ("bot.narratives.commands", "search_cmd", "Search the archive by meaning."),
    "poll-tokens": ("bot.tokens.commands", "poll_tokens_cmd", "Fetch OpenRouter rankings now."),
    "share": ("bot.tokens.commands", "share_cmd", "Token share by country, author or model."),
    "backfill-tokens": (
        "bot.tokens.commands",
        "backfill_tokens_cmd",
        "Backfill daily rankings (Data API).",
    ),
    "digest": ("bot.run", "digest_cmd", "Compose (and --post) a digest."),
    "deliver": ("bot.run", "deliver_cmd", "Deliver pending outbox messages."),
    "serve": ("bot.site.commands", "serve_cmd", "Browse the archive in Datasette."),
}


@dataclass
class Context:
    """What every command gets: where the config and archive are, built lazily."""

    config_path: str | None
    db_path: str | None
    _settings: Any = field(default=None, repr=False)
    _db: Any = field(default=None, repr=False)

    @property
    def settings(self):
        if self._settings is None:
            from bot.config import load_settings

            self._settings = load_settings(self.config_path, self.db_path)
        return self._settings

    @property
    def db(self):
        if self._db is None:
            from bot.store.db import open_db

            self._db = open_db(self.settings.db_path)
        return self._db


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table, so listing commands imports nothing.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TokentideError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="TOKENTIDE_CONFIG",
    metavar="FILE",
    help="Config file (env TOKENTIDE_CONFIG; default ./feeds.yaml).",
)
@click.option(
    "--db",
    "db_path",
    envvar="TOKENTIDE_DB",
    metavar="FILE",
    help="Archive file (env TOKENTIDE_DB; default data/tokentide.db).",
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.version_option(__version__, prog_name="tokentide")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, db_path: str | None, verbose: int) -> None:
    """Tokentide tracks AI chips, export controls and the token economy.

    \b
    Example:
      tokentide poll --all && tokentide analyze && tokentide digest
    """
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = Context(config_path, db_path)


def main() -> None:
    cli(prog_name="tokentide")


if __name__ == "__main__":
    main()
