"""Token prices as people read them: the `prices --json` document, the open-weights share for
`share --json`, the series the price chart draws and the gap a share alert cites.

A period is priced only by the price list in effect at its end (`prices.PRICE_GRACE`); prices
exist only from the first stored list onwards and are never applied to earlier periods.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import sqlite_utils

from bot.clock import parse_iso, to_iso
from bot.errors import TokentideError
from bot.models import PriceSnapshot, TokenRow
from bot.store.prices import first_prices_at, prices_for_period, with_rows
from bot.store.tokens import latest_windows, window_rows
from bot.tokens.prices import PRICE_GRACE, SUMMED, PriceIndex, PriceReport, blended_prices
from bot.tokens.shares import BY, Period, build_periods, no_token_data, select_periods
from bot.tokens.sources import price_citation

PRECISION = 4  # USD per million to 4 places (prices start near $0.01/M); fractions to 4
UNPRICED_SHOWN = 10


class PricedPeriods:
    """Prices periods against the archive, loading each price list once."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self._lists: dict[int, tuple[PriceSnapshot, PriceIndex]] = {}

    def prices_for(self, period: Period) -> tuple[PriceSnapshot, PriceIndex] | None:
        found = prices_for_period(self.db, start=period.start, end=period.end, grace=PRICE_GRACE)
        if found is None:
            return None
        if found.id not in self._lists:
            loaded = with_rows(self.db, found)
            self._lists[found.id] = loaded, PriceIndex.of(loaded)
        return self._lists[found.id]

    def report(self, period: Period, by: str) -> PriceReport | None:
        """The period's blended prices, or None when no price list covers it. `as_of` is the
        last time a poll found that list, up to the period's end plus the grace."""
        found = self.prices_for(period)
        if found is None:
            return None
        prices, index = found
        rows = [usage(r) for r in period.rows]
        report = blended_prices(rows, prices, by, period=(period.start, period.end), index=index)
        cap = to_iso(parse_iso(period.end) + PRICE_GRACE)
        return replace(report, as_of=min(prices.last_seen_at or prices.fetched_at, cap))


def usage(row: TokenRow) -> dict:
    """A usage row as `blended_prices` reads it; rows summed over variants are never priced."""
    return {
        "model": row.model,
        "variant": SUMMED if row.variant is None else row.variant,
        "author": row.author,
        "country": row.country,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "total_tokens": row.total_tokens,
    }


def gap(prices: dict[str, float], pair: tuple[str, ...]) -> dict | None:
    """How many times the dearer of the first two of `pair` costs the cheaper, or None when
    either has no price or costs nothing."""
    if len(pair) < 2:
        return None
    a, b = pair[0], pair[1]
    pa, pb = prices.get(a), prices.get(b)
    if not pa or not pb:
        return None
    cheaper, dearer = (a, b) if pa <= pb else (b, a)
    return {
        "between": [a, b],
        "cheaper": cheaper,
        "ratio": round(prices[dearer] / prices[cheaper], 2),
    }


def unpriced_reason(db: sqlite_utils.Database, period: Period) -> str:
    first = first_prices_at(db)
    span = f"{period.start[:10]}..{period.end[:10]}"
    if first is None:
        return "no price list stored yet: run `tokentide poll-tokens`"
    if first > to_iso(parse_iso(period.end) + PRICE_GRACE):
        return (
            f"no price list covers {span}: prices exist only from the first price snapshot "
            f"({first}) onwards and are never applied to earlier periods"
        )
    return f"no price list was seen while {span} ran (price polls failing?)"


def _rounded(report: PriceReport) -> dict[str, float]:
    return {k: round(v, PRECISION) for k, v in report.prices.items()}


def price_document(
    db: sqlite_utils.Database,
    current: Period,
    previous: Period | None,
    by: str,
    *,
    pair: tuple[str, ...] = ("CN", "US"),
) -> dict | None:
    """The `prices --json` document for two periods with their rows; None when no price list
    covers `current`."""
    priced = PricedPeriods(db)
    report = priced.report(current, by)
    if report is None:
        return None
    prices = _rounded(report)
    first = first_prices_at(db)
    doc = {
        "period": {"start": current.start, "end": current.end},
        "by": by,
        "prices": prices,
        "coverage": round(report.coverage, PRECISION),
        "as_of": report.as_of,
        "source": current.source,
        "tokens_as_of": current.as_of,
        "in_progress": current.in_progress,
        "usd_per_million": None
        if report.usd_per_million is None
        else round(report.usd_per_million, PRECISION),
        "coverage_by_group": {g.key: round(g.coverage, PRECISION) for g in report.groups},
        "gap": gap(prices, pair) if by == "country" else None,
        "previous": None,
        "change": {},
        "unpriced": [{"model": m, "tokens": n} for m, n in report.unpriced[:UNPRICED_SHOWN]],
        "prices_since": first,
        "note": None,
        "citation": price_citation(current.as_of, report.as_of),
    }
    before = priced.report(previous, by) if previous is not None else None
    if before is not None:
        then = _rounded(before)
        doc["previous"] = {
            "period": {"start": previous.start, "end": previous.end},
            "prices": then,
            "coverage": round(before.coverage, PRECISION),
            "as_of": before.as_of,
            "gap": gap(then, pair) if by == "country" else None,
        }
        doc["change"] = {k: round(v - then[k], PRECISION) for k, v in prices.items() if k in then}
    elif previous is not None:
        doc["note"] = f"previous period not priced: {unpriced_reason(db, previous)}"
    else:
        doc["note"] = "no previous period of this source was fetched"
    return doc


