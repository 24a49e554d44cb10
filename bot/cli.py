"""The `tokentide` command. Thin: parse options, call one function, print the result.

Commands live beside the code they drive (`bot/<room>/commands.py`) and are imported only
when invoked, so `tokentide --help` never pulls in torch, discord.py or Datasette.
"""

from __future__ import annotations

import importlib
import logging
import os
import sqlite3
import sys
import time
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
    "outlets": (
        "bot.feeds.commands",
        "outlets_cmd",
        "Outlets in the archive; --unknown: no country.",
    ),
    "analyze": ("bot.narratives.commands", "analyze_cmd", "Embed, tag and cluster new articles."),
    "stories": ("bot.narratives.commands", "stories_cmd", "List recent stories."),
    "story": ("bot.narratives.commands", "story_cmd", "Show one story's timeline."),
    "search": ("bot.narratives.commands", "search_cmd", "Search the archive by meaning."),
    "narratives": ("bot.narratives.commands", "narratives_cmd", "List narratives (story threads)."),
    "narrative": ("bot.narratives.commands", "narrative_cmd", "Show one narrative's timeline."),
    "poll-tokens": ("bot.tokens.commands", "poll_tokens_cmd", "Fetch OpenRouter rankings now."),
    "share": ("bot.tokens.commands", "share_cmd", "Token share by country, author or model."),
    "prices": ("bot.tokens.commands", "prices_cmd", "Blended token prices and the price gap."),
    "backfill-tokens": (
        "bot.tokens.commands",
        "backfill_tokens_cmd",
        "Backfill daily rankings (Data API).",
    ),
    "digest": ("bot.run", "digest_cmd", "Compose (and --post) a digest."),
    "deliver": ("bot.run", "deliver_cmd", "Deliver pending outbox messages."),
    "serve": ("bot.site.commands", "serve_cmd", "Browse the archive in Datasette."),
    "status": ("bot.status", "status_cmd", "Jobs' last and next runs, archive, outbox."),
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
            from bot.store.db import ArchiveProblem

            if isinstance(exc, ArchiveProblem):
                exc = exc.at(_archive_path(ctx))
            _fail(exc)
        except sqlite3.DatabaseError as exc:
            # Whatever command met it, in whichever room: a full disk, a damaged page.
            from bot.store.db import archive_error

            logging.getLogger(__name__).debug("the archive raised", exc_info=True)
            _fail(archive_error(exc, _archive_path(ctx)))


def _archive_path(ctx: click.Context) -> str | None:
    """The archive file, once a command has read the settings (it has, to open the archive)."""
    obj = ctx.obj
    return obj._settings.db_path if isinstance(obj, Context) and obj._settings else None


def _fail(exc: TokentideError) -> None:
    """The one error line (secrets redacted), then exit 1, or 2 for configuration."""
    from bot.config import secrets_from_env
    from bot.logs import Redactor

    text = Redactor(vars(secrets_from_env(os.environ)).values())(str(exc))
    click.echo(f"error: {text}", err=True)
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
    # ISO 8601 UTC timestamps: 2026-11-29T08:00:01.250Z INFO bot.pipeline: poll: ...
    stamped = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    stamped.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(stamped)
    logging.basicConfig(level=level, handlers=[handler])
    # At -v each job says what it did in one line; APScheduler's own "Running job" and
    # "executed successfully" pair (every 30 s for the outbox) only shows at -vv.
    logging.getLogger("apscheduler").setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)
    # Secrets come only from the environment, so every record can be cleaned from the start,
    # before any settings are read.
    from bot.config import secrets_from_env
    from bot.logs import install_redaction

    install_redaction(vars(secrets_from_env(os.environ)).values())
    ctx.obj = Context(config_path, db_path)


def main() -> None:
    cli(prog_name="tokentide")


if __name__ == "__main__":
    main()
