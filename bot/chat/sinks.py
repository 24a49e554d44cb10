"""Where outbox messages go: a channel webhook, the bot's channel, or the console plus Markdown.

All three share one interface, `await sink.send(outgoing) -> message_id`, called once per
Discord message body. Sinks translate every failure into one of three errors the outbox worker
understands: `RateLimitedError` (wait and retry, not a failure), `TransientDeliveryError`
(5xx, timeout, no connection: back off and retry) and plain `DeliveryError` (Discord refused
the message: retrying cannot help).

Every body is sent with `allowed_mentions: {"parse": []}`: what we post is built from feed text
and must never ping anyone, whatever a renderer put there.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import httpx

from bot.config import Settings, delivery_target
from bot.errors import ConfigError, DeliveryError

_WEBHOOK_PATH = re.compile(r"/webhooks/(\d+)/([^/?#]+)")


class TransientDeliveryError(DeliveryError):
    """Discord could not take the message now (5xx, timeout, network): try again later."""


class RateLimitedError(TransientDeliveryError):
    """Discord asked us to wait `retry_after` seconds (`is_global`: for every route)."""

    def __init__(self, message: str, *, retry_after: float, is_global: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.is_global = is_global


@dataclass(frozen=True)
class Outgoing:
    """One Discord message of a delivery, ready to send."""

    delivery_id: int
    kind: str
    key: str
    part: int  # 0-based index within the delivery
    parts: int
    body: dict[str, Any]  # Discord message JSON: content / embeds (no files)
    nonce: str  # unique per message; Discord drops a second post with the same nonce
    files: tuple[tuple[str, bytes], ...] = ()  # (filename, data), e.g. the share chart PNG
    payload: dict[str, Any] = field(default_factory=dict)  # the whole delivery payload


class Sink(Protocol):
    name: str

    async def send(self, out: Outgoing) -> str: ...

    async def aclose(self) -> None: ...


def safe_body(body: dict[str, Any], files: tuple[tuple[str, bytes], ...] = ()) -> dict[str, Any]:
    """The body as sent: mentions disabled and attachment slots declared for the files."""
    sent = {k: v for k, v in body.items() if k != "files"}
    sent["allowed_mentions"] = {"parse": []}
    if files:
        sent["attachments"] = [{"id": i, "filename": name} for i, (name, _) in enumerate(files)]
    return sent


def _describe(out: Outgoing) -> str:
    return (
        f"{out.kind} {out.key!r} (delivery {out.delivery_id}, message {out.part + 1}/{out.parts})"
    )


def _error_for(out: Outgoing, status: int, data: Any, headers: Any) -> DeliveryError:
    """Map a non-2xx Discord answer to the error the worker acts on."""
    detail = data if isinstance(data, dict) else {"message": str(data)[:200]}
    if status == 429:
        # The body's retry_after is precise (float); the Retry-After header is whole seconds.
        retry_after = detail.get("retry_after") or headers.get("Retry-After") or 1.0
        is_global = bool(detail.get("global")) or headers.get("X-RateLimit-Global") == "true"
        return RateLimitedError(
            f"Discord rate-limited {_describe(out)} for {float(retry_after):.2f}s",
            retry_after=float(retry_after),
            is_global=is_global,
        )
    text = f"HTTP {status}"
    if detail.get("code") is not None:
        text += f" code {detail['code']}"
    if detail.get("message"):
        text += f": {detail['message']}"
    if detail.get("errors"):
        text += f" {json.dumps(detail['errors'], sort_keys=True)[:300]}"
    if status >= 500:
        return TransientDeliveryError(f"Discord failed on {_describe(out)}: {text}")
    if status in (401, 403):
        # A revoked token or a missing channel permission is fixed in Discord, not in the
        # message: keep retrying (with backoff) so the message goes out once it is fixed.
        return TransientDeliveryError(
            f"Discord refused {_describe(out)}: {text} (check the webhook URL or the bot's "
            "View Channel / Send Messages / Embed Links / Attach Files permissions)"
        )
    return DeliveryError(f"Discord refused {_describe(out)}: {text}")


def parse_webhook_url(url: str) -> tuple[str, str]:
    """(webhook id, token) from a Discord webhook URL; ConfigError naming the variable if not."""
    match = _WEBHOOK_PATH.search(url)
    if not match:
        raise ConfigError(
            "DISCORD_WEBHOOK_URL: expected https://discord.com/api/webhooks/<id>/<token>, "
            "got a URL without /webhooks/<id>/<token>"
        )
    return match.group(1), match.group(2)


class WebhookSink:
    """Posts through a channel webhook with `?wait=true`, so Discord answers with the message
    (and its id, which the worker records before doing anything else)."""

    name = "webhook"

    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        webhook_id, token = parse_webhook_url(settings.secrets.discord_webhook_url or "")
        self._url = f"{settings.discord.api_base.rstrip('/')}/webhooks/{webhook_id}/{token}"
        self._client = client
        self._timeout = settings.discord.timeout_s
        self._max_wait = settings.discord.max_inline_wait_s
        self._resume_at = 0.0  # loop time before which the bucket is exhausted

    async def send(self, out: Outgoing) -> str:
        import asyncio

        loop = asyncio.get_running_loop()
        wait = self._resume_at - loop.time()
        if wait > 0:
            if wait > self._max_wait:
                raise RateLimitedError(
                    f"webhook bucket exhausted for {wait:.1f}s", retry_after=wait
                )
            await asyncio.sleep(wait)
        body = safe_body(out.body, out.files)
        try:
            if out.files:
                response = await self._client.post(
                    self._url,
                    params={"wait": "true"},
                    data={"payload_json": json.dumps(body)},
                    files=[
                        (
                            f"files[{i}]",
                            (
                                name,
                                data,
                                "image/png"
                                if name.endswith(".png")
                                else "application/octet-stream",
                            ),
                        )
                        for i, (name, data) in enumerate(out.files)
                    ],
                    timeout=self._timeout,
                )
            else:
                response = await self._client.post(
                    self._url, params={"wait": "true"}, json=body, timeout=self._timeout
                )
        except httpx.TimeoutException as exc:
            # A connect timeout never reached Discord; a read timeout may have posted. Webhooks
            # take no nonce, so this (rare) case is retried: a possible duplicate beats a loss.
            raise TransientDeliveryError(
                f"Discord timed out on {_describe(out)}: {exc!r}"
            ) from None
        except httpx.TransportError as exc:
            raise TransientDeliveryError(
                f"cannot reach Discord for {_describe(out)}: {exc!r}"
            ) from None
        headers = response.headers
        if headers.get("X-RateLimit-Remaining") == "0" and headers.get("X-RateLimit-Reset-After"):
            self._resume_at = loop.time() + float(headers["X-RateLimit-Reset-After"])
        try:
            data = response.json()
        except ValueError:
            data = response.text
        if 200 <= response.status_code < 300 and isinstance(data, dict) and data.get("id"):
            return str(data["id"])
        if 200 <= response.status_code < 300:
            # Without ?wait=true honoured we cannot record the id; treat as a refusal so an
            # operator looks, rather than retrying and risking a double post.
            raise DeliveryError(f"Discord accepted {_describe(out)} but returned no message id")
        raise _error_for(out, response.status_code, data, headers)

    async def aclose(self) -> None:
        return None


def configure_route_base(api_base: str) -> None:
    """Point discord.py's REST routes at `discord.api_base` — once, at start-up (discord.py
    keeps its base URL in a class attribute), so proxies and the test stand-in both work."""
    from discord.http import Route

    Route.BASE = api_base.rstrip("/")


class BotChannelSink:
    """Posts to `discord.channel_id` through discord.py's HTTP client (its rate-limit buckets),
    each message with a nonce and `enforce_nonce`, so a retry never makes a second copy."""

    name = "bot"

    def __init__(self, settings: Settings, *, http: Any = None) -> None:
        if not settings.discord.channel_id:
            raise ConfigError(f"{settings.source}: discord.channel_id: required with DISCORD_TOKEN")
        self._settings = settings
        self._http = http  # the running bot's HTTPClient, or built on first send
        self._owns_http = http is None

    async def _client(self) -> Any:
        if self._http is None:
            import asyncio

            import discord

            configure_route_base(self._settings.discord.api_base)
            http = discord.http.HTTPClient(
                asyncio.get_running_loop(),
                max_ratelimit_timeout=max(30.0, self._settings.discord.max_inline_wait_s),
            )
            try:
                await http.static_login(self._settings.secrets.discord_token or "")
            except discord.LoginFailure:
                await http.close()
                raise ConfigError("DISCORD_TOKEN: Discord rejected the bot token") from None
            self._http = http
        return self._http

    async def send(self, out: Outgoing) -> str:
        import io

        import aiohttp
        import discord
        from discord.http import Route

        http = await self._client()
        body = safe_body(out.body, out.files)
        body["nonce"] = out.nonce
        body["enforce_nonce"] = True
        route = Route(
            "POST", "/channels/{channel_id}/messages", channel_id=self._settings.discord.channel_id
        )
        try:
            if out.files:
                files = [discord.File(io.BytesIO(data), filename=name) for name, data in out.files]
                form: list[dict[str, Any]] = [{"name": "payload_json", "value": json.dumps(body)}]
                form += [
                    {
                        "name": f"files[{i}]",
                        "value": f.fp,
                        "filename": f.filename,
                        "content_type": "application/octet-stream",
                    }
                    for i, f in enumerate(files)
                ]
                data = await http.request(route, files=files, form=form)
            else:
                data = await http.request(route, json=body)
        except discord.RateLimited as exc:
            raise RateLimitedError(
                f"Discord rate-limited {_describe(out)} for {exc.retry_after:.2f}s",
                retry_after=exc.retry_after,
            ) from None
        except discord.HTTPException as exc:
            raw = {"code": exc.code, "message": exc.text}
            raise _error_for(out, exc.status, raw, exc.response.headers) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransientDeliveryError(
                f"cannot reach Discord for {_describe(out)}: {exc!r}"
            ) from None
        return str(data["id"])

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "delivery"


def message_markdown(body: dict[str, Any]) -> str:
    """A Discord message body as Markdown, for the console sink when no Markdown was rendered."""
    lines: list[str] = []
    if body.get("content"):
        lines.append(str(body["content"]))
    for embed in body.get("embeds") or []:
        if embed.get("title"):
            title = embed["title"]
            lines.append(f"## [{title}]({embed['url']})" if embed.get("url") else f"## {title}")
        if embed.get("description"):
            lines.append(str(embed["description"]))
        for fld in embed.get("fields") or []:
            lines.append(f"**{fld.get('name', '')}**\n{fld.get('value', '')}")
        if (embed.get("footer") or {}).get("text"):
            lines.append(f"_{embed['footer']['text']}_")
    return "\n\n".join(lines) + "\n"


def digests_dir(settings: Settings) -> Path:
    """`digests/` beside the archive file (the console fallback's Markdown home)."""
    return Path(settings.db_path).parent / "digests"


class ConsoleSink:
    """No Discord configured: print the text and keep each delivery as a Markdown file."""

    name = "console"

    def __init__(self, settings: Settings, *, stream: TextIO | None = None) -> None:
        self._dir = digests_dir(settings)
        self._stream = stream

    async def send(self, out: Outgoing) -> str:
        stream = self._stream or sys.stdout
        stem = _safe_name(f"{out.kind}-{out.key}")
        path = self._dir / f"{stem}.md"
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            links = []
            for name, data in out.files:
                attached = self._dir / f"{stem}-{_safe_name(name)}"
                attached.write_bytes(data)
                links.append(f"![{name}]({attached.name})\n")
            markdown = out.payload.get("markdown")
            if isinstance(markdown, str):
                # A renderer gave the whole delivery as Markdown: write it once, with part 0.
                if out.part == 0:
                    path.write_text(markdown + "".join(links), encoding="utf-8")
                    text = out.payload.get("text")
                    print(text if isinstance(text, str) else markdown, file=stream)
            else:
                chunk = message_markdown(out.body) + "".join(links)
                mode = "w" if out.part == 0 else "a"
                with path.open(mode, encoding="utf-8") as fh:
                    fh.write(chunk if out.part == 0 else "\n" + chunk)
                print(chunk, file=stream)
        except OSError as exc:
            # A full disk or a permissions slip can be fixed: retry later rather than give up.
            raise TransientDeliveryError(f"{path}: cannot write the Markdown copy: {exc}") from None
        stream.flush()
        return f"file:{path.name}#{out.part}"

    async def aclose(self) -> None:
        return None


def make_sink(
    settings: Settings, *, client: httpx.AsyncClient, bot_http: Any = None
) -> WebhookSink | BotChannelSink | ConsoleSink:
    """The sink for the configured destination (`bot.config.delivery_target`)."""
    kind, _ = delivery_target(settings)
    if kind == "discord-channel":
        return BotChannelSink(settings, http=bot_http)
    if kind == "discord-webhook":
        return WebhookSink(settings, client)
    return ConsoleSink(settings)
