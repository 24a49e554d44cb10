"""The outlet registry, domain handling and outlet resolution (pure: no network, no database)."""

from __future__ import annotations

from importlib import resources

import pytest

from bot.errors import ConfigError
from bot.feeds.outlets import (
    COLUMNS,
    ISO_COUNTRIES,
    KINDS,
    Outlet,
    build_registry,
    load_registry,
    name_key,
    normalise_host,
    normalise_outlet_name,
    read_registry,
    registrable_domain,
    resolve_outlet,
    validate_overrides,
)

GOOGLE_NEWS_LINK = "https://news.google.com/rss/articles/CBMiWkFVX3lxTE1?oc=5"


@pytest.fixture(scope="module")
def registry():
    return load_registry()


# ---- the shipped registry file ----------------------------------------------------------------


def test_registry_file_parses_with_unique_domains_valid_kinds_countries_and_sources():
    text = resources.files("bot.feeds").joinpath("outlets.csv").read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if not line.startswith("#"))
    assert tuple(header.split(",")) == COLUMNS
    entries = read_registry(text)  # raises on any bad row
    assert len(entries) >= 300
    domains = [e.domain for e in entries]
    assert len(domains) == len(set(domains))
    for e in entries:
        assert e.kind in KINDS, e
        assert e.country is None or e.country in ISO_COUNTRIES, e
        assert e.source.startswith("https://"), e
        assert e.domain == normalise_host(e.domain), e


def test_registry_names_do_not_collide_between_outlets():
    """Two different outlets whose names fold to one key would make both unreachable by name."""
    entries = read_registry(
        resources.files("bot.feeds").joinpath("outlets.csv").read_text(encoding="utf-8")
    )
    owner: dict[str, str] = {}
    for e in entries:
        assert owner.setdefault(name_key(e.name), e.name) == e.name, (
            e.name,
            owner[name_key(e.name)],
        )


def test_registry_knows_the_wires_the_chinese_press_and_the_aggregators(registry):
    expect = {
        "reuters.com": ("Reuters", "wire"),
        "apnews.com": ("Associated Press", "wire"),
        "afp.com": ("Agence France-Presse", "wire"),
        "bloomberg.com": ("Bloomberg", "wire"),
        "xinhuanet.com": ("Xinhua", "state media"),
        "chinadaily.com.cn": ("China Daily", "state media"),
        "globaltimes.cn": ("Global Times", "state media"),
        "cgtn.com": ("CGTN", "state media"),
        "people.com.cn": ("People's Daily", "state media"),
        "caixinglobal.com": ("Caixin", "newspaper"),
        "yicaiglobal.com": ("Yicai", "newspaper"),
        "36kr.com": ("36Kr", "trade press"),
        "thepaper.cn": ("The Paper", "newspaper"),
        "sixthtone.com": ("Sixth Tone", "newspaper"),
        "scmp.com": ("South China Morning Post", "newspaper"),
        "news.google.com": ("Google News", "aggregator"),
        "techmeme.com": ("Techmeme", "aggregator"),
        "yahoo.com": ("Yahoo News", "aggregator"),
    }
    for domain, (name, kind) in expect.items():
        entry = registry.entry_for_host(domain)
        assert entry is not None, domain
        assert (entry.name, entry.kind) == (name, kind)
    assert registry.entry_for_host("scmp.com").country == "HK"
    assert registry.entry_for_host("google.com") is None  # only its news host is an aggregator


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("example.com,Example,XX1,newspaper,https://x.test/", "expected an ISO 3166 alpha-2 code"),
        ("example.com,Example,UK,newspaper,https://x.test/", "the United Kingdom is GB"),
        ("example.com,Example,US,magazine,https://x.test/", "expected a kind among wire"),
        ("example.com,Example,US,newspaper,", "expected a source URL"),
        ("example.com,,US,newspaper,https://x.test/", "expected an outlet name"),
        ("www.example.com,Example,US,newspaper,https://x.test/", "without www/m/amp prefix"),
        ("Example.com,Example,US,newspaper,https://x.test/", "a lowercase domain"),
    ],
)
def test_a_bad_registry_row_names_its_line(row, expected):
    text = "# comment\n" + ",".join(COLUMNS) + "\nok.test,Fine,US,blog,https://ok.test/\n" + row
    with pytest.raises(ConfigError) as err:
        read_registry(text, source="outlets.csv")
    message = str(err.value)
    assert message.startswith("outlets.csv: line 4: ")
    assert expected in message
    assert "\n" not in message


