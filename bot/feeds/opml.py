"""OPML import: read a subscription list, add its feeds with origin 'opml', all or none."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import sqlite_utils

from bot.errors import FeedError
from bot.models import NewFeed
from bot.store.feeds import add_feeds

MAX_OPML_BYTES = 5 * 1024 * 1024


def parse_opml(data: bytes, *, source: str = "<opml>") -> list[NewFeed]:
    """OPML bytes → feeds to add (origin 'opml', outlet = title). Raises FeedError naming the
    file and the problem."""
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        # OPML never needs a DTD; refusing one rules out entity expansion tricks.
        raise FeedError(f"{source}: not accepted: OPML with a DOCTYPE or entity declarations")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise FeedError(f"{source}: not valid OPML/XML ({exc})") from None
    if root.tag.lower() != "opml" or root.find("body") is None:
        raise FeedError(f"{source}: not an OPML file (expected <opml> with a <body>)")
    feeds: list[NewFeed] = []
    seen: set[str] = set()
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if not url:
            continue  # a folder
        name = (outline.get("title") or outline.get("text") or url).strip()
        if not url.startswith(("http://", "https://")):
            raise FeedError(f"{source}: feed {name!r}: expected an http(s) URL, got {url!r}")
        if url in seen:
            continue
        seen.add(url)
        feeds.append(NewFeed(url=url, name=name, outlet=name, origin="opml"))
    if not feeds:
        raise FeedError(f"{source}: no feeds found (no <outline> with an xmlUrl attribute)")
    return feeds


def read_opml(path: str | Path) -> list[NewFeed]:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_OPML_BYTES + 1)
    except OSError as exc:
        raise FeedError(f"{path}: cannot read OPML file: {exc.strerror or exc}") from None
    if len(data) > MAX_OPML_BYTES:
        raise FeedError(f"{path}: OPML file is larger than {MAX_OPML_BYTES // 1024 // 1024} MiB")
    return parse_opml(data, source=str(path))


def import_opml(db: sqlite_utils.Database, feeds: list[NewFeed], *, now: datetime) -> dict:
    """Add the feeds not yet known (by URL), all in one transaction: a failure half-way adds
    none of them."""
    added = add_feeds(db, feeds, now=now)
    return {"added": added, "skipped": len(feeds) - added}
