"""Online story clustering: each article joins the best matching active story or starts one.

Only *active* stories (seen within `window_days` of the article) are in the index, held as a
matrix of normalised centroids, with the last `MEMBER_CAP` articles of each as rows of a second
matrix, so the cost per article depends on how much is happening now, not on the size of the
archive. Pure: vectors, times and names in; assignments out.

Score of article a against story s:
    cos(a, centroid(s)) + name_weight * min(shared names, 3) / 3 - decay * gap_days / window_days
and a joins s when the best score reaches `threshold`. The decay keeps a quiet story from
absorbing next month's news on the same subject.

With a `LinkModel` the score is a probability from a logistic model over five features of
the (article, story) pair — centroid cosine, best cosine to one member, time gap, shared names,
story size — fitted on the labelled dev set by `benchmarks/quality.py --fit`. Alone
(`stories.method: learned`, opt-in) it decides every join and `threshold` is that
probability's cut-off; it merges unrelated same-week articles on dense live feeds, because the
labelled set is sparse in time and taught it that "close in time" means "same story".

The default, `hybrid`, keeps the centroid rule and lets the link model add only the joins it
misses: an article that fails the centroid cut still joins a story when the link probability
is high, it shares at least one name with the story, and it is close to one member (best member
cosine). The name and member conditions keep a theme (two funding rounds, two lawsuits) apart.

Headlines (texts of at most `HeadlineRule.max_words` words: headline-only feeds such as Google
News searches) are less similar to each other than headline + summary, so they follow their own
rule, fitted on a dense stream of headlines (see `HeadlineRule`): a lower centroid cut, a bonus
for the names a story's articles carry, votes of the nearest recent articles, and merging two
headline stories whose centroids converge.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

DAY = 86400.0
_FAR = 1e15  # 'never' for empty slots: finite, so gap arithmetic stays NaN-free

LINK_FEATURES = ("centroid_cos", "best_member_cos", "gap_windows", "shared_names", "log_size")
# Stories whose centroid is further than this are never candidates: bounds the per-article work.
CANDIDATE_FLOOR = 0.3
# Story size enters the link model up to the largest size in the labelled data; past it the
# fitted weight would be extrapolated (bigger stories ever harder to join).
SIZE_CAP = 10
# Articles of one story kept as rows for near-duplicates, best-member cosines and neighbour
# votes: the newest ones. Bounds time and memory however big a story grows.
MEMBER_CAP = 64


@dataclass(frozen=True)
class LinkModel:
    weights: tuple[float, ...]
    bias: float

    def probability(self, features: np.ndarray) -> np.ndarray:
        z = features @ np.asarray(self.weights) + self.bias
        return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class HybridRule:
    """When a link may add a join the centroid rule refused (see module docstring)."""

    probability: float  # link probability cut-off
    min_member_cos: float  # cosine to the closest member of the story
    min_shared_names: int


@dataclass(frozen=True)
class HeadlineRule:
    """How a headline (a text of at most `max_words` words) is placed.

    It joins the story with the best `cosine to the centroid + name_weight × (share of the
    story's articles carrying one of the headline's names) − decay` if that reaches
    `threshold`; failing that, the story holding at least `votes` of its `neighbours` nearest
    articles of the last `recent_days` with cosine ≥ `neighbour_cos`. A story that a headline
    joins merges with another mostly-headline story of `merge_min_size`+ articles whose centroid
    is within `merge_cos` and whose span is within `merge_days` (merge_cos 0: never)."""

    max_words: int
    threshold: float
    name_weight: float
    neighbours: int
    neighbour_cos: float
    votes: int
    recent_days: float
    merge_cos: float
    merge_min_size: int
    merge_days: float


@dataclass(frozen=True)
class ClusterParams:
    threshold: float
    window_days: float
    name_weight: float
    decay: float
    duplicate_threshold: float = 0.95
    link: LinkModel | None = None
    # With `link`: None = learned method (threshold is a probability); set = hybrid method
    # (threshold is the centroid cosine, the link only adds joins under this rule).
    hybrid: HybridRule | None = None
    headlines: HeadlineRule | None = None


@dataclass(eq=False)
class ActiveStory:
    story_id: int | None
    vector_sum: np.ndarray
    first_seen: float  # epoch seconds
    last_seen: float
    names: Counter = field(default_factory=Counter)
    outlets: dict[str, float] = field(default_factory=dict)  # outlet -> first time seen
    article_count: int = 0
    # (article_id, vector, time, duplicate_of) of the newest members (at most MEMBER_CAP once
    # in an index), for near-duplicates, best-member cosines and neighbour votes.
    members: list[tuple[int, np.ndarray, float, int | None]] = field(default_factory=list)
    title_article: int | None = None  # representative: earliest original article
    title: str = ""
    headline_count: int = 0  # members placed by the headline rule
    # Set by the index: its slot, its members' rows, and the story that absorbed it.
    slot: int = -1
    rows: list[int] = field(default_factory=list)
    merged_into: ActiveStory | None = None

    def best_member_cos(self, vector: np.ndarray) -> float:
        if not self.members:
            return 0.0
        return float(max(m[1] @ vector for m in self.members))

    @property
    def mostly_headlines(self) -> bool:
        return self.headline_count * 2 >= self.article_count > 0

    @property
    def first_outlet(self) -> str | None:
        if not self.outlets:
            return None
        return min(self.outlets.items(), key=lambda kv: (kv[1], kv[0]))[0]

    def survivor(self) -> ActiveStory:
        story = self
        while story.merged_into is not None:
            story = story.merged_into
        return story


@dataclass(frozen=True)
class Assignment:
    slot: int  # the story the article is in now (after any merge)
    is_new: bool
    score: float
    duplicate_of: int | None
    # A story this article's story absorbed (the caller records `merged_into`).
    absorbed: ActiveStory | None = None


def link_features(
    story: ActiveStory, vector: np.ndarray, centroid_cos: float, gap_windows: float, names
) -> list[float]:
    """The LinkModel's inputs for one (article, story) pair, in LINK_FEATURES order."""
    return _features(story, story.best_member_cos(vector), centroid_cos, gap_windows, names)


