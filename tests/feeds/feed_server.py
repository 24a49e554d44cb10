"""A real HTTP server on 127.0.0.1 serving captured feeds and hostile responses.

It runs aiohttp in a background thread with its own event loop, so both async tests and CLI
tests (which call asyncio.run themselves) can talk to it.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from aiohttp import web

FEED_FIXTURES = Path(__file__).parent.parent / "fixtures" / "feeds"
MiB = 1024 * 1024

PUBLISHER_FEEDS = {
    "theregister_headlines.atom": "application/atom+xml",
    "techmeme_feed.xml": "application/rss+xml",
    "techcrunch_ai_feed.xml": "application/rss+xml; charset=UTF-8",
    "theverge_ai_index.xml": "application/xml; charset=utf-8",
    "scmp_semiconductors_synthetic.xml": "application/rss+xml; charset=utf-8",
}

ENTITY_BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">\n'
    + b"".join(
        f' <!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n'.encode() for i in range(9)
    )
    + b']>\n<rss version="2.0"><channel><title>bomb</title>'
    b"<item><title>&j;</title><link>http://bomb.example/1</link><description>&j;</description>"
    b"</item></channel></rss>"
)

LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
    b"<form method=post><input name=user><input type=password name=pw></form></body></html>"
)

INVALID_UTF8 = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>bad bytes</title>'
    b"<item><title>Caf\xc3 \xff\xfe broken bytes</title><link>http://utf8.example/1</link>"
    b"</item></channel></rss>"
)


def corpus_files() -> list[Path]:
    return sorted((FEED_FIXTURES / "feedparser_tests").rglob("*.xml"))


def corpus_headers(path: Path) -> dict[str, str]:
    """feedparser's corpus lists HTTP headers to send in its leading comment ('Header: k: v')."""
    headers = {}
    for line in path.read_bytes().decode("latin-1").splitlines()[:12]:
        if line.startswith("Header:"):
            name, _, value = line[len("Header:") :].strip().partition(":")
            headers[name.strip()] = value.strip()
    headers.setdefault("Content-Type", "application/xml")
    return headers


