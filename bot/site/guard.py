"""Datasette hooks that keep the archive read-only, whatever plugins are installed.

Datasette 0.65 has no write API of its own, but any installed plugin could add one, and
plugins are loaded from the environment. So permissions are deny-by-default: reading actions
keep Datasette's defaults, every other action (inserts, uploads, a plugin's own write
permission) is refused for everyone, and every method but GET, HEAD and OPTIONS is refused
before Datasette sees the request. (The connections themselves are read-only too: see
`bot.site.site`.)
"""

from __future__ import annotations

import sys

from datasette import hookimpl
from datasette.plugins import pm

# Actions that only read; Datasette's defaults decide these (anonymous may view and run SQL).
READ_ACTIONS = frozenset(
    {
        "view-instance",
        "view-database",
        "view-database-download",
        "view-table",
        "view-query",
        "execute-sql",
        # Root-only by Datasette's defaults, and `serve` never creates a root actor.
        "permissions-debug",
        "debug-menu",
    }
)


def register() -> None:
    """Add these hooks to Datasette's plugin manager (once per process)."""
    module = sys.modules[__name__]
    if not pm.is_registered(module):
        pm.register(module)


@hookimpl
def permission_allowed(actor, action, resource):
    if action in READ_ACTIONS:
        return None
    return False


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Datasette's list of attached databases shows the archive's path on the server's disk,
# which is nobody's business; the archive itself is at /archive.
PATH_PAGES = ("/-/databases",)


async def _answer(send, status: int, text: bytes, headers: list | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": text})


@hookimpl
def asgi_wrapper(datasette):
    # A read-only archive needs no POST at all: refuse every other method before Datasette
    # (or a plugin) sees the request, so no form or API can write, now or after an upgrade.
    def wrap(app):
        async def read_only(scope, receive, send):
            if scope["type"] == "http" and scope["method"] not in READ_METHODS:
                allow = [(b"allow", b"GET, HEAD, OPTIONS")]
                await _answer(send, 405, b"The archive is read-only.\n", allow)
                return
            if scope["type"] == "http" and scope["path"].startswith(PATH_PAGES):
                await _answer(send, 404, b"Not found.\n")
                return
            await app(scope, receive, send)

        return read_only

    return wrap