def _features(story, best_member, centroid_cos, gap_windows, names) -> list[float]:
    shared = sum(1 for n in names if n in story.names)
    return [
        centroid_cos,
        best_member,
        gap_windows,
        min(shared, 5) / 5,
        math.log1p(min(story.article_count, SIZE_CAP)),
    ]


def name_share(story: ActiveStory, names) -> float:
    """The largest share of the story's articles carrying one of `names`."""
    if not story.article_count:
        return 0.0
    return max((story.names.get(n, 0) for n in names), default=0) / story.article_count


class _Rows:
    """Member vectors of all active stories as one matrix, with their slot and time."""

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.vectors = np.zeros((capacity, dim), np.float32)
        self.slot = np.full(capacity, -1)
        self.time = np.full(capacity, -_FAR)
        self._free = list(range(capacity - 1, -1, -1))

    def add(self, slot: int, vector: np.ndarray, when: float) -> int:
        if not self._free:
            old = len(self.slot)
            self.vectors = np.vstack([self.vectors, np.zeros_like(self.vectors)])
            self.slot = np.concatenate([self.slot, np.full(old, -1)])
            self.time = np.concatenate([self.time, np.full(old, -_FAR)])
            self._free.extend(range(2 * old - 1, old - 1, -1))
        row = self._free.pop()
        self.vectors[row], self.slot[row], self.time[row] = vector, slot, when
        return row

    def drop(self, rows) -> None:
        for row in rows:
            self.slot[row], self.time[row] = -1, -_FAR
            self._free.append(row)


