"""Online story clustering: each article joins the best matching active story or starts one.

Only *active* stories (seen within `window_days` of the article) are in the index, held as a
matrix of normalised centroids, so the cost per article depends on how much is happening now,
not on the size of the archive. Pure: vectors, times and names in; assignments out.

Score of article a against story s:
    cos(a, centroid(s)) + name_weight * min(shared names, 3) / 3 - decay * gap_days / window_days
and a joins s when the best score reaches `threshold`. Shared names (companies, agencies,
model names, amounts) separate two events on one theme; the decay keeps a quiet story from
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
cosine). The best single member catches a new angle on an event whose centroid has drifted;
the name and member conditions keep a theme (two funding rounds, two lawsuits) apart.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib import resources

import numpy as np

DAY = 86400.0
_FAR = 1e15  # 'never' for empty slots: finite, so gap arithmetic stays NaN-free


LINK_FILE = "story_link.json"
LINK_FEATURES = ("centroid_cos", "best_member_cos", "gap_windows", "shared_names", "log_size")
# Stories whose centroid is further than this are never candidates: bounds the per-article work.
CANDIDATE_FLOOR = 0.3
# Story size enters the link model up to the largest size in the labelled data; past it the
# fitted weight would be extrapolated (bigger stories ever harder to join).
SIZE_CAP = 10


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


@dataclass
class ActiveStory:
    story_id: int | None
    vector_sum: np.ndarray
    first_seen: float  # epoch seconds
    last_seen: float
    names: Counter = field(default_factory=Counter)
    outlets: dict[str, float] = field(default_factory=dict)  # outlet -> first time seen
    article_count: int = 0
    # (article_id, vector, time, duplicate_of) of members still in the window, for near-duplicates.
    members: list[tuple[int, np.ndarray, float, int | None]] = field(default_factory=list)
    title_article: int | None = None  # representative: earliest original article
    title: str = ""
    _member_matrix: np.ndarray | None = None

    def best_member_cos(self, vector: np.ndarray) -> float:
        if not self.members:
            return 0.0
        if self._member_matrix is None or len(self._member_matrix) != len(self.members):
            self._member_matrix = np.stack([m[1] for m in self.members])
        return float(np.max(self._member_matrix @ vector))

    @property
    def first_outlet(self) -> str | None:
        if not self.outlets:
            return None
        return min(self.outlets.items(), key=lambda kv: (kv[1], kv[0]))[0]


@dataclass(frozen=True)
class Assignment:
    slot: int
    is_new: bool
    score: float
    duplicate_of: int | None


def epoch(dt: datetime) -> float:
    return dt.timestamp()


def link_features(
    story: ActiveStory, vector: np.ndarray, centroid_cos: float, gap_windows: float, names
) -> list[float]:
    """The LinkModel's inputs for one (article, story) pair, in LINK_FEATURES order."""
    shared = sum(1 for n in names if n in story.names)
    return [
        centroid_cos,
        story.best_member_cos(vector),
        gap_windows,
        min(shared, 5) / 5,
        math.log1p(min(story.article_count, SIZE_CAP)),
    ]


