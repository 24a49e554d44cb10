"""OPML import: read a subscription list, add its feeds with origin 'opml' in one transaction."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import sqlite_utils

from bot.clock import to_iso
from bot.errors import FeedError

MAX_OPML_BYTES = 5 * 1024 * 1024


def parse_opml(data: bytes, *, source: str = "<opml>") -> list[dict[str, str]]:
    """OPML bytes → [{url, name, outlet}]. Raises FeedError naming the file and the problem."""
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
    feeds: list[dict[str, str]] = []
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
        feeds.append({"url": url, "name": name, "outlet": name})
    if not feeds:
        raise FeedError(f"{source}: no feeds found (no <outline> with an xmlUrl attribute)")
    return feeds


def read_opml(path: str | Path) -> list[dict[str, str]]:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_OPML_BYTES + 1)
    except OSError as exc:
        raise FeedError(f"{path}: cannot read OPML file: {exc.strerror or exc}") from None
    if len(data) > MAX_OPML_BYTES:
        raise FeedError(f"{path}: OPML file is larger than {MAX_OPML_BYTES // 1024 // 1024} MiB")
    return parse_opml(data, source=str(path))


def import_opml(db: sqlite_utils.Database, feeds: list[dict[str, str]], *, now: datetime) -> dict:
    """Insert feeds not yet known (by URL); all in one transaction."""
    added = 0
    with db.conn:
        for feed in feeds:
            cursor = db.execute(
                "INSERT OR IGNORE INTO feeds (url, name, outlet, origin, enabled, created_at) "
                "VALUES (?, ?, ?, 'opml', 1, ?)",
                [feed["url"], feed["name"], feed["outlet"], to_iso(now)],
            )
            added += cursor.rowcount
    return {"added": added, "skipped": len(feeds) - added}
