"""Pure normalisation: feedparser entries → plain article dicts with canonical URLs and UTC dates.

Nothing here touches the network, the database or the clock.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.clock import to_iso

# Query parameters that only track the click, never select the content.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref_src",
        "cmpid",
        "oc",  # Google News adds ?oc=5 to its redirect links
        "taid",
        "guccounter",
    }
)
TRACKING_PREFIXES = ("utm_", "__twitter", "ga_")

GOOGLE_NEWS_HOSTS = frozenset({"news.google.com"})
SUMMARY_MAX_CHARS = 2000

_SCMP_ARTICLE = re.compile(r"/article/(\d{5,})(?:/|$)")
_TAG = re.compile(r"<[^>]*>")
# Text inside these never reads as prose (feedparser's sanitiser is off, see parse.py).
_INVISIBLE = re.compile(r"<(script|style|noscript)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")
# Links inside an item's HTML description: where an aggregator names the publisher's own page.
_HREF = re.compile(r"""<a\s[^>]*?href\s*=\s*["']([^"'<>\s]+)["']""", re.IGNORECASE)
SUMMARY_LINKS_MAX = 10


def _unwrap(url: str) -> str:
    """Undo redirectors that wrap the real article URL in their path."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host == "go.theregister.com" and parts.path.startswith("/feed/"):
        inner = parts.path[len("/feed/") :]
        if inner and not inner.startswith(("http://", "https://")):
            inner = "https://" + inner
        return urlunsplit((*urlsplit(inner)[:3], parts.query, ""))
    return url


def canonical_url(url: str) -> str:
    """One spelling per article: https scheme kept, host lowercased, tracking params, fragment,
    default port and redirector wrappers removed. SCMP article URLs collapse to their numeric id
    because the slug changes when an editor rewrites the headline."""
    url = _unwrap(url.strip())
    parts = urlsplit(url)
    scheme = (parts.scheme or "https").lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if host.startswith("scmp.com") or host.endswith(".scmp.com"):
        match = _SCMP_ARTICLE.search(parts.path)
        if match:
            return f"https://www.scmp.com/article/{match.group(1)}"
    port = parts.port
    netloc = host
    if port and not (scheme == "http" and port == 80) and not (scheme == "https" and port == 443):
        netloc = f"{host}:{port}"
    query = ""
    if parts.query:
        query = urlencode(
            [
                (k, v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
                if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
            ],
            doseq=True,
        )
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, query, ""))


def strip_html(text: str | None, limit: int = SUMMARY_MAX_CHARS) -> str:
    """Plain text from a feed's HTML-ish summary: tags dropped, entities decoded, spaces folded."""
    if not text:
        return ""
    if "<" in text or "&" in text:  # most titles have neither: skip three passes
        text = html.unescape(_TAG.sub(" ", _INVISIBLE.sub(" ", text)))
    plain = _SPACE.sub(" ", text).strip()
    if len(plain) > limit:
        plain = plain[: limit - 1].rstrip() + "…"
    return plain


def struct_to_iso(value: Any) -> str | None:
    """feedparser's *_parsed fields are UTC struct_time; anything unusable becomes None."""
    if not value:
        return None
    try:
        return to_iso(datetime.fromtimestamp(calendar.timegm(value), UTC))
    except (TypeError, ValueError, OverflowError):
        return None


def clean_author(entry: Mapping[str, Any]) -> str | None:
    """Comma-joined names (SCMP) are kept as one tidy 'A, B' string."""
    names: list[str] = []
    for author in entry.get("authors") or []:
        name = (author.get("name") or "").strip() if isinstance(author, Mapping) else ""
        names.extend(n.strip() for n in name.split(",") if n.strip())
    if not names and entry.get("author"):
        names = [n.strip() for n in str(entry["author"]).split(",") if n.strip()]
    seen: list[str] = []
    for n in names:
        n = _SPACE.sub(" ", n)
        if n not in seen:
            seen.append(n)
    return ", ".join(seen) or None


def summary_links(text: str | None, limit: int = SUMMARY_LINKS_MAX) -> list[str]:
    """The absolute http(s) links of a description's anchors, in order, each once."""
    if not text or "href" not in text.lower():
        return []
    found: list[str] = []
    for raw in _HREF.findall(text):
        url = html.unescape(raw).strip()
        if url.startswith(("http://", "https://")) and url not in found:
            found.append(url)
            if len(found) >= limit:
                break
    return found


def is_google_news(url: str) -> bool:
    lowered = url.lower()
    # Splitting a URL is the costly part; a URL not even containing the host name skips it.
    if not any(host in lowered for host in GOOGLE_NEWS_HOSTS):
        return False
    return (urlsplit(url).hostname or "").lower() in GOOGLE_NEWS_HOSTS


def normalise_title(title: str) -> str:
    """Key for matching the same headline across spellings: case, spaces and quotes folded."""
    folded = title.lower().replace("\u2019", "'").replace("\u2018", "'")
    folded = folded.replace("\u201c", '"').replace("\u201d", '"')
    return _SPACE.sub(" ", folded).strip()


def normalise_entry(
    entry: Mapping[str, Any], *, feed_outlet: str, feed_url: str
) -> dict[str, Any] | None:
    """One feedparser entry → an article dict, or None when it has neither link nor title.

    Keys: guid, link, url (canonical), title, summary, author, outlet, published_at,
    is_aggregated, and what an aggregator says about the publisher: source_url and source_name
    (Google News' `<source url=...>name</source>`) and summary_links (the description's links).
    `bot.feeds.attribute` turns these into the item's outlet and the link to show.
    """
    link = (entry.get("link") or "").strip()
    title = strip_html(entry.get("title"), limit=1000)
    if not link and not title:
        return None
    if link and not link.startswith(("http://", "https://")):
        # No usable absolute link (e.g. resolved against a bogus xml:base): fall back to a guid
        # that is a URL, else keep the feed URL plus a stable fragment-free marker.
        guid_url = (entry.get("id") or "").strip()
        link = guid_url if guid_url.startswith(("http://", "https://")) else ""
    outlet = feed_outlet
    aggregated = is_google_news(link) or is_google_news(feed_url)
    source = entry.get("source") or {}
    if not isinstance(source, Mapping):
        source = {}
    source_title = (source.get("title") or "").strip()
    source_href = (source.get("href") or "").strip()
    if aggregated and source_title:
        outlet = source_title
        suffix = f" - {source_title}"
        if title.endswith(suffix):
            title = title[: -len(suffix)].rstrip()
    raw_summary = entry.get("summary") or entry.get("description")
    published = struct_to_iso(entry.get("published_parsed")) or struct_to_iso(
        entry.get("updated_parsed")
    )
    guid = (entry.get("id") or "").strip() or link
    if not link:
        # Items without a link still get archived under a stable synthetic URL.
        digest = hashlib.sha256(f"{feed_url}\n{guid}\n{title}".encode()).hexdigest()[:16]
        link = f"{feed_url}#item-{digest}"
        url = link
    else:
        url = canonical_url(link)
    if not guid:
        guid = url
    return {
        "guid": guid,
        "link": link,
        "url": url,
        "title": title,
        "summary": strip_html(raw_summary),
        "author": clean_author(entry),
        "outlet": outlet or None,
        "published_at": published,
        "is_aggregated": aggregated,
        "source_url": source_href if source_href.startswith(("http://", "https://")) else None,
        "source_name": source_title or None,
        "summary_links": summary_links(raw_summary),
    }
