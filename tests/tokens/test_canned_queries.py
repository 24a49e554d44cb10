"""The Datasette canned queries about the token share pick what the Python share maths picks.

The source preference lives in `bot.tokens.sources`; the site's metadata.yaml restates it in
SQL (Datasette runs SQL, not Python). Each query runs here on archives holding every source,
re-fetched windows, rolling windows that straddle ISO weeks and ties between sources, and must
give the same period, source and per-country tokens as the store's rows put through the
Python rule.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta

import pytest

from bot.models import ParsedSnapshot, UsageRow
from bot.site.site import ARCHIVE_NAME, load_metadata
from bot.store.tokens import latest_windows, window_rows
from bot.tokens.countries import load_country_map
from bot.tokens.history import content_hash, store_snapshot
from bot.tokens.shares import Period, build_periods, newest, shares_by, totals_by
from bot.tokens.sources import MARKET_SHARE, RANKINGS_DAILY, RANKINGS_MODELS, citation, preference

QUERIES = load_metadata()["databases"][ARCHIVE_NAME]["queries"]


def ts(day: str) -> str:
    return f"{day}T00:00:00Z"


def plus(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def add(db, source: str, windows: dict[tuple[str, int], dict[str, int]], *, as_of: str) -> None:
    """One snapshot of `source`: {(first day, length in days): {author: tokens}}."""
    rows = tuple(
        UsageRow(
            window_start=ts(first),
            window_end=ts(plus(first, length)),
            granularity="day" if length == 1 else "week",
            model=f"{author}/m",
            author=author,
            prompt_tokens=None,
            completion_tokens=None,
            total_tokens=tokens,
        )
        for (first, length), makers in windows.items()
        for author, tokens in makers.items()
    )
    parsed = ParsedSnapshot(
        source=source,
        granularity=rows[0].granularity,
        window_start=min(r.window_start for r in rows),
        window_end=max(r.window_end for r in rows),
        as_of=ts(as_of),
        rows=rows,
        skipped={},
        no_author=0,
    )
    key = repr(sorted((r.window_start, r.window_end, r.author, r.total_tokens) for r in rows))
    store_snapshot(
        db,
        parsed,
        body="{}",
        digest=content_hash([source, key]),
        fetched_at=ts(as_of),
        countries=load_country_map(),
    )


def base(db) -> None:
    """Six weeks from 2026-10-05 seen by all three sources, with a re-fetched week."""
    add(
        db,
        MARKET_SHARE,
        {
            ("2026-10-05", 7): {"openai": 60, "deepseek": 30, "stealth": 10},
            ("2026-10-12", 7): {"openai": 55, "deepseek": 35, "stealth": 10},
        },
        as_of="2026-10-20",
    )
    add(  # the week of 10-12 again with other numbers (the newest snapshot wins), two more
        db,
        MARKET_SHARE,
        {
            ("2026-10-12", 7): {"openai": 50, "deepseek": 40, "stealth": 10},
            ("2026-10-19", 7): {"openai": 45, "deepseek": 45, "mistralai": 10},
            ("2026-10-26", 7): {"openai": 40, "deepseek": 50, "mistralai": 10},  # in progress
        },
        as_of="2026-10-28",
    )
    daily = {
        (plus("2026-10-12", d), 1): {"openai": 3 + d, "qwen": 2, "deepseek": d} for d in range(7)
    }
    daily |= {(d, 1): {"openai": 5, "qwen": 7} for d in ("2026-10-26", "2026-10-27")}
    add(db, RANKINGS_DAILY, daily, as_of="2026-10-28")
    add(  # exactly the ISO week the market share also reports: the week is preferred
        db, RANKINGS_MODELS, {("2026-10-05", 7): {"openai": 1, "qwen": 9}}, as_of="2026-10-12"
    )
    add(  # rolling windows starting inside the week of 10-19: a market-share week covers it
        db, RANKINGS_MODELS, {("2026-10-20", 7): {"openai": 2, "qwen": 8}}, as_of="2026-10-27"
    )
    add(db, RANKINGS_MODELS, {("2026-10-21", 7): {"openai": 3, "qwen": 7}}, as_of="2026-10-28")


SCENARIOS = {
    # The in-progress market-share week ends last.
    "market week ends last": ([], MARKET_SHARE),
    # A rolling window ending after every week.
    "rolling window ends last": (
        [(RANKINGS_MODELS, {("2026-10-28", 7): {"openai": 4, "qwen": 6}}, "2026-11-04")],
        RANKINGS_MODELS,
    ),
    # A rolling window ending with the market-share week: the week wins the tie.
    "week ties rolling window": (
        [(RANKINGS_MODELS, {("2026-10-26", 7): {"openai": 9, "qwen": 1}}, "2026-11-02")],
        MARKET_SHARE,
    ),
    # A day ending with the market-share week and a rolling window: daily figures win.
    "day ties week and window": (
        [
            (RANKINGS_MODELS, {("2026-10-26", 7): {"openai": 9, "qwen": 1}}, "2026-11-02"),
            (RANKINGS_DAILY, {("2026-11-01", 1): {"openai": 1, "deepseek": 3}}, "2026-11-02"),
        ],
        RANKINGS_DAILY,
    ),
    # Only rolling windows cover the newest week: the newest of them counts for it.
    "week covered by rolling windows only": (
        [
            (RANKINGS_MODELS, {("2026-11-02", 7): {"openai": 6, "qwen": 4}}, "2026-11-09"),
            (RANKINGS_MODELS, {("2026-11-03", 7): {"openai": 2, "qwen": 8}}, "2026-11-10"),
        ],
        RANKINGS_MODELS,
    ),
}


@pytest.fixture(params=sorted(SCENARIOS))
def archive(request, db, db_path):
    base(db)
    extra, newest_source = SCENARIOS[request.param]
    for source, windows, as_of in extra:
        add(db, source, windows, as_of=as_of)
    return db, db_path, newest_source


def run(db_path, name: str) -> list[dict]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(QUERIES[name]["sql"])]
    finally:
        conn.close()


def loaded(db, period: Period) -> Period:
    """The period with the rows of its windows (periods are chosen from windows alone)."""
    return replace(period, rows=tuple(window_rows(db, period.rows)))


def test_latest_share_by_country_is_the_newest_period(archive):
    db, db_path, newest_source = archive
    windows = latest_windows(db)
    # Every stored period as it is (days as days: this query does not sum them into weeks).
    periods = build_periods([w for w in windows if w.granularity == "day"], "day")
    periods += build_periods([w for w in windows if w.granularity == "week"], "week")
    expected = loaded(db, newest(periods))
    assert expected.source == newest_source  # the scenario tests the tie it means to

    got = run(db_path, "latest_share_by_country")
    assert {(r["source"], r["granularity"], r["window_start"], r["window_end"]) for r in got} == {
        (expected.source, expected.granularity, expected.start, expected.end)
    }
    assert {r["country"]: r["tokens"] for r in got} == totals_by(expected.rows, "country")
    _, shares = shares_by(expected.rows, "country")
    assert {r["country"]: r["share_pct"] for r in got} == pytest.approx(
        {k: 100 * v for k, v in shares.items()}, abs=0.005
    )
    assert {r["citation"] for r in got} == {citation(expected.as_of)}


def test_share_over_time_takes_one_source_per_iso_week(archive):
    db, db_path, _ = archive
    # Per ISO week: the preferred source among the periods starting in it (daily rows summed
    # into the week), then that source's newest window.
    by_week: dict[str, list[Period]] = defaultdict(list)
    for period in build_periods(latest_windows(db), "week"):
        start = date.fromisoformat(period.start[:10])
        by_week[(start - timedelta(days=start.weekday())).isoformat()].append(period)
    chosen = {
        week: loaded(db, max(periods, key=lambda p: (-preference(p.source), p.end, p.start)))
        for week, periods in by_week.items()
    }
    got = run(db_path, "share_over_time")
    assert {r["week"] for r in got} == set(chosen)
    for week, period in chosen.items():
        mine = [r for r in got if r["week"] == week]
        assert {r["source"] for r in mine} == {period.source}, week
        assert {r["country"]: r["tokens"] for r in mine} == totals_by(period.rows, "country")
        _, shares = shares_by(period.rows, "country")
        assert {r["country"]: r["share_pct"] for r in mine} == pytest.approx(
            {k: 100 * v for k, v in shares.items()}, abs=0.005
        ), week
    assert {w: p.source for w, p in chosen.items() if w < "2026-11-02"} == {
        "2026-10-05": MARKET_SHARE,  # the same seven days as a rolling window
        "2026-10-12": RANKINGS_DAILY,  # daily figures summed, over the market share
        "2026-10-19": MARKET_SHARE,  # over two rolling windows starting that week
        "2026-10-26": RANKINGS_DAILY,  # two days so far, still over the market share
    }
