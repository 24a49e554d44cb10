"""`tokentide serve`: the archive in Datasette, read-only. Thin: checks, then serves."""

from __future__ import annotations

import socket

import click

from bot.errors import TokentideError


def _check_port_free(host: str, port: int) -> None:
    # uvicorn only logs a bind failure; saying it in one line with the fix is kinder.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise TokentideError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                "(is something else using it? pass --port or --host)"
            ) from None


def _open_archive(obj):
    """The archive, migrated; or, when a newer Tokentide wrote it, read-only as it is."""
    from bot.store.db import open_read_only
    from bot.store.migrations import FutureArchiveError, unknown_migrations

    try:
        return obj.db  # opens the archive and applies pending migrations
    except FutureArchiveError:
        db = open_read_only(obj.settings.db_path)
        click.echo(
            f"warning: {obj.settings.db_path} was written by a newer Tokentide (unknown "
            f"migrations: {', '.join(unknown_migrations(db))}); serving it read-only as it "
            "is, without upgrading it. Some pages may not match this version.",
            err=True,
        )
        return db


@click.command("serve")
@click.option(
    "--port", default=8001, show_default=True, type=click.IntRange(1, 65535), help="TCP port."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 for every interface, as in Docker).",
)
@click.pass_obj
def serve_cmd(obj, port: int, host: str) -> None:
    """Browse the archive in Datasette, read-only, with search, canned queries and a chart.

    Applies pending migrations first, refuses to serve an archive holding a secret, then
    serves until Ctrl-C. Nobody can change the archive through it. An archive written by a
    newer Tokentide is served as it is, read-only and not upgraded, with a warning.

    \b
    Example:
      tokentide serve --port 8001    # then open http://127.0.0.1:8001/
    """
    from bot.site.leaks import describe_leaks, find_leaks
    from bot.site.limits import heap_limit, value_limit
    from bot.site.site import build_datasette, run_server
    from bot.store.db import limit_sqlite_heap

    settings = obj.settings
    db = _open_archive(obj)
    leaks = find_leaks(db, settings.secrets)
    if leaks:
        raise TokentideError(describe_leaks(settings.db_path, leaks))
    _check_port_free(host, port)
    # This process only serves reads: SQLite's memory in it is capped once, here.
    limit_sqlite_heap(heap_limit(value_limit(settings.openrouter.max_bytes)))
    ds = build_datasette(settings.db_path, max_payload_bytes=settings.openrouter.max_bytes)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Serving {settings.db_path} read-only at http://{shown}:{port}/", err=True)
    run_server(ds, host=host, port=port)
