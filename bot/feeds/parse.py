"""Bytes + real response headers → feed entries, via feedparser.

feedparser flags "bozo" for anything from a charset mismatch to broken XML and then parses
loosely; those entries are kept. A response is refused only when it yields no entries *and*
does not look like a feed at all (an HTML login page, an empty body, unparseable XML).

feedparser replaces a document's DOCTYPE before parsing, so internal entity declarations (the
"billion laughs" bomb) are never expanded; tests/feeds checks that on a real bomb.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import feedparser
from feedparser.urls import _urljoin, make_safe_absolute_uri

from bot.errors import FeedError

# bozo reasons that say nothing about the document's structure.
_HARMLESS = ("CharacterEncodingOverride", "NonXMLContentType", "CharacterEncodingUnknown")

# An xml:base (or loose-HTML base) attribute anywhere: URIs below it resolve against it.
_BASE_ATTRIBUTE = re.compile(rb"[\s:]base\s*=", re.IGNORECASE)
_GUID_TAG = re.compile(rb"<(?:[\w.-]+:)?(?:guid|id)[\s>/]", re.IGNORECASE)
_NOT_PERMALINK = re.compile(
    rb"<(?:[\w.-]+:)?guid\s+ispermalink\s*=\s*[\"']false[\"']\s*>", re.IGNORECASE
)


@dataclass(frozen=True)
class ParsedFeed:
    entries: list[Any]
    title: str
    ttl_minutes: float | None
    warning: str | None  # the bozo reason, when entries were still read


def describe_bozo(reason: BaseException) -> str:
    """feedparser's bozo exception in plain words, with a line number when there is one."""
    line = getattr(reason, "getLineNumber", None)
    message = getattr(reason, "getMessage", None)
    if callable(line) and callable(message):
        return f"{message()} at line {line()}"
    return str(reason) or type(reason).__name__


def _ttl(feed: Mapping[str, Any]) -> float | None:
    try:
        return float(str(feed.get("ttl", "")).strip())
    except ValueError:
        return None


def _feed_base(url: str) -> str:
    """The base URI feedparser settles on when told the document lives at `url`."""
    base = make_safe_absolute_uri("", url)
    for _ in range(2):  # it re-derives the base at each element; this is its fixed point
        base = make_safe_absolute_uri(base, base) or base
    return base


def _needs_location(result: Any, body: bytes, url: str) -> bool:
    """Would telling feedparser where the feed lives change any link or guid we read?

    feedparser joins every element's base with the Content-Location on every start tag, a
    third of the parse time of a small feed, although nearly every feed carries absolute links.
    So the first parse goes without it, and this says when the answer could differ: an xml:base
    attribute, a text encoding where that search is blind, or an entry whose link (or a guid
    that feedparser treats as a link) joined with the feed URL is not itself.
    """
    try:
        ascii_like = "base=".encode(result.get("encoding") or "utf-8") == b"base="
    except (LookupError, UnicodeError):
        ascii_like = False
    if not ascii_like or _BASE_ATTRIBUTE.search(body):
        return True
    base = _feed_base(url)
    # Guids marked isPermaLink="false" are never joined; when every guid says so, they are safe.
    guids_not_links = len(_GUID_TAG.findall(body)) == len(_NOT_PERMALINK.findall(body))
    for entry in result.get("entries") or []:
        link = entry.get("link")
        if link and _urljoin(base, link) != link:
            return True
        guid = entry.get("id")
        if guid and guid != link and not guids_not_links and _urljoin(base, guid) != guid:
            return True
    return False


def parse_feed(body: bytes, headers: Mapping[str, str], *, url: str) -> ParsedFeed:
    """Parse a fetched body. Raises FeedError with plain words when it is not a feed.

    Entry links and guids are resolved against the feed's URL (its Content-Location) as
    feedparser does; other URIs inside entries are left as the feed wrote them."""
    response_headers = {k.lower(): v for k, v in headers.items()}
    content_type = response_headers.get("content-type", "").split(";")[0].strip().lower()
    if not body.strip():
        raise FeedError(
            f"not a feed: the server sent an empty {content_type or 'response'} (HTTP 200)"
        )
    # We keep plain text only (normalise.strip_html), so feedparser's HTML sanitiser and
    # relative-URI rewriting inside content would be wasted work: they halve parse time.
    options = {"sanitize_html": False, "resolve_relative_uris": False}
    located = "content-location" in response_headers
    result = feedparser.parse(BytesIO(body), response_headers=response_headers, **options)
    if not located and _needs_location(result, body, url):
        # Relative links resolve against where the feed really lives (SCMP's xml:base is
        # bogus), so parse again knowing that.
        response_headers["content-location"] = url
        result = feedparser.parse(BytesIO(body), response_headers=response_headers, **options)
    entries = list(result.get("entries") or [])
    reason = result.get("bozo_exception") if result.get("bozo") else None
    warning = describe_bozo(reason) if reason is not None else None
    if not entries:
        version = result.get("version") or ""
        looks_html = content_type in ("text/html", "application/xhtml+xml") or body.lstrip()[
            :200
        ].lower().startswith((b"<!doctype html", b"<html"))
        if looks_html:
            raise FeedError(
                f"not a feed: got an HTML page ({content_type or 'no content type'}), "
                "perhaps a login, paywall or error page; check the URL in a browser"
            )
        if not version:
            raise FeedError(f"not a feed: no RSS, Atom or RDF found ({warning or content_type})")
        if reason is not None and type(reason).__name__ not in _HARMLESS:
            raise FeedError(f"feed XML is broken and no items could be read ({warning})")
    feed = result.get("feed") or {}
    return ParsedFeed(
        entries=entries,
        title=str(feed.get("title") or ""),
        ttl_minutes=_ttl(feed),
        warning=warning,
    )


@dataclass(frozen=True)
class FeedItems:
    """Plain, picklable result of reading a feed: normalised article dicts plus channel hints."""

    items: list[dict[str, Any]]
    ttl_minutes: float | None
    warning: str | None


def read_items(body: bytes, headers: Mapping[str, str], *, url: str, outlet: str) -> FeedItems:
    """parse_feed + normalise_entry: what a parser process returns to the poll loop."""
    from bot.feeds.normalise import normalise_entry

    parsed = parse_feed(body, headers, url=url)
    items = []
    for entry in parsed.entries:
        item = normalise_entry(entry, feed_outlet=outlet, feed_url=url)
        if item is not None:
            items.append(item)
    return FeedItems(items=items, ttl_minutes=parsed.ttl_minutes, warning=parsed.warning)