class StoryIndex:
    """Active stories in fixed slots of a centroid matrix; expired slots are reused."""

    def __init__(self, params: ClusterParams, dim: int, capacity: int = 256) -> None:
        self.params = params
        self.dim = dim
        self._centroids = np.zeros((capacity, dim), dtype=np.float32)
        self._last = np.full(capacity, -_FAR)
        self._first = np.full(capacity, _FAR)
        self._size = np.zeros(capacity, dtype=np.int64)
        self._headline = np.zeros(capacity, dtype=bool)  # mostly headlines: may merge
        self.stories: list[ActiveStory | None] = [None] * capacity
        self._free: list[int] = list(range(capacity - 1, -1, -1))
        self._rows = _Rows(dim)
        # normalised title -> (story, article_id); the story may since have been absorbed.
        self._titles: dict[str, tuple[ActiveStory, int]] = {}
        self._next_expiry = _FAR  # earliest last_seen among active stories
        self.merges = 0

    def __len__(self) -> int:
        return sum(s is not None for s in self.stories)

    def active(self) -> list[tuple[int, ActiveStory]]:
        return [(i, s) for i, s in enumerate(self.stories) if s is not None]

    def _grow(self) -> None:
        old = len(self.stories)
        self._centroids = np.vstack([self._centroids, np.zeros((old, self.dim), np.float32)])
        self._last = np.concatenate([self._last, np.full(old, -_FAR)])
        self._first = np.concatenate([self._first, np.full(old, _FAR)])
        self._size = np.concatenate([self._size, np.zeros(old, np.int64)])
        self._headline = np.concatenate([self._headline, np.zeros(old, bool)])
        self.stories.extend([None] * old)
        self._free.extend(range(2 * old - 1, old - 1, -1))

    def _clear(self, slot: int) -> None:
        self.stories[slot] = None
        self._last[slot] = -_FAR
        self._first[slot] = _FAR
        self._size[slot] = 0
        self._headline[slot] = False
        self._centroids[slot] = 0.0
        self._free.append(int(slot))

    def expire(self, now: float) -> list[ActiveStory]:
        """Drop stories quiet for longer than the window before `now`; returns them."""
        cutoff = now - self.params.window_days * DAY
        if cutoff < self._next_expiry:
            return []  # nothing can have gone quiet yet: skip the scan
        gone = []
        for slot in np.nonzero(self._last < cutoff)[0]:
            story = self.stories[slot]
            if story is None:
                continue
            gone.append(story)
            self._rows.drop(story.rows)
            story.rows = []
            self._clear(int(slot))
        if gone:
            self._titles = {t: v for t, v in self._titles.items() if self._live(v[0])}
        alive = self._last[self._last > -_FAR]
        self._next_expiry = float(alive.min()) if len(alive) else _FAR
        return gone

    def _live(self, story: ActiveStory) -> ActiveStory | None:
        story = story.survivor()
        return (
            story
            if 0 <= story.slot < len(self.stories) and self.stories[story.slot] is story
            else None
        )

    def add_story(self, story: ActiveStory, titles: dict[str, int] | None = None) -> int:
        """Put a story (new, or loaded from the archive) into a free slot."""
        if not self._free:
            self._grow()
        slot = self._free.pop()
        story.slot = slot
        self.stories[slot] = story
        del story.members[:-MEMBER_CAP]
        story.rows = [self._rows.add(slot, m[1], m[2]) for m in story.members]
        self._refresh(slot)
        for title, article_id in (titles or {}).items():
            self._titles.setdefault(title, (story, article_id))
        return slot

    def _refresh(self, slot: int) -> None:
        story = self.stories[slot]
        norm = float(np.linalg.norm(story.vector_sum)) or 1.0
        self._centroids[slot] = story.vector_sum / norm
        self._last[slot] = story.last_seen
        self._next_expiry = min(self._next_expiry, story.last_seen)
        self._first[slot] = story.first_seen
        self._size[slot] = story.article_count
        self._headline[slot] = story.mostly_headlines

    def _member_best(self, sims: np.ndarray) -> np.ndarray:
        """Best cosine to one member, per slot, from the cosines to every row."""
        best = np.zeros(len(self.stories))
        live = self._rows.slot >= 0
        np.maximum.at(best, self._rows.slot[live], sims[live])
        return best

    def is_headline(self, words: int | None) -> bool:
        h = self.params.headlines
        return h is not None and words is not None and words <= h.max_words

    def best(
        self, vector: np.ndarray, when: float, names: frozenset[str], headline: bool = False
    ) -> tuple[int, float]:
        """Best active slot for an article and its score; (-1, -inf) when nothing is active."""
        p = self.params
        window = p.window_days * DAY
        gap = np.maximum(0.0, np.maximum(when - self._last, self._first - when))
        sims = self._centroids @ vector
        if p.link is not None and p.hybrid is None:
            return self._best_link(vector, names, sims, gap / window)
        h = p.headlines if headline else None
        threshold = h.threshold if h is not None else p.threshold
        name_weight = h.name_weight if h is not None else p.name_weight
        scores = sims - p.decay * gap / window
        scores[gap > window] = -np.inf
        if name_weight and names:
            # Names can lift a candidate by at most name_weight: only those close enough matter.
            for slot in np.nonzero(scores >= threshold - name_weight)[0]:
                story = self.stories[slot]
                if h is not None:
                    scores[slot] += name_weight * name_share(story, names)
                else:
                    shared = sum(1 for n in names if n in story.names)
                    scores[slot] += name_weight * min(shared, 3) / 3
        slot = int(np.argmax(scores)) if len(scores) else -1
        score = float(scores[slot]) if slot >= 0 else -np.inf
        if score >= threshold:
            return slot, score
        if h is not None:
            voted = self._vote(vector, when, h)
            if voted >= 0:
                return voted, threshold  # reported as just reaching the cut, so `assign` takes it
        elif p.hybrid is not None and p.link is not None:
            linked, prob = self._best_link(vector, names, sims, gap / window, p.hybrid)
            if linked >= 0 and prob >= p.hybrid.probability:
                return linked, threshold
        if slot < 0 or not np.isfinite(score):
            return -1, -np.inf
        return slot, score

    def _vote(self, vector: np.ndarray, when: float, h: HeadlineRule) -> int:
        """The story holding at least `h.votes` of the article's nearest recent articles."""
        rows = self._rows
        sims = rows.vectors @ vector
        recent = (rows.slot >= 0) & (np.abs(rows.time - when) <= h.recent_days * DAY)
        sims = np.where(recent, sims, -np.inf)
        k = min(h.neighbours, len(sims))
        if k <= 0:
            return -1
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[sims[top] >= h.neighbour_cos]
        if len(top) < h.votes:
            return -1
        votes = Counter(int(rows.slot[r]) for r in top)
        slot, count = min(votes.items(), key=lambda kv: (-kv[1], kv[0]))
        return slot if count >= h.votes else -1

    def _best_link(
        self,
        vector: np.ndarray,
        names,
        sims: np.ndarray,
        gaps: np.ndarray,
        rule: HybridRule | None = None,
    ) -> tuple[int, float]:
        slots = np.nonzero((sims >= CANDIDATE_FLOOR) & (gaps <= 1.0))[0]
        if not len(slots):
            return -1, -np.inf
        member = self._member_best(self._rows.vectors @ vector)
        feats = np.array(
            [
                _features(self.stories[s], member[s], float(sims[s]), float(gaps[s]), names)
                for s in slots
            ]
        )
        probs = self.params.link.probability(feats)
        if rule is not None:
            shared = np.array([sum(1 for n in names if n in self.stories[s].names) for s in slots])
            ok = (feats[:, 1] >= rule.min_member_cos) & (shared >= rule.min_shared_names)
            probs = np.where(ok, probs, 0.0)
        top = int(np.argmax(probs))
        return int(slots[top]), float(probs[top])

    def assign(
        self,
        article_id: int,
        vector: np.ndarray,
        when: float,
        names: frozenset[str],
        outlet: str | None,
        title: str,
        title_key: str,
        words: int | None = None,
    ) -> Assignment:
        """Place one article; the caller gives new stories their `story_id` afterwards.

        `words`: the length of the embedded text, which decides whether the headline rule
        applies (None: never)."""
        p = self.params
        headline = self.is_headline(words)
        same_title = None
        if len(title_key.split()) >= 4 and title_key in self._titles:
            owner, original = self._titles[title_key]
            owner = self._live(owner)
            same_title = (owner.slot, original) if owner is not None else None
        if same_title is not None:
            slot, score = same_title[0], 1.0
        else:
            slot, score = self.best(vector, when, names, headline)
        duplicate_of = None
        threshold = p.headlines.threshold if headline else p.threshold
        if slot >= 0 and (same_title is not None or score >= threshold):
            story = self.stories[slot]
            is_new = False
            duplicate_of = same_title[1] if same_title is not None else None
            if duplicate_of is None and story.rows:
                sims = self._rows.vectors[story.rows] @ vector
                top = int(np.argmax(sims))
                if sims[top] >= p.duplicate_threshold:
                    duplicate_of = story.members[top][3] or story.members[top][0]
        else:
            story = ActiveStory(None, np.zeros(self.dim, np.float32), when, when)
            slot = self.add_story(story)
            is_new = True
        story.vector_sum = story.vector_sum + vector
        story.first_seen = min(story.first_seen, when)
        story.last_seen = max(story.last_seen, when)
        story.names.update(names)
        story.article_count += 1
        story.headline_count += headline
        if outlet:
            story.outlets[outlet] = min(story.outlets.get(outlet, when), when)
        story.members.append((article_id, vector, when, duplicate_of))
        story.rows.append(self._rows.add(slot, vector, when))
        if len(story.members) > MEMBER_CAP:
            del story.members[0]
            self._rows.drop([story.rows.pop(0)])
        if story.title_article is None or (not story.title and title):
            story.title_article, story.title = article_id, title
        if title_key:
            self._titles.setdefault(title_key, (story, duplicate_of or article_id))
        self._refresh(slot)
        absorbed = None
        if headline and not is_new and p.headlines.merge_cos > 0:
            story, absorbed = self._merge(story, p.headlines)
        return Assignment(story.slot, is_new, score, duplicate_of, absorbed)

    def _merge(self, story: ActiveStory, h: HeadlineRule) -> tuple[ActiveStory, ActiveStory | None]:
        """Merge `story` with the closest converged headline story; (survivor, absorbed)."""
        if story.article_count < h.merge_min_size or not story.mostly_headlines:
            return story, None
        sims = self._centroids @ self._centroids[story.slot]
        gap = np.maximum(
            0.0, np.maximum(self._first - story.last_seen, story.first_seen - self._last)
        )
        ok = (self._size >= h.merge_min_size) & self._headline & (gap <= h.merge_days * DAY)
        ok[story.slot] = False
        sims = np.where(ok, sims, -np.inf)
        other_slot = int(np.argmax(sims))
        if sims[other_slot] < h.merge_cos:
            return story, None
        other = self.stories[other_slot]
        # The bigger story survives (on a tie, the older one), so ids people saw stay valid.
        keep, gone = (other, story) if _outranks(other, story) else (story, other)
        self._absorb(keep, gone)
        return keep, gone

    def _absorb(self, keep: ActiveStory, gone: ActiveStory) -> None:
        if gone.first_seen < keep.first_seen or (not keep.title and gone.title):
            keep.title_article, keep.title = gone.title_article, gone.title
        keep.vector_sum = keep.vector_sum + gone.vector_sum
        keep.first_seen = min(keep.first_seen, gone.first_seen)
        keep.last_seen = max(keep.last_seen, gone.last_seen)
        keep.names.update(gone.names)
        keep.article_count += gone.article_count
        keep.headline_count += gone.headline_count
        for outlet, when in gone.outlets.items():
            keep.outlets[outlet] = min(keep.outlets.get(outlet, when), when)
        pairs = sorted(
            zip(keep.members + gone.members, keep.rows + gone.rows, strict=True),
            key=lambda mr: (mr[0][2], mr[0][0]),
        )
        self._rows.drop([row for _, row in pairs[:-MEMBER_CAP]])
        pairs = pairs[-MEMBER_CAP:]
        keep.members = [m for m, _ in pairs]
        keep.rows = [row for _, row in pairs]
        self._rows.slot[keep.rows] = keep.slot
        gone.merged_into = keep
        gone.rows = []
        self._clear(gone.slot)
        self._refresh(keep.slot)
        self.merges += 1


def _outranks(a: ActiveStory, b: ActiveStory) -> bool:
    """Whether `a` survives a merge with `b`: more articles, then the older story."""
    age_a = a.story_id if a.story_id is not None else math.inf
    age_b = b.story_id if b.story_id is not None else math.inf
    return (a.article_count, -age_a, -a.first_seen) >= (b.article_count, -age_b, -b.first_seen)


def epoch(dt) -> float:
    return dt.timestamp()