def test_a_domain_listed_twice_is_refused():
    text = (
        ",".join(COLUMNS) + "\na.test,A,US,blog,https://a.test/\na.test,B,US,blog,https://b.test/"
    )
    with pytest.raises(
        ConfigError, match=r"line 3: expected a domain listed once \(also on line 2\)"
    ):
        read_registry(text)


def test_wrong_columns_are_refused():
    with pytest.raises(ConfigError, match="expected the columns domain,name,country,kind,source"):
        read_registry("domain,name,country\na.test,A,US\n")


# ---- hosts and registrable domains -------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example.com", "example.com"),
        ("news.bbc.co.uk", "bbc.co.uk"),
        ("a.b.c.example.com", "example.com"),
        ("www.people.com.cn", "people.com.cn"),
        ("en.people.cn", "people.cn"),
        ("www.thestandard.com.hk", "thestandard.com.hk"),
        ("www.watoday.com.au", "watoday.com.au"),
        ("www3.nhk.or.jp", "nhk.or.jp"),
        ("borneobulletin.com.bn", "borneobulletin.com.bn"),
        # www / m / amp prefixes, case, trailing dots, ports, whole URLs
        ("www.scmp.com", "scmp.com"),
        ("m.scmp.com", "scmp.com"),
        ("amp.newser.com", "newser.com"),
        ("WWW.SCMP.COM", "scmp.com"),
        ("scmp.com.", "scmp.com"),
        ("www.scmp.com.:8443", "scmp.com"),
        ("https://www.scmp.com:443/article/3354097/x?utm_source=rss_feed", "scmp.com"),
        ("http://user@www.reuters.com/x", "reuters.com"),
        # a platform subdomain is its own publisher
        ("leixing77.medium.com", "leixing77.medium.com"),
        ("someone.substack.com", "someone.substack.com"),
        # a bare public suffix, a single label, nothing
        ("co.uk", "co.uk"),
        ("localhost", "localhost"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_registrable_domain(host, expected):
    assert registrable_domain(host) == expected


@pytest.mark.parametrize(
    "host",
    [
        "bücher.de",
        "BÜCHER.DE",
        "www.bücher.de.",
        "xn--bcher-kva.de",
        "XN--BCHER-KVA.DE",
        "https://shop.xn--bcher-kva.de:8080/x",
    ],
)
def test_idn_and_punycode_hosts_normalise_to_one_punycode_form(host):
    assert registrable_domain(host) == "xn--bcher-kva.de"


def test_idn_under_a_multi_label_suffix():
    assert registrable_domain("www.新闻.com.cn") == registrable_domain("xn--efvy88h.com.cn")
    assert registrable_domain("www.新闻.com.cn") == "xn--efvy88h.com.cn"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:8080", "203.0.113.7"),
        ("http://203.0.113.7/feed", "203.0.113.7"),
        ("http://[2001:DB8:0:0::1]:8080/x", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
    ],
)
def test_an_ip_address_is_its_own_domain(host, expected):
    assert registrable_domain(host) == expected


def test_a_www_prefix_is_kept_when_it_is_the_registrable_label():
    assert normalise_host("www.com") == "www.com"
    assert normalise_host("m.co.uk") == "m.co.uk"


# ---- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    ["SCMP", "scmp", "South China Morning Post", "south china morning post!", "scmp.com", " SCMP "],
)
def test_scmp_spellings_are_one_outlet(registry, spelling):
    assert normalise_outlet_name(spelling, registry) == "South China Morning Post"


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("Bloomberg.com", "Bloomberg"),
        ("WSJ", "The Wall Street Journal"),
        ("the wall street journal", "The Wall Street Journal"),
        ("AP News", "Associated Press"),
        ("AFP", "Agence France-Presse"),
        ("Caixin Global", "Caixin"),
        ("Yicai Global", "Yicai"),
        ("Peoples Daily", "People's Daily"),
        ("Xinhua News Agency", "Xinhua"),
        ("BBC News", "BBC"),
        ("Toms Hardware", "Tom's Hardware"),
    ],
)
def test_common_spellings_fold_to_the_registry_name(registry, spelling, expected):
    assert normalise_outlet_name(spelling, registry) == expected


def test_an_unknown_name_is_kept_tidied_and_a_blank_one_is_none(registry):
    assert normalise_outlet_name("  Some   Local  Paper ", registry) == "Some Local Paper"
    assert normalise_outlet_name("", registry) is None
    assert normalise_outlet_name("   ", registry) is None
    assert normalise_outlet_name(None, registry) is None


# ---- resolution --------------------------------------------------------------------------------


