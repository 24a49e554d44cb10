"""Plain records that cross the store boundary: the store returns these, the rooms take them.

Frozen dataclasses, one per kind of row a caller works with. They hold data only; rules about
that data live in the room that owns it.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- feeds ---


@dataclass(frozen=True, slots=True)
class Feed:
    """A row of `feeds`: one subscription with its validators and health."""

    id: int
    url: str
    name: str
    outlet: str
    origin: str  # config | opml | discord
    enabled: bool
    etag: str | None
    last_modified: str | None
    last_checked_at: str | None
    last_success_at: str | None
    last_status: int | None
    next_check_at: str | None
    error_count: int
    last_error: str | None
    disabled_reason: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class NewFeed:
    """A feed to add to `feeds`; `origin` says who added it (config, opml, discord)."""

    url: str
    name: str
    origin: str
    outlet: str = ""
    enabled: bool = True
    next_check_at: str | None = None  # None: due at the next poll


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """A feed as `tokentide feeds` (its --json keys) and /feeds show it."""

    id: int
    name: str
    url: str
    origin: str
    enabled: bool
    last_success_at: str | None
    error_count: int
    last_error: str | None
    next_check_at: str | None
    disabled_reason: str | None


@dataclass(frozen=True, slots=True)
class NewArticle:
    """A normalised feed item on its way into `articles`, before dedupe."""

    guid: str
    link: str
    url: str  # canonical
    title: str
    summary: str
    author: str | None
    outlet: str | None
    published_at: str | None
    is_aggregated: bool = False  # an aggregator's item (Google News): also matched by title
