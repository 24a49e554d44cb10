"""Story clustering settings: the values fitted by `benchmarks/quality.py --fit`, shipped as
data (`story_link.json`), under what `feeds.yaml` `stories:` overrides.

A fit belongs to one embedder (its `model_id`): cosines from another model, or from the int8
variant of the same one, sit on another scale. An embedder with no fit gets the centroid rule
with the dev-set cut, and no headline rule.
"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

from bot.narratives.cluster import (
    LINK_FEATURES,
    ClusterParams,
    HeadlineRule,
    HybridRule,
    LinkModel,
)

LINK_FILE = "story_link.json"

# Tuned on the labelled dev set by benchmarks/quality.py; feeds.yaml `stories:` values override
# them. They serve models with no shipped fit (a custom model.path) and `stories.method:
# centroid`; the hybrid default uses the same cosine cut unless its fit says otherwise.
CENTROID_PARAMS = ClusterParams(threshold=0.675, window_days=30.0, name_weight=0.0, decay=0.05)


def _fits() -> list[dict]:
    try:
        text = resources.files("bot.narratives").joinpath(LINK_FILE).read_text("utf-8")
    except FileNotFoundError:
        return []
    data = json.loads(text)
    return [data, *data.get("others", [])]


def shipped_fit(model_id: str) -> dict | None:
    """The fitted document for `model_id` (link model, hybrid rule, headline rule), if any."""
    for fit in _fits():
        if fit.get("model") == model_id and tuple(fit.get("features", ())) == LINK_FEATURES:
            return fit
    return None


def headline_rule(doc: dict | None) -> HeadlineRule | None:
    if not doc:
        return None
    return HeadlineRule(**{k: type_(doc[k]) for k, type_ in _HEADLINE_FIELDS.items()})


_HEADLINE_FIELDS = {
    "max_words": int,
    "threshold": float,
    "name_weight": float,
    "neighbours": int,
    "neighbour_cos": float,
    "votes": int,
    "recent_days": float,
    "merge_cos": float,
    "merge_min_size": int,
    "merge_days": float,
}


def load_link(model_id: str) -> tuple[LinkModel, float, HybridRule | None] | None:
    """The shipped link model, its learned-method threshold and hybrid rule, if it was fitted
    for `model_id`."""
    fit = shipped_fit(model_id)
    if fit is None:
        return None
    link = LinkModel(tuple(float(w) for w in fit["weights"]), float(fit["bias"]))
    h = fit.get("hybrid")
    rule = (
        HybridRule(float(h["probability"]), float(h["min_member_cos"]), int(h["min_shared_names"]))
        if h
        else None
    )
    return link, float(fit["threshold"]), rule


def default_params(model_id: str, method: str | None = None) -> ClusterParams:
    """Hybrid (centroid rule plus link-model joins, and the headline rule) unless
    `stories.method` says `centroid` or `learned`; centroid alone for embedders with no fit.
    See docs/stories.md: the learned method alone merges unrelated same-week articles on real
    feeds."""
    fit = shipped_fit(model_id)
    if fit is None:
        return CENTROID_PARAMS
    base = replace(CENTROID_PARAMS, threshold=float(fit.get("centroid_threshold", 0.675)))
    if method == "centroid":
        return base
    link, threshold, rule = load_link(model_id)
    if method == "learned":
        return replace(base, threshold=threshold, link=link)
    return replace(base, link=link, hybrid=rule, headlines=headline_rule(fit.get("headlines")))


_SCALARS = ("threshold", "window_days", "name_weight", "decay", "duplicate_threshold")
# stories.headline_* settings -> HeadlineRule fields
HEADLINE_SETTINGS = {
    "headline_words": "max_words",
    "headline_threshold": "threshold",
    "headline_merge": "merge_cos",
}


def params_from_settings(stories: object, model_id: str) -> ClusterParams:
    """feeds.yaml `stories:` values over the tuned defaults (None means "use the default").

    `stories.headline_words: 0` turns the headline rule off."""
    d = default_params(model_id, getattr(stories, "method", None))
    pick = {name: getattr(stories, name, None) for name in _SCALARS}
    d = replace(d, **{k: float(v) for k, v in pick.items() if v is not None})
    if d.headlines is None:
        return d
    over = {
        field: getattr(stories, key, None)
        for key, field in HEADLINE_SETTINGS.items()
        if getattr(stories, key, None) is not None
    }
    if over.get("max_words") == 0:
        return replace(d, headlines=None)
    rule = replace(
        d.headlines,
        **{k: (int(v) if k == "max_words" else float(v)) for k, v in over.items()},
    )
    return replace(d, headlines=rule)