def _gzip_bomb(size: int) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * MiB
    out = [comp.compress(block) for _ in range(size // MiB)]
    out.append(comp.flush())
    return b"".join(out)


class FeedServer:
    """Routes: /feed/<file> (fixtures, with ETag/Last-Modified and 304), /corpus/<relpath>,
    /slow/<file>, /dyn/<name> (set per test), and hostile ones (see _routes)."""

    LAST_MODIFIED = "Sat, 28 Nov 2026 08:00:00 GMT"

    def __init__(self) -> None:
        self.dynamic: dict[str, tuple[int, dict[str, str], bytes, bool]] = {}
        self.last_request_headers: dict[str, dict[str, str]] = {}
        self.inflight = 0
        self.max_inflight = 0
        self.hits: dict[str, int] = {}
        self.conditional_hits: dict[str, int] = {}
        self.slow_s = 0.3
        self.gzip_bomb = _gzip_bomb(64 * MiB)  # ~64 KiB on the wire
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set(
        self,
        name: str,
        body: bytes,
        *,
        status: int = 200,
        headers: dict | None = None,
        conditional: bool = True,
    ) -> str:
        """Serve `body` at /dyn/<name> until set again; conditional=False sends no validators."""
        headers = headers or {"Content-Type": "application/rss+xml"}
        self.dynamic[name] = (status, headers, body, conditional)
        return self.url(f"/dyn/{name}")

    def _count(self, request: web.Request) -> None:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        self.last_request_headers[request.path] = dict(request.headers)
        if request.headers.get("If-None-Match") or request.headers.get("If-Modified-Since"):
            self.conditional_hits[request.path] = self.conditional_hits.get(request.path, 0) + 1

    def _serve_bytes(self, request: web.Request, body: bytes, headers: dict) -> web.Response:
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=body, headers={**headers, "ETag": etag, "Last-Modified": self.LAST_MODIFIED}
        )

    async def feed(self, request: web.Request) -> web.Response:
        self._count(request)
        name = request.match_info["name"]
        path = FEED_FIXTURES / name
        if name not in PUBLISHER_FEEDS or not path.exists():
            raise web.HTTPNotFound()
        return self._serve_bytes(
            request, path.read_bytes(), {"Content-Type": PUBLISHER_FEEDS[name]}
        )

    async def slow(self, request: web.Request) -> web.Response:
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            await asyncio.sleep(self.slow_s)
        finally:
            self.inflight -= 1
        return await self.feed(request)

    async def corpus(self, request: web.Request) -> web.Response:
        self._count(request)
        path = (FEED_FIXTURES / "feedparser_tests" / request.match_info["rel"]).resolve()
        if not path.is_file() or FEED_FIXTURES not in path.parents:
            raise web.HTTPNotFound()
        return web.Response(body=path.read_bytes(), headers=corpus_headers(path))

    async def dyn(self, request: web.Request) -> web.Response:
        self._count(request)
        status, headers, body, conditional = self.dynamic[request.match_info["name"]]
        if status == 200 and conditional:
            return self._serve_bytes(request, body, headers)
        return web.Response(status=status, body=body, headers=headers)

    async def drip(self, request: web.Request) -> web.StreamResponse:
        self._count(request)
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await resp.prepare(request)
        await resp.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
        for _ in range(600):  # one byte every 0.2 s, far beyond the test timeout
            await asyncio.sleep(0.2)
            await resp.write(b" ")
        return resp

    async def big(self, request: web.Request) -> web.StreamResponse:
        self._count(request)
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await resp.prepare(request)
        await resp.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>')
        for _ in range(4):
            await resp.write(b"x" * MiB)
        await resp.write(b"</title></channel></rss>")
        return resp

    async def bomb(self, request: web.Request) -> web.Response:
        self._count(request)
        return web.Response(
            body=self.gzip_bomb,
            headers={"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"},
        )

    async def gzipped(self, request: web.Request) -> web.Response:
        self._count(request)
        body = gzip.compress((FEED_FIXTURES / "techmeme_feed.xml").read_bytes())
        return web.Response(
            body=body, headers={"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
        )

    async def loop_a(self, request: web.Request) -> web.Response:
        self._count(request)
        raise web.HTTPFound("/loop/b")

    async def loop_b(self, request: web.Request) -> web.Response:
        self._count(request)
        raise web.HTTPMovedPermanently("/loop/a")

    async def chain(self, request: web.Request) -> web.Response:
        self._count(request)
        n = int(request.match_info["n"])
        if n == 0:
            raise web.HTTPFound("/feed/techmeme_feed.xml")
        raise web.HTTPTemporaryRedirect(f"/chain/{n - 1}")

    async def moved(self, request: web.Request) -> web.Response:
        self._count(request)
        raise web.HTTPMovedPermanently("/feed/techcrunch_ai_feed.xml")

    async def status(self, request: web.Request) -> web.Response:
        self._count(request)
        code = int(request.match_info["code"])
        headers = {"Content-Type": "text/html"}
        if code == 503:
            headers["Retry-After"] = "7200"
        if code == 429:
            when = datetime(2026, 11, 28, 12, 0, tzinfo=UTC) + timedelta(hours=3)
            headers["Retry-After"] = format_datetime(when, usegmt=True)
        return web.Response(status=code, body=b"<html><body>nope</body></html>", headers=headers)

    async def fixed(self, request: web.Request) -> web.Response:
        self._count(request)
        body, ctype = {
            "/entity-bomb": (ENTITY_BOMB, "application/rss+xml"),
            "/login": (LOGIN_PAGE, "text/html; charset=utf-8"),
            "/empty": (b"", "application/rss+xml"),
            "/invalid-utf8": (INVALID_UTF8, "application/rss+xml; charset=utf-8"),
        }[request.path]
        return web.Response(body=body, headers={"Content-Type": ctype})

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/feed/{name}", self.feed),
                web.get("/slow/{name}", self.slow),
                web.get("/corpus/{rel:.+}", self.corpus),
                web.get("/dyn/{name}", self.dyn),
                web.get("/drip", self.drip),
                web.get("/big", self.big),
                web.get("/gzip-bomb", self.bomb),
                web.get("/gzipped", self.gzipped),
                web.get("/loop/a", self.loop_a),
                web.get("/loop/b", self.loop_b),
                web.get("/moved", self.moved),
                web.get("/chain/{n}", self.chain),
                web.get("/status/{code}", self.status),
                web.get("/entity-bomb", self.fixed),
                web.get("/login", self.fixed),
                web.get("/empty", self.fixed),
                web.get("/invalid-utf8", self.fixed),
            ]
        )
        return app
