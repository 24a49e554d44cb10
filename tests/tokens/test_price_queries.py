"""The Datasette price queries agree with the Python blended price on the same archive.

metadata.yaml restates in SQL what `bot.tokens.prices` (the join, :free at $0, unlisted models
left out, open weights) and `bot.store.prices.prices_for_period` (which list prices a period)
do in Python. Each archive below mixes variants, unlisted and dated models, daily rows with no
prompt/completion split, several price lists and a period no list covers.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.models import ParsedSnapshot, UsageRow
from bot.site.site import ARCHIVE_NAME, load_metadata
from bot.store.prices import save_prices
from bot.store.tokens import latest_windows, window_rows
from bot.tokens.countries import load_country_map
from bot.tokens.history import content_hash, store_snapshot
from bot.tokens.parse import model_key
from bot.tokens.price_report import PricedPeriods
from bot.tokens.prices import parse_models
from bot.tokens.shares import build_periods, newest
from bot.tokens.sources import RANKINGS_DAILY, RANKINGS_MODELS, preference, price_citation

from .test_prices import body, catalogue, item

QUERIES = load_metadata()["databases"][ARCHIVE_NAME]["queries"]


def ts(day: str) -> str:
    return f"{day}T00:00:00Z"


def plus(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


WEEK = [  # (permaslug, variant, prompt, completion)
    ("deepseek/deepseek-v4-20260301", "standard", 8_000_000, 1_000_000),
    ("deepseek/deepseek-v4-20260301", "free", 2_000_000, 500_000),
    ("qwen/qwen3-max-20260101", "standard", 3_000_000, 1_000_000),
    ("moonshotai/kimi-k9-20260801", "standard", 1_000_000, 500_000),  # unlisted
    ("z-ai/glm-9", "free", 700_000, 100_000),  # :free, unlisted: still $0
    ("openai/gpt-5-20250807", "standard", 4_000_000, 1_000_000),
    ("openai/gpt-5-20250807", "batch", 1_000_000, 1_000_000),  # no :batch listing
    ("anthropic/claude-sonnet-5", "standard", 2_000_000, 500_000),
    ("openai/gpt-oss-120b", "standard", 6_000_000, 2_000_000),
    ("x/m", "standard", 1_000_000, 0),  # two dated listings: the newest prices it
    ("stealth/ox", "standard", 500_000, 500_000),  # UNKNOWN
]


def add_week(db, first: str, *, scale: float = 1.0, fetched: str) -> None:
    """One rankings-models snapshot: the rolling seven days from `first`."""
    ws, we = ts(first), ts(plus(first, 7))
    rows = tuple(
        UsageRow(
            ws,
            we,
            "week",
            model_key(slug),
            slug.split("/")[0],
            int(p * scale),
            int(c * scale),
            int(p * scale) + int(c * scale),
            variant,
        )  # fmt: skip
        for slug, variant, p, c in WEEK
    )
    parsed = ParsedSnapshot(RANKINGS_MODELS, "week", ws, we, ts(fetched), rows, {}, 0, len(rows))
    store_snapshot(
        db,
        parsed,
        body="{}",
        digest=content_hash([first, scale]),
        fetched_at=ts(fetched),
        countries=load_country_map(),
    )


def add_days(db, first: str, days: int, *, fetched: str) -> None:
    """Daily Data API rows (no prompt/completion split: never priced)."""
    rows = tuple(
        UsageRow(
            ts(plus(first, d)),
            ts(plus(first, d + 1)),
            "day",
            m,
            m.split("/")[0],
            None,
            None,
            1_000_000 * (d + 1),
            None,
        )  # fmt: skip
        for d in range(days)
        for m in ("openai/gpt-5", "deepseek/deepseek-v4")
    )
    parsed = ParsedSnapshot(
        RANKINGS_DAILY, "day", rows[0].window_start, rows[-1].window_end, ts(fetched), rows, {},
        0, len(rows),
    )  # fmt: skip
    store_snapshot(
        db, parsed, body="{}", digest=content_hash([first, days]), fetched_at=ts(fetched),
        countries=load_country_map(),
    )  # fmt: skip


def listing(*, deepseek_prompt="0.0000003", extra=()):
    items = catalogue()
    items[0]["pricing"]["prompt"] = deepseek_prompt
    items += [
        item("x/m-old", "0.000001", "0.000001", slug="x/m-20250101"),
        item("x/m", "0.000002", "0.000002", slug="x/m-20260101"),
        item("~x/m-latest", "0.000004", "0.000004", slug="x/m-20260101"),  # an alias: the id wins
        *extra,
    ]
    return items


def add_prices(db, when: datetime, items) -> None:
    save_prices(db, parse_models(body(items), fetched_at=when))


def at(day: str, hour: int = 2) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def base(db) -> None:
    add_week(db, "2026-09-28", fetched="2026-10-05")  # before any price list
    add_prices(db, at("2026-10-12"), listing())
    add_prices(db, at("2026-10-12", 8), listing())  # the same list: only last_seen_at moves
    add_week(db, "2026-10-05", scale=1.2, fetched="2026-10-12")
    add_prices(db, at("2026-10-19"), listing(deepseek_prompt="0.0000006"))
    add_week(db, "2026-10-12", scale=0.9, fetched="2026-10-19")
    add_days(db, "2026-10-19", 7, fetched="2026-10-26")  # a week of daily rows wins its week
    add_prices(db, at("2026-10-26"), listing(extra=[item("z-ai/glm-9", "0.000001", "0.000002")]))


SCENARIOS = {
    # The newest period is a rolling week priced by the list fetched the day it ended.
    "priced rolling week": [("week", "2026-10-26", 1.1, "2026-11-02"), ("prices", "2026-11-02")],
    # The newest week ran after the newest list was last seen (price polls failing): not
    # priced; the week before it still is.
    "newest not priced": [
        ("week", "2026-10-26", 1.0, "2026-11-02"),
        ("week", "2026-11-02", 1.0, "2026-11-09"),
    ],
    # A list fetched later than a day after the period's end does not price it (never
    # back-applied); the period uses the older list still seen while it ran.
    "later list ignored": [
        ("prices-seen", "2026-11-02"),
        ("week", "2026-10-26", 1.0, "2026-11-02"),
        ("prices", "2026-11-04", "0.000009"),
    ],
}


@pytest.fixture(params=sorted(SCENARIOS))
def archive(request, db, db_path):
    base(db)
    for step in SCENARIOS[request.param]:
        if step[0] == "week":
            add_week(db, step[1], scale=step[2], fetched=step[3])
        elif step[0] == "prices":
            add_prices(db, at(step[1]), listing(deepseek_prompt=(step[2:] or ["0.0000003"])[0]))
        else:  # the newest list seen again (a poll that found the same prices)
            with db.conn:
                db.execute(
                    "UPDATE price_snapshots SET last_seen_at = ? WHERE id = "
                    "(SELECT MAX(id) FROM price_snapshots)",
                    [ts(step[1])],
                )
    return db, db_path


def run(db_path, name: str) -> list[dict]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(QUERIES[name]["sql"])]
    finally:
        conn.close()


def loaded(db, period):
    return replace(period, rows=tuple(window_rows(db, period.rows)))


def test_latest_prices_by_country_is_the_python_blended_price(archive):
    db, db_path = archive
    windows = latest_windows(db)
    periods = build_periods([w for w in windows if w.granularity == "day"], "day")
    periods += build_periods([w for w in windows if w.granularity == "week"], "week")
    period = loaded(db, newest(periods))
    report = PricedPeriods(db).report(period, "country")

    got = {r["country"]: r for r in run(db_path, "latest_prices_by_country")}
    assert {(r["source"], r["window_start"], r["window_end"]) for r in got.values()} == {
        (period.source, period.start, period.end)
    }
    if report is None:
        assert {r["usd_per_million"] for r in got.values()} == {None}
        assert {r["coverage"] for r in got.values()} == {0}
        assert {r["prices_as_of"] for r in got.values()} == {None}
        assert {r["open_weights"] for r in got.values()} == {None}
        assert all("prices as of none: no price list covers" in r["citation"] for r in got.values())
        return
    groups = {g.key: g for g in report.groups}
    assert set(got) == set(groups)
    for country, row in got.items():
        group = groups[country]
        assert row["tokens"] == group.tokens, country
        assert row["usd_per_million"] == pytest.approx(group.usd_per_million, abs=1e-4), country
        assert row["coverage"] == pytest.approx(group.coverage, abs=1e-4), country
        assert row["open_weights"] == pytest.approx(group.open_weights, abs=1e-4), country
    assert {r["prices_as_of"] for r in got.values()} == {report.as_of}
    assert {r["citation"] for r in got.values()} == {price_citation(period.as_of, report.as_of)}
    assert got["CN"]["usd_per_million"] < got["US"]["usd_per_million"]


def test_price_gap_over_time_is_the_python_gap_week_by_week(archive):
    db, db_path = archive
    by_week = defaultdict(list)
    for period in build_periods(latest_windows(db), "week"):
        start = date.fromisoformat(period.start[:10])
        by_week[(start - timedelta(days=start.weekday())).isoformat()].append(period)
    priced = PricedPeriods(db)
    expected = {}
    for week, periods in by_week.items():
        period = loaded(db, max(periods, key=lambda p: (-preference(p.source), p.end, p.start)))
        report = priced.report(period, "country")
        if report is not None:
            expected[week] = (period, report)

    got = {r["week"]: r for r in run(db_path, "price_gap_over_time")}
    assert set(got) == set(expected)
    assert "2026-09-28" not in got  # before the first price list: never priced
    for week, (period, report) in expected.items():
        row = got[week]
        assert (row["source"], row["period_start"], row["period_end"]) == (
            period.source,
            period.start,
            period.end,
        )
        prices = report.prices
        assert row["cn_usd_per_million"] == pytest.approx(prices.get("CN"), abs=1e-4), week
        assert row["us_usd_per_million"] == pytest.approx(prices.get("US"), abs=1e-4), week
        if prices.get("CN") and prices.get("US"):
            ratio = max(prices["CN"], prices["US"]) / min(prices["CN"], prices["US"])
            assert row["gap"] == pytest.approx(ratio, abs=0.006), week
        else:
            assert row["gap"] is None, week
        assert row["coverage"] == pytest.approx(report.coverage, abs=1e-4), week
        assert row["prices_as_of"] == report.as_of
    # The daily week is unpriced (no prompt/completion split) but listed: coverage 0.
    assert got["2026-10-19"]["coverage"] == 0 and got["2026-10-19"]["gap"] is None


def test_the_dashboard_draws_the_gap_beside_the_share():
    meta = load_metadata()
    board = meta["plugins"]["datasette-dashboards"]["token-share"]
    assert board["layout"] == [["share-over-time", "price-gap-over-time"]]
    chart = board["charts"]["price-gap-over-time"]
    assert chart["query"] == QUERIES["price_gap_over_time"]["sql"]
    assert chart["display"]["encoding"]["y"]["field"] == "gap"
    assert json.dumps(chart)  # plain data, as the plugin reads it