class StoryIndex:
    """Active stories in fixed slots of a centroid matrix; expired slots are reused."""

    def __init__(self, params: ClusterParams, dim: int, capacity: int = 256) -> None:
        self.params = params
        self.dim = dim
        self._centroids = np.zeros((capacity, dim), dtype=np.float32)
        self._last = np.full(capacity, -_FAR)
        self._first = np.full(capacity, _FAR)
        self.stories: list[ActiveStory | None] = [None] * capacity
        self._free: list[int] = list(range(capacity - 1, -1, -1))
        self._titles: dict[str, tuple[int, int]] = {}  # normalised title -> (slot, article_id)
        self._next_expiry = _FAR  # earliest last_seen among active stories

    def __len__(self) -> int:
        return sum(s is not None for s in self.stories)

    def active(self) -> list[tuple[int, ActiveStory]]:
        return [(i, s) for i, s in enumerate(self.stories) if s is not None]

    def _grow(self) -> None:
        old = len(self.stories)
        self._centroids = np.vstack([self._centroids, np.zeros((old, self.dim), np.float32)])
        self._last = np.concatenate([self._last, np.full(old, -_FAR)])
        self._first = np.concatenate([self._first, np.full(old, _FAR)])
        self.stories.extend([None] * old)
        self._free.extend(range(2 * old - 1, old - 1, -1))

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
            self.stories[slot] = None
            self._last[slot] = -_FAR
            self._first[slot] = _FAR
            self._centroids[slot] = 0.0
            self._free.append(int(slot))
        if gone:
            self._titles = {t: v for t, v in self._titles.items() if self.stories[v[0]]}
        alive = self._last[self._last > -_FAR]
        self._next_expiry = float(alive.min()) if len(alive) else _FAR
        return gone

    def add_story(self, story: ActiveStory, titles: dict[str, int] | None = None) -> int:
        """Put a story (new, or loaded from the archive) into a free slot."""
        if not self._free:
            self._grow()
        slot = self._free.pop()
        self.stories[slot] = story
        self._refresh(slot)
        for title, article_id in (titles or {}).items():
            self._titles.setdefault(title, (slot, article_id))
        return slot

    def _refresh(self, slot: int) -> None:
        story = self.stories[slot]
        norm = float(np.linalg.norm(story.vector_sum)) or 1.0
        self._centroids[slot] = story.vector_sum / norm
        self._last[slot] = story.last_seen
        self._next_expiry = min(self._next_expiry, story.last_seen)
        self._first[slot] = story.first_seen

    def best(self, vector: np.ndarray, when: float, names: frozenset[str]) -> tuple[int, float]:
        """Best active slot for an article and its score; (-1, -inf) when nothing is active."""
        p = self.params
        window = p.window_days * DAY
        gap = np.maximum(0.0, np.maximum(when - self._last, self._first - when))
        sims = self._centroids @ vector
        if p.link is not None and p.hybrid is None:
            return self._best_link(vector, names, sims, gap / window)
        scores = sims - p.decay * gap / window
        scores[gap > window] = -np.inf
        if p.name_weight and names:
            # Names can lift a candidate by at most name_weight: only those close enough matter.
            for slot in np.nonzero(scores >= p.threshold - p.name_weight)[0]:
                shared = sum(1 for n in names if n in self.stories[slot].names)
                scores[slot] += p.name_weight * min(shared, 3) / 3
        slot = int(np.argmax(scores)) if len(scores) else -1
        score = float(scores[slot]) if slot >= 0 else -np.inf
        if p.hybrid is not None and p.link is not None and score < p.threshold:
            linked, prob = self._best_link(vector, names, sims, gap / window, p.hybrid)
            if linked >= 0 and prob >= p.hybrid.probability:
                # Reported as just reaching the cosine cut, so `assign` takes it.
                return linked, p.threshold
        if slot < 0 or not np.isfinite(score):
            return -1, -np.inf
        return slot, score

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
        feats = np.array(
            [
                link_features(self.stories[s], vector, float(sims[s]), float(gaps[s]), names)
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
    ) -> Assignment:
        """Place one article; the caller gives new stories their `story_id` afterwards."""
        p = self.params
        same_title = self._titles.get(title_key) if len(title_key.split()) >= 4 else None
        if same_title is not None:
            slot, score = same_title[0], 1.0
        else:
            slot, score = self.best(vector, when, names)
        duplicate_of = None
        if slot >= 0 and (same_title is not None or score >= p.threshold):
            story = self.stories[slot]
            is_new = False
            duplicate_of = same_title[1] if same_title is not None else None
            if duplicate_of is None and story.members:
                member_vecs = np.stack([m[1] for m in story.members])
                sims = member_vecs @ vector
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
        if outlet:
            story.outlets[outlet] = min(story.outlets.get(outlet, when), when)
        story.members.append((article_id, vector, when, duplicate_of))
        if story.title_article is None or (not story.title and title):
            story.title_article, story.title = article_id, title
        if title_key:
            self._titles.setdefault(title_key, (slot, duplicate_of or article_id))
        self._refresh(slot)
        return Assignment(slot, is_new, score, duplicate_of)


# Tuned on the labelled dev set by benchmarks/quality.py (see README "Stories, topics and
# search"); feeds.yaml `stories:` values override them. CENTROID_PARAMS serve models the link
# model was not fitted for (a custom model.path) and `stories.method: centroid`; the hybrid
# default uses the same cosine cut.
CENTROID_PARAMS = ClusterParams(threshold=0.675, window_days=30.0, name_weight=0.0, decay=0.05)


def load_link(model_id: str) -> tuple[LinkModel, float, HybridRule | None] | None:
    """The shipped link model, its learned-method threshold and hybrid rule, if it was fitted
    for `model_id`."""
    try:
        text = resources.files("bot.narratives").joinpath(LINK_FILE).read_text("utf-8")
    except FileNotFoundError:
        return None
    data = json.loads(text)
    if data.get("model") != model_id or tuple(data.get("features", ())) != LINK_FEATURES:
        return None
    link = LinkModel(tuple(float(w) for w in data["weights"]), float(data["bias"]))
    h = data.get("hybrid")
    rule = (
        HybridRule(float(h["probability"]), float(h["min_member_cos"]), int(h["min_shared_names"]))
        if h
        else None
    )
    return link, float(data["threshold"]), rule


def default_params(model_id: str, method: str | None = None) -> ClusterParams:
    """Hybrid (centroid rule plus link-model joins) unless `stories.method` says `centroid` or
    `learned`; centroid alone for embedders the link model was not fitted for. See README:
    the learned method alone merges unrelated same-week articles on real feeds."""
    shipped = load_link(model_id) if method != "centroid" else None
    if shipped is None:
        return CENTROID_PARAMS
    link, threshold, rule = shipped
    if method == "learned":
        return replace(CENTROID_PARAMS, threshold=threshold, link=link)
    if rule is None:
        return CENTROID_PARAMS
    return replace(CENTROID_PARAMS, link=link, hybrid=rule)


def params_from_settings(stories: object, model_id: str) -> ClusterParams:
    """feeds.yaml `stories:` values over the tuned defaults (None means "use the default")."""
    d = default_params(model_id, getattr(stories, "method", None))
    pick = {
        name: getattr(stories, name, None)
        for name in ("threshold", "window_days", "name_weight", "decay", "duplicate_threshold")
    }
    return replace(d, **{k: float(v) for k, v in pick.items() if v is not None})
