"""A rankings answer is checked as a whole before it is stored: corrupt payloads never alert.

Each attack is a payload a hostile or broken OpenRouter could send. Before these checks, the
negated payload stored zero-token rows and alerted "CN moved -62.3"; the one-row payload set CN
to 100% and alerted; a 2^64 count ended in an OverflowError traceback; 100k-deep JSON in a
RecursionError traceback. Now each is one clear error, nothing is stored, nothing alerts, and
the reason is recorded in `rejected_snapshots`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from bot.config import ConfigError, parse_settings
from bot.errors import OpenRouterError
from bot.models import ParsedSnapshot, SnapshotTotals, UsageRow
from bot.store.tokens import rejections
from bot.tokens.changes import detect_changes
from bot.tokens.checks import CONFIRM, HOLD, REJECT, STORE, judge_snapshot
from bot.tokens.poll import poll_tokens
from bot.tokens.report import current_share

from .conftest import make_settings
from .or_server import MODELS, Canned, json_response, real_models_payload
from .test_end_to_end import tokentide

BEFORE = datetime(2026, 7, 12, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 7, 12, 8, 0, tzinfo=UTC)
LATER = datetime(2026, 7, 12, 14, 0, tzinfo=UTC)


async def poll(db, settings, sleep, now=NOW):
    async with httpx.AsyncClient() as http:
        return await poll_tokens(db, settings, http, now=now, sleep=sleep)


def archive_state(db) -> tuple:
    snaps = db.execute("SELECT id, content_hash FROM token_snapshots ORDER BY id").fetchall()
    usage = db.execute("SELECT COUNT(*), SUM(total_tokens) FROM token_usage").fetchone()
    outbox = db.execute("SELECT COUNT(*) FROM deliveries").fetchone()
    return tuple(snaps), tuple(usage), tuple(outbox)


@pytest.fixture
async def baseline(db, server, settings, sleep):
    """The real 2026-07-12 capture stored and judged (CN 62.3%, US 36.7%): the baseline."""
    server.set(MODELS, json_response(real_models_payload("2026-07-12")))
    await poll(db, settings, sleep, now=BEFORE)
    assert detect_changes(db, settings, now=BEFORE) == []
    return archive_state(db)


def negated() -> dict:
    payload = real_models_payload("2026-07-12")
    for row in payload["data"]:
        row["total_prompt_tokens"] = -row["total_prompt_tokens"]
    return payload


def one_row() -> dict:
    payload = real_models_payload("2026-07-12")
    return {"data": [next(r for r in payload["data"] if r["model_permaslug"].startswith("qwen/"))]}


def overflowing() -> dict:
    payload = real_models_payload("2026-07-12")
    payload["data"][5]["total_prompt_tokens"] = 2**64
    return payload


DEEP = b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

ATTACKS = {
    "every prompt count negated": (
        json_response(negated()),
        r"only 28 of 432 rows parse \(6%; openrouter.min_rows_parsed is 90%\): 404 bad token count",
    ),
    "one row": (json_response(one_row()), r"1 model \(openrouter.min_models is 2\)"),
    "a 2\\^64 count": (
        json_response(overflowing()),
        r"1 row with a token count above 10\^15 \(a corrupt number or a unit change\)",
    ),
    "100k-deep JSON": (
        Canned(200, DEEP, {"Content-Type": "application/json"}),
        "response JSON is nested too deeply to read",
    ),
}


@pytest.mark.parametrize("answer, reason", ATTACKS.values(), ids=ATTACKS.keys())
async def test_corrupt_answers_are_refused_recorded_and_never_alert(
    db, server, settings, sleep, baseline, answer, reason
):
    server.set(MODELS, answer)
    with pytest.raises(OpenRouterError, match=reason) as err:
        await poll(db, settings, sleep)
    assert "no OpenRouter source worked" in str(err.value) and "\n" not in str(err.value)
    assert detect_changes(db, settings, now=NOW) == []
    assert archive_state(db) == baseline
    assert round(current_share(db, now=NOW)["shares"]["CN"], 3) == 0.623
    (refused,) = rejections(db)
    assert (refused.source, refused.verdict, refused.fetched_at) == (
        "rankings-models",
        "rejected",
        "2026-07-12T08:00:00Z",
    )
    assert re.search(reason, refused.reason)


async def test_after_an_overflowing_answer_the_good_one_is_stored_not_already_stored(
    db, server, settings, sleep
):
    server.set(MODELS, json_response(overflowing()))
    with pytest.raises(OpenRouterError, match="token count above 10\\^15"):
        await poll(db, settings, sleep)
    assert db.execute("SELECT COUNT(*) FROM token_snapshots").fetchone()[0] == 0
    server.set(MODELS, json_response(real_models_payload("2026-07-12")))
    result = await poll(db, settings, sleep, now=LATER)
    assert result["stored"] is True and result["rows"] == 429


async def test_a_few_bad_rows_are_still_skipped_not_fatal(db, server, settings, sleep, baseline):
    payload = real_models_payload("2026-07-12")
    for row in payload["data"][:20]:  # 20 of 432 (5%) negated: below the 10% allowed
        row["total_prompt_tokens"] = -1
    payload["data"][0]["date"] = "2026-07-12"  # a new window, so it is a new snapshot
    server.set(MODELS, json_response(payload))
    result = await poll(db, settings, sleep)
    assert result["stored"] and result["skipped"] == {"bad token count": 20}


def scaled(day: str, factor: float) -> dict:
    payload = real_models_payload(day)
    for row in payload["data"]:
        row["total_prompt_tokens"] = int(row["total_prompt_tokens"] * factor)
        row["total_completion_tokens"] = int(row["total_completion_tokens"] * factor)
    return payload


async def test_an_implausible_total_is_held_then_confirmed_by_the_next_poll(
    db, server, settings, sleep, baseline
):
    tenth = scaled("2026-07-12", 0.1)
    server.set(MODELS, json_response(tenth))
    with pytest.raises(OpenRouterError, match="held until the next poll confirms it") as err:
        await poll(db, settings, sleep)
    assert "10.0x apart (openrouter.plausible_ratio is 3)" in str(err.value)
    assert detect_changes(db, settings, now=NOW) == [] and archive_state(db) == baseline
    (held,) = rejections(db)
    assert (held.verdict, held.resolution, held.models) == ("held", None, 404)

    # The next poll gets the same answer: confirmed, stored (and judged like any other).
    confirmed = await poll(db, settings, sleep, now=LATER)
    assert confirmed["stored"] and confirmed["confirmed"] is True
    (held,) = rejections(db)
    assert held.resolution == "confirmed"
    assert db.execute("SELECT COUNT(*) FROM token_snapshots").fetchone()[0] == 2


async def test_a_held_answer_is_superseded_by_one_that_agrees_with_the_history(
    db, server, settings, sleep, baseline
):
    server.set(MODELS, json_response(scaled("2026-07-12", 5)))
    with pytest.raises(OpenRouterError, match="held"):
        await poll(db, settings, sleep)
    server.set(MODELS, json_response(scaled("2026-07-12", 1.01)))
    result = await poll(db, settings, sleep, now=LATER)
    assert result["stored"] and result["confirmed"] is False
    assert [r.resolution for r in rejections(db)] == ["superseded"]


async def test_a_second_implausible_answer_replaces_the_hold(db, server, settings, sleep, baseline):
    server.set(MODELS, json_response(scaled("2026-07-12", 10)))
    with pytest.raises(OpenRouterError, match="held"):
        await poll(db, settings, sleep)
    server.set(MODELS, json_response(scaled("2026-07-12", 0.1)))  # 100x off the held one
    with pytest.raises(OpenRouterError, match="held"):
        await poll(db, settings, sleep, now=LATER)
    assert [(r.verdict, r.resolution) for r in rejections(db)] == [
        ("held", "superseded"),
        ("held", None),
    ]
    assert archive_state(db) == baseline


async def test_losing_most_models_is_held(db, server, settings, sleep, baseline):
    payload = real_models_payload("2026-07-12")
    biggest = sorted(payload["data"], key=lambda r: -r["total_prompt_tokens"])[:100]
    server.set(MODELS, json_response({"data": biggest}))
    with pytest.raises(
        OpenRouterError, match=r"98 models against 404 in snapshot 1, fewer than 1/3"
    ):
        await poll(db, settings, sleep)
    assert archive_state(db) == baseline


async def test_the_ratio_is_a_setting(db, server, sleep, baseline):
    loose = make_settings(server.url, openrouter={"plausible_ratio": 20})
    server.set(MODELS, json_response(scaled("2026-07-12", 0.1)))
    result = await poll(db, loose, sleep)
    assert result["stored"] and result["confirmed"] is False


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("plausible_ratio", 1, "openrouter.plausible_ratio: expected a number above 1"),
        ("plausible_ratio", ".nan", "openrouter.plausible_ratio"),
        ("min_rows_parsed", 1.5, "openrouter.min_rows_parsed: expected a fraction between 0"),
        ("min_models", 0, "openrouter.min_models: expected 1 or more"),
    ],
)
def test_bad_check_settings_are_refused(key, value, words):
    import yaml

    data = yaml.safe_load(f"feeds: []\nopenrouter: {{{key}: {value}}}\n")
    with pytest.raises(ConfigError, match=words):
        parse_settings(data, "feeds.yaml")


# --- through the command line: one line, no traceback ----------------------------------------


@pytest.mark.parametrize(
    "answer, words",
    [
        (json_response(overflowing()), "token count above 10^15"),
        (Canned(200, DEEP, {"Content-Type": "application/json"}), "nested too deeply"),
    ],
    ids=["2^64", "deep JSON"],
)
def test_poll_tokens_command_gives_one_error_line(server, tmp_path, answer, words):
    server.set(MODELS, json_response(real_models_payload("2026-07-12")))
    assert tokentide(["poll-tokens"], tmp_path=tmp_path, url=server.url).returncode == 0
    server.set(MODELS, answer)
    done = tokentide(["poll-tokens"], tmp_path=tmp_path, url=server.url)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and words in errors[0]
    again = tokentide(["poll-tokens"], tmp_path=tmp_path, url=server.url)
    assert again.returncode == 1 and "unchanged (already stored)" not in again.stdout


# --- the rule itself (pure) --------------------------------------------------------------------


def parsed(models: int, tokens_each: int, *, skipped=None) -> ParsedSnapshot:
    """A seven-day rankings-models snapshot of `models` models with `tokens_each` tokens."""
    rows = tuple(
        UsageRow(
            "2026-07-05T00:00:00Z",
            "2026-07-12T00:00:00Z",
            "week",
            f"a/m{i}",
            "a",
            tokens_each,
            0,
            tokens_each,
            "standard",
        )  # fmt: skip
        for i in range(models)
    )
    skipped = dict(skipped or {})
    return ParsedSnapshot(
        "rankings-models", "week", "2026-07-05T00:00:00Z", "2026-07-12T00:00:00Z",
        "2026-07-12T00:00:00Z", rows, skipped, 0, models + sum(skipped.values()),
    )  # fmt: skip


def totals(models: int, tokens: int, *, days: int = 7, snapshot_id=1) -> SnapshotTotals:
    end = f"2026-07-{5 + days:02d}T00:00:00Z"
    return SnapshotTotals(
        "rankings-models", "2026-07-05T00:00:00Z", end, tokens, models, snapshot_id
    )


CONF = parse_settings({"feeds": []}).openrouter


@pytest.mark.parametrize(
    "snapshot, previous, held, action",
    [
        (parsed(10, 100), None, None, STORE),
        (parsed(10, 100), totals(10, 1000), None, STORE),
        (parsed(10, 100), totals(10, 3000), None, STORE),  # exactly the ratio
        (parsed(10, 100), totals(10, 3001), None, HOLD),
        (parsed(10, 100), totals(31, 1000), None, HOLD),
        (parsed(10, 100), totals(10, 9000), totals(10, 1000, snapshot_id=None), CONFIRM),
        (parsed(10, 100), totals(10, 9000), totals(10, 9000, snapshot_id=None), HOLD),
        (parsed(1, 100), None, None, REJECT),
        (parsed(10, 0), None, None, REJECT),  # no tokens: the shares sum to 0%
        (parsed(9, 100, skipped={"bad token count": 2}), None, None, REJECT),
        (parsed(18, 100, skipped={"bad token count": 2}), None, None, STORE),
        (parsed(10, 100, skipped={"token count above 10^15": 1}), None, None, REJECT),
    ],
)
def test_judge_snapshot(snapshot, previous, held, action):
    assert judge_snapshot(snapshot, previous, held, CONF).action == action


def test_tokens_a_day_compare_windows_of_different_lengths():
    # 14 days of 100/day against 30 days of 100/day: the same rate, however long the chunk.
    fortnight = totals(10, 1400, days=14)
    month = SnapshotTotals(
        "rankings-models", "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z", 3000, 10, 1
    )
    snap = parsed(10, 140)  # 7 days of 140 → 200 a day, a factor of 2
    assert judge_snapshot(snap, fortnight, None, CONF).action == STORE
    assert judge_snapshot(snap, month, None, CONF).action == STORE


def test_recorded_reasons_keep_the_whole_text(db):
    from bot.store.tokens import record_rejection

    record_rejection(
        db, source="rankings-models", fetched_at="2026-07-12T08:00:00Z", verdict="rejected",
        reason="x" * 5000,
    )  # fmt: skip
    assert len(rejections(db)[0].reason) == 5000
    with pytest.raises(ValueError):
        record_rejection(db, source="s", fetched_at="t", verdict="maybe", reason="r")
