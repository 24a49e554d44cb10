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
    serves until Ctrl-C. Nobody can change the archive through it.

    \b
    Example:
      tokentide serve --port 8001    # then open http://127.0.0.1:8001/
    """
    from bot.site.leaks import describe_leaks, find_leaks
    from bot.site.site import build_datasette, run_server

    settings = obj.settings
    leaks = find_leaks(obj.db, settings.secrets)  # obj.db opens the archive and migrates it
    if leaks:
        raise TokentideError(describe_leaks(settings.db_path, leaks))
    _check_port_free(host, port)
    ds = build_datasette(settings.db_path)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Serving {settings.db_path} read-only at http://{shown}:{port}/", err=True)
    run_server(ds, host=host, port=port)
