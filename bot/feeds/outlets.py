"""Who published an article: the outlet registry, outlet names and outlet resolution.

The registry (bot/feeds/outlets.csv, one cited row per publisher domain) maps a domain to an
outlet's name, country (ISO 3166 alpha-2, empty when the site does not say) and kind.
`feeds.yaml` `outlets:` adds or overrides rows (`validate_overrides`). Pure code: no network,
no database; hosts and registrable domains come from bot/feeds/domains.py.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

from bot.errors import ConfigError
from bot.feeds.domains import ip_address, normalise_host, registrable_domain

DATA_FILE = "outlets.csv"
COLUMNS = ("domain", "name", "country", "kind", "source")
KINDS = (
    "wire",
    "newspaper",
    "broadcaster",
    "state media",
    "trade press",
    "newsletter",
    "aggregator",
    "blog",
    "official",
)
AGGREGATOR = "aggregator"
OFFICIAL = "official"  # a government source: listed among a story's outlets, never its lead

# ISO 3166-1 officially assigned alpha-2 codes (checked against Debian iso-codes 3166-1).
# "UK" and "EU" are not among them: Britain is GB, and an EU-wide outlet takes its seat's code.
_ISO_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK
    DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR
    GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM
    KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP
    MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL
    PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST
    SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG
    VI VN VU WF WS YE YT ZA ZM ZW
"""
ISO_COUNTRIES = frozenset(_ISO_CODES.split())


@dataclass(frozen=True)
class OutletEntry:
    """One registry row. `domain` is a registrable domain or a more specific host."""

    domain: str
    name: str
    country: str | None
    kind: str | None  # always set in the shipped file; an override may add a row without one
    source: str = ""


@dataclass(frozen=True)
class Outlet:
    """The publisher of one article. country and kind are None when the registry does not know."""

    name: str
    country: str | None
    kind: str | None
    domain: str | None


@dataclass(frozen=True)
class OutletOverride:
    """One `outlets:` entry from feeds.yaml; fields left out keep the shipped value."""

    name: str | None = None
    country: str | None = None
    kind: str | None = None
    clear_country: bool = False  # `country: null` or "" says "unknown" explicitly


@dataclass(frozen=True)
class OutletRegistry:
    """Registry rows by host, and name keys (see `name_key`) → canonical outlet name."""

    by_host: Mapping[str, OutletEntry]
    by_name: Mapping[str, OutletEntry]
    aliases: tuple[Mapping[str, str], ...]  # name, domain and acronym keys, strongest first

    def entry_for_host(self, host: str | None) -> OutletEntry | None:
        """The most specific row for `host` or one of its parents, up to its registrable
        domain (news.google.com before google.com; a subdomain matches its domain)."""
        key = normalise_host(host)
        if not key:
            return None
        stop = registrable_domain(key)
        while True:
            entry = self.by_host.get(key)
            if entry is not None or key == stop or "." not in key:
                return entry
            key = key.split(".", 1)[1]

    def entry_for_name(self, name: str | None) -> OutletEntry | None:
        canonical = self.canonical_name(name)
        return self.by_name.get(canonical) if canonical else None

    def canonical_name(self, name: str | None) -> str | None:
        key = name_key(name or "")
        if not key:
            return None
        for level in self.aliases:
            if key in level:
                return level[key]
        # 'BBC News', 'Xinhua News Agency', 'Bloomberg Online', 'BIS (.gov)': a generic tail,
        # then names and domains again (not acronyms: a short stem would match too easily).
        stem = _GENERIC_TAIL.sub("", key)
        if stem != key and len(stem) > 1:
            for level in self.aliases[:2]:
                if stem in level:
                    return level[stem]
        return None


# ---- names ----------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
_GENERIC_TAIL = re.compile(r"(?:newsagency|news|online|com|gov)$")


