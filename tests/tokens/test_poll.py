"""poll_tokens against the local OpenRouter stand-in: sources, retries and every bad answer.

Each failure must give one clear line and leave the archive exactly as it was.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from bot.errors import OpenRouterError, StoreError
from bot.store.db import transaction
from bot.tokens.client import OpenRouterAuthError, make_api_client
from bot.tokens.poll import poll_tokens
from bot.tokens.report import current_share

from .conftest import make_settings
from .or_server import (
    DAILY,
    MARKET,
    MODEL_LIST,
    MODELS,
    Canned,
    json_response,
    market_share_payload,
    real_models_payload,
)

NOW = datetime(2026, 8, 22, 2, 0, tzinfo=UTC)
HTML = Canned(
    200, b"<!DOCTYPE html><html><body>Just a moment...</body></html>", {"Content-Type": "text/html"}
)


async def poll(db, settings, sleep, now=NOW):
    async with httpx.AsyncClient() as http:
        return await poll_tokens(db, settings, http, now=now, sleep=sleep)


def archive_state(db) -> tuple:
    snaps = db.execute("SELECT id, content_hash FROM token_snapshots ORDER BY id").fetchall()
    usage = db.execute("SELECT COUNT(*), SUM(total_tokens) FROM token_usage").fetchone()
    return tuple(snaps), tuple(usage)


@pytest.fixture
async def primed(db, server, settings, sleep):
    """An archive already holding the real 2026-08-22 snapshot: the 'last good' one."""
    server.set(MODELS, json_response(real_models_payload("2026-08-22")))
    await poll(db, settings, sleep)
    return archive_state(db)


async def test_real_payload_is_stored_once(db, server, settings, sleep):
    server.set(MODELS, json_response(real_models_payload("2026-08-22")))
    first = await poll(db, settings, sleep)
    assert first["source"] == "rankings-models" and first["stored"] and first["rows"] == 535
    again = await poll(db, settings, sleep, now=datetime(2026, 8, 22, 8, tzinfo=UTC))
    assert again["stored"] is False and again["snapshot_id"] == first["snapshot_id"]
    assert db.execute("SELECT COUNT(*) FROM token_snapshots").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM token_usage").fetchone()[0] == 535
    snap = db.execute("SELECT payload, as_of, granularity FROM token_snapshots").fetchone()
    assert snap[0].startswith('{"data"') and snap[1] == "2026-08-22T02:00:00Z" and snap[2] == "week"
    doc = current_share(db, now=NOW)
    assert round(doc["shares"]["CN"], 3) == 0.579 and round(doc["shares"]["US"], 3) == 0.383


@pytest.mark.parametrize(
    "answer, words",
    [
        (Canned(500, b"oops"), "HTTP 500 from OpenRouter after 3 tries"),
        (HTML, "got HTML instead of JSON"),
        (Canned(200, b'{"data": [', {"Content-Type": "application/json"}), "not valid JSON"),
        (json_response({"data": []}), "empty 'data'"),
        (json_response({"models": []}), "unexpected response shape"),
        (
            json_response(
                {
                    "data": [
                        {
                            "model_permaslug": "a/b",
                            "date": "2026-08-22",
                            "total_prompt_tokens": -4,
                            "total_completion_tokens": 1,
                        }
                    ]
                }
            ),
            "no usable rows",
        ),
        (Canned(403, b"denied"), "keyless endpoint refused us; set OPENROUTER_API_KEY"),
        (Canned(404, b"gone"), "unexpected HTTP 404"),
    ],
)
async def test_bad_answers_keep_the_last_good_snapshot(
    db, server, settings, sleep, primed, answer, words
):
    server.set(MODELS, answer)
    server.set(MARKET, answer)
    with pytest.raises(OpenRouterError, match=words) as err:
        await poll(db, settings, sleep)
    assert "no OpenRouter source worked" in str(err.value) and "\n" not in str(err.value)
    assert archive_state(db) == primed
    assert round(current_share(db, now=NOW)["shares"]["CN"], 3) == 0.579


async def test_server_errors_are_retried_with_backoff(db, server, settings, sleep):
    server.set(MODELS, Canned(502), Canned(503), json_response(real_models_payload("2026-07-12")))
    result = await poll(db, settings, sleep)
    assert result["stored"] and server.hits(MODELS) == 3
    assert sleep.waits == [5.0, 10.0]  # openrouter.retry_backoff_s, doubled


async def test_429_honours_retry_after_within_the_limit(db, server, sleep):
    settings = make_settings(server.url, openrouter={"retry_after_max_s": 30})
    server.set(
        MODELS,
        Canned(429, b"", {"Retry-After": "17"}),
        json_response(real_models_payload("2026-07-12")),
    )
    result = await poll(db, settings, sleep)
    assert result["stored"] and sleep.waits == [17.0]


async def test_429_asking_too_long_gives_up_cleanly(db, server, sleep, primed):
    settings = make_settings(server.url, openrouter={"retry_after_max_s": 30})
    server.set(MODELS, Canned(429, b"", {"Retry-After": "3600"}))
    server.set(MARKET, Canned(429, b"", {"Retry-After": "3600"}))
    with pytest.raises(OpenRouterError, match=r"rate limited \(HTTP 429, Retry-After 3600s"):
        await poll(db, settings, sleep)
    assert sleep.waits == [] and archive_state(db) == primed


async def test_timeouts_are_retried_then_reported(db, server, sleep, primed):
    settings = make_settings(server.url, openrouter={"timeout_s": 0.2, "max_retries": 1})
    slow = Canned(200, b"{}", {"Content-Type": "application/json"}, delay_s=1.0)
    server.set(MODELS, slow)
    server.set(MARKET, slow)
    before = server.hits(MODELS)
    with pytest.raises(OpenRouterError, match=r"no answer within openrouter.timeout_s=0.2s"):
        await poll(db, settings, sleep)
    assert server.hits(MODELS) - before == 2 and archive_state(db) == primed


async def test_unreachable_server_is_a_clear_error(db, sleep):
    settings = make_settings("http://127.0.0.1:9", openrouter={"max_retries": 0})
    with pytest.raises(OpenRouterError, match="cannot connect"):
        await poll(db, settings, sleep)


async def test_falls_back_to_market_share(db, server, settings, sleep):
    server.set(MODELS, HTML)
    server.set(MARKET, json_response(market_share_payload()))
    result = await poll(db, settings, sleep, now=datetime(2026, 9, 2, 12, tzinfo=UTC))
    assert result["source"] == "market-share" and len(result["errors"]) == 1
    doc = current_share(db, by="author", now=datetime(2026, 9, 2, 12, tzinfo=UTC))
    # The week from 2026-08-31 is still in progress, so the latest complete one is reported.
    assert doc["period"] == {"start": "2026-08-24T00:00:00Z", "end": "2026-08-31T00:00:00Z"}
    assert doc["in_progress"] is False and "others" in doc["shares"]
    assert doc["previous"]["period"]["end"] == "2026-08-24T00:00:00Z"


def daily_payload(days: dict[str, dict[str, str]], as_of="2026-08-22T02:00:00Z") -> dict:
    data = [
        {"date": day, "model_permaslug": slug, "total_tokens": tokens}
        for day, models in days.items()
        for slug, tokens in models.items()
    ]
    return {"data": data, "meta": {"as_of": as_of, "version": "v1"}}


async def test_data_api_is_first_when_a_key_is_set(db, server, sleep):
    settings = make_settings(server.url, key="sk-or-test")
    server.set(
        DAILY, json_response(daily_payload({"2026-08-21": {"qwen/q": "300", "other": "100"}}))
    )
    result = await poll(db, settings, sleep)
    assert result["source"] == "rankings-daily" and server.hits(MODELS) == 0
    assert server.requests[0]["authorization"] == "Bearer sk-or-test"
    # The last 14 complete days (openrouter.daily_days), never the unfinished today.
    assert server.requests[0]["query"] == {"start_date": "2026-08-08", "end_date": "2026-08-21"}
    doc = current_share(db, period="day", now=NOW)
    assert doc["shares"] == {"CN": 0.75, "UNKNOWN": 0.25}


async def test_a_rejected_key_stops_with_one_line_naming_it(db, server, sleep, primed):
    settings = make_settings(server.url, key="sk-or-bad")
    server.set(DAILY, Canned(401, b'{"error": "bad key"}', {"Content-Type": "application/json"}))
    before = server.hits(MODELS)
    with pytest.raises(OpenRouterAuthError, match="rejected OPENROUTER_API_KEY") as err:
        await poll(db, settings, sleep)
    assert "sk-or-bad" not in str(err.value)
    assert server.hits(MODELS) == before and archive_state(db) == primed


async def test_data_api_outage_falls_back_to_keyless(db, server, sleep):
    settings = make_settings(server.url, key="sk-or-test", openrouter={"max_retries": 0})
    server.set(DAILY, Canned(503))
    server.set(MODELS, json_response(real_models_payload("2026-07-12")))
    result = await poll(db, settings, sleep)
    assert result["source"] == "rankings-models" and "HTTP 503" in result["errors"][0]


async def test_an_oversized_answer_is_refused_without_reading_it_all(db, server, sleep):
    settings = make_settings(server.url, openrouter={"max_bytes": 50_000})
    server.set(MODELS, json_response(real_models_payload("2026-08-22")))  # ~150 kB
    server.set(MARKET, json_response(real_models_payload("2026-08-22")))
    with pytest.raises(OpenRouterError, match="larger than openrouter.max_bytes=50000"):
        await poll(db, settings, sleep)
    assert db.execute("SELECT COUNT(*) FROM token_snapshots").fetchone()[0] == 0


async def test_a_server_dripping_bytes_cannot_hold_a_poll(db, server, sleep):
    settings = make_settings(server.url, openrouter={"timeout_s": 0.3, "max_retries": 0})
    body = json_response(real_models_payload("2026-07-12")).body
    drip = Canned(200, body, {"Content-Type": "application/json"}, drip_s=0.05)
    server.set(MODELS, drip)
    server.set(MARKET, drip)
    with pytest.raises(OpenRouterError, match="no answer within openrouter.timeout_s=0.3s"):
        await poll(db, settings, sleep)


async def test_the_same_data_with_a_new_meta_is_stored_once(db, server, sleep):
    settings = make_settings(server.url, key="sk-or-test")
    days = {"2026-08-21": {"qwen/q": "300", "other": "100"}}
    server.set(DAILY, json_response(daily_payload(days, as_of="2026-08-22T02:00:00Z")))
    first = await poll(db, settings, sleep)
    server.set(DAILY, json_response(daily_payload(days, as_of="2026-08-22T08:00:00Z")))
    again = await poll(db, settings, sleep)
    assert first["stored"] and not again["stored"]
    assert db.execute("SELECT COUNT(*) FROM token_snapshots").fetchone()[0] == 1


def orphan_snapshots(db) -> int:
    """Snapshots stored without a single usage row: they would block a re-poll for good."""
    return db.execute(
        "SELECT COUNT(*) FROM token_snapshots s"
        " WHERE NOT EXISTS (SELECT 1 FROM token_usage u WHERE u.snapshot_id = s.id)"
    ).fetchone()[0]


async def test_a_failure_among_the_usage_rows_stores_nothing_and_a_re_poll_stores_it(
    db, server, settings, sleep, primed
):
    server.set(MODELS, json_response(real_models_payload("2026-07-12")))
    # The 100th usage row of the new snapshot (of 429) is refused.
    db.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON token_usage"
        " WHEN (SELECT COUNT(*) FROM token_usage) >= 535 + 99"
        " BEGIN SELECT RAISE(ABORT, 'injected'); END"
    )
    with pytest.raises(StoreError, match="injected") as err:
        await poll(db, settings, sleep)
    assert "nothing of it was stored" in str(err.value) and "\n" not in str(err.value)
    assert archive_state(db) == primed and orphan_snapshots(db) == 0
    db.execute("DROP TRIGGER boom")
    again = await poll(db, settings, sleep)
    assert again["stored"] is True and again["rows"] == 429
    assert db.execute("SELECT COUNT(*) FROM token_usage").fetchone()[0] == 535 + 429


def pages_for_the_snapshot_row(db, body: str) -> int:
    """How many pages the token_snapshots row alone takes (measured, then rolled back)."""
    before = db.execute("PRAGMA page_count").fetchone()[0]
    with pytest.raises(RuntimeError), transaction(db):
        db.execute(
            "INSERT INTO token_snapshots (source, fetched_at, content_hash, payload)"
            " VALUES ('measure', '', '', ?)",
            [body],
        )
        grown = db.execute("PRAGMA page_count").fetchone()[0] - before
        raise RuntimeError("roll back")
    assert db.execute("PRAGMA page_count").fetchone()[0] == before
    return grown


async def test_a_full_disk_among_the_usage_rows_stores_nothing_and_a_re_poll_stores_it(
    db, server, settings, sleep, primed
):
    payload = real_models_payload("2026-07-12")
    server.set(MODELS, json_response(payload))
    # Room for the snapshot row and a page more: the disk fills while its rows go in.
    room = pages_for_the_snapshot_row(db, json.dumps(payload)) + 1
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + room}")
    with pytest.raises(StoreError, match="full"):
        await poll(db, settings, sleep)
    assert archive_state(db) == primed and orphan_snapshots(db) == 0
    db.execute("PRAGMA max_page_count = 1073741823")
    again = await poll(db, settings, sleep)
    assert again["stored"] is True and again["rows"] == 429
    assert db.execute("SELECT COUNT(*) FROM token_usage").fetchone()[0] == 535 + 429


async def test_polls_use_the_client_they_are_given(db, server, settings, sleep):
    """The composition root builds the OpenRouter client once (`make_api_client`): it asks for
    JSON and follows a moved endpoint; a poll adds nothing of its own."""
    server.set(MODELS, Canned(308, b"", {"Location": "/moved/rankings"}))
    server.set("/moved/rankings", json_response(real_models_payload("2026-08-22")))
    async with make_api_client(settings) as client:
        result = await poll_tokens(db, settings, client, now=NOW, sleep=sleep)
    assert result["stored"] and result["rows"] == 535
    assert [r["path"] for r in server.requests] == [MODELS, "/moved/rankings", MODEL_LIST]
    assert {r["accept"] for r in server.requests} == {"application/json"}
