"""The only module that talks to OpenRouter over HTTP.

It returns decoded JSON plus the raw body (stored for audit) and turns every way a request can
go wrong into one OpenRouterError line a person can act on. Waiting (Retry-After, backoff, the
Data API's 30 requests/minute) goes through an injected `sleep`, so tests run without waiting.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bot import __version__
from bot.config import Settings
from bot.errors import OpenRouterError
from bot.models import SnapshotTotals
from bot.tokens.sources import MARKET_SHARE, MODEL_LIST, RANKINGS_DAILY, RANKINGS_MODELS

log = logging.getLogger(__name__)

PATHS = {
    RANKINGS_DAILY: "/api/v1/datasets/rankings-daily",
    RANKINGS_MODELS: "/api/frontend/v1/rankings/models",
    MARKET_SHARE: "/api/frontend/v1/rankings/market-share",
    MODEL_LIST: "/api/v1/models",
}

Sleep = Callable[[float], Awaitable[Any]]


class OpenRouterAuthError(OpenRouterError):
    """The key was refused: falling back to keyless sources would hide that from the operator."""


class RejectedAnswer(OpenRouterError):
    """OpenRouter answered 200 with a body we cannot use (HTML, not JSON, nested too deeply,
    too large, or failing the snapshot checks): recorded in `rejected_snapshots`."""

    def __init__(
        self,
        message: str,
        *,
        verdict: str = "rejected",
        content_hash: str | None = None,
        totals: SnapshotTotals | None = None,
    ) -> None:
        super().__init__(message)
        self.verdict = verdict  # rejected | held (for confirmation by the next poll)
        self.content_hash = content_hash
        self.totals = totals


@dataclass(frozen=True)
class Fetched:
    source: str
    url: str
    payload: Any  # decoded JSON (None for the model list, which its own parser reads)
    body: str  # the response text exactly as received
    raw: bytes = b""  # the body's bytes (the model list only)


def make_api_client(settings: Settings) -> httpx.AsyncClient:
    """The one place an HTTP client for OpenRouter is built: JSON wanted, redirects followed,
    openrouter.timeout_s per request. The caller owns it (closes it); polls take it as given."""
    return httpx.AsyncClient(
        timeout=settings.openrouter.timeout_s,
        headers={"User-Agent": f"Tokentide/{__version__}", "Accept": "application/json"},
        follow_redirects=True,
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from bot.clock import utcnow  # an HTTP date needs "now"; only this edge reads the clock

    return max(0.0, (when - utcnow()).total_seconds())


class OpenRouterClient:
    def __init__(
        self, settings: Settings, http: httpx.AsyncClient, *, sleep: Sleep = asyncio.sleep
    ):
        self.settings = settings
        self.conf = settings.openrouter
        self.http = http
        self.sleep = sleep
        self.api_key = settings.secrets.openrouter_api_key

    async def rankings_daily(
        self, start_date: date | None = None, end_date: date | None = None
    ) -> Fetched:
        if not self.api_key:
            raise OpenRouterError(
                "the OpenRouter Data API (rankings-daily) needs OPENROUTER_API_KEY; set it in the "
                "environment (https://openrouter.ai/settings/keys)"
            )
        params = {}
        if start_date:
            params["start_date"] = start_date.isoformat()
        if end_date:
            params["end_date"] = end_date.isoformat()
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return await self._get(RANKINGS_DAILY, params, headers)

    async def rankings_models(self) -> Fetched:
        # No `view` parameter: OpenRouter answers with a rolling 7 days.
        return await self._get(RANKINGS_MODELS, {}, {})

    async def market_share(self) -> Fetched:
        return await self._get(MARKET_SHARE, {}, {})

    async def model_list(self) -> Fetched:
        """`/api/v1/models` (keyless), undecoded: `tokens.prices.parse_models` reads the bytes
        itself (prices as Decimals) and checks the list as a whole."""
        return await self._get(MODEL_LIST, {}, {}, decode=False)

    async def _get(
        self, source: str, params: dict, headers: dict, *, decode: bool = True
    ) -> Fetched:
        url = self.conf.base_url.rstrip("/") + PATHS[source]
        where = f"OpenRouter {source} ({url})"
        attempts = self.conf.max_retries + 1
        for attempt in range(attempts):
            last_try = attempt == attempts - 1
            backoff = self.conf.retry_backoff_s * (2**attempt)
            try:
                # A total deadline: httpx's own timeout applies to each read, so a server
                # dripping bytes could otherwise hold a poll for ever.
                async with asyncio.timeout(self.conf.timeout_s):
                    status, resp_headers, body = await self._fetch(url, params, headers, where)
            except (httpx.TimeoutException, TimeoutError):
                problem = f"{where}: no answer within openrouter.timeout_s={self.conf.timeout_s:g}s"
                if last_try:
                    raise OpenRouterError(problem) from None
                log.warning("%s; retrying in %gs", problem, backoff)
                await self.sleep(backoff)
                continue
            except httpx.TransportError as exc:
                problem = f"{where}: cannot connect ({exc.__class__.__name__}: {exc})"
                if last_try:
                    raise OpenRouterError(problem) from None
                log.warning("%s; retrying in %gs", problem, backoff)
                await self.sleep(backoff)
                continue
            if status in (401, 403):
                if "Authorization" in headers:
                    raise OpenRouterAuthError(
                        f"{where}: HTTP {status} - OpenRouter rejected OPENROUTER_API_KEY; set a "
                        "valid key, or unset it to use the keyless rankings"
                    )
                raise OpenRouterError(
                    f"{where}: HTTP {status} - the keyless endpoint refused us; set "
                    "OPENROUTER_API_KEY to use the Data API instead"
                )
            if status == 429:
                wait = _retry_after(resp_headers.get("Retry-After"))
                wait = backoff if wait is None else wait
                if last_try or wait > self.conf.retry_after_max_s:
                    raise OpenRouterError(
                        f"{where}: rate limited (HTTP 429, Retry-After {wait:g}s, limit "
                        f"openrouter.retry_after_max_s={self.conf.retry_after_max_s:g}s); try later"
                    )
                log.warning("%s: HTTP 429, waiting %gs as asked", where, wait)
                await self.sleep(wait)
                continue
            if status >= 500:
                if last_try:
                    raise OpenRouterError(
                        f"{where}: HTTP {status} from OpenRouter after {attempts} tries; try later"
                    )
                log.warning("%s: HTTP %s; retrying in %gs", where, status, backoff)
                await self.sleep(backoff)
                continue
            if status != 200:
                raise OpenRouterError(f"{where}: unexpected HTTP {status}")
            if not decode:
                return Fetched(source=source, url=url, payload=None, body="", raw=body)
            return self._decode(source, url, where, resp_headers, body)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def _fetch(
        self, url: str, params: dict, headers: dict, where: str
    ) -> tuple[int, httpx.Headers, bytes]:
        """GET with the body streamed and capped at openrouter.max_bytes (read only on 200)."""
        async with self.http.stream(
            "GET", url, params=params, headers=headers, timeout=self.conf.timeout_s
        ) as resp:
            if resp.status_code != 200:
                return resp.status_code, resp.headers, b""
            chunks, size = [], 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > self.conf.max_bytes:
                    raise RejectedAnswer(
                        f"{where}: response larger than openrouter.max_bytes="
                        f"{self.conf.max_bytes}; not read further"
                    )
                chunks.append(chunk)
            return resp.status_code, resp.headers, b"".join(chunks)

    def _decode(
        self, source: str, url: str, where: str, headers: httpx.Headers, body: bytes
    ) -> Fetched:
        ctype = headers.get("Content-Type", "").lower()
        head = body.lstrip()[:1]
        if "html" in ctype or head == b"<":
            raise RejectedAnswer(
                f"{where}: got HTML instead of JSON (Content-Type {ctype or 'none'}); the endpoint "
                "may have moved or be behind a challenge page - keeping the last good snapshot"
            )
        try:
            text = body.decode("utf-8")
            payload = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RejectedAnswer(f"{where}: response is not valid JSON ({exc})") from None
        except RecursionError:
            raise RejectedAnswer(
                f"{where}: response JSON is nested too deeply to read - keeping the last good "
                "snapshot"
            ) from None
        return Fetched(source=source, url=url, payload=payload, body=text)
