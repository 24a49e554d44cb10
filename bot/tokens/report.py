"""The token share as people read it: the `share --json` document and the chart's series."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import sqlite_utils

from bot.errors import TokentideError
from bot.store.tokens import latest_rows, latest_windows, window_rows
from bot.tokens.price_report import open_weights
from bot.tokens.shares import BY, Period, build_periods, deltas, select_periods, shares_by
from bot.tokens.sources import citation

PRECISION = 6  # fractions to 6 places: 0.0001 points, far below any alert threshold


def _check(by: str, period: str) -> None:
    if by not in BY:
        raise TokentideError(f"share: by must be one of {', '.join(BY)}, got {by!r}")
    if period not in ("day", "week"):
        raise TokentideError(f"share: period must be day or week, got {period!r}")


def share_document(current: Period, previous: Period | None, by: str) -> dict:
    """Pure: two periods → the `share --json` document."""
    total, shares = shares_by(current.rows, by)
    doc = {
        "source": current.source,
        "as_of": current.as_of,
        "by": by,
        "granularity": current.granularity,
        "period": {"start": current.start, "end": current.end},
        "in_progress": current.in_progress,
        "total_tokens": total,
        "shares": {k: round(v, PRECISION) for k, v in shares.items()},
        "previous": None,
        "deltas": {},
        "citation": citation(current.as_of),
    }
    if previous is not None:
        _, before = shares_by(previous.rows, by)
        doc["previous"] = {
            "period": {"start": previous.start, "end": previous.end},
            "as_of": previous.as_of,
            "total_tokens": previous.total,
            "shares": {k: round(v, PRECISION) for k, v in before.items()},
        }
        doc["deltas"] = deltas(shares, before)
    return doc


def current_share(
    db: sqlite_utils.Database, *, by: str = "country", period: str = "week", now: datetime
) -> dict | None:
    """The latest complete period's shares (fractions) with deltas vs the period before it,
    and `open_weights` per group (None when no price list covers the period).

    None when the archive holds no usable token data for `period` yet.
    """
    _check(by, period)
    # Choose periods from the window index first, then load only their rows: a year of
    # snapshots is ~170k rows, and `/share` must answer within Discord's 3 seconds.
    chosen = select_periods(build_periods(latest_windows(db), period), now=now)
    if chosen is None:
        return None
    current, previous = (
        None if p is None else replace(p, rows=tuple(window_rows(db, p.rows))) for p in chosen
    )
    doc = share_document(current, previous, by)
    doc["open_weights"] = open_weights(db, current, by)
    return doc


def share_series(
    db: sqlite_utils.Database, *, by: str = "country", period: str = "week", now: datetime
) -> tuple[str, str, list[tuple[str, dict[str, float]]]] | None:
    """(source, as_of, [(period end, shares)]) over time, for the current period's source."""
    _check(by, period)
    periods = build_periods(latest_rows(db), period)
    chosen = select_periods(periods, now=now)
    if chosen is None:
        return None
    source = chosen[0].source
    points = [
        (p.end, shares_by(p.rows, by)[1])
        for p in periods
        if p.source == source and (not p.in_progress or p is chosen[0])
    ]
    return source, chosen[0].as_of, points