def _words(name: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    folded = folded.replace("&", " and ").replace("'s ", "s ").replace("\u2019s ", "s ")
    folded = re.sub(r"['\u2019]", "", folded)
    return _WORD.findall(folded)


def name_key(name: str) -> str:
    """Case-, accent-, punctuation- and 'The'-insensitive key: 'The Verge' == 'the verge!'."""
    words = _words(name)
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return "".join(words)


def _domain_keys(domain: str) -> set[str]:
    """'theverge.com' → thevergecom, theverge, verge. A row for a more specific host
    (news.google.com) gives only its whole-host key: 'google' must not mean Google News."""
    keys = {name_key(domain)}
    if registrable_domain(domain) == domain:
        label = domain.split(".")[0]
        keys.add(label)
        if label.startswith("the") and len(label) > 6:
            keys.add(label[3:])
    return {k for k in keys if len(k) > 1}


def _acronym(name: str) -> str | None:
    words = _words(name)
    if words and words[0] == "the":
        words = words[1:]
    if len(words) < 2:
        return None
    return "".join(w[0] for w in words)


def _alias_levels(entries: Iterable[OutletEntry]) -> tuple[Mapping[str, str], ...]:
    """Three maps key → canonical name: the names themselves, then keys derived from domains,
    then acronyms. A derived key claimed by two different outlets is dropped as ambiguous."""
    entries = list(entries)
    levels: list[Mapping[str, str]] = []
    claimed: set[str] = set()
    for derive in (
        lambda e: {name_key(e.name)},
        lambda e: _domain_keys(e.domain),
        lambda e: {_acronym(e.name) or ""},
    ):
        owners: dict[str, set[str]] = {}
        for entry in entries:
            for key in derive(entry):
                if key and key not in claimed:
                    owners.setdefault(key, set()).add(entry.name)
        level = {key: names.pop() for key, names in owners.items() if len(names) == 1}
        claimed |= set(owners)
        levels.append(MappingProxyType(level))
    return tuple(levels)


def normalise_outlet_name(name: str | None, registry: OutletRegistry) -> str | None:
    """The registry's name for `name` ('SCMP', 'scmp.com', 'South China Morning Post' → 'South
    China Morning Post'); a name the registry does not know comes back with spaces tidied."""
    if not name or not name.strip():
        return None
    return registry.canonical_name(name) or " ".join(name.split())


# ---- the registry file and overrides --------------------------------------------------------


def _country_ok(code: str) -> bool:
    return code in ISO_COUNTRIES


def _country_hint(code: str) -> str:
    return " (the United Kingdom is GB)" if code.upper() == "UK" else ""


def read_registry(text: str, source: str = DATA_FILE) -> list[OutletEntry]:
    """Parse and check the registry CSV. Lines starting with '#' are provenance comments."""
    numbered = [
        (n, line)
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    reader = csv.DictReader(io.StringIO("\n".join(line for _, line in numbered)))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ConfigError(
            f"{source}: expected the columns {','.join(COLUMNS)}, got {reader.fieldnames!r}"
        )
    entries: list[OutletEntry] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = numbered[reader.line_num - 1][0]

        def fail(what: str, got: Any, line: int = line) -> ConfigError:
            return ConfigError(f"{source}: line {line}: expected {what}, got {got!r}")

        raw_domain = (row.get("domain") or "").strip()
        domain = normalise_host(raw_domain)
        if not domain or "." not in domain or domain != raw_domain:
            raise fail("a lowercase domain without www/m/amp prefix", raw_domain)
        if domain in seen:
            raise fail(f"a domain listed once (also on line {seen[domain]})", raw_domain)
        seen[domain] = line
        name = " ".join((row.get("name") or "").split())
        if not name:
            raise fail("an outlet name", row.get("name"))
        country = (row.get("country") or "").strip()
        if country and not _country_ok(country):
            raise fail("an ISO 3166 alpha-2 code or nothing" + _country_hint(country), country)
        kind = (row.get("kind") or "").strip()
        if kind not in KINDS:
            raise fail(f"a kind among {', '.join(KINDS)}", kind)
        cited = (row.get("source") or "").strip()
        if not cited.startswith(("https://", "http://")):
            raise fail("a source URL where the row's facts can be checked", cited)
        entries.append(OutletEntry(domain, name, country or None, kind, cited))
    return entries


def validate_overrides(raw: Any, source: str | None = None) -> dict[str, OutletOverride]:
    """Check feeds.yaml `outlets:` ({domain: {name, country, kind}}). A bad entry raises one
    ConfigError line naming the key, e.g. "outlets.example.com.country: expected an ISO 3166
    alpha-2 code, got 'XX1'"; `source` (the file) is put in front when given."""
    prefix = f"{source}: " if source else ""

    def fail(key: str, expected: str, got: Any) -> ConfigError:
        return ConfigError(f"{prefix}{key}: expected {expected}, got {got!r}")

    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise fail("outlets", "a mapping of domain to {name, country, kind}", raw)
    result: dict[str, OutletOverride] = {}
    for raw_domain, spec in raw.items():
        where = f"outlets.{raw_domain}"
        domain = normalise_host(str(raw_domain)) if isinstance(raw_domain, str) else ""
        if not domain or ip_address(domain) or "." not in domain:
            raise fail(where, "a domain such as example.com", raw_domain)
        if domain in result:
            raise fail(where, "each domain once (www/m/amp prefixes and case ignored)", raw_domain)
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise fail(where, "a mapping with name, country and/or kind", spec)
        unknown = sorted(str(k) for k in spec if k not in ("name", "country", "kind"))
        if unknown:
            raise ConfigError(
                f"{prefix}{where}.{unknown[0]}: unknown key (expected one of: country, kind, name)"
            )
        name = spec.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise fail(f"{where}.name", "a non-empty string", name)
        country = spec.get("country")
        clear = "country" in spec and country in (None, "")
        if (
            not clear
            and country is not None
            and (not isinstance(country, str) or not _country_ok(country))
        ):
            hint = _country_hint(country) if isinstance(country, str) else ""
            raise fail(f"{where}.country", "an ISO 3166 alpha-2 code" + hint, country)
        kind = spec.get("kind")
        if kind is not None and kind not in KINDS:
            raise fail(f"{where}.kind", f"one of {', '.join(KINDS)}", kind)
        result[domain] = OutletOverride(
            name=" ".join(name.split()) if name else None,
            country=country or None,
            kind=kind,
            clear_country=clear,
        )
    return result


def build_registry(
    entries: Iterable[OutletEntry], overrides: Mapping[str, OutletOverride] | None = None
) -> OutletRegistry:
    """Index rows by host and by name. An override changes the fields it names on a shipped row,
    or adds a row (named by its domain when it gives no name; country and kind then unknown)."""
    by_host: dict[str, OutletEntry] = {e.domain: e for e in entries}
    for domain, o in (overrides or {}).items():
        old = by_host.get(domain) or OutletEntry(domain, domain, None, None)
        by_host[domain] = OutletEntry(
            domain=domain,
            name=o.name or old.name,
            country=None if o.clear_country else (o.country or old.country),
            kind=o.kind or old.kind,
            source="feeds.yaml outlets:",
        )
    by_name: dict[str, OutletEntry] = {}
    for entry in by_host.values():
        by_name.setdefault(entry.name, entry)  # an outlet's first row speaks for it
    return OutletRegistry(
        by_host=MappingProxyType(by_host),
        by_name=MappingProxyType(by_name),
        aliases=_alias_levels(by_host.values()),
    )


def load_registry(overrides: Mapping[str, OutletOverride] | None = None) -> OutletRegistry:
    """The shipped registry (package data) with validated overrides applied. Built once per
    set of overrides and shared: a registry is immutable."""
    return _registry(tuple(sorted((overrides or {}).items())))


@functools.lru_cache(maxsize=8)
def _registry(overrides: tuple[tuple[str, OutletOverride], ...]) -> OutletRegistry:
    text = resources.files("bot.feeds").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return build_registry(read_registry(text), dict(overrides))


def overrides_from_config(outlets: Mapping[str, Any], source: str | None = None) -> dict:
    """feeds.yaml `outlets:` as the settings hold it (domain -> an object with name, country
    and kind, None where not given) → validated overrides (`validate_overrides`)."""
    raw = {
        domain: {
            key: getattr(entry, key)
            for key in ("name", "country", "kind")
            if getattr(entry, key, None) is not None
        }
        for domain, entry in outlets.items()
    }
    return validate_overrides(raw, source)


def registry_for(settings: Any) -> OutletRegistry:
    """The registry with the settings' `outlets:` applied."""
    return load_registry(overrides_from_config(getattr(settings, "outlets", None) or {}))


def check_feed_outlet(country: Any, kind: Any, where: str, source: str | None = None) -> None:
    """A feed's own `country` and `kind` (both optional): one ConfigError line when either is
    not what the registry itself would accept."""
    prefix = f"{source}: " if source else ""
    if country is not None and (not isinstance(country, str) or not _country_ok(country)):
        hint = _country_hint(country) if isinstance(country, str) else ""
        raise ConfigError(
            f"{prefix}{where}.country: expected an ISO 3166 alpha-2 code{hint}, got {country!r}"
        )
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"{prefix}{where}.kind: expected one of {', '.join(KINDS)}, got {kind!r}")


# ---- resolution -----------------------------------------------------------------------------


def _outlet(entry: OutletEntry) -> Outlet:
    return Outlet(entry.name, entry.country, entry.kind, entry.domain)


def _from_source(url: str | None, name: str | None, registry: OutletRegistry) -> Outlet | None:
    """An aggregator item's own source: its URL's registry row, else its name's, else as given."""
    host = normalise_host(url) if url else ""
    entry = registry.entry_for_host(host) if host else None
    if entry is None and name:
        entry = registry.entry_for_name(name)
    if entry is not None:
        return None if entry.kind == AGGREGATOR else _outlet(entry)
    domain = registrable_domain(host) or None
    label = normalise_outlet_name(name, registry) or domain
    return Outlet(label, None, None, domain) if label else None


def _from_link(link: str | None, registry: OutletRegistry) -> Outlet | None:
    host = normalise_host(link) if link and "//" in link else ""
    if not host:
        return None
    entry = registry.entry_for_host(host)
    if entry is not None:
        return None if entry.kind == AGGREGATOR else _outlet(entry)
    domain = registrable_domain(host)
    return Outlet(domain, None, None, domain)


def resolve_outlet(
    feed_outlet: str | None,
    item_source_url: str | None,
    item_source_name: str | None,
    link: str | None,
    registry: OutletRegistry,
    *,
    feed_country: str | None = None,
    feed_kind: str | None = None,
) -> Outlet | None:
    """Who published one item, in this order:

    1. the feed's `outlet` (unless it names an aggregator such as Google News), with the
       feed's own `feed_country` and `feed_kind` over the registry's;
    2. for aggregator items (an aggregator feed, or a link on an aggregator's domain), the item's
       own source: Google News' `<source url=...>name</source>`;
    3. the registry row for the link's domain (subdomains match);
    4. the link's registrable domain itself (an IP address stays an IP), country and kind None.

    Aggregators are never outlets: an aggregator link with no usable source gives None, which
    the archive stores as a NULL outlet and story signals count as `unattributed`.
    """
    if feed_outlet and feed_outlet.strip():
        entry = registry.entry_for_name(feed_outlet)
        kind = feed_kind or (entry.kind if entry else None)
        if kind != AGGREGATOR:
            if entry is None:
                return Outlet(" ".join(feed_outlet.split()), feed_country, kind, None)
            return Outlet(entry.name, feed_country or entry.country, kind, entry.domain)
        aggregated = True
    else:
        link_entry = registry.entry_for_host(link) if link else None
        aggregated = link_entry is not None and link_entry.kind == AGGREGATOR
    if aggregated and (item_source_url or item_source_name):
        found = _from_source(item_source_url, item_source_name, registry)
        if found is not None:
            return found
    return _from_link(link, registry)


def reattribute(
    link: str | None,
    stored_outlet: str | None,
    registry: OutletRegistry,
    *,
    feed_outlet: str | None = None,
    feed_country: str | None = None,
    feed_kind: str | None = None,
) -> Outlet | None:
    """An archived article's outlet under the current registry, from what the archive kept:
    its link (the publisher's own page whenever ingest found one) and the outlet it was given
    (for an aggregator's item, its source's name). In order:

    1. the feed's `outlet`, as at ingest (for an aggregator's feed such as Google News, the
       item's source is the stored name);
    2. the registry row for the link's domain, unless it is an aggregator's;
    3. the stored name as the registry knows it now (an aggregator item's source);
    4. the stored name as it was, without country or kind (a source the registry does not know,
       or the link's bare domain);
    5. for an item stored without an outlet, the link's domain unless an aggregator's.
    """
    if feed_outlet and feed_outlet.strip():
        return resolve_outlet(
            feed_outlet,
            None,
            stored_outlet,
            link,
            registry,
            feed_country=feed_country,
            feed_kind=feed_kind,
        )
    host = normalise_host(link) if link and "//" in link else ""
    entry = registry.entry_for_host(host) if host else None
    if entry is not None and entry.kind != AGGREGATOR:
        return _outlet(entry)
    if stored_outlet and stored_outlet.strip():
        named = registry.entry_for_name(stored_outlet)
        if named is not None:
            return None if named.kind == AGGREGATOR else _outlet(named)
        domain = registrable_domain(host) if host else None
        if domain and stored_outlet.strip().casefold() == domain:
            return Outlet(domain, None, None, domain)
        return Outlet(" ".join(stored_outlet.split()), None, None, None)
    return None if entry is not None else _from_link(link, registry)


def site_domains(links: Iterable[str], registry: OutletRegistry) -> list[str]:
    """The registrable domains of `links`, most frequent first, leaving out aggregators' (a
    Google News redirect says nothing about the publisher's site): the keys an `outlets:`
    entry for this outlet would take."""
    counts: dict[str, int] = {}
    for link in links:
        host = normalise_host(link) if link and "//" in link else ""
        if not host:
            continue
        entry = registry.entry_for_host(host)
        if entry is not None and entry.kind == AGGREGATOR:
            continue
        domain = registrable_domain(host)
        counts[domain] = counts.get(domain, 0) + 1
    return sorted(counts, key=lambda d: (-counts[d], d))
