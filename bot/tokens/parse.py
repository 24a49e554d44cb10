"""OpenRouter payloads → usage rows. Pure: JSON in, rows out; no clock, network or database.

Windows are half-open UTC intervals [start, end) written as "YYYY-MM-DDTHH:MM:SSZ". A shape we
do not recognise raises OpenRouterError (nothing gets stored); a single bad row is skipped and
counted, so one odd model does not cost us a whole snapshot. Whether the snapshot as a whole is
believable (how many rows parsed, totals against the previous one) is `tokens.checks`' call;
a count above MAX_TOKENS is counted under ABSURD, which that check refuses outright.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from bot.clock import parse_iso, to_iso
from bot.errors import OpenRouterError
from bot.models import ParsedSnapshot, UsageRow
from bot.tokens.countries import author_of
from bot.tokens.sources import MARKET_SHARE, RANKINGS_DAILY, RANKINGS_MODELS

_DATE_SUFFIX = re.compile(r"-20\d{6}$")

# One model's tokens in one window, at most. The whole of OpenRouter processed ~8.4e13 tokens a
# week in 2026; a count above 1e15 is a corrupt number or a unit change, and a few of them
# summed would overflow SQLite's 64-bit integers.
MAX_TOKENS = 10**15
ABSURD = "token count above 10^15"
BAD_COUNT = "bad token count"
STANDARD = "standard"  # the rankings' name for a model's plain variant


@lru_cache(maxsize=16384)  # a few thousand slugs, looked up once per row of every period priced
def model_key(slug: str) -> str:
    """The name rows are joined on: variant (':free') and '-20YYMMDD' date suffix removed."""
    base = slug.strip().lstrip("~").split(":", 1)[0]
    return _DATE_SUFFIX.sub("", base)


def variant_of(value: Any) -> str:
    """The rankings' variant, lower-cased; 'standard' when absent."""
    return str(value or "").strip().lower() or STANDARD


