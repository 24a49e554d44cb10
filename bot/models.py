"""Plain records that cross the store boundary: the store returns these, the rooms take them.

Frozen dataclasses, one per kind of row a caller works with. They hold data only; rules about
that data live in the room that owns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --- outbox and runs ---


@dataclass(frozen=True, slots=True)
class Delivery:
    """A row of `deliveries`: one digest or alert on its way to one destination."""

    id: int
    kind: str
    key: str
    destination: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: str | None
    nonce: str | None
    parts_sent: int
    message_ids: str
    sent_at: str | None = None
    message_id: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class JobRun:
    """A row of `job_runs`: one run of a scheduled job."""

    id: int
    job: str
    started_at: str
    finished_at: str | None
    status: str
    detail: str | None
    error: str | None


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


# --- tokens ---


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One row of an OpenRouter answer, parsed, before its maker is given a country."""

    window_start: str
    window_end: str
    granularity: str  # day | week
    model: str
    author: str
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int


@dataclass(frozen=True, slots=True)
class ParsedSnapshot:
    """One OpenRouter answer, parsed: what a `token_snapshots` row and its usage rows will hold."""

    source: str
    granularity: str
    window_start: str
    window_end: str
    as_of: str
    rows: tuple[UsageRow, ...]
    skipped: dict[str, int]  # reason -> rows dropped
    no_author: int  # rows kept but attributable to nobody (-> UNKNOWN)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A row of `token_snapshots` (without the raw payload); `as_of` falls back to
    `fetched_at` when the source gave none."""

    id: int
    source: str
    fetched_at: str
    window_start: str
    window_end: str
    granularity: str
    as_of: str


@dataclass(frozen=True, slots=True)
class TokenWindow:
    """One (source, granularity, window) of `token_usage` with its newest snapshot."""

    source: str
    granularity: str
    window_start: str
    window_end: str
    snapshot_id: int
    as_of: str


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A row of `token_usage` as the share maths reads it, with its snapshot's `as_of`."""

    snapshot_id: int
    source: str
    granularity: str
    window_start: str
    window_end: str
    model: str
    author: str
    country: str
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int
    as_of: str


@dataclass(frozen=True, slots=True)
class ShareAlert:
    """A row of `share_alerts`: one snapshot judged for a share alert, and the decision."""

    snapshot_id: int
    evaluated_at: str
    source: str
    period_start: str | None
    period_end: str | None
    shares: dict[str, float]  # {country: fraction}, JSON in the table
    leader: str | None
    kind: str  # baseline | alert | quiet | held | skipped
    delivery_id: int | None
    reason: str | None


# --- narratives ---


@dataclass(frozen=True, slots=True)
class Story:
    """A row of `stories`: one event and the articles that report it (`topics` parsed)."""

    id: int
    title: str
    representative_article_id: int | None
    first_seen: str | None
    last_seen: str | None
    article_count: int
    outlet_count: int
    first_outlet: str | None
    topics: tuple[str, ...]
    merged_into: int | None


@dataclass(frozen=True, slots=True)
class StoryArticle:
    """An article as stories, search and alerts read it back (no summary; `topics` parsed)."""

    id: int
    title: str
    url: str
    outlet: str | None
    published_at: str | None
    fetched_at: str | None
    story_id: int | None
    duplicate_of: int | None
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PendingArticle:
    """An article waiting for analysis: what embedding, tagging and clustering read."""

    id: int
    title: str
    summary: str
    outlet: str | None
    published_at: str | None
    fetched_at: str | None


@dataclass(frozen=True, slots=True, eq=False)
class StoryState:
    """An active story as clustering resumes it: its row, vector sum and name counts (from
    `story_vectors`), and its members with their vectors."""

    id: int
    title: str  # the representative article's headline ('' while named by a snippet)
    representative_article_id: int | None
    first_seen: str
    last_seen: str
    article_count: int
    vector_sum: Any  # numpy float32 (dim,)
    names: dict[str, int]
    members: tuple[StoryMember, ...]


@dataclass(frozen=True, slots=True, eq=False)
class StoryMember:
    """One article of an active story, with its vector (None when stored for another model)."""

    id: int
    title: str
    outlet: str | None
    published_at: str | None
    fetched_at: str | None
    duplicate_of: int | None
    vector: Any  # numpy float32 (dim,) or None


@dataclass(frozen=True, slots=True, eq=False)
class ArticleAnalysis:
    """What analysing one article writes: tags, story, near-duplicate, time stamp and vector."""

    id: int
    topics: tuple[str, ...]
    story_id: int
    duplicate_of: int | None
    analyzed_at: str
    vector: Any  # numpy float32 (dim,)


@dataclass(frozen=True, slots=True, eq=False)
class StoryUpdate:
    """A story's state after a batch: its `stories` columns and its `story_vectors` row.
    `title` None keeps the stored title (a story named by a summary snippet)."""

    id: int
    title: str | None
    representative_article_id: int | None
    first_seen: str
    last_seen: str
    article_count: int
    outlet_count: int
    first_outlet: str | None
    topics: tuple[str, ...]
    vector_sum: Any  # numpy float32 (dim,)
    names: dict[str, int]
