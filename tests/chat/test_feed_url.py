"""The URL check behind /feed add: pure parts, and resolution on this machine."""

from __future__ import annotations

import ipaddress

import pytest

from bot.chat.feed_url import FeedUrlError, check_addresses, check_feed_url, parse_feed_url
from bot.feeds.addresses import AddressPolicy, refused_address

PUBLIC_ONLY = AddressPolicy()
ANYWHERE = AddressPolicy(allow_private=True)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata endpoints live here
        ("fe80::1%eth0", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6 does not sneak past
        ("0.0.0.0", "private"),
        ("100.64.0.1", "non-public (carrier-grade NAT)"),
        ("224.0.0.1", "multicast"),
        ("2002:7f00:1::1", "loopback (inside 2002:7f00:1::1)"),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local (inside 64:ff9b::a9fe:a9fe)"),  # NAT64
        ("::7f00:1", "reserved"),  # IPv4-compatible, long deprecated
        ("93.184.216.34", None),
        ("2606:4700::6810:84e5", None),
    ],
)
def test_refused_address(address, why):
    assert refused_address(address) == why


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/feed", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("https:///feed", "no host"),
        ("https://user:pw@example.com/feed", "user name or password"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
def test_parse_feed_url_refuses_bad_urls(url, message):
    with pytest.raises(FeedUrlError, match=message):
        parse_feed_url(url)


def test_any_private_address_among_several_refuses():
    with pytest.raises(FeedUrlError, match="private address"):
        check_addresses("mixed.example", ["93.184.216.34", "10.0.0.1"], PUBLIC_ONLY)
    check_addresses("mixed.example", ["93.184.216.34", "10.0.0.1"], ANYWHERE)
    with pytest.raises(FeedUrlError, match="did not resolve"):
        check_addresses("void.example", [], ANYWHERE)


def test_allowed_networks_open_only_themselves():
    policy = AddressPolicy(allowed_networks=(ipaddress.ip_network("10.1.2.0/24"),))
    check_addresses("intranet.example", ["10.1.2.7"], policy)
    with pytest.raises(FeedUrlError, match=r"private address \(10\.1\.3\.7\)"):
        check_addresses("intranet.example", ["10.1.3.7"], policy)


async def test_resolution_checks_what_the_name_points_to():
    with pytest.raises(FeedUrlError, match="loopback"):
        await check_feed_url("http://localhost/rss", PUBLIC_ONLY)
    assert await check_feed_url(" http://localhost/rss ", ANYWHERE) == "http://localhost/rss"
    assert await check_feed_url("https://93.184.216.34/rss", PUBLIC_ONLY)
    with pytest.raises(FeedUrlError, match="cannot resolve"):
        await check_feed_url("https://no-such-host.invalid/rss", PUBLIC_ONLY)
