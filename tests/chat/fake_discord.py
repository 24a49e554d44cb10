"""A local stand-in for the parts of Discord's REST API Tokentide uses (aiohttp on 127.0.0.1).

It enforces Discord's documented message limits (400 with code 50035 "Invalid Form Body"), can
be told to answer the next requests with 429 (Retry-After, Via, X-RateLimit-* headers) or 5xx,
honours `nonce` + `enforce_nonce` (the same nonce returns the first message, no duplicate) and
`?wait=true` on webhooks, and records everything it accepted for the tests to inspect. It can
also hang on the next message post — before taking the message, or after taking it but before
answering — so a test can kill the sender while a message is on the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CONTENT_MAX = 2000
EMBEDS_MAX = 10
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_NAME_MAX = 256
EMBEDS_TOTAL_MAX = 6000


def limit_errors(body: dict[str, Any]) -> dict[str, str]:
    """Every way `body` breaks Discord's message limits, keyed by JSON path."""
    errors: dict[str, str] = {}
    content = body.get("content") or ""
    if len(content) > CONTENT_MAX:
        errors["content"] = f"Must be {CONTENT_MAX} or fewer in length."
    embeds = body.get("embeds") or []
    if len(embeds) > EMBEDS_MAX:
        errors["embeds"] = f"Must be {EMBEDS_MAX} or fewer in length."
    total = 0
    for i, embed in enumerate(embeds):
        checks = [
            ("title", embed.get("title") or "", TITLE_MAX),
            ("description", embed.get("description") or "", DESCRIPTION_MAX),
            ("footer.text", (embed.get("footer") or {}).get("text") or "", FOOTER_MAX),
            ("author.name", (embed.get("author") or {}).get("name") or "", AUTHOR_NAME_MAX),
        ]
        fields = embed.get("fields") or []
        if len(fields) > FIELDS_MAX:
            errors[f"embeds.{i}.fields"] = f"Must be {FIELDS_MAX} or fewer in length."
        for j, fld in enumerate(fields):
            checks.append((f"fields.{j}.name", fld.get("name") or "", FIELD_NAME_MAX))
            checks.append((f"fields.{j}.value", fld.get("value") or "", FIELD_VALUE_MAX))
            if not fld.get("name") or not fld.get("value"):
                errors[f"embeds.{i}.fields.{j}"] = "This field is required"
        for path, text, limit in checks:
            total += len(text)
            if len(text) > limit:
                errors[f"embeds.{i}.{path}"] = f"Must be {limit} or fewer in length."
    if total > EMBEDS_TOTAL_MAX:
        errors["embeds"] = f"Embed size exceeds maximum size of {EMBEDS_TOTAL_MAX}"
    return errors


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json", as Discord sends it: discord.py parses nothing else.
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


@dataclass
class Planned:
    status: int
    retry_after: float = 0.05
    is_global: bool = False
    via: bool = True


