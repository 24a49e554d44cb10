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
    # The sender holding it (bot.store.locks.Holder as JSON), since when and until when.
    claimed_by: str | None = None
    claimed_at: str | None = None
    lease_until: str | None = None
    sending_part: int | None = None  # set before a message goes out, cleared once recorded
    resent_parts: str = "[]"  # JSON: parts sent again after a sender died sending them


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
    outlet_country: str | None = None  # ISO 3166 alpha-2, from the outlet registry
    outlet_kind: str | None = None  # wire, newspaper, ... (bot/feeds/outlets.py KINDS)


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
    # 'standard', 'free', 'batch', ... as the rankings name it; None when the source does not
    # split models by variant (rankings-daily, market-share)
    variant: str | None = None


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
    rows_read: int = 0  # entries in the answer, good and bad (the whole-snapshot checks)


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
    variant: str | None = None  # None: not split by variant (see UsageRow)


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
    topic_scores: dict[str, float] | None = None  # every topic's probability
    topics_hash: str | None = None  # the topic definitions that tagged it


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


# --- topics and breaking-story alerts ---


@dataclass(frozen=True, slots=True)
class ArticleTags:
    """An article's topics (best-first) and every topic's probability (`topic_scores`)."""

    topics: tuple[str, ...]
    scores: dict[str, float]


@dataclass(frozen=True, slots=True, eq=False)
class RetagArticle:
    """An analysed article as `analyze --retag` reads it: its text and its stored vector."""

    id: int
    story_id: int | None
    title: str
    summary: str
    vector: Any  # numpy float32 (dim,)


@dataclass(frozen=True, slots=True)
class DatedReport:
    """One original (not syndicated), dated article of a story: who reported it, and when."""

    story_id: int
    article_id: int
    outlet: str
    published_at: str


@dataclass(frozen=True, slots=True)
class StoryActivity:
    """A story's original, dated reports in a span: how many outlet names as stored (an upper
    bound of its distinct outlets) and the newest report."""

    story_id: int
    merged_into: int | None
    outlets: int
    last_report: str


# --- prices and snapshot checks ---


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One priced entry of OpenRouter's model list (a row of `model_prices`)."""

    id: str
    canonical_slug: str
    variant: str  # the id's `:suffix` ("free", "thinking", ...), "standard" when it has none
    prompt: float  # USD per token
    completion: float
    hugging_face_id: str | None
    model: str = ""  # canonical slug without its date suffix: the join key (token_usage.model)

    @property
    def open_weights(self) -> bool:
        return self.hugging_face_id is not None


@dataclass(frozen=True, slots=True)
class PriceSnapshot:
    """One model list as checked and normalised (a row of `price_snapshots` and its rows)."""

    fetched_at: str
    rows: tuple[PriceRow, ...]  # sorted by id
    content_hash: str  # of the normalised rows: same hash <=> same prices, slugs and weights
    varies: tuple[str, ...] = ()  # ids priced "-1" (varies with the routed model): unpriced
    id: int | None = None  # once stored
    last_seen_at: str | None = None  # the last poll that found the same list


@dataclass(frozen=True, slots=True)
class SnapshotTotals:
    """What the whole-snapshot checks compare: a stored or held snapshot's size."""

    source: str
    window_start: str
    window_end: str
    total_tokens: int
    models: int
    snapshot_id: int | None = None  # None for a held (not stored) snapshot
    held_id: int | None = None  # the `rejected_snapshots` row of a held snapshot


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row of `rejected_snapshots`: an OpenRouter answer refused (or held), and why."""

    id: int
    source: str
    fetched_at: str
    verdict: str  # rejected | held
    reason: str
    content_hash: str | None
    window_start: str | None
    window_end: str | None
    total_tokens: int | None
    models: int | None
    resolution: str | None  # held only: confirmed | superseded, once the next poll decided


# --- outlets and lead ---


@dataclass(frozen=True, slots=True)
class OutletMention:
    """One article of a story as story signals read it: its outlet with the registry's country
    and kind (stored at ingest), when it was published, and whether it is a syndicated copy."""

    story_id: int
    article_id: int
    outlet: str | None
    country: str | None
    kind: str | None
    published_at: str | None
    duplicate_of: int | None


@dataclass(frozen=True, slots=True)
class OutletTally:
    """One outlet as the archive holds it: its country and kind as stored, how many original
    articles (syndicated copies left out) and stories it has, and its newest report."""

    outlet: str
    country: str | None
    kind: str | None
    articles: int
    stories: int
    last_report: str | None


@dataclass(frozen=True, slots=True)
class StoredAttribution:
    """What the archive keeps about who published one article, as `analyze --reattribute`
    reads it: the feed it came from, its link, and the outlet with country and kind."""

    article_id: int
    feed_id: int | None
    link: str | None
    outlet: str | None
    country: str | None
    kind: str | None
    story_id: int | None


@dataclass(frozen=True, slots=True)
class StoryLead:
    """A story's columns about who reported it, as analyze keeps them: distinct outlets (no
    syndicated copies), the first one, the first Chinese and Western press reports, the lead in
    hours (positive when the Chinese press was first) and each region's share of outlets."""

    id: int
    outlet_count: int
    first_outlet: str | None
    first_china_outlet: str | None
    first_china_at: str | None
    first_west_outlet: str | None
    first_west_at: str | None
    lead_hours: float | None
    china_share: float
    west_share: float


# --- status ---


@dataclass(frozen=True, slots=True)
class ArchiveStats:
    """How big the archive is: its size on disk (pages in use) and its article and story rows."""

    size_bytes: int
    articles: int
    stories: int


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """Deliveries still waiting to go out, when the earliest of them is due, and how many the
    outbox gave up on."""

    pending: int
    oldest_due: str | None
    failed: int


# --- site ---


@dataclass(frozen=True, slots=True)
class FacetCount:
    """One value of a Datasette facet and how many rows carry it."""

    value: Any
    count: int


# --- narratives (threads of stories) ---


@dataclass(frozen=True, slots=True, eq=False)
class StoryCentroid:
    """A live story as narrative linking sees it: its vector sum and its narrative, if any."""

    story_id: int
    vector_sum: Any  # numpy float32 (dim,)
    narrative_id: int | None


@dataclass(frozen=True, slots=True)
class NarrativeStory:
    """A live story of a narrative, with what the narrative's row is computed from."""

    id: int
    title: str
    first_seen: str | None
    last_seen: str | None
    article_count: int
    outlet_count: int
    topics: tuple[str, ...]
    names: dict[str, int]


@dataclass(frozen=True, slots=True)
class NarrativeUpdate:
    """What a narrative's row says, computed from its live stories."""

    title: str
    first_story_id: int | None
    first_seen: str | None
    last_seen: str | None
    story_count: int
    article_count: int
    topics: tuple[str, ...]
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Narrative:
    """A row of `narratives` (`topics` and `names` parsed)."""

    id: int
    title: str
    first_story_id: int | None
    first_seen: str | None
    last_seen: str | None
    story_count: int
    article_count: int
    topics: tuple[str, ...]
    names: tuple[str, ...]
    created_at: str
