"""Hosts and registrable domains: the part of a URL that says who published it.

Pure string handling with the public-suffix rules built in (a small subset of the Public Suffix
List, enough for news sites), so nothing is fetched at run time. IDNs become punycode, `www`,
`m` and `amp` prefixes are dropped, IP addresses come back in compressed form.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

# Public suffixes of more than one label, for the ccTLDs that register names one level down
# (bbc.co.uk, people.com.cn). A small built-in subset of the Public Suffix List's ICANN part:
# enough for news sites, needs no network; an unlisted one makes `registrable_domain` return one
# label too few (example.gov.xx -> gov.xx), which only costs a registry miss.
_SECOND_LEVEL = {
    "uk": "co org me ltd plc net ac gov nhs police sch",
    "au": "com net org edu gov asn id",
    "nz": "co net org govt ac school geek gen kiwi maori",
    "jp": "co ne or ac ad ed go gr lg",
    "cn": "com net org gov edu ac mil",
    "hk": "com net org gov edu idv",
    "mo": "com net org gov edu",
    "tw": "com net org gov edu idv mil",
    "kr": "co ne or re pe go mil ac",
    "in": "co net org firm gen ind ac edu res gov mil nic",
    "za": "co org net gov ac edu web nom",
    "sg": "com net org gov edu per",
    "my": "com net org gov edu mil name",
    "id": "co or ac go net web sch mil",
    "th": "co in or ac go mi net",
    "ph": "com net org gov edu mil ngo",
    "vn": "com net org gov edu int ac biz info name pro health",
    "pk": "com net org gov edu fam biz web",
    "bd": "com net org gov edu ac mil",
    "lk": "com org gov edu net int ngo sch soc web ltd assn grp hotel ac",
    "np": "com org net edu gov mil",
    "bn": "com net org gov edu",
    "ng": "com org gov edu net name sch mobi",
    "ke": "co or ne go ac sc me info",
    "eg": "com net org gov edu eun mil sci",
    "sa": "com net org gov edu med pub sch",
    "ae": "co net org gov ac sch mil",
    "qa": "com net org gov edu mil name sch",
    "il": "co org net ac gov muni k12 idf",
    "tr": "com net org gov edu gen biz info av bel pol k12 web tv",
    "br": "com net org gov edu art blog",
    "mx": "com net org gob edu",
    "ar": "com net org gob edu int mil tur",
    "es": "com nom org gob edu",
    "ua": "com net org gov edu in",
    "fr": "gouv asso com",
}
MULTI_LABEL_SUFFIXES = frozenset(
    f"{second}.{tld}" for tld, seconds in _SECOND_LEVEL.items() for second in seconds.split()
)
# Hosting platforms whose subdomains are separate publishers (someone.substack.com is a
# newsletter, not Substack): the Public Suffix List's private part, for these few.
PLATFORM_SUFFIXES = frozenset(
    {
        "blogspot.com",
        "github.io",
        "substack.com",
        "medium.com",
        "wordpress.com",
        "tumblr.com",
        "netlify.app",
        "pages.dev",
        "vercel.app",
    }
)
# Leading labels that name a rendering of a site, not a different publisher.
_VARIANT_LABEL = re.compile(r"^(?:www\d*|m|mobile|amp)$")
_LABEL = re.compile(r"^[a-z0-9_-]{1,63}$")


def _host_part(text: str) -> str:
    """The host out of a URL, host:port or bare host; lowercased, trailing dots dropped."""
    text = text.strip()
    if "/" in text or "@" in text:
        if "://" not in text:
            text = "//" + text.lstrip("/")
        try:
            text = urlsplit(text).netloc.rsplit("@", 1)[-1]
        except ValueError:
            return ""
    if text.startswith("["):  # [v6]:port
        return text[1 : text.find("]")] if "]" in text else ""
    if text.count(":") == 1:
        head, _, port = text.partition(":")
        if port.isdigit() or not port:
            text = head
    return text.lower().rstrip(".")


def ip_address(host: str) -> str | None:
    """The compressed form of an IP address (a zone index dropped), or None for a name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).compressed
    except ValueError:
        return None


def _to_ascii(host: str) -> str:
    """IDN → punycode (the one form kept); an unencodable host is returned lowercased as is."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return host


def normalise_host(host: str | None) -> str:
    """'WWW.Example.COM.:8080' → 'example.com'; IDN to punycode; www/m/amp prefixes dropped
    while something beyond the registrable domain remains; IP addresses in compressed form.
    Accepts a bare host, host:port or a whole URL; '' when there is no host."""
    text = _host_part(host or "")
    if not text:
        return ""
    ip = ip_address(text)
    if ip:
        return ip
    text = _to_ascii(text).strip(".")
    labels = text.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return ""  # spaces, empty labels, an IDN that would not encode: not a host
    keep = len(_registrable_labels(labels))
    while len(labels) > keep and _VARIANT_LABEL.match(labels[0]):
        labels = labels[1:]
    return ".".join(labels)


def _registrable_labels(labels: list[str]) -> list[str]:
    if len(labels) > 2:
        suffix = ".".join(labels[-2:])
        if suffix in MULTI_LABEL_SUFFIXES or suffix in PLATFORM_SUFFIXES:
            return labels[-3:]
    return labels[-2:]


def registrable_domain(host: str | None) -> str:
    """The domain a publisher registered: 'news.bbc.co.uk' → 'bbc.co.uk', 'm.scmp.com' →
    'scmp.com', 'someone.substack.com' stays. IP addresses come back as themselves (compressed);
    a host that is only a public suffix comes back whole; '' when there is no host."""
    host = normalise_host(host)
    if not host or ip_address(host):
        return host
    return ".".join(_registrable_labels(host.split(".")))
