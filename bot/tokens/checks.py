"""Whole-snapshot checks: is a parsed OpenRouter answer believable before it is stored? Pure.

Single bad rows are skipped by the parser; these checks look at the answer as a whole, because
a payload can be broken in ways no single row shows (every count negated leaves a few zero
rows; one row leaves one model at 100%). Two kinds of finding:

* problems — the answer is corrupt on its face, so it is rejected:
  - fewer than `openrouter.min_rows_parsed` of its rows parse;
  - a token count above `parse.MAX_TOKENS` (a corrupt number or a unit change);
  - fewer than `openrouter.min_models` models;
  - its shares do not sum to 100% (it holds no tokens);
* doubts — it disagrees with the previous snapshot of the same source (the one whose window
  ends nearest at or before its own) by more than `openrouter.plausible_ratio`, in tokens a day
  or in the number of models. It may be real (OpenRouter changed something), so it is held:
  the next poll confirms it when its own answer agrees with the held one, and is stored then;
  an answer that agrees with the stored history instead supersedes the hold.

Nothing is stored and nothing alerts while a snapshot is rejected or held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.clock import parse_iso
from bot.config import OpenRouterConfig
from bot.models import ParsedSnapshot, SnapshotTotals
from bot.tokens.parse import ABSURD

STORE, CONFIRM, HOLD, REJECT = "store", "confirm", "hold", "reject"
SHARE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Verdict:
    action: str  # store | confirm (store, and the held snapshot is confirmed) | hold | reject
    reasons: tuple[str, ...]
    totals: SnapshotTotals


def totals_of(parsed: ParsedSnapshot) -> SnapshotTotals:
    return SnapshotTotals(
        source=parsed.source,
        window_start=parsed.window_start,
        window_end=parsed.window_end,
        total_tokens=sum(r.total_tokens for r in parsed.rows),
        models=len({r.model for r in parsed.rows}),
    )


def _days(totals: SnapshotTotals) -> float:
    span = parse_iso(totals.window_end) - parse_iso(totals.window_start)
    return max(span / timedelta(days=1), 1.0)


def per_day(totals: SnapshotTotals) -> float:
    """Tokens a day, so answers covering different spans (14 days, a 30-day chunk) compare."""
    return totals.total_tokens / _days(totals)


def _tokens(n: float) -> str:
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:,.0f}"


def problems(parsed: ParsedSnapshot, conf: OpenRouterConfig) -> list[str]:
    """Reasons the answer is corrupt on its face (empty: none)."""
    found = []
    skipped = sum(parsed.skipped.values())
    read = max(parsed.rows_read, skipped)
    good = read - skipped
    absurd = parsed.skipped.get(ABSURD, 0)
    if absurd:
        rows = "1 row" if absurd == 1 else f"{absurd} rows"
        found.append(f"{rows} with a {ABSURD} (a corrupt number or a unit change)")
    if read and good / read < conf.min_rows_parsed:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(parsed.skipped.items()))
        found.append(
            f"only {good} of {read} rows parse ({good / read:.0%}; openrouter.min_rows_parsed is "
            f"{conf.min_rows_parsed:.0%}): {why}"
        )
    totals = totals_of(parsed)
    if totals.models < conf.min_models:
        found.append(
            f"{totals.models} model{'s' if totals.models != 1 else ''} "
            f"(openrouter.min_models is {conf.min_models})"
        )
    total = totals.total_tokens
    shares = sum(r.total_tokens / total for r in parsed.rows) if total > 0 else 0.0
    if abs(shares - 1.0) > SHARE_TOLERANCE:
        found.append(f"the shares sum to {shares:.0%}, not 100% ({_tokens(total)} tokens)")
    return found


def doubts(totals: SnapshotTotals, against: SnapshotTotals, conf: OpenRouterConfig) -> list[str]:
    """How `totals` disagrees with `against` beyond the plausible ratio (empty: it agrees)."""
    ratio = conf.plausible_ratio
    name = (
        f"snapshot {against.snapshot_id}"
        if against.snapshot_id is not None
        else "the held snapshot"
    )
    found = []
    now, then = per_day(totals), per_day(against)
    if then > 0 and now > 0:
        factor = max(now / then, then / now)
    else:
        factor = float("inf") if now != then else 1.0
    if factor > ratio:
        found.append(
            f"{_tokens(now)} tokens a day against {_tokens(then)} in {name} "
            f"({against.window_start[:10]}..{against.window_end[:10]}), {factor:.1f}x apart "
            f"(openrouter.plausible_ratio is {ratio:g})"
        )
    if totals.models * ratio < against.models:
        found.append(
            f"{totals.models} models against {against.models} in {name}, fewer than 1/{ratio:g}"
        )
    return found


def judge_snapshot(
    parsed: ParsedSnapshot,
    previous: SnapshotTotals | None,
    held: SnapshotTotals | None,
    conf: OpenRouterConfig,
) -> Verdict:
    """Store, confirm a held snapshot, hold, or reject `parsed` (module docstring)."""
    totals = totals_of(parsed)
    found = problems(parsed, conf)
    if found:
        return Verdict(REJECT, tuple(found), totals)
    if previous is None:
        return Verdict(STORE, (), totals)
    against_history = doubts(totals, previous, conf)
    if not against_history:
        return Verdict(STORE, (), totals)
    if held is not None and not doubts(totals, held, conf):
        return Verdict(CONFIRM, tuple(against_history), totals)
    return Verdict(HOLD, tuple(against_history), totals)
