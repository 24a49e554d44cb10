"""The share document, periods and the chart, read back from a real archive."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.clock import to_iso
from bot.models import TokenRow
from bot.tokens.chart import render_share_chart
from bot.tokens.countries import load_country_map
from bot.tokens.history import content_hash, store_snapshot
from bot.tokens.parse import parse_rankings_daily, parse_rankings_models
from bot.tokens.report import current_share
from bot.tokens.shares import Period, build_periods, deltas, select_periods, shares_by

from .or_server import real_models_payload

NOW = datetime(2026, 9, 1, tzinfo=UTC)


def store(db, parsed, payload):
    return store_snapshot(
        db,
        parsed,
        body=json.dumps(payload),
        digest=content_hash(payload),
        fetched_at=parsed.as_of,
        countries=load_country_map(),
    )


def store_real(db, day: str, fetched: datetime):
    payload = real_models_payload(day)
    return store(db, parse_rankings_models(payload, fetched_at=fetched), payload)


def store_daily(db, days: dict[str, dict[str, int]], as_of: str):
    payload = {
        "data": [
            {"date": d, "model_permaslug": m, "total_tokens": str(n)}
            for d, models in days.items()
            for m, n in models.items()
        ],
        "meta": {"as_of": as_of},
    }
    return store(db, parse_rankings_daily(payload, fetched_at=NOW), payload)


def test_current_share_of_the_real_capture(db):
    store_real(db, "2026-08-22", datetime(2026, 8, 22, 1, 57, 33, tzinfo=UTC))
    doc = current_share(db, now=NOW)
    assert doc["source"] == "rankings-models" and doc["as_of"] == "2026-08-22T01:57:33Z"
    assert doc["total_tokens"] == 84_094_165_552_421
    assert (round(doc["shares"]["CN"], 3), round(doc["shares"]["US"], 3)) == (0.579, 0.383)
    assert list(doc["shares"])[:3] == ["CN", "US", "UNKNOWN"]
    assert doc["previous"] is None and doc["deltas"] == {}
    by_author = current_share(db, by="author", now=NOW)
    assert list(by_author["shares"])[0] == "deepseek"
    assert "(no author)" in by_author["shares"]  # the real slug without an author
    assert current_share(db, period="day", now=NOW) is None


def test_a_refetch_of_the_same_window_replaces_it_on_read_but_both_are_kept(db):
    payload = {
        "data": [
            {
                "date": "2026-08-21",
                "model_permaslug": "qwen/q",
                "variant": "standard",
                "total_prompt_tokens": 10,
                "total_completion_tokens": 0,
            }
        ]
    }
    store(
        db, parse_rankings_models(payload, fetched_at=datetime(2026, 8, 22, 1, tzinfo=UTC)), payload
    )
    payload["data"].append(
        {
            "date": "2026-08-21",
            "model_permaslug": "openai/g",
            "variant": "standard",
            "total_prompt_tokens": 30,
            "total_completion_tokens": 0,
        }
    )
    store(
        db, parse_rankings_models(payload, fetched_at=datetime(2026, 8, 22, 7, tzinfo=UTC)), payload
    )
    doc = current_share(db, now=NOW)
    assert doc["shares"] == {"US": 0.75, "CN": 0.25} and doc["as_of"] == "2026-08-22T07:00:00Z"
    assert db.execute("SELECT COUNT(*) FROM token_usage").fetchone()[0] == 3


def test_daily_rows_make_iso_weeks_with_deltas_and_the_unfinished_week_is_left_out(db):
    week1 = {f"2026-08-{d:02d}": {"qwen/q": 60, "openai/g": 40} for d in range(10, 17)}
    week2 = {f"2026-08-{d:02d}": {"qwen/q": 50, "openai/g": 50} for d in range(17, 24)}
    partial = {"2026-08-24": {"qwen/q": 10, "openai/g": 90}}
    store_daily(db, week1 | week2 | partial, as_of="2026-08-25T02:00:00Z")
    doc = current_share(db, now=NOW)
    assert doc["source"] == "rankings-daily" and doc["in_progress"] is False
    assert doc["period"] == {"start": "2026-08-17T00:00:00Z", "end": "2026-08-24T00:00:00Z"}
    assert doc["shares"] == {"CN": 0.5, "US": 0.5}
    assert doc["previous"]["period"] == {
        "start": "2026-08-10T00:00:00Z",
        "end": "2026-08-17T00:00:00Z",
    }
    assert doc["deltas"] == {"CN": -10.0, "US": 10.0}
    day = current_share(db, period="day", now=NOW)
    assert day["period"]["start"] == "2026-08-24T00:00:00Z" and day["shares"]["US"] == 0.9
    assert day["deltas"] == {"US": 40.0, "CN": -40.0}


def token_row(**fields) -> TokenRow:
    """A usage row as the store reads it; fields a test does not care about get dull values."""
    dull = {
        "snapshot_id": 1,
        "source": "rankings-models",
        "granularity": "week",
        "window_start": "2026-08-10T00:00:00Z",
        "window_end": "2026-08-17T00:00:00Z",
        "model": "m",
        "author": "a",
        "country": "US",
        "prompt_tokens": None,
        "completion_tokens": None,
        "total_tokens": 1,
        "as_of": "2026-08-20T00:00:00Z",
    }
    return TokenRow(**(dull | fields))


def test_only_an_unfinished_period_is_reported_but_flagged():
    rows = [
        token_row(
            source="market-share",
            granularity="week",
            window_start="2026-08-31T00:00:00Z",
            window_end="2026-09-07T00:00:00Z",
            as_of="2026-09-02T00:00:00Z",
            model="qwen/*",
            author="qwen",
            country="CN",
            total_tokens=5,
        )
    ]
    current, previous = select_periods(build_periods(rows, "week"), now=NOW)
    assert current.in_progress and previous is None


def test_preferred_source_wins_a_tie():
    # The same seven days as an ISO week (market-share) and as a rolling window: the week is
    # preferred, as the Datasette weekly view prefers it (sources.SOURCE_PREFERENCE).
    periods = build_periods(
        [token_row(source="market-share"), token_row(source="rankings-models")], "week"
    )
    assert select_periods(periods, now=NOW)[0].source == "market-share"
    periods = build_periods(
        [token_row(source="rankings-models")]
        + [
            token_row(
                source="rankings-daily",
                granularity="day",
                window_start=f"2026-08-{d}T00:00:00Z",
                window_end=f"2026-08-{d + 1}T00:00:00Z",
            )
            for d in range(10, 17)
        ],
        "week",
    )
    assert select_periods(periods, now=NOW)[0].source == "rankings-daily"


def test_share_maths_is_plain():
    rows = [
        token_row(country="CN", author="", model="x", total_tokens=3),
        token_row(country="US", author="openai", model="y", total_tokens=1),
        token_row(country="FR", author="mistralai", model="z", total_tokens=0),
    ]
    assert shares_by(rows, "country") == (4, {"CN": 0.75, "US": 0.25})
    assert shares_by(rows, "author")[1] == {"(no author)": 0.75, "openai": 0.25}
    assert shares_by([], "model") == (0, {})
    assert deltas({"CN": 0.6}, {"CN": 0.5, "US": 0.5}) == {"US": -50.0, "CN": 10.0}
    assert Period("s", "week", "a", "b", "c", ()).total == 0


def test_chart_is_a_png(db, tmp_path):
    store_real(db, "2026-07-12", datetime(2026, 7, 12, 2, tzinfo=UTC))
    store_real(db, "2026-08-22", datetime(2026, 8, 22, 2, tzinfo=UTC))
    out = render_share_chart(db, tmp_path / "charts" / "share.png", by="author", now=NOW)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


@pytest.fixture
def cli_env(tmp_path, db_path):
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\n", encoding="utf-8")
    return {"TOKENTIDE_CONFIG": str(config), "TOKENTIDE_DB": str(db_path)}


def test_share_command_json_text_and_chart(db, cli_env, tmp_path):
    store_real(db, "2026-08-22", datetime(2026, 8, 22, 2, tzinfo=UTC))
    runner = CliRunner()
    result = runner.invoke(cli, ["share", "--json"], env=cli_env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"source", "as_of", "period", "total_tokens", "shares", "citation"} <= set(doc)
    text = runner.invoke(
        cli,
        ["share", "--by", "model", "--top", "3", "--chart", str(tmp_path / "m.png")],
        env=cli_env,
    )
    assert text.exit_code == 0, text.output
    assert "deepseek/deepseek-v4-flash" in text.stdout and "more (use --json)" in text.stdout
    assert text.stdout.rstrip().endswith("as of 2026-08-22T02:00:00Z")
    assert (tmp_path / "m.png").exists()


def test_share_command_without_data_says_what_to_do(cli_env):
    result = CliRunner().invoke(cli, ["share"], env=cli_env)
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no token data yet: run `tokentide poll-tokens` first"


def test_poll_tokens_command_reports_a_bad_key_in_one_line(cli_env, server):
    from .or_server import DAILY, Canned

    server.set(DAILY, Canned(401, b"{}", {"Content-Type": "application/json"}))
    env = cli_env | {"TOKENTIDE_OPENROUTER_URL": server.url, "OPENROUTER_API_KEY": "sk-or-nope"}
    result = CliRunner().invoke(cli, ["poll-tokens"], env=env)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "OPENROUTER_API_KEY" in lines[0] and "sk-or-nope" not in lines[0]


def test_as_of_is_iso(db):
    store_real(db, "2026-07-12", datetime(2026, 7, 12, 2, tzinfo=UTC))
    assert current_share(db, now=NOW)["as_of"] == to_iso(datetime(2026, 7, 12, 2, tzinfo=UTC))
