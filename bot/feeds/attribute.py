"""Who published a feed item, and which link to keep: from a normalised item to a `NewArticle`.

Pure: the outlet registry is passed in. The outlet follows `resolve_outlet` (the feed's outlet,
an aggregator item's own source, the registry by the link's domain, the domain itself). For an
aggregator's item the link becomes the publisher's own page when the item names it — Google
News' `<source url>` plus a link to that site in the description, or (an aggregator without
`<source>`, such as Techmeme) the first link in the description that leaves the aggregators.
Otherwise the aggregator's link is kept; readers see it as "via Google News". Nothing here
fetches a page: a Google News redirect is never followed to find out where it leads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.feeds.domains import normalise_host, registrable_domain
from bot.feeds.normalise import canonical_url
from bot.feeds.outlets import AGGREGATOR, OutletRegistry, resolve_outlet
from bot.models import NewArticle


def _is_aggregator(registry: OutletRegistry, url: str | None) -> bool:
    entry = registry.entry_for_host(url) if url else None
    return entry is not None and entry.kind == AGGREGATOR


def _same_site(url: str, domain: str) -> bool:
    return registrable_domain(normalise_host(url)) == domain


def _candidates(link: str, summary_links: Iterable[str]) -> list[str]:
    """Publisher URLs an aggregator item may carry: a redirect's `url=` target (Google News'
    older links), then the description's links in order."""
    found = []
    try:
        query = urlsplit(link).query if link else ""
    except ValueError:
        query = ""
    for key, value in parse_qsl(query):
        if key == "url" and value.startswith(("http://", "https://")):
            found.append(value)
    found.extend(u for u in summary_links if isinstance(u, str))
    return found


def publisher_link(
    link: str,
    source_url: str | None,
    summary_links: Iterable[str],
    registry: OutletRegistry,
) -> str | None:
    """The publisher's own URL for an aggregator item, or None when the item does not give it.

    With a `<source url>`, only a link on that source's site counts (the source's front page
    itself is not an article); without one, the first link off every aggregator's site does."""
    source_domain = registrable_domain(normalise_host(source_url)) if source_url else ""
    for url in _candidates(link, summary_links):
        host = normalise_host(url)
        if not host or _is_aggregator(registry, url):
            continue
        if source_domain:
            if _same_site(url, source_domain) and urlsplit(url).path.strip("/"):
                return url
        else:
            return url
    return None


def attribute(
    item: Mapping[str, Any],
    registry: OutletRegistry,
    *,
    feed_outlet: str | None = None,
    feed_country: str | None = None,
    feed_kind: str | None = None,
) -> NewArticle:
    """A normalised item (`normalise_entry`'s keys) as the archive stores it: the outlet with
    its country and kind, and the publisher's link where the item gives it."""
    link = item.get("link") or ""
    url = item.get("url") or link
    source_url = item.get("source_url")
    source_name = item.get("source_name")
    feed_entry = registry.entry_for_name(feed_outlet) if feed_outlet else None
    aggregated = (
        feed_kind == AGGREGATOR
        or (feed_kind is None and feed_entry is not None and feed_entry.kind == AGGREGATOR)
        or _is_aggregator(registry, link)
    )
    if aggregated and link.startswith(("http://", "https://")):
        found = publisher_link(link, source_url, item.get("summary_links") or (), registry)
        if found is not None:
            source_url = source_url or found
            link, url = found, canonical_url(found)
    outlet = resolve_outlet(
        feed_outlet,
        source_url,
        source_name,
        item.get("link") or None,
        registry,
        feed_country=feed_country,
        feed_kind=feed_kind,
    )
    return NewArticle(
        guid=item["guid"],
        link=link,
        url=url,
        title=item.get("title") or "",
        summary=item.get("summary") or "",
        author=item.get("author"),
        outlet=outlet.name if outlet else None,
        published_at=item.get("published_at"),
        is_aggregated=bool(item.get("is_aggregated")) or aggregated,
        outlet_country=outlet.country if outlet else None,
        outlet_kind=outlet.kind if outlet else None,
    )
