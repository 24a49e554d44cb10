"""Prices end to end: the model list polled with the rankings, stored when it changes, joined to
the usage rows of the period `share` uses, and never applied to periods before it was fetched.

Model lists are built from the captured entry's keys with invented prices (test_prices.py);
they say nothing about real prices.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from bot.clock import utcnow
from bot.errors import TokentideError
from bot.store.tokens import latest_windows, rejections, window_rows
from bot.tokens.changes import detect_changes
from bot.tokens.chart import render_price_chart
from bot.tokens.poll import poll_tokens
from bot.tokens.price_report import (
    PricedPeriods,
    current_prices,
    open_weights,
    price_series,
    unpriced_reason,
)
from bot.tokens.shares import build_periods

from .or_server import MODEL_LIST, MODELS, Canned, json_response, real_models_payload
from .test_end_to_end import tokentide
from .test_prices import body, catalogue, item

NOW = datetime(2026, 8, 22, 2, 0, tzinfo=UTC)


def models_row(day: str, slug: str, prompt: int, completion: int, variant="standard") -> dict:
    return {
        "date": day,
        "model_permaslug": slug,
        "variant": variant,
        "total_prompt_tokens": prompt,
        "total_completion_tokens": completion,
        "count": 1,
    }


def week_of_rankings(day: str) -> dict:
    """Seven models over the rolling week ending on `day` (see the hand computation below)."""
    return {
        "data": [
            models_row(day, "deepseek/deepseek-v4-20260301", 8_000_000, 1_000_000),
            models_row(day, "deepseek/deepseek-v4-20260301", 2_000_000, 500_000, "free"),
            models_row(day, "qwen/qwen3-max-20260101", 3_000_000, 1_000_000),
            models_row(day, "moonshotai/kimi-k9-20260801", 1_000_000, 500_000),  # unlisted
            models_row(day, "openai/gpt-5-20250807", 4_000_000, 1_000_000),
            models_row(day, "anthropic/claude-sonnet-5", 2_000_000, 500_000),
            models_row(day, "openai/gpt-oss-120b", 6_000_000, 2_000_000),
        ]
    }


def model_list(items=None) -> Canned:
    return Canned(200, body(items or catalogue()), {"Content-Type": "application/json"})


def test_done_when_prices_json_matches_a_hand_computation(server, tmp_path):
    """poll-tokens against the stand-in, then `prices --json` by country.

    CN, in USD (tokens in millions × $ per million):
      deepseek-v4 standard   8 × 0.30 + 1 × 1.20 = 3.60    9.0M tokens
      deepseek-v4 :free      2.5M tokens at $0   = 0.00    2.5M  (its listing is $0 too,
                             but `free` is $0 whatever the list says)
      qwen3-max              3 × 1.20 + 1 × 6.00 = 9.60    4.0M
      kimi-k9                not listed: left out          1.5M
      → 13.20 / 15.5 = $0.8516 per M; coverage 15.5 / 17 = 0.9118
    US:
      gpt-5                  4 × 1.25 + 1 × 10   = 15.00   5.0M
      claude-sonnet-5        2 × 3 + 0.5 × 15    = 13.50   2.5M
      gpt-oss-120b           6 × 0.05 + 2 × 0.25 =  0.80   8.0M
      → 29.30 / 15.5 = $1.8903 per M; coverage 1
    Gap: 1.8903 / 0.8516 = 2.22×. Had the :free tokens been priced like the standard ones,
    CN would be 14.20 / 15.5 = $0.9161; had they been left out, 13.20 / 13 = $1.0154.
    """
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    server.set(MODELS, json_response(week_of_rankings(yesterday)))
    server.set(MODEL_LIST, model_list())
    polled = tokentide(["poll-tokens"], tmp_path=tmp_path, url=server.url)
    assert polled.returncode == 0, polled.stderr
    assert "prices: snapshot 1 stored, 7 models" in polled.stdout

    shown = tokentide(["prices", "--json"], tmp_path=tmp_path, url=server.url)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert list(doc)[:5] == ["period", "by", "prices", "coverage", "as_of"]
    assert doc["by"] == "country" and doc["source"] == "rankings-models"
    end = (date.fromisoformat(yesterday) + timedelta(days=1)).isoformat()
    assert doc["period"]["end"] == f"{end}T00:00:00Z"
    assert doc["prices"]["CN"] == pytest.approx(13.20 / 15.5, rel=0.01)
    assert doc["prices"]["US"] == pytest.approx(29.30 / 15.5, rel=0.01)
    assert doc["prices"]["CN"] != pytest.approx(14.20 / 15.5, rel=0.01)  # :free is not billed
    assert doc["prices"]["CN"] != pytest.approx(13.20 / 13, rel=0.01)  # nor left out
    assert doc["coverage"] == pytest.approx(31 / 32.5, abs=1e-4)
    assert doc["coverage_by_group"]["CN"] == pytest.approx(15.5 / 17, abs=1e-4)
    assert doc["unpriced"] == [{"model": "moonshotai/kimi-k9", "tokens": 1_500_000}]
    assert doc["gap"] == {"between": ["CN", "US"], "cheaper": "CN", "ratio": 2.22}
    assert isinstance(doc["prices"]["CN"], float) and isinstance(doc["coverage"], float)
    assert doc["previous"] is None and doc["note"]
    assert doc["as_of"] == doc["prices_since"]
    assert doc["citation"].startswith("Source: OpenRouter (openrouter.ai/rankings, tokens as of ")
    assert f"prices as of {doc['as_of']}" in doc["citation"]

    by_model = json.loads(
        tokentide(["prices", "--by", "model", "--json"], tmp_path=tmp_path, url=server.url).stdout
    )
    # deepseek: 3.60 over 11.5M, its :free 2.5M at $0 included
    assert by_model["prices"]["deepseek/deepseek-v4"] == pytest.approx(3.60 / 11.5, rel=0.01)
    assert "moonshotai/kimi-k9" not in by_model["prices"]  # unlisted: left out
    assert "meta-llama/llama-5-70b" not in by_model["prices"]  # listed, no rankings row

    text = tokentide(
        ["prices", "--chart", str(tmp_path / "p.png")], tmp_path=tmp_path, url=server.url
    )
    assert text.returncode == 0, text.stderr
    assert "Price gap: US tokens cost 2.2x CN's" in text.stdout
    assert "prices as of" in text.stdout and (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"

    share = json.loads(tokentide(["share", "--json"], tmp_path=tmp_path, url=server.url).stdout)
    # open weights: deepseek 11.5M of CN's 17M (qwen closed, kimi unknown); gpt-oss 8M of 15.5M
    assert share["open_weights"] == {
        "CN": pytest.approx(11.5 / 17, abs=1e-6),
        "US": pytest.approx(8 / 15.5, abs=1e-6),
    }
    assert share["shares"]["CN"] == pytest.approx(17 / 32.5, abs=1e-6)  # variants summed


async def poll(db, settings, sleep, now=NOW):
    async with httpx.AsyncClient() as http:
        return await poll_tokens(db, settings, http, now=now, sleep=sleep)


def price_state(db) -> tuple:
    snaps = db.execute("SELECT id, content_hash FROM price_snapshots ORDER BY id").fetchall()
    rows = db.execute("SELECT COUNT(*) FROM model_prices").fetchone()[0]
    return tuple(snaps), rows


async def test_a_price_list_is_stored_once_until_it_changes(db, server, settings, sleep):
    server.set(MODELS, json_response(week_of_rankings("2026-08-21")))
    server.set(MODEL_LIST, model_list())
    first = await poll(db, settings, sleep)
    assert first["prices"] == {
        "snapshot_id": 1,
        "stored": True,
        "models": 7,
        "fetched_at": "2026-08-22T02:00:00Z",
    }
    again = await poll(db, settings, sleep, now=NOW + timedelta(hours=6))
    assert again["prices"]["stored"] is False and again["prices"]["snapshot_id"] == 1
    assert db.execute("SELECT last_seen_at FROM price_snapshots").fetchone()[0] == (
        "2026-08-22T08:00:00Z"
    )
    cheaper = catalogue()
    cheaper[4]["pricing"]["completion"] = "0.000012"  # claude-sonnet-5: $15 → $12 per M
    server.set(MODEL_LIST, model_list(cheaper))
    third = await poll(db, settings, sleep, now=NOW + timedelta(hours=12))
    assert third["prices"]["stored"] is True and third["prices"]["snapshot_id"] == 2
    assert db.execute("SELECT COUNT(*) FROM model_prices").fetchone()[0] == 14
    # Back to the first prices: a change against the newest list, so stored again.
    server.set(MODEL_LIST, model_list())
    fourth = await poll(db, settings, sleep, now=NOW + timedelta(hours=18))
    assert fourth["prices"]["snapshot_id"] == 3
    assert [r["path"] for r in server.requests].count(MODEL_LIST) == 4  # one request a poll


def without_pricing():
    entry = item("a/no-price", "0", "0")
    del entry["pricing"]
    return entry


BAD_LISTS = {
    "prices as text": (model_list([item("a/b", "cheap", "0.000001")]), "is not a number"),
    "negative price": (model_list([item("a/b", "-0.000001", "0")]), "is negative"),
    "absurd price": (model_list([item("a/b", "0.000001", "0.002")]), "above the $1,000"),
    "missing pricing": (model_list([item("a/c", "0", "0"), without_pricing()]), "no 'pricing'"),
    "duplicate ids": (
        model_list([item("a/b", "0", "0"), item("a/b", "0", "0"), item("a/c", "0", "0")]),
        "duplicate id 'a/b'",
    ),
    "empty list": (json_response({"data": []}), "'data' is an empty list"),
    "HTML": (
        Canned(200, b"<!DOCTYPE html><title>Just a moment</title>", {"Content-Type": "text/html"}),
        "got an HTML page instead of JSON",
    ),
    "truncated": (
        Canned(200, body(catalogue())[:-50], {"Content-Type": "application/json"}),
        "not valid JSON",
    ),
    "100k-deep": (
        Canned(200, b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        "nested too deeply",
    ),
}


@pytest.mark.parametrize("answer, words", BAD_LISTS.values(), ids=BAD_LISTS.keys())
async def test_a_bad_price_list_keeps_the_last_good_one_and_alerts_nothing(
    db, server, settings, sleep, answer, words
):
    server.set(MODELS, json_response(week_of_rankings("2026-08-21")))
    server.set(MODEL_LIST, model_list())
    await poll(db, settings, sleep)
    detect_changes(db, settings, now=NOW)
    before = price_state(db), current_prices(db, now=NOW)

    server.set(MODEL_LIST, answer)
    later = NOW + timedelta(hours=6)
    result = await poll(db, settings, sleep, now=later)
    assert result["stored"] is False  # the rankings poll itself went on
    error = result["prices"]["error"]
    assert words in error and "\n" not in error
    assert error.startswith("OpenRouter /api/v1/models: price list rejected: ")
    assert error.endswith("keeping the last stored prices")
    assert (price_state(db), current_prices(db, now=later)) == before
    assert detect_changes(db, settings, now=later) == []
    assert db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 0
    (refused,) = rejections(db)
    assert (refused.source, refused.verdict, refused.reason) == ("models", "rejected", error)


async def test_an_unreachable_price_list_is_reported_not_recorded(db, server, settings, sleep):
    server.set(MODELS, json_response(week_of_rankings("2026-08-21")))
    server.set(MODEL_LIST, Canned(503))
    result = await poll(db, settings, sleep)
    assert (
        result["stored"] and "HTTP 503 from OpenRouter after 3 tries" in result["prices"]["error"]
    )
    assert sleep.waits == [5.0, 10.0]  # retried like the rankings
    assert rejections(db) == []  # nothing came back to refuse
    with pytest.raises(
        TokentideError, match="no price list stored yet: run `tokentide poll-tokens`"
    ):
        current_prices(db, now=NOW)


async def test_price_poll_command_warns_but_keeps_the_rankings(server, tmp_path):
    server.set(MODELS, json_response(real_models_payload("2026-08-22")))
    server.set(MODEL_LIST, Canned(200, b"<html>", {"Content-Type": "text/html"}))
    done = tokentide(["poll-tokens"], tmp_path=tmp_path, url=server.url)
    assert done.returncode == 0 and "snapshot 1 stored" in done.stdout
    assert "warning: prices not updated: OpenRouter /api/v1/models: price list rejected" in (
        done.stderr
    )
    refused = tokentide(["prices"], tmp_path=tmp_path, url=server.url)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "error: prices: no price list stored yet" in refused.stderr


# --- which list prices which period ------------------------------------------------------------


async def test_prices_are_never_applied_to_periods_before_the_first_list(
    db, server, settings, sleep
):
    # A week of rankings fetched on 08-15 (no model list then), the next week on 08-22 with one.
    server.set(MODELS, json_response(week_of_rankings("2026-08-14")))
    server.set(MODEL_LIST, Canned(404))
    await poll(db, settings, sleep, now=datetime(2026, 8, 15, 2, tzinfo=UTC))
    server.set(MODELS, json_response(week_of_rankings("2026-08-21")))
    server.set(MODEL_LIST, model_list())
    await poll(db, settings, sleep)
    doc = current_prices(db, now=NOW)
    assert doc["period"] == {"start": "2026-08-15T00:00:00Z", "end": "2026-08-22T00:00:00Z"}
    assert doc["prices"]["CN"] == pytest.approx(0.8516, rel=0.01)
    assert doc["previous"] is None and doc["change"] == {}
    assert doc["note"] == (
        "previous period not priced: no price list covers 2026-08-08..2026-08-15: prices exist "
        "only from the first price snapshot (2026-08-22T02:00:00Z) onwards and are never "
        "applied to earlier periods"
    )
    # The week before, asked for directly: no prices, and it says why.
    (older,) = [
        replace(p, rows=tuple(window_rows(db, p.rows)))
        for p in build_periods(latest_windows(db), "week")
        if p.end == "2026-08-15T00:00:00Z"
    ]
    assert PricedPeriods(db).report(older, "country") is None
    assert open_weights(db, older, "country") is None  # no list covers that week either
    assert "never applied to earlier periods" in unpriced_reason(db, older)


async def test_each_period_is_priced_by_the_list_of_its_time(db, server, settings, sleep):
    server.set(MODELS, json_response(week_of_rankings("2026-08-14")))
    server.set(MODEL_LIST, model_list())
    await poll(db, settings, sleep, now=datetime(2026, 8, 15, 2, tzinfo=UTC))
    dearer = catalogue()
    dearer[0]["pricing"]["prompt"] = "0.0000006"  # deepseek-v4 prompt: $0.30 → $0.60 per M
    server.set(MODELS, json_response(week_of_rankings("2026-08-21")))
    server.set(MODEL_LIST, model_list(dearer))
    await poll(db, settings, sleep)
    doc = current_prices(db, now=NOW)
    # CN now: (8 × 0.60 + 1.20 + 9.60) / 15.5 = 15.60 / 15.5; before: 13.20 / 15.5
    assert doc["prices"]["CN"] == pytest.approx(15.60 / 15.5, rel=0.01)
    assert doc["previous"]["prices"]["CN"] == pytest.approx(13.20 / 15.5, rel=0.01)
    assert doc["change"]["CN"] == pytest.approx(2.40 / 15.5, abs=1e-3)
    assert doc["change"]["US"] == 0
    assert doc["previous"]["as_of"] == "2026-08-15T02:00:00Z"  # the list seen then
    assert doc["as_of"] == "2026-08-22T02:00:00Z"


async def test_a_list_not_seen_while_a_period_ran_does_not_price_it(db, server, settings, sleep):
    server.set(MODELS, json_response(week_of_rankings("2026-07-31")))
    server.set(MODEL_LIST, model_list())
    await poll(db, settings, sleep, now=datetime(2026, 8, 1, 2, tzinfo=UTC))
    # Three weeks of failing price polls, then a rankings week with no fresh list.
    server.set(MODELS, json_response(week_of_rankings("2026-08-21")))
    server.set(MODEL_LIST, Canned(404))
    await poll(db, settings, sleep)
    with pytest.raises(TokentideError, match="no price list was seen while 2026-08-15..2026-08-22"):
        current_prices(db, now=NOW)


async def test_rows_stored_before_variants_were_kept_are_not_priced(db, server, settings, sleep):
    server.set(MODELS, json_response(week_of_rankings("2026-08-21")))
    server.set(MODEL_LIST, model_list())
    await poll(db, settings, sleep)
    with db.conn:  # as an archive from before the variant column holds them
        db.execute("UPDATE token_usage SET variant = NULL WHERE model LIKE 'openai/%'")
    doc = current_prices(db, now=NOW)
    assert doc["prices"]["US"] == pytest.approx(13.50 / 2.5, rel=0.01)  # claude only
    assert doc["coverage_by_group"]["US"] == pytest.approx(2.5 / 15.5, abs=1e-4)


async def test_real_rankings_with_the_captured_kimi_entry(db, server, settings, sleep, tmp_path):
    """The real 543-row week against a list of the real Kimi entry plus invented ones."""
    kimi = json.loads(
        (__import__("pathlib").Path(__file__).parent.parent / "fixtures" / "openrouter"
         / "api-v1-models_single-model_kimi-k2-thinking.json").read_text(encoding="utf-8")
    )  # fmt: skip
    server.set(MODELS, json_response(real_models_payload("2026-08-22")))
    server.set(MODEL_LIST, model_list([kimi, *catalogue()]))
    await poll(db, settings, sleep)
    doc = current_prices(db, by="model", now=NOW)
    assert doc["prices"]["moonshotai/kimi-k2-thinking"] == pytest.approx(1.0894, rel=0.01)
    # Every :free row is priced at $0, listed or not: e.g. tencent/hy3 had 4.9T free tokens.
    free = db.execute(
        "SELECT COUNT(DISTINCT model) FROM token_usage WHERE variant = 'free'"
    ).fetchone()[0]
    assert free > 10 and 0 < doc["coverage"] < 0.2
    path = render_price_chart(db, tmp_path / "prices.png", now=NOW)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_prices_command_without_data_says_what_to_do(server, tmp_path):
    done = tokentide(["prices", "--json"], tmp_path=tmp_path, url=server.url)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == "error: no token data yet: run `tokentide poll-tokens` first"


async def test_the_chart_series_takes_non_overlapping_weeks(db, server, settings, sleep):
    server.set(MODEL_LIST, model_list())
    for day in ("2026-08-07", "2026-08-14", "2026-08-20", "2026-08-21"):
        server.set(MODELS, json_response(week_of_rankings(day)))
        fetched = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1, hours=2)
        await poll(db, settings, sleep, now=fetched)
    source, cite, points = price_series(db, now=NOW)
    # The rolling week to 08-21 overlaps the one to 08-22, which is newer: one point per week.
    assert [end for end, _, _ in points] == [
        "2026-08-08T00:00:00Z",
        "2026-08-15T00:00:00Z",
        "2026-08-22T00:00:00Z",
    ]
    assert {g["ratio"] for _, _, g in points} == {2.22}
    assert source == "rankings-models" and "prices as of 2026-08-22T02:00:00Z" in cite
