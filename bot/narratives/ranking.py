"""The one "top stories" order, used by `stories`, `/stories` and the digest.

More outlets first, then more articles, then the later last article, then more momentum,
then the lower id. Breadth leads because a story many publishers carry matters more than one
outlet's run of updates. The site's `top_stories_this_week` query orders by the same first
three terms in SQL; a test runs it against `rank_key` on the same archive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bot.clock import parse_iso


def _number(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return 0.0
    return out if math.isfinite(out) else 0.0


def _epoch(value: Any) -> float:
    try:
        when = parse_iso(value) if isinstance(value, str) else None
    except ValueError:
        return 0.0
    return when.timestamp() if when else 0.0


def rank_key(story: Mapping[str, Any] | Any) -> tuple[float, float, float, float, float]:
    """Sort key for "top stories" (smallest first): a story document, or any object with
    `outlet_count`, `article_count`, `last_seen`, `momentum` and `id`."""
    if isinstance(story, Mapping):
        get = story.get
    else:

        def get(name: str) -> Any:
            return getattr(story, name, None)

    return (
        -_number(get("outlet_count")),
        -_number(get("article_count")),
        -_epoch(get("last_seen")),
        -_number(get("momentum")),
        _number(get("id")),
    )


def score(outlet_count: int, article_count: int) -> float:
    """The order's first two terms as one number: outlets, plus a fraction below one for
    articles, so it never rises down a `rank_key`-sorted list."""
    articles = max(article_count or 0, 0)
    return round((outlet_count or 0) + articles / (1 + articles), 3)