def test_the_feeds_outlet_comes_first(registry):
    got = resolve_outlet("SCMP", None, None, "https://www.scmp.com/article/3354097/x", registry)
    assert got == Outlet("South China Morning Post", "HK", "newspaper", "scmp.com")
    # even when the link points elsewhere (a redirector, a syndication partner)
    got = resolve_outlet("The Register", None, None, "https://go.example.net/x", registry)
    assert got == Outlet("The Register", "GB", "trade press", "theregister.com")


def test_a_feed_outlet_the_registry_does_not_know_is_kept_as_named(registry):
    got = resolve_outlet(" My  Local Paper ", None, None, "https://paper.example/x", registry)
    assert got == Outlet("My Local Paper", None, None, None)


def test_a_google_news_item_is_its_sources_outlet(registry):
    got = resolve_outlet(
        "Google News", "https://www.bloomberg.com", "Bloomberg.com", GOOGLE_NEWS_LINK, registry
    )
    assert got == Outlet("Bloomberg", "US", "wire", "bloomberg.com")


def test_a_google_news_link_is_recognised_without_the_feed_saying_so(registry):
    got = resolve_outlet(None, "https://www.theverge.com", "The Verge", GOOGLE_NEWS_LINK, registry)
    assert got == Outlet("The Verge", "US", "trade press", "theverge.com")


def test_a_source_with_only_a_name_uses_the_registry_by_name(registry):
    got = resolve_outlet(
        "Google News", None, "South China Morning Post", GOOGLE_NEWS_LINK, registry
    )
    assert got == Outlet("South China Morning Post", "HK", "newspaper", "scmp.com")


def test_an_unknown_source_is_named_as_given_with_its_domain(registry):
    got = resolve_outlet(
        "Google News",
        "https://news.example-daily.test",
        "Example Daily",
        GOOGLE_NEWS_LINK,
        registry,
    )
    assert got == Outlet("Example Daily", None, None, "example-daily.test")
    got = resolve_outlet(
        "Google News", "https://www.example-daily.test", None, GOOGLE_NEWS_LINK, registry
    )
    assert got == Outlet("example-daily.test", None, None, "example-daily.test")


def test_an_aggregator_item_without_a_source_has_no_outlet(registry):
    assert resolve_outlet("Google News", None, None, GOOGLE_NEWS_LINK, registry) is None
    assert resolve_outlet(None, "", "", GOOGLE_NEWS_LINK, registry) is None
    # Techmeme's feed links to its own permalinks
    link = "http://www.techmeme.com/230625/p9#a230625p9"
    assert resolve_outlet("Techmeme", None, None, link, registry) is None


def test_an_aggregator_source_is_not_an_outlet_either(registry):
    got = resolve_outlet(
        "Google News", "https://finance.yahoo.com", "Yahoo Finance", GOOGLE_NEWS_LINK, registry
    )
    assert got is None


def test_an_aggregator_feed_item_linking_to_a_publisher_takes_the_links_outlet(registry):
    got = resolve_outlet("Techmeme", None, None, "https://www.reuters.com/technology/x", registry)
    assert got == Outlet("Reuters", "GB", "wire", "reuters.com")


def test_a_plain_feed_items_source_is_ignored(registry):
    """Only aggregator items take their own source; a plain feed's link decides."""
    got = resolve_outlet(
        None, "https://www.reuters.com", "Reuters", "https://www.ft.com/x", registry
    )
    assert got == Outlet("Financial Times", "GB", "newspaper", "ft.com")


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://uk.reuters.com/article/x", Outlet("Reuters", "GB", "wire", "reuters.com")),
        (
            "https://asia.nikkei.com/Business/x",
            Outlet("Nikkei Asia", "JP", "newspaper", "asia.nikkei.com"),
        ),
        ("https://www.nikkei.com/article/x", Outlet("Nikkei", "JP", "newspaper", "nikkei.com")),
        (
            "https://m.scmp.com/tech/x",
            Outlet("South China Morning Post", "HK", "newspaper", "scmp.com"),
        ),
        (
            "https://AMP.TheGuardian.com./x",
            Outlet("The Guardian", "GB", "newspaper", "theguardian.com"),
        ),
        ("https://english.news.cn/2026/x.htm", Outlet("Xinhua", "CN", "state media", "news.cn")),
    ],
)
def test_a_link_resolves_through_the_registry_subdomains_included(registry, link, expected):
    assert resolve_outlet(None, None, None, link, registry) == expected


def test_an_unknown_domain_falls_back_to_the_registrable_domain(registry):
    got = resolve_outlet(None, None, None, "https://blog.some-new-site.co.uk/post/1", registry)
    assert got == Outlet("some-new-site.co.uk", None, None, "some-new-site.co.uk")


