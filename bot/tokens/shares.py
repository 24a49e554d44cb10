"""Share maths. Pure: usage rows (`TokenRow` records) in, periods and fractions out.

A period is one window of one source: a rolling 7 days (rankings/models), an ISO week
(market-share, or daily Data API rows summed Monday to Sunday) or a day. Periods of different
sources are never mixed, because their definitions differ (all models vs top 50 + 'other' vs
top authors + 'others'). A period still in progress (it ends after its data's `as_of`, or a
week missing days) is used only when nothing complete exists, and is flagged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.clock import parse_iso, to_iso
from bot.errors import TokentideError
from bot.models import TokenRow, TokenWindow
from bot.tokens.sources import preference

BY = ("country", "author", "model")


@dataclass(frozen=True)
class Period:
    source: str
    granularity: str  # day | week
    start: str
    end: str
    as_of: str
    # Usage rows; or, while periods are being chosen, the windows whose rows make them up.
    rows: tuple[TokenRow, ...] | tuple[TokenWindow, ...]
    days_present: int | None = None  # for weeks summed from daily rows

    @property
    def in_progress(self) -> bool:
        if self.days_present is not None and self.days_present < 7:
            return True
        return self.end > self.as_of

    @property
    def total(self) -> int:
        return sum(r.total_tokens for r in self.rows)


def _monday(ts: str) -> datetime:
    day = parse_iso(ts)
    return day - timedelta(days=day.weekday())


def build_periods(rows: Iterable[TokenRow] | Iterable[TokenWindow], period: str) -> list[Period]:
    """Group rows (or windows) into periods of `period` ("day" or "week"); daily rows are
    summed into ISO weeks for "week"."""
    groups: dict[tuple, list] = defaultdict(list)
    days: dict[tuple, set[str]] = defaultdict(set)
    for row in rows:
        if row.granularity == period:
            groups[(row.source, period, row.window_start, row.window_end)].append(row)
        elif period == "week" and row.granularity == "day":
            monday = _monday(row.window_start)
            key = (row.source, "week", to_iso(monday), to_iso(monday + timedelta(days=7)))
            groups[key].append(row)
            days[key].add(row.window_start)
    out = []
    for key, members in groups.items():
        source, granularity, start, end = key
        out.append(
            Period(
                source=source,
                granularity=granularity,
                start=start,
                end=end,
                as_of=max(r.as_of for r in members),
                rows=tuple(members),
                days_present=len(days[key]) if key in days else None,
            )
        )
    out.sort(key=lambda p: (p.end, p.start, p.source))
    return out


def newest(periods: Iterable[Period]) -> Period:
    """The period ending last; of periods ending together, the preferred source's
    (`sources.SOURCE_PREFERENCE`), then the shorter one."""
    return max(periods, key=lambda p: (p.end, -preference(p.source), p.start))


def no_token_data(period: str) -> TokentideError:
    """The error for a report with no period of token data to report on."""
    hint = " (daily data needs OPENROUTER_API_KEY)" if period == "day" else ""
    return TokentideError(f"no token data yet{hint}: run `tokentide poll-tokens` first")


def select_periods(periods: list[Period], *, now: datetime) -> tuple[Period, Period | None] | None:
    """The current period and the one right before it (same source, ending where it starts;
    None when that period was never fetched, so a delta always means "vs the previous period").

    Current: the `newest` complete period; if none is complete, the newest in-progress one.
    """
    now_iso = to_iso(now)
    usable = [p for p in periods if p.start <= now_iso]
    if not usable:
        return None
    complete = [p for p in usable if not p.in_progress]
    current = newest(complete or usable)
    earlier = [
        p
        for p in complete
        if p.source == current.source and p.end == current.start and p is not current
    ]
    previous = max(earlier, key=lambda p: (p.end, p.start)) if earlier else None
    return current, previous


def key_of(row: TokenRow | Mapping[str, Any], by: str) -> str:
    """The group a row counts for: its country, its author ("(no author)" when it has none) or
    its model. Rows are `TokenRow` records or mappings with the same keys (price rows)."""
    value = row[by] if isinstance(row, Mapping) else getattr(row, by)
    if by == "author":
        return value or "(no author)"
    return value


def totals_by(rows: Iterable[TokenRow], by: str) -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    for row in rows:
        sums[key_of(row, by)] += row.total_tokens
    return dict(sums)


def shares_by(rows: Iterable[TokenRow], by: str) -> tuple[int, dict[str, float]]:
    """(total tokens, {key: fraction}) largest first; keys with zero tokens are left out."""
    sums = totals_by(rows, by)
    total = sum(sums.values())
    if total <= 0:
        return 0, {}
    ordered = sorted(((k, v) for k, v in sums.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))
    return total, {k: v / total for k, v in ordered}


def deltas(current: dict[str, float], previous: dict[str, float]) -> dict[str, float]:
    """Change in percentage points for every key in either period, largest move first."""
    keys = set(current) | set(previous)
    moves = {k: round((current.get(k, 0.0) - previous.get(k, 0.0)) * 100, 2) for k in keys}
    return dict(sorted(moves.items(), key=lambda kv: (-abs(kv[1]), kv[0])))


def top_movers(
    current: dict[str, float], previous: dict[str, float], limit: int
) -> list[tuple[str, float, float, float]]:
    """[(key, from, to, points)] for the `limit` largest absolute moves (ignoring zero moves)."""
    moves = [
        (k, previous.get(k, 0.0), current.get(k, 0.0))
        for k in set(current) | set(previous)
        if current.get(k, 0.0) != previous.get(k, 0.0)
    ]
    moves.sort(key=lambda m: (-abs(m[2] - m[1]), m[0]))
    return [(k, a, b, round((b - a) * 100, 2)) for k, a, b in moves[:limit]]
