"""Discord's documented message limits, and packing embeds into messages that respect them.

`check_message` lists every violation of a message body; renderers never emit a body for which it
returns anything, and tests assert exactly that on adversarial input.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.digest.safety import dlen, truncate

CONTENT = 2000
EMBEDS_PER_MESSAGE = 10
TITLE = 256
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
EMBEDS_TOTAL = 6000


def embed_length(embed: dict[str, Any]) -> int:
    """Characters Discord counts towards the 6000 total: title, description, fields, footer, author."""
    total = dlen(embed.get("title") or "") + dlen(embed.get("description") or "")
    for f in embed.get("fields") or ():
        total += dlen(f.get("name") or "") + dlen(f.get("value") or "")
    total += dlen((embed.get("footer") or {}).get("text") or "")
    total += dlen((embed.get("author") or {}).get("name") or "")
    return total


def clamp_embed(embed: dict[str, Any]) -> dict[str, Any]:
    """Cut every text of one embed to its own limit (a last line of defence; builders aim lower)."""
    out = dict(embed)
    if "title" in out:
        out["title"] = truncate(out["title"], TITLE)
    if "description" in out:
        out["description"] = truncate(out["description"], DESCRIPTION)
    if "fields" in out:
        out["fields"] = [
            {
                **f,
                "name": truncate(f.get("name") or "\u200b", FIELD_NAME) or "\u200b",
                "value": truncate(f.get("value") or "\u200b", FIELD_VALUE) or "\u200b",
            }
            for f in out["fields"][:FIELDS]
        ]
    if "footer" in out:
        out["footer"] = {**out["footer"], "text": truncate(out["footer"].get("text") or "", FOOTER)}
    if "author" in out:
        out["author"] = {**out["author"], "name": truncate(out["author"].get("name") or "", AUTHOR)}
    # Each part may be within its own limit and the embed still over the 6000 total: give up
    # description first, then footer, then fields from the end.
    for part in ("description", "footer"):
        excess = embed_length(out) - EMBEDS_TOTAL
        if excess <= 0:
            return out
        if part == "description" and out.get("description"):
            out["description"] = truncate(out["description"], dlen(out["description"]) - excess)
        elif part == "footer" and out.get("footer"):
            text = out["footer"].get("text") or ""
            out["footer"] = {**out["footer"], "text": truncate(text, dlen(text) - excess)}
    while out.get("fields") and embed_length(out) > EMBEDS_TOTAL:
        out["fields"] = out["fields"][:-1]
    return out


def pack_messages(content: str, embeds: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spread embeds over as few messages as the limits allow; `content` goes on the first."""
    messages: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    used = 0
    for embed in embeds:
        embed = clamp_embed(embed)
        size = embed_length(embed)
        if current and (len(current) >= EMBEDS_PER_MESSAGE or used + size > EMBEDS_TOTAL):
            messages.append({"embeds": current})
            current, used = [], 0
        current.append(embed)
        used += size
    if current or not messages:
        messages.append({"embeds": current})
    first = truncate(content, CONTENT)
    if first:
        messages[0] = {"content": first, **messages[0]}
    out = []
    for body in messages:
        if not body.get("embeds"):
            body.pop("embeds", None)
        body["allowed_mentions"] = {"parse": []}
        if body.get("content") or body.get("embeds"):
            out.append(body)
    return out


def check_message(body: dict[str, Any]) -> list[str]:
    """Every way `body` breaks Discord's limits or our no-ping rule (empty list: it is fine)."""
    problems: list[str] = []
    content = body.get("content") or ""
    embeds = body.get("embeds") or []
    if not content and not embeds and not body.get("attachments"):
        problems.append("message is empty")
    if dlen(content) > CONTENT:
        problems.append(f"content has {dlen(content)} > {CONTENT} characters")
    if len(embeds) > EMBEDS_PER_MESSAGE:
        problems.append(f"{len(embeds)} > {EMBEDS_PER_MESSAGE} embeds")
    if body.get("allowed_mentions") != {"parse": []}:
        problems.append("allowed_mentions is not {'parse': []}")
    total = 0
    for i, e in enumerate(embeds):
        total += embed_length(e)
        limits = [
            ("title", e.get("title") or "", TITLE),
            ("description", e.get("description") or "", DESCRIPTION),
            ("footer", (e.get("footer") or {}).get("text") or "", FOOTER),
            ("author", (e.get("author") or {}).get("name") or "", AUTHOR),
        ]
        fields = e.get("fields") or []
        if len(fields) > FIELDS:
            problems.append(f"embed {i}: {len(fields)} > {FIELDS} fields")
        for j, f in enumerate(fields):
            limits.append((f"field {j} name", f.get("name") or "", FIELD_NAME))
            limits.append((f"field {j} value", f.get("value") or "", FIELD_VALUE))
            if not f.get("name") or not f.get("value"):
                problems.append(f"embed {i}: field {j} has an empty name or value")
        for what, text, limit in limits:
            if dlen(text) > limit:
                problems.append(f"embed {i}: {what} has {dlen(text)} > {limit} characters")
    if total > EMBEDS_TOTAL:
        problems.append(f"embeds total {total} > {EMBEDS_TOTAL} characters")
    return problems