def test_idn_links_resolve_to_one_punycode_domain(registry):
    for link in ("https://www.bücher.de/a", "https://xn--bcher-kva.de/a", "https://BÜCHER.de./a"):
        got = resolve_outlet(None, None, None, link, registry)
        assert got == Outlet("xn--bcher-kva.de", None, None, "xn--bcher-kva.de")
    listed = build_registry(
        registry.by_host.values(),
        validate_overrides({"bücher.de": {"name": "Bücher Zeitung", "country": "DE"}}),
    )
    got = resolve_outlet(None, None, None, "https://m.xn--bcher-kva.de/a", listed)
    assert got == Outlet("Bücher Zeitung", "DE", None, "xn--bcher-kva.de")


def test_a_link_to_an_ip_address_is_its_own_outlet_with_no_registry_match(registry):
    got = resolve_outlet(None, None, None, "http://203.0.113.7:8080/feed/item", registry)
    assert got == Outlet("203.0.113.7", None, None, "203.0.113.7")


@pytest.mark.parametrize("link", [None, "", "not a url", "mailto:"])
def test_no_link_and_no_feed_outlet_gives_none(registry, link):
    assert resolve_outlet(None, None, None, link, registry) is None


# ---- overrides (feeds.yaml `outlets:`) ---------------------------------------------------------


def test_an_override_with_a_bad_country_names_the_key():
    with pytest.raises(ConfigError) as err:
        validate_overrides({"example.com": {"name": "Example", "country": "XX1"}})
    assert str(err.value) == (
        "outlets.example.com.country: expected an ISO 3166 alpha-2 code, got 'XX1'"
    )


def test_an_override_error_names_the_file_when_given():
    with pytest.raises(ConfigError) as err:
        validate_overrides({"example.com": {"country": "UK"}}, source="feeds.yaml")
    assert str(err.value) == (
        "feeds.yaml: outlets.example.com.country: expected an ISO 3166 alpha-2 code "
        "(the United Kingdom is GB), got 'UK'"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"example.com": {"country": "us"}}, "outlets.example.com.country: expected an ISO 3166"),
        ({"example.com": {"country": 1}}, "outlets.example.com.country: expected an ISO 3166"),
        ({"example.com": {"kind": "magazine"}}, "outlets.example.com.kind: expected one of wire"),
        ({"example.com": {"name": ""}}, "outlets.example.com.name: expected a non-empty string"),
        ({"example.com": {"nmae": "x"}}, "outlets.example.com.nmae: unknown key"),
        ({"example.com": "Example"}, "outlets.example.com: expected a mapping"),
        ({"203.0.113.7": {"name": "x"}}, "outlets.203.0.113.7: expected a domain"),
        ({"localhost": {"name": "x"}}, "outlets.localhost: expected a domain"),
        (
            {"example.com": {}, "WWW.Example.com": {}},
            "outlets.WWW.Example.com: expected each domain once",
        ),
        (["example.com"], "outlets: expected a mapping of domain"),
    ],
)
def test_each_bad_override_has_a_one_line_error(raw, expected):
    with pytest.raises(ConfigError) as err:
        validate_overrides(raw)
    assert str(err.value).startswith(expected)
    assert "\n" not in str(err.value)


def test_overrides_change_add_and_clear_without_losing_other_rows(registry):
    overrides = validate_overrides(
        {
            "WWW.Reuters.com": {"country": "CA"},
            "new-outlet.test": {"name": "New Outlet", "country": "NZ", "kind": "blog"},
            "bare.test": None,
            "scmp.com": {"country": None},
        }
    )
    assert validate_overrides(None) == {}
    changed = build_registry(registry.by_host.values(), overrides)
    assert changed.entry_for_host("reuters.com").country == "CA"
    assert changed.entry_for_host("reuters.com").name == "Reuters"  # untouched fields kept
    assert changed.entry_for_host("new-outlet.test").name == "New Outlet"
    assert changed.entry_for_host("bare.test").name == "bare.test"
    assert changed.entry_for_host("scmp.com").country is None
    assert len(changed.by_host) == len(registry.by_host) + 2
    assert changed.entry_for_host("ft.com") == registry.entry_for_host("ft.com")
    got = resolve_outlet(None, None, None, "https://www.new-outlet.test/x", changed)
    assert got == Outlet("New Outlet", "NZ", "blog", "new-outlet.test")
    assert normalise_outlet_name("new outlet", changed) == "New Outlet"
    # the shipped registry is unchanged
    assert registry.entry_for_host("reuters.com").country == "GB"
