"""Checking a feed URL someone typed into Discord before the poller is allowed to fetch it.

Feeds added from Discord must not turn the bot into a way to reach the operator's private
network, so the host is resolved and every address it resolves to must be public (unless
`discord.allow_private_feed_urls`). The operator's own feeds.yaml is not checked: it may point
anywhere, loopback included.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from bot.errors import TokentideError


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


def refused_address(address: str) -> str | None:
    """Why this IP address is off limits for a Discord-added feed, or None if it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for label, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("unspecified", ip.is_unspecified),
    ):
        if hit:
            return label
    if not ip.is_global:
        return "non-public"
    return None


def check_addresses(host: str, addresses: list[str], *, allow_private: bool) -> None:
    """Pure: refuse when any resolved address is private (DNS may answer differently later)."""
    if not addresses:
        raise FeedUrlError(f"{host} did not resolve to any address")
    if allow_private:
        return
    for address in addresses:
        why = refused_address(address)
        if why:
            raise FeedUrlError(
                f"{host} resolves to a {why} address ({address}); only public hosts can be "
                "added from Discord (an operator can set discord.allow_private_feed_urls)"
            )


async def check_feed_url(url: str, *, allow_private: bool) -> str:
    """Resolve and check `url`; returns it stripped, or raises FeedUrlError."""
    host, port = parse_feed_url(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FeedUrlError(f"cannot resolve {host}: {exc}") from None
    check_addresses(host, sorted({info[4][0] for info in infos}), allow_private=allow_private)
    return url.strip()
