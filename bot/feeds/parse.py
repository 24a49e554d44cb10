"""Bytes + real response headers → feed entries, via feedparser.

feedparser flags "bozo" for anything from a charset mismatch to broken XML and then parses
loosely; those entries are kept. A response is refused only when it yields no entries *and*
does not look like a feed at all (an HTML login page, an empty body, unparseable XML).

feedparser replaces a document's DOCTYPE before parsing, so internal entity declarations (the
"billion laughs" bomb) are never expanded; tests/feeds checks that on a real bomb.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import feedparser

from bot.errors import FeedError

# bozo reasons that say nothing about the document's structure.
_HARMLESS = ("CharacterEncodingOverride", "NonXMLContentType", "CharacterEncodingUnknown")


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


def parse_feed(body: bytes, headers: Mapping[str, str], *, url: str) -> ParsedFeed:
    """Parse a fetched body. Raises FeedError with plain words when it is not a feed."""
    response_headers = {k.lower(): v for k, v in headers.items()}
    # Relative links resolve against where the feed really lives (SCMP's xml:base is bogus).
    response_headers.setdefault("content-location", url)
    content_type = response_headers.get("content-type", "").split(";")[0].strip().lower()
    if not body.strip():
        raise FeedError(
            f"not a feed: the server sent an empty {content_type or 'response'} (HTTP 200)"
        )
    # We keep plain text only (normalise.strip_html), so feedparser's HTML sanitiser and
    # relative-URI rewriting inside content would be wasted work: they halve parse time.
    # Entry links are still resolved against the feed's location.
    result = feedparser.parse(
        BytesIO(body),
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
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