def tokens_value(value: Any) -> int | None:
    """A token count from an int, an integral float or a decimal string; None when invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else None
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        if not number.is_finite() or number < 0 or number != number.to_integral_value():
            return None
        return int(number)
    return None


def _day(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _ts(day: date) -> str:
    return to_iso(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _data_rows(payload: Any, source: str) -> list[Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        got = type(payload).__name__
        if isinstance(payload, dict):
            got = "keys " + ", ".join(sorted(map(str, payload))[:8])
        raise OpenRouterError(
            f"OpenRouter {source}: unexpected response shape (expected {{'data': [...]}}, got {got});"
            " the API may have changed - keeping the last good snapshot"
        )
    if not payload["data"]:
        raise OpenRouterError(
            f"OpenRouter {source}: response has an empty 'data' list - keeping the last good snapshot"
        )
    return payload["data"]


def _count(value: Any, skipped: Counter) -> int | None:
    """A token count, or None with the reason counted in `skipped`."""
    number = tokens_value(value)
    if number is None:
        skipped[BAD_COUNT] += 1
    elif number > MAX_TOKENS:
        skipped[ABSURD] += 1
        return None
    return number


def _finish(
    source: str,
    granularity: str,
    start: date,
    end: date,
    as_of: str,
    sums: dict[tuple[str, str, str, str | None], list],
    skipped: Counter,
    no_author: int,
    kept: int,
) -> ParsedSnapshot:
    if not sums:
        detail = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
        raise OpenRouterError(
            f"OpenRouter {source}: no usable rows ({detail or 'nothing to read'}) - "
            "keeping the last good snapshot"
        )
    rows = tuple(
        UsageRow(
            window_start=ws,
            window_end=we,
            granularity=granularity,
            model=model,
            author=author_of(model) if "/" in model else v[3],
            prompt_tokens=v[0],
            completion_tokens=v[1],
            total_tokens=v[2],
            variant=variant,
        )
        for (ws, we, model, variant), v in sorted(
            sums.items(), key=lambda kv: kv[0][:3] + (kv[0][3] or "",)
        )
    )
    return ParsedSnapshot(
        source=source,
        granularity=granularity,
        window_start=_ts(start),
        window_end=_ts(end),
        as_of=as_of,
        rows=rows,
        skipped=dict(skipped),
        no_author=no_author,
        rows_read=kept + sum(skipped.values()),
    )


def _add(sums: dict, key: tuple[str, str, str, str | None], prompt, completion, total, author):
    if key not in sums:
        sums[key] = [prompt, completion, 0, author]
    else:
        cur = sums[key]
        cur[0] = None if cur[0] is None or prompt is None else cur[0] + prompt
        cur[1] = None if cur[1] is None or completion is None else cur[1] + completion
    sums[key][2] += total


def _model_rows(raw: list, skipped: Counter) -> Iterator[tuple[dict, str, date]]:
    """Rows that are objects with a model slug and a date; the rest are counted in `skipped`."""
    for row in raw:
        if not isinstance(row, dict):
            skipped["not an object"] += 1
            continue
        slug = row.get("model_permaslug")
        if not isinstance(slug, str) or not slug.strip():
            skipped["no model_permaslug"] += 1
            continue
        day = _day(row.get("date"))
        if day is None:
            skipped["bad date"] += 1
            continue
        yield row, slug.strip(), day


def parse_rankings_models(payload: Any, *, fetched_at: datetime, days: int = 7) -> ParsedSnapshot:
    """`/api/frontend/v1/rankings/models`: a rolling `days`-day window ending on the newest date.

    total = prompt + completion (OpenRouter reports reasoning inside completion); rows are kept
    per (model, variant) — ':free' traffic is priced at $0 — and shares sum the variants.
    """
    source = RANKINGS_MODELS
    raw = _data_rows(payload, source)
    skipped: Counter = Counter()
    seen: set[tuple] = set()
    good: list[tuple[date, str, str, int, int]] = []
    no_author = 0
    for row, slug, day in _model_rows(raw, skipped):
        counts = Counter()
        prompt = _count(row.get("total_prompt_tokens"), counts)
        completion = _count(row.get("total_completion_tokens"), counts)
        if prompt is None or completion is None:
            skipped[ABSURD if ABSURD in counts else BAD_COUNT] += 1
            continue
        variant = variant_of(row.get("variant"))
        key = (day, slug, variant)
        if key in seen:
            skipped["duplicate"] += 1
            continue
        seen.add(key)
        if not author_of(slug):
            no_author += 1
        good.append((day, slug, variant, prompt, completion))
    newest = max((g[0] for g in good), default=None)
    if newest is None:
        return _finish(source, "week", date.min, date.min, "", {}, skipped, 0, 0)
    end = newest + timedelta(days=1)
    start = end - timedelta(days=days)
    ws, we = _ts(start), _ts(end)
    sums: dict = {}
    for _, slug, variant, prompt, completion in good:
        key = (ws, we, model_key(slug), variant)
        _add(sums, key, prompt, completion, prompt + completion, "")
    granularity = "day" if days == 1 else "week"
    as_of = to_iso(fetched_at)
    return _finish(source, granularity, start, end, as_of, sums, skipped, no_author, len(good))


def parse_rankings_daily(payload: Any, *, fetched_at: datetime) -> ParsedSnapshot:
    """Data API `rankings-daily`: one row per (date, model), `total_tokens` a decimal string.

    The 'other' row (everything outside the day's top 50) is kept as model 'other' → UNKNOWN.
    """
    source = RANKINGS_DAILY
    raw = _data_rows(payload, source)
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    as_of_dt = parse_iso(meta["as_of"]) if _is_iso(meta.get("as_of")) else None
    as_of = to_iso(as_of_dt or fetched_at)
    skipped: Counter = Counter()
    seen: set[tuple] = set()
    sums: dict = {}
    days: list[date] = []
    no_author = 0
    for row, slug, day in _model_rows(raw, skipped):
        total = _count(row.get("total_tokens"), skipped)
        if total is None:
            continue
        if (day, slug) in seen:
            skipped["duplicate"] += 1
            continue
        seen.add((day, slug))
        author = "other" if slug == "other" else ""
        if not author and not author_of(slug):
            no_author += 1
        days.append(day)
        key = (_ts(day), _ts(day + timedelta(days=1)), model_key(slug), None)
        _add(sums, key, None, None, total, author)
    start = _day(meta.get("start_date")) or min(days, default=date.min)
    end_day = _day(meta.get("end_date")) or max(days, default=date.min)
    start = min([start, *days])
    end = max([end_day, *days]) + timedelta(days=1)
    return _finish(source, "day", start, end, as_of, sums, skipped, no_author, len(days))


def parse_market_share(payload: Any, *, fetched_at: datetime) -> ParsedSnapshot:
    """Keyless `rankings/market-share`: weekly tokens per top author plus 'others'.

    Each `x` is the Monday a week starts; the newest week is still in progress (its window ends
    after `as_of`), which the share maths marks or leaves out.
    """
    source = MARKET_SHARE
    raw = _data_rows(payload, source)
    skipped: Counter = Counter()
    sums: dict = {}
    weeks: set[date] = set()
    kept = 0
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("ys"), dict):
            skipped["not a {x, ys} object"] += 1
            continue
        monday = _day(entry.get("x"))
        if monday is None or monday.weekday() != 0:
            skipped["x is not a Monday date"] += 1
            continue
        if monday in weeks:
            skipped["duplicate"] += 1
            continue
        weeks.add(monday)
        ws, we = _ts(monday), _ts(monday + timedelta(days=7))
        for name, value in entry["ys"].items():
            author = str(name).strip().lower()
            total = tokens_value(value)
            if not author or total is None:
                skipped["bad author entry"] += 1
                continue
            if total > MAX_TOKENS:
                skipped[ABSURD] += 1
                continue
            kept += 1
            _add(sums, (ws, we, f"{author}/*", None), None, None, total, author)
    start = min(weeks, default=date.min)
    end = max(weeks, default=date.min) + timedelta(days=7)
    return _finish(source, "week", start, end, to_iso(fetched_at), sums, skipped, 0, kept)


def _is_iso(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_iso(value)
    except ValueError:
        return False
    return True


PARSERS = {
    RANKINGS_DAILY: parse_rankings_daily,
    RANKINGS_MODELS: parse_rankings_models,
    MARKET_SHARE: parse_market_share,
}