def _check(by: str, period: str) -> None:
    if by not in BY:
        raise TokentideError(f"prices: by must be one of {', '.join(BY)}, got {by!r}")
    if period not in ("day", "week"):
        raise TokentideError(f"prices: period must be day or week, got {period!r}")


def current_prices(
    db: sqlite_utils.Database,
    *,
    by: str = "country",
    period: str = "week",
    now: datetime,
    pair: tuple[str, ...] = ("CN", "US"),
) -> dict:
    """Blended prices for the period `share` reports, with the change against the period
    before. Raises TokentideError (one line, saying why) when there is nothing to price."""
    _check(by, period)
    chosen = select_periods(build_periods(latest_windows(db), period), now=now)
    if chosen is None:
        raise no_token_data(period)
    current, previous = (
        None if p is None else replace(p, rows=tuple(window_rows(db, p.rows))) for p in chosen
    )
    doc = price_document(db, current, previous, by, pair=pair)
    if doc is None:
        raise TokentideError(f"prices: {unpriced_reason(db, current)}")
    return doc


def prices_if_any(
    db: sqlite_utils.Database,
    *,
    by: str = "country",
    period: str = "week",
    now: datetime,
    pair: tuple[str, ...] = ("CN", "US"),
) -> dict | None:
    """`current_prices`, or None when there is nothing to price (for the digest, which goes
    out without prices rather than not at all)."""
    try:
        return current_prices(db, by=by, period=period, now=now, pair=pair)
    except TokentideError:
        return None


def gap_move(
    db: sqlite_utils.Database,
    current: Period,
    reference: Period | None,
    *,
    pair: tuple[str, ...],
    threshold: float,
) -> dict | None:
    """The price gap of `current` against `reference` (periods with their rows), when both are
    priced and it moved by `threshold` (a fraction) or more; else None. For share alerts."""
    if reference is None:
        return None
    priced = PricedPeriods(db)
    now, then = priced.report(current, "country"), priced.report(reference, "country")
    if now is None or then is None:
        return None
    after, before = _rounded(now), _rounded(then)
    gap_after, gap_before = gap(after, pair), gap(before, pair)
    if gap_after is None or gap_before is None:
        return None
    flipped = gap_after["cheaper"] != gap_before["cheaper"]
    if not flipped and abs(gap_after["ratio"] / gap_before["ratio"] - 1) < threshold:
        return None
    return {
        "between": gap_after["between"],
        "from": gap_before["ratio"],
        "to": gap_after["ratio"],
        "cheaper": gap_after["cheaper"],
        "cheaper_before": gap_before["cheaper"],
        "prices": {k: after[k] for k in gap_after["between"]},
        "previous_prices": {k: before[k] for k in gap_after["between"]},
        "as_of": now.as_of,
        "citation": price_citation(current.as_of, now.as_of),
    }


def open_weights(db: sqlite_utils.Database, period: Period, by: str) -> dict[str, float] | None:
    """Per group, the fraction of its tokens on models listed with a Hugging Face id (a lower
    bound: unlisted models count as not open); None when no price list covers the period."""
    report = PricedPeriods(db).report(period, by)
    if report is None:
        return None
    return {g.key: round(g.open_weights, 6) for g in report.groups}


def price_series(
    db: sqlite_utils.Database,
    *,
    by: str = "country",
    period: str = "week",
    now: datetime,
    pair: tuple[str, ...] = ("CN", "US"),
) -> tuple[str, str, list[tuple[str, dict[str, float], dict | None]]] | None:
    """(source, citation, [(period end, prices, gap)]) for the current period's source, over
    the periods a price list covers; None when there is no token data.

    Periods are taken back from the current one without overlapping: rolling seven-day windows
    are fetched daily, and a point per window would price each day seven times over."""
    _check(by, period)
    periods = build_periods(latest_windows(db), period)
    chosen = select_periods(periods, now=now)
    if chosen is None:
        return None
    current = chosen[0]
    candidates = [
        p
        for p in periods
        if p.source == current.source
        and p.end <= current.end
        and (not p.in_progress or p is current)
    ]
    kept: list[Period] = []
    for p in sorted(candidates, key=lambda p: (p.end, p.start), reverse=True):
        if not kept or p.end <= kept[-1].start:
            kept.append(p)
    priced = PricedPeriods(db)
    points = []
    as_of = None
    for p in reversed(kept):
        report = priced.report(replace(p, rows=tuple(window_rows(db, p.rows))), by)
        if report is None:
            continue
        prices = _rounded(report)
        points.append((p.end, prices, gap(prices, pair)))
        as_of = report.as_of
    return current.source, price_citation(current.as_of, as_of or "never"), points
