"""Which network addresses a feed added from Discord may reach, and the DNS lookup behind it.

Feeds added from Discord must not turn the bot into a way into the operator's own network, so
every address their host names resolve to must be public: not loopback, private, link-local,
carrier-grade NAT (100.64.0.0/10), multicast, reserved, or an IPv6 form that wraps one of those
(IPv4-mapped, 6to4, NAT64, Teredo). The operator may open chosen networks with
`discord.allowed_feed_networks`, or everything with `discord.allow_private_feed_urls`.
Feeds from feeds.yaml and OPML are the operator's own and are never checked.

The check is pure (`AddressPolicy.refusal`); the lookup (`system_resolver`) is the one piece of
I/O, passed in so that the address checked is the address connected to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.config import DiscordConfig

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# (host, port) -> the addresses it resolves to, in the order to try them.
Resolver = Callable[[str, int], Awaitable[list[str]]]

NAT64 = ipaddress.ip_network("64:ff9b::/96")
CGNAT = ipaddress.ip_network("100.64.0.0/10")


async def system_resolver(host: str, port: int) -> list[str]:
    """The machine's own DNS answer for `host`, each address once, in the resolver's order.
    Raises socket.gaierror when the name does not resolve."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and may be routed to, if any."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refused_address(address: str) -> str | None:
    """Why this IP address is off limits for a Discord-added feed, or None if it is public."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = refused_address(str(inner))
            # IPv4-mapped addresses are the IPv4 address itself; the other forms go through a
            # relay, which is reason enough to refuse a non-public target behind them.
            return why if ip.ipv4_mapped or why is None else f"{why} (inside {ip})"
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
    if isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT:
        return "non-public (carrier-grade NAT)"
    if not ip.is_global:
        return "non-public"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """What a Discord-added feed may connect to. The default refuses every non-public address."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, discord: DiscordConfig) -> AddressPolicy:
        return cls(
            allow_private=discord.allow_private_feed_urls,
            allowed_networks=tuple(
                ipaddress.ip_network(n, strict=False) for n in discord.allowed_feed_networks
            ),
        )

    def refusal(self, address: str) -> str | None:
        """Why `address` may not be reached, or None when it may."""
        if self.allow_private:
            return None
        why = refused_address(address)
        if why is None:
            return None
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if any(ip.version == net.version and ip in net for net in self.allowed_networks):
            return None
        return why

    def first_refusal(self, addresses: list[str]) -> tuple[str, str] | None:
        """(address, why) for the first address refused, or None when all may be reached.
        Any refused address refuses the name: DNS may hand out any of them later."""
        for address in addresses:
            why = self.refusal(address)
            if why:
                return address, why
        return None


def refusal_text(host: str, address: str, why: str) -> str:
    """The one message for a refused address, shown in Discord and stored as a feed's error."""
    return (
        f"{host} resolves to a {why} address ({address}); feeds added from Discord may only "
        "reach public addresses (an operator can allow networks with "
        "discord.allowed_feed_networks)"
    )
