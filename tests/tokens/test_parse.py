"""Payload → rows, on the real rankings/models capture and on broken or odd inputs."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from bot.errors import OpenRouterError
from bot.tokens.parse import (
    model_key,
    parse_market_share,
    parse_rankings_daily,
    parse_rankings_models,
    tokens_value,
)

from .or_server import FIXTURES, market_share_payload, real_models_payload

FETCHED = datetime(2026, 8, 22, 1, 57, 33, tzinfo=UTC)


def row(slug, prompt, completion, *, day="2026-08-21", variant="standard", **extra):
    return {
        "date": day,
        "model_permaslug": slug,
        "variant": variant,
        "total_prompt_tokens": prompt,
        "total_completion_tokens": completion,
        **extra,
    }


def test_real_rankings_models_payload():
    parsed = parse_rankings_models(real_models_payload("2026-08-22"), fetched_at=FETCHED)
    assert parsed.source == "rankings-models" and parsed.granularity == "week"
    assert (parsed.window_start, parsed.window_end) == (
        "2026-08-15T00:00:00Z",
        "2026-08-22T00:00:00Z",
    )
    assert parsed.as_of == "2026-08-22T01:57:33Z"
    assert sum(r.total_tokens for r in parsed.rows) == 84_094_165_552_421
    # 543 raw rows: dated releases of one model collapse into one row per variant; 464 models.
    assert len(parsed.rows) == 535 and parsed.rows_read == 543
    assert len({r.model for r in parsed.rows}) == 464
    assert {r.variant for r in parsed.rows} == {"standard", "free", "batch", "thinking"}
    models = {r.model: r for r in parsed.rows if r.variant == "standard"}
    assert "deepseek/deepseek-v4-flash" in models
    assert not any(r.model.endswith("-20260731") or ":" in r.model for r in parsed.rows)
    # The real capture has one row with an empty slug (skipped) and one slug without an author.
    assert parsed.skipped == {"no model_permaslug": 1}
    assert parsed.no_author == 1 and models["text-embedding-3-large"].author == ""


def test_date_suffixes_are_summed_per_model_and_variant():
    payload = {
        "data": [
            row("tencent/hy3-20260706", 10, 1, variant="free"),
            row("tencent/hy3-20260706", 20, 2),
            row("tencent/hy3-20260801", 30, 3, variant="batch"),
            row("tencent/hy3-20260801", 40, 4, variant="Standard"),
            row("openai/gpt-4o-2024-05-13", 5, 5),
        ]
    }
    parsed = parse_rankings_models(payload, fetched_at=FETCHED)
    rows = {(r.model, r.variant): r for r in parsed.rows}
    assert sorted(rows) == [
        ("openai/gpt-4o-2024-05-13", "standard"),  # not a -20YYMMDD suffix
        ("tencent/hy3", "batch"),
        ("tencent/hy3", "free"),
        ("tencent/hy3", "standard"),
    ]
    hy3 = rows[("tencent/hy3", "standard")]
    assert (hy3.prompt_tokens, hy3.completion_tokens, hy3.total_tokens) == (60, 6, 66)
    assert rows[("tencent/hy3", "free")].total_tokens == 11
    # Shares still sum the variants per model.
    assert sum(r.total_tokens for r in parsed.rows if r.model == "tencent/hy3") == 110


@pytest.mark.parametrize(
    "slug, key",
    [
        ("anthropic/claude-3.5-sonnet-20241022", "anthropic/claude-3.5-sonnet"),
        ("tencent/hy3-20260706:free", "tencent/hy3"),
        ("~anthropic/claude-opus-latest", "anthropic/claude-opus-latest"),
        ("qwen/qwen3-235b-a22b-2507", "qwen/qwen3-235b-a22b-2507"),
    ],
)
def test_model_key(slug, key):
    assert model_key(slug) == key


@pytest.mark.parametrize(
    "value, expected",
    [
        (12, 12),
        ("12345678", 12345678),
        (" 42 ", 42),
        ("1e3", 1000),
        (7.0, 7),
        (0, 0),
        (-1, None),
        ("-5", None),
        ("12.5", None),
        (1.5, None),
        ("lots", None),
        ("NaN", None),
        (True, None),
        (None, None),
        ([1], None),
    ],
)
def test_token_counts(value, expected):
    assert tokens_value(value) == expected


@pytest.mark.parametrize(
    "payload, words",
    [
        ([], "unexpected response shape"),
        ({"rows": []}, "got keys rows"),
        ({"data": "nope"}, "unexpected response shape"),
        ({"data": []}, "empty 'data'"),
        ({"data": [row("a/b", -1, 0), "junk", row("", 1, 1)]}, "no usable rows"),
    ],
)
def test_broken_shapes_raise_a_clear_error(payload, words):
    with pytest.raises(OpenRouterError, match=words) as err:
        parse_rankings_models(payload, fetched_at=FETCHED)
    assert "last good snapshot" in str(err.value)


def test_bad_rows_are_skipped_and_counted_and_unknown_fields_ignored():
    payload = {
        "data": [
            row("deepseek/v4", 100, 10, surprise={"new": "field"}),
            row("deepseek/v4", 100, 10),  # exact duplicate
            row("openai/gpt", "200", "20"),  # decimal strings are fine
            row("openai/neg", -5, 1),
            row("openai/str", "many", 1),
            row("openai/nodate", 1, 1, day="yesterday"),
            {"model_permaslug": None},
            42,
        ],
        "meta": {"unexpected": True},
    }
    parsed = parse_rankings_models(payload, fetched_at=FETCHED)
    assert {r.model: r.total_tokens for r in parsed.rows} == {"deepseek/v4": 110, "openai/gpt": 220}
    assert parsed.skipped == {
        "duplicate": 1,
        "bad token count": 2,
        "bad date": 1,
        "no model_permaslug": 1,
        "not an object": 1,
    }


def test_rankings_daily_docs_example_shape():
    import json

    payload = json.loads((FIXTURES / "docs-example_NOT_REAL_rankings-daily.json").read_text())
    parsed = parse_rankings_daily(payload, fetched_at=FETCHED)
    assert parsed.granularity == "day" and parsed.as_of == "2026-05-12T02:00:00Z"
    assert (parsed.window_start, parsed.window_end) == (
        "2026-04-12T00:00:00Z",
        "2026-05-12T00:00:00Z",
    )
    rows = {r.model: r for r in parsed.rows}
    assert rows["anthropic/claude-3.5-sonnet"].total_tokens == 9876543
    assert rows["other"].author == "other"
    assert rows["other"].window_start == "2026-05-11T00:00:00Z"
    assert {r.variant for r in parsed.rows} == {None}  # the Data API does not split variants


def test_rankings_daily_bad_rows_and_missing_meta():
    payload = {
        "data": [
            {"date": "2026-05-10", "model_permaslug": "qwen/q", "total_tokens": "100"},
            {"date": "2026-05-10", "model_permaslug": "qwen/q", "total_tokens": "100"},
            {"date": "2026-05-10", "model_permaslug": "x-ai/g", "total_tokens": "-3"},
            {"date": "2026-05-11", "model_permaslug": "x-ai/g", "total_tokens": 50},
        ],
        "meta": "not a mapping",
    }
    parsed = parse_rankings_daily(copy.deepcopy(payload), fetched_at=FETCHED)
    assert parsed.as_of == "2026-08-22T01:57:33Z"  # no meta.as_of: the fetch time
    assert parsed.skipped == {"duplicate": 1, "bad token count": 1}
    assert (parsed.window_start, parsed.window_end) == (
        "2026-05-10T00:00:00Z",
        "2026-05-12T00:00:00Z",
    )


def test_market_share_rebuilt_from_the_dashboard_capture():
    parsed = parse_market_share(market_share_payload(), fetched_at=datetime(2026, 9, 2, tzinfo=UTC))
    weeks = {r.window_start for r in parsed.rows}
    assert len(weeks) == 52 and parsed.granularity == "week"
    assert parsed.window_end == "2026-09-07T00:00:00Z"  # last week (from 2026-08-31) in progress
    assert {r.author for r in parsed.rows} >= {"deepseek", "others", "anthropic"}


def test_market_share_rejects_non_monday_weeks_and_bad_values():
    payload = {
        "data": [
            {"x": "2026-08-17", "ys": {"DeepSeek": 10, "Others": "5", "openai": -1}},
            {"x": "2026-08-18", "ys": {"qwen": 3}},
            {"x": "2026-08-17", "ys": {"qwen": 3}},
            {"x": "2026-08-24"},
        ]
    }
    parsed = parse_market_share(payload, fetched_at=FETCHED)
    assert {(r.author, r.total_tokens) for r in parsed.rows} == {("deepseek", 10), ("others", 5)}
    assert parsed.skipped == {
        "bad author entry": 1,
        "x is not a Monday date": 1,
        "duplicate": 1,
        "not a {x, ys} object": 1,
    }


def test_absurd_counts_are_counted_apart_from_bad_ones():
    payload = {
        "data": [
            row("deepseek/v4", 2**64, 10),
            row("openai/gpt", 10**15, 0),  # the limit itself is allowed
            row("openai/neg", -5, 1),
        ]
    }
    parsed = parse_rankings_models(payload, fetched_at=FETCHED)
    assert parsed.skipped == {"token count above 10^15": 1, "bad token count": 1}
    assert parsed.rows_read == 3 and [r.model for r in parsed.rows] == ["openai/gpt"]
    daily = parse_rankings_daily(
        {
            "data": [
                {"date": "2026-05-10", "model_permaslug": "qwen/q", "total_tokens": str(2**64)},
                {"date": "2026-05-10", "model_permaslug": "x-ai/g", "total_tokens": "3"},
            ]
        },
        fetched_at=FETCHED,
    )
    assert daily.skipped == {"token count above 10^15": 1} and daily.rows_read == 2
    weekly = parse_market_share(
        {"data": [{"x": "2026-08-17", "ys": {"deepseek": 1e300, "openai": 5}}]},
        fetched_at=FETCHED,
    )
    assert weekly.skipped == {"token count above 10^15": 1} and weekly.rows_read == 2
