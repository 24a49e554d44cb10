"""Checking a feed URL someone typed into Discord before the poller is allowed to fetch it.

Feeds added from Discord must not turn the bot into a way to reach the operator's private
network, so the host is resolved and every address it resolves to must be public (see
`bot.feeds.addresses`). This is the early answer in Discord; the poller checks every hop's
address again when it connects, so a redirect or a DNS answer that changes later is refused
too. The operator's own feeds.yaml is not checked: it may point anywhere, loopback included.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.errors import TokentideError
from bot.feeds.addresses import (
    AddressPolicy,
    Resolver,
    refusal_text,
    system_resolver,
)


class FeedUrlError(TokentideError):
    """The URL is not one Tokentide will fetch for a Discord user."""


def parse_feed_url(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL, or FeedUrlError saying what is wrong with it."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FeedUrlError(f"not a valid URL: {url[:200]!r}") from None
    if parts.scheme not in ("http", "https"):
        raise FeedUrlError("feed URLs must start with http:// or https://")
    if not parts.hostname:
        raise FeedUrlError("the URL has no host name")
    if parts.username or parts.password:
        raise FeedUrlError("feed URLs must not carry a user name or password")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_addresses(host: str, addresses: list[str], policy: AddressPolicy) -> None:
    """Pure: refuse when any resolved address is off limits (DNS may answer differently later,
    so the poller checks again on every connection)."""
    if not addresses:
        raise FeedUrlError(f"{host} did not resolve to any address")
    refused = policy.first_refusal(addresses)
    if refused:
        raise FeedUrlError(refusal_text(host, *refused))


async def check_feed_url(
    url: str, policy: AddressPolicy, *, resolve: Resolver = system_resolver
) -> str:
    """Resolve and check `url`; returns it stripped, or raises FeedUrlError."""
    host, port = parse_feed_url(url)
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise FeedUrlError(f"cannot resolve {host}: {exc}") from None
    check_addresses(host, addresses, policy)
    return url.strip()