@dataclass
class FakeDiscord:
    """Start with `await fake.start()`; `fake.base` is the API base URL to configure."""

    application_id: int = 4242
    bot_user_id: int = 777
    token: str = "test-token"
    messages: list[dict[str, Any]] = field(default_factory=list)  # accepted posts, in order
    requests: list[dict[str, Any]] = field(default_factory=list)  # every post, incl. refused
    callbacks: list[dict[str, Any]] = field(default_factory=list)  # interaction responses
    command_syncs: list[dict[str, Any]] = field(default_factory=list)
    plan: list[Planned] = field(default_factory=list)
    down_status: int | None = None  # answer every message post with this (an outage)
    remaining: int | None = None  # X-RateLimit-Remaining to report on success (None: 4)
    reset_after: float = 0.05
    # Upcoming message posts to hang on: False = before taking the message, True = after
    # taking it (Discord has it, the sender never hears back). `hung` is set when one hangs.
    hangs: list[bool] = field(default_factory=list)
    latency_s: float = 0.0  # time Discord takes over each message post (a wider send window)
    hung: asyncio.Event = field(default_factory=asyncio.Event)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: Any = field(default_factory=lambda: itertools.count(900_000_000_000_000_001))
    _nonces: dict[str, dict[str, Any]] = field(default_factory=dict)
    _runner: Any = None
    base: str = ""

    def fail_next(self, status: int, times: int = 1, **kwargs: Any) -> None:
        """Answer the next `times` message posts with `status` (429 or 5xx)."""
        self.plan.extend(Planned(status, **kwargs) for _ in range(times))

    def hang_next(self, *, accepted: bool) -> None:
        """Hang on the next message post until `stop()`; with `accepted` the message is
        created first (in `messages`), as when Discord takes it and the answer is lost."""
        self.hangs.append(accepted)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/v10/webhooks/{wid}/{token}", self._webhook)
        app.router.add_post("/api/v10/channels/{cid}/messages", self._channel)
        app.router.add_get("/api/v10/users/@me", self._me)
        app.router.add_get("/api/v10/oauth2/applications/@me", self._application)
        app.router.add_post("/api/v10/interactions/{iid}/{token}/callback", self._callback)
        app.router.add_put("/api/v10/applications/{aid}/commands", self._sync)
        app.router.add_put("/api/v10/applications/{aid}/guilds/{gid}/commands", self._sync)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}/api/v10"
        return self.base

    async def stop(self) -> None:
        self._release.set()  # let hung requests end, so the server can shut down
        if self._runner is not None:
            await self._runner.cleanup()

    # --- helpers -----------------------------------------------------------------------

    def _ratelimit_headers(self, remaining: int | None = None) -> dict[str, str]:
        if remaining is None:
            remaining = 4 if self.remaining is None else self.remaining
        return {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset-After": str(self.reset_after),
            "X-RateLimit-Bucket": "fakebucket",
        }

    async def _read_body(self, request: web.Request) -> tuple[dict[str, Any], list[dict]]:
        if request.content_type.startswith("multipart/"):
            body: dict[str, Any] = {}
            files = []
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                else:
                    data = await part.read()
                    files.append(
                        {
                            "field": part.name,
                            "filename": part.filename,
                            "size": len(data),
                            "png": data[:8] == b"\x89PNG\r\n\x1a\n",
                        }
                    )
            return body, files
        return await request.json(), []

    def _planned(self) -> web.Response | None:
        if self.down_status is not None:
            return _json({"message": "Service Unavailable", "code": 0}, status=self.down_status)
        if not self.plan:
            return None
        planned = self.plan.pop(0)
        if planned.status == 429:
            headers = {"Retry-After": str(planned.retry_after), **self._ratelimit_headers(0)}
            if planned.via:
                headers["Via"] = "1.1 google"
            if planned.is_global:
                headers["X-RateLimit-Global"] = "true"
                headers["X-RateLimit-Scope"] = "global"
            body = {
                "message": "You are being rate limited.",
                "retry_after": planned.retry_after,
                "global": planned.is_global,
            }
            return _json(body, status=429, headers=headers)
        return _json({"message": "Internal Server Error", "code": 0}, status=planned.status)

    def _accept(self, where: str, body: dict[str, Any], files: list[dict]) -> web.Response:
        self.requests.append({"where": where, "body": body, "files": files})
        planned = self._planned()
        if planned is not None:
            return planned
        errors = limit_errors(body)
        if errors:
            return _json(
                {"code": 50035, "message": "Invalid Form Body", "errors": errors}, status=400
            )
        if not body.get("content") and not body.get("embeds") and not files:
            return _json({"code": 50006, "message": "Cannot send an empty message"}, status=400)
        nonce = body.get("nonce")
        if nonce is not None and len(str(nonce)) > 25:
            return _json(
                {
                    "code": 50035,
                    "message": "Invalid Form Body",
                    "errors": {"nonce": "Must be 25 or fewer in length."},
                },
                status=400,
            )
        if nonce is not None and body.get("enforce_nonce") and f"{where}:{nonce}" in self._nonces:
            return _json(self._nonces[f"{where}:{nonce}"], headers=self._ratelimit_headers())
        message = {
            **self._message_object(body, files),
            "where": where,
            "allowed_mentions": body.get("allowed_mentions"),
            "files": files,
        }
        self.messages.append(message)
        if nonce is not None and body.get("enforce_nonce"):
            self._nonces[f"{where}:{nonce}"] = message
        return _json(message, headers=self._ratelimit_headers())

    def _message_object(self, body: dict[str, Any], files: list[dict]) -> dict[str, Any]:
        """A message as Discord returns it (enough fields for discord.py to build a Message)."""
        message_id = str(next(self._ids))
        return {
            "id": message_id,
            "channel_id": "555",
            "type": 0,
            "content": body.get("content") or "",
            "embeds": body.get("embeds") or [],
            "attachments": [
                {
                    "id": str(next(self._ids)),
                    "filename": f["filename"],
                    "size": f["size"],
                    "url": f"https://cdn.example/{f['filename']}",
                    "proxy_url": f"https://cdn.example/{f['filename']}",
                }
                for f in files
            ],
            "author": {
                "id": str(self.application_id),
                "username": "Tokentide",
                "discriminator": "0000",
                "avatar": None,
                "bot": True,
            },
            "timestamp": "2026-11-28T08:00:00.000000+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "flags": body.get("flags") or 0,
            "nonce": body.get("nonce"),
            "webhook_id": None,
        }

    # --- routes ------------------------------------------------------------------------

    async def _post(self, where: str, body: dict[str, Any], files: list[dict]) -> web.Response:
        if self.latency_s:
            # Half before the message exists, half after: a sender killed in the second half
            # has posted a message it never hears about.
            await asyncio.sleep(self.latency_s / 2)
        if not self.hangs:
            response = self._accept(where, body, files)
            if self.latency_s:
                await asyncio.sleep(self.latency_s / 2)
            return response
        accepted = self.hangs.pop(0)
        if accepted:
            response = self._accept(where, body, files)
        else:
            self.requests.append({"where": where, "body": body, "files": files})
            response = _json({"message": "Service Unavailable", "code": 0}, status=503)
        self.hung.set()
        await self._release.wait()
        return response

    async def _webhook(self, request: web.Request) -> web.Response:
        body, files = await self._read_body(request)
        where = f"webhook:{request.match_info['wid']}"
        response = await self._post(where, body, files)
        if response.status == 200 and request.query.get("wait") not in ("true", "1"):
            return web.Response(status=204)
        return response

    async def _channel(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        body, files = await self._read_body(request)
        return await self._post(f"channel:{request.match_info['cid']}", body, files)

    async def _me(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json(
            {
                "id": str(self.bot_user_id),
                "username": "tokentide",
                "discriminator": "0",
                "global_name": None,
                "avatar": None,
                "bot": True,
            }
        )

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(self.application_id),
                "name": "Tokentide",
                "icon": None,
                "description": "",
                "bot_public": False,
                "bot_require_code_grant": False,
                "verify_key": "00",
                "flags": 0,
                "owner": {"id": "1", "username": "owner", "discriminator": "0", "avatar": None},
            }
        )

    async def _callback(self, request: web.Request) -> web.Response:
        body, files = await self._read_body(request)
        self.callbacks.append({"interaction": request.match_info["iid"], "body": body})
        data = body.get("data") or {}
        if data and limit_errors(data):
            return _json(
                {"code": 50035, "message": "Invalid Form Body", "errors": limit_errors(data)},
                status=400,
            )
        if request.query.get("with_response") not in ("1", "true"):
            return web.Response(status=204)
        flags = data.get("flags") or 0
        resource: dict[str, Any] = {"type": body["type"]}
        if body["type"] == 4:
            resource["message"] = self._message_object(data, files)
        return _json(
            {
                "interaction": {
                    "id": request.match_info["iid"],
                    "type": 2,
                    "response_message_id": (resource.get("message") or {}).get("id"),
                    "response_message_loading": body["type"] == 5,
                    "response_message_ephemeral": bool(flags & 64),
                },
                "resource": resource,
            }
        )

    async def _sync(self, request: web.Request) -> web.Response:
        commands = await request.json()
        self.command_syncs.append({"path": request.path, "commands": commands})
        out = []
        for cmd in commands:
            out.append(
                {
                    **cmd,
                    "id": str(next(self._ids)),
                    "application_id": str(self.application_id),
                    "version": "1",
                    "default_member_permissions": cmd.get("default_member_permissions"),
                }
            )
        return _json(out)
