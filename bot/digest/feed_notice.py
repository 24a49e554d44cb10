"""The channel notice sent when a feed is disabled after repeated failures.

Pure: the feed's name, URL and the stored reason in, an outbox payload out (Discord bodies within
the limits and without pings, Markdown and text for the console).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.clock import to_iso
from bot.digest.limits import pack_messages
from bot.digest.safety import plain, safe_inline, safe_url

NOTICE_COLOUR = 0x718096
WHAT_NOW = (
    "It is no longer polled. `tokentide poll --all` tries it again (a success switches it back "
    "on); `tokentide feeds` shows every feed's health."
)


def feed_disabled_payload(name: str, url: str, reason: str, *, now: datetime) -> dict[str, Any]:
    """The 'feed_disabled' delivery for the feed `name` at `url`, disabled for `reason`."""
    label = name if name and name != url else url
    link = safe_url(url)
    description = "\n".join(
        [
            safe_inline(reason, 1500),
            f"<{link}>" if link else safe_inline(url, 500),
            "",
            WHAT_NOW,
        ]
    )
    embed = {
        "title": safe_inline(f"Feed switched off: {label}", 256),
        "description": description,
        "color": NOTICE_COLOUR,
        "footer": {"text": f"Disabled at {to_iso(now)}"},
    }
    content = f"**Feed switched off** · {safe_inline(label, 200)}"
    markdown = "\n".join(
        [
            f"# Feed switched off: {safe_inline(label, 256)}",
            "",
            safe_inline(reason, 1500),
            "",
            f"<{link}>" if link else safe_inline(url, 500),
            "",
            WHAT_NOW,
            "",
            f"_Disabled at {to_iso(now)}_",
        ]
    )
    text = "\n".join(
        [
            f"FEED SWITCHED OFF: {plain(label, 256)}",
            plain(reason, 1500),
            plain(url, 500),
            plain(WHAT_NOW.replace("`", "")),
        ]
    )
    return {
        "type": "feed_disabled",
        "messages": pack_messages(content, [embed]),
        "markdown": markdown + "\n",
        "text": text + "\n",
        "feed": {"name": name, "url": url, "reason": reason, "disabled_at": to_iso(now)},
    }
