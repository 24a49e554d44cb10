"""Feed HTTP: the only module that talks to feed servers.

One shared `httpx.AsyncClient` (built by `make_client`) does every request. Redirects are followed
here, one hop at a time, so loops and over-long chains get a clear error and each hop counts
against its own host's concurrency slot. Bodies are read raw and decompressed here with a bounded
output size, so a gzip bomb costs at most `fetch.max_bytes` of memory before it is cut off.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit

import httpx

from bot import __version__
from bot.config import FetchConfig, Settings
from bot.errors import FeedError
from bot.feeds.addresses import AddressPolicy, Resolver, refusal_text, system_resolver
from bot.feeds.schedule import parse_retry_after

PROJECT_URL = "https://github.com/tokentide/tokentide"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


class FetchError(FeedError):
    """A check that failed. `unreachable` marks network-level failures (DNS, no route) that
    may mean the machine is offline rather than the feed being broken."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s
        self.unreachable = unreachable


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int  # 200, or 304 when the validators still match
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names


class HostLimiter:
    """Per-host semaphores for one poll cycle (host:port, so each loopback port is a host)."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._slots: dict[str, asyncio.Semaphore] = {}

    def slot(self, url: str) -> asyncio.Semaphore:
        parts = urlsplit(url)
        key = f"{(parts.hostname or '').lower()}:{parts.port or ''}"
        if key not in self._slots:
            self._slots[key] = asyncio.Semaphore(self.per_host)
        return self._slots[key]


class AddressRefused(FetchError):
    """A Discord-added feed (or a redirect it followed) reached for a non-public address."""


# Request extension marking a request whose every connection must go to a checked address.
PUBLIC_ONLY = "tokentide.public_only"


class PerHostTransport(httpx.AsyncBaseTransport):
    """One small connection pool per origin behind the one shared client.

    httpcore's pool scans every pooled connection for every queued request, which grows
    quadratically with a few hundred feeds on dozens of hosts (most of a cycle's CPU in
    benchmarks/poll.py). Per-origin pools keep each scan to a couple of connections.

    Requests marked `PUBLIC_ONLY` (feeds added from Discord) get pools of their own: the host
    is resolved here, every address is checked against `policy`, and the request goes to the
    checked address itself (TLS still verifies the host name), so a second DNS lookup cannot
    swap in an internal address, and no connection opened for an operator's feed is reused."""

    def __init__(
        self,
        per_host: int,
        *,
        policy: AddressPolicy | None = None,
        resolve: Resolver = system_resolver,
    ) -> None:
        self._limits = httpx.Limits(
            max_connections=max(per_host * 2, 4), max_keepalive_connections=per_host
        )
        self._pools: dict[tuple[bool, bytes, bytes, int | None], httpx.AsyncHTTPTransport] = {}
        self._ssl: ssl.SSLContext | None = None  # loading the CA bundle costs ~0.1 s: once
        self._policy = policy or AddressPolicy()
        self._resolve = resolve

    def _pool(self, key: tuple[bool, bytes, bytes, int | None]) -> httpx.AsyncHTTPTransport:
        pool = self._pools.get(key)
        if pool is None:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            pool = httpx.AsyncHTTPTransport(limits=self._limits, verify=self._ssl)
            self._pools[key] = pool
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        checked = bool(request.extensions.get(PUBLIC_ONLY)) and not self._policy.allow_private
        pool = self._pool((checked, url.raw_scheme, url.raw_host, url.port))
        if checked:
            request = await self._pinned(request)
        return await pool.handle_async_request(request)

    async def _pinned(self, request: httpx.Request) -> httpx.Request:
        """The same request sent to a checked address of its host (AddressRefused if none)."""
        url = request.url
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = await self._resolve(host, port)
        except (OSError, UnicodeError):
            raise FetchError(f"DNS lookup failed for {url.host}", unreachable=True) from None
        if not addresses:
            raise FetchError(f"{url.host} did not resolve to any address", unreachable=True)
        refused = self._policy.first_refusal(addresses)
        if refused:
            raise AddressRefused(refusal_text(url.host, *refused))
        extensions = {k: v for k, v in request.extensions.items() if k != PUBLIC_ONLY}
        if url.scheme == "https":
            extensions["sni_hostname"] = host
        # The Host header already names the host; only the connection target changes.
        return httpx.Request(
            request.method,
            url.copy_with(host=addresses[0]),
            headers=request.headers,
            stream=request.stream,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


def user_agent(settings: Settings) -> str:
    return settings.fetch.user_agent or f"Tokentide/{__version__} (+{PROJECT_URL})"


def make_client(settings: Settings, *, resolve: Resolver = system_resolver) -> httpx.AsyncClient:
    """The one client for feed HTTP; build it once at start-up and pass it around.

    `resolve` is the DNS lookup behind feeds added from Discord (see PerHostTransport)."""
    cfg = settings.fetch
    return httpx.AsyncClient(
        headers={
            "User-Agent": user_agent(settings),
            "Accept": ACCEPT,
            # Only encodings we decompress ourselves under the size cap (see _read_capped).
            "Accept-Encoding": "gzip, deflate",
        },
        follow_redirects=False,
        timeout=httpx.Timeout(cfg.timeout_s),
        transport=PerHostTransport(
            cfg.per_host, policy=AddressPolicy.from_settings(settings.discord), resolve=resolve
        ),
    )


def _decoder(encoding: str):
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        # 32 + MAX_WBITS accepts both gzip and zlib headers (servers mislabel deflate often).
        return zlib.decompressobj(32 + zlib.MAX_WBITS)
    raise FetchError(f"server used an unsupported compression ({encoding!r})")


async def _read_capped(raw: AsyncIterator[bytes], encoding: str, max_bytes: int) -> bytes:
    decoder = _decoder(encoding)
    parts: list[bytes] = []
    total = 0

    def take(data: bytes) -> None:
        nonlocal total
        total += len(data)
        if total > max_bytes:
            raise FetchError(f"feed is larger than the {max_bytes // (1024 * 1024)} MiB limit")
        parts.append(data)

    try:
        async for chunk in raw:
            if decoder is None:
                take(chunk)
                continue
            # max_length bounds each step's output, so a bomb never inflates past the cap.
            data = decoder.decompress(chunk, max_bytes - total + 1)
            take(data)
            while decoder.unconsumed_tail:
                take(decoder.decompress(decoder.unconsumed_tail, max_bytes - total + 1))
        if decoder is not None:
            take(decoder.flush())
    except zlib.error as exc:
        raise FetchError(f"compressed body is corrupt ({exc})") from None
    return b"".join(parts)


def _status_error(status: int, retry_after_s: float | None) -> FetchError:
    if status == 404:
        text = "not found (HTTP 404): the feed URL may have moved"
    elif status == 410:
        text = "gone (HTTP 410): the publisher removed this feed"
    elif status in (401, 403):
        text = f"access denied (HTTP {status}): the feed needs a login or blocks us"
    elif status == 429:
        text = "rate limited (HTTP 429)"
    elif status == 503:
        text = "service unavailable (HTTP 503)"
    elif status >= 500:
        text = f"server error (HTTP {status})"
    else:
        text = f"unexpected HTTP status {status}"
    if retry_after_s is not None:
        text += f", asked to retry after {retry_after_s:.0f} s"
    return FetchError(text, status=status, retry_after_s=retry_after_s)


def _connect_error(exc: BaseException, host: str) -> FetchError:
    """Plain words for connection failures; DNS and routing failures are 'unreachable'."""
    seen = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return FetchError(f"DNS lookup failed for {host}", unreachable=True)
        if isinstance(seen, OSError) and seen.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return FetchError(f"no route to {host} (network unreachable)", unreachable=True)
        if isinstance(seen, ConnectionRefusedError) or (
            isinstance(seen, OSError) and seen.errno == errno.ECONNREFUSED
        ):
            return FetchError(f"connection refused by {host}")
        seen = seen.__cause__ or seen.__context__
    text = str(exc).lower()
    if "name or service not known" in text or "nodename nor servname" in text:
        return FetchError(f"DNS lookup failed for {host}", unreachable=True)
    if "connection refused" in text:
        return FetchError(f"connection refused by {host}")
    return FetchError(f"could not connect to {host}: {exc or type(exc).__name__}")


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    cfg: FetchConfig,
    limiter: HostLimiter,
    now: datetime,
    public_only: bool = False,
) -> Fetched:
    """GET a feed conditionally. Returns 200 with the body or 304; raises FetchError with a
    message fit for the feeds table. The timeout covers every hop and the whole body.

    `public_only` (feeds added from Discord) checks the address of every hop as it connects:
    a redirect, or a name that resolves differently now, to an internal address is refused
    with AddressRefused."""
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    loop = asyncio.get_running_loop()
    deadline: float | None = None
    seen = {url}
    current = url
    for _hop in range(cfg.max_redirects + 1):
        host = urlsplit(current).hostname or current
        async with limiter.slot(current):
            # The clock starts once we hold a slot: queueing behind our own limit is not the
            # server's slowness.
            if deadline is None:
                deadline = loop.time() + cfg.timeout_s
            try:
                async with asyncio.timeout_at(deadline):
                    result = await _one_hop(client, current, headers, cfg, now, public_only)
            except AddressRefused as exc:
                if current == url:
                    raise
                raise AddressRefused(f"redirected to {current}: {exc}") from None
            except TimeoutError:
                raise FetchError(
                    f"timed out after {cfg.timeout_s:g} s (slow or stalled server at {host})"
                ) from None
            except httpx.TimeoutException:
                raise FetchError(f"timed out waiting for {host}") from None
            except httpx.ConnectError as exc:
                raise _connect_error(exc, host) from None
            except (httpx.RemoteProtocolError, httpx.LocalProtocolError) as exc:
                raise FetchError(f"{host} broke the HTTP protocol: {exc}") from None
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise FetchError(f"invalid feed URL: {exc}") from None
            except httpx.TransportError as exc:
                raise FetchError(
                    f"network error talking to {host}: {exc or type(exc).__name__}"
                ) from None
        if isinstance(result, Fetched):
            return result
        target = result
        if target in seen:
            raise FetchError(f"redirect loop: {current} points back to {target}")
        seen.add(target)
        current = target
    raise FetchError(f"too many redirects (more than {cfg.max_redirects}) starting at {url}")


async def _one_hop(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    cfg: FetchConfig,
    now: datetime,
    public_only: bool = False,
) -> Fetched | str:
    """One request: a Fetched result, or the absolute URL a redirect points to."""
    extensions = {PUBLIC_ONLY: True} if public_only else None
    async with client.stream("GET", url, headers=headers, extensions=extensions) as resp:
        status = resp.status_code
        if status in REDIRECT_CODES:
            location = resp.headers.get("location")
            if not location:
                raise FetchError(f"HTTP {status} redirect without a Location header", status=status)
            target = urljoin(url, location)
            if not target.startswith(("http://", "https://")):
                raise FetchError(f"redirect to a non-web address: {target}", status=status)
            return target
        response_headers = {k.lower(): v for k, v in resp.headers.items()}
        if status == 304:
            return Fetched(url=url, status=304, headers=response_headers)
        if not 200 <= status < 300:
            retry_after = None
            if status in (429, 503):
                retry_after = parse_retry_after(resp.headers.get("retry-after"), now=now)
            raise _status_error(status, retry_after)
        body = await _read_capped(
            resp.aiter_raw(), resp.headers.get("content-encoding", ""), cfg.max_bytes
        )
        return Fetched(url=url, status=200, body=body, headers=response_headers)
