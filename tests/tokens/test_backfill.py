"""backfill-tokens: Data API only, chunked, paced to 30 requests a minute, idempotent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.errors import OpenRouterError
from bot.tokens.poll import backfill_tokens
from bot.tokens.report import current_share

from .conftest import make_settings
from .or_server import DAILY, Canned, json_response

NOW = datetime(2026, 8, 25, 9, tzinfo=UTC)


class DailyRankings:
    """Answers each rankings-daily request with invented rows for exactly the dates asked."""

    def __init__(self, server):
        self.server = server

    def prime(self, chunks: list[tuple[date, date]]) -> None:
        answers = []
        for start, end in chunks:
            rows = []
            day = start
            while day <= end:
                rows += [
                    {
                        "date": day.isoformat(),
                        "model_permaslug": "deepseek/v4",
                        "total_tokens": "700",
                    },
                    {
                        "date": day.isoformat(),
                        "model_permaslug": "openai/gpt",
                        "total_tokens": "300",
                    },
                ]
                day += timedelta(days=1)
            answers.append(json_response({"data": rows, "meta": {"as_of": "2026-08-25T02:00:00Z"}}))
        self.server.set(DAILY, *answers)


async def run(db, settings, sleep, days, progress=None):
    async with httpx.AsyncClient() as http:
        return await backfill_tokens(
            db, settings, http, now=NOW, days=days, progress=progress, sleep=sleep
        )


async def test_backfill_without_a_key_is_refused(db, server, settings, sleep):
    with pytest.raises(OpenRouterError, match="set OPENROUTER_API_KEY"):
        await run(db, settings, sleep, 10)
    assert server.requests == []


async def test_backfill_chunks_paces_and_is_idempotent(db, server, sleep):
    settings = make_settings(server.url, key="sk-or-test", openrouter={"backfill_chunk_days": 7})
    chunks = [
        (date(2026, 8, 5), date(2026, 8, 11)),
        (date(2026, 8, 12), date(2026, 8, 18)),
        (date(2026, 8, 19), date(2026, 8, 24)),
    ]
    DailyRankings(server).prime(chunks)
    seen: list[int] = []
    result = await run(db, settings, sleep, 20, progress=seen.append)
    assert (result["start"], result["end"]) == ("2026-08-05", "2026-08-24")  # today excluded
    assert result["chunks"] == 3 and result["stored"] == 3 and result["rows"] == 40
    assert seen == [7, 7, 6] and sum(seen) == 20
    assert [r["query"] for r in server.requests] == [
        {"start_date": s.isoformat(), "end_date": e.isoformat()} for s, e in chunks
    ]
    assert sleep.waits == [2.0, 2.0]  # 60 s / 30 requests between requests
    doc = current_share(db, now=NOW)
    assert doc["period"]["start"] == "2026-08-17T00:00:00Z" and doc["shares"] == {
        "CN": 0.7,
        "US": 0.3,
    }
    assert doc["deltas"] == {"CN": 0.0, "US": 0.0}

    DailyRankings(server).prime(chunks)
    again = await run(db, settings, sleep, 20)
    assert again["stored"] == 0 and again["already_had"] == 3
    assert db.execute("SELECT COUNT(*) FROM token_snapshots").fetchone()[0] == 3


async def test_backfill_stops_on_a_bad_chunk_and_keeps_earlier_ones(db, server, sleep):
    settings = make_settings(
        server.url, key="sk-or-test", openrouter={"backfill_chunk_days": 10, "max_retries": 0}
    )
    good = json_response(
        {
            "data": [
                {"date": "2026-08-10", "model_permaslug": "qwen/q", "total_tokens": "5"},
                {"date": "2026-08-10", "model_permaslug": "openai/g", "total_tokens": "4"},
            ]
        }
    )
    server.set(DAILY, good, Canned(500))
    with pytest.raises(OpenRouterError, match="HTTP 500"):
        await run(db, settings, sleep, 20)
    assert db.execute("SELECT COUNT(*) FROM token_snapshots").fetchone()[0] == 1


def test_backfill_command_shows_progress_and_a_summary(server, tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "feeds: []\nopenrouter: {backfill_chunk_days: 366, requests_per_minute: 6000}\n"
    )
    DailyRankings(server).prime([(date(2026, 1, 1), date(2026, 1, 3))])
    env = {
        "TOKENTIDE_CONFIG": str(config),
        "TOKENTIDE_DB": str(tmp_path / "a.db"),
        "TOKENTIDE_OPENROUTER_URL": server.url,
        "OPENROUTER_API_KEY": "sk-or-test",
    }
    result = CliRunner().invoke(cli, ["backfill-tokens", "--days", "3"], env=env)
    assert result.exit_code == 0, result.output
    assert "backfilled" in result.stdout and "1 requests, 1 new snapshots, 6 rows" in result.stdout
    # Not a terminal: a plain progress line, no bar drawn with carriage returns.
    assert "backfill-tokens: 3/3 days (100%) in " in result.stderr and "\r" not in result.stderr
    no_key = CliRunner().invoke(
        cli, ["backfill-tokens", "--days", "3"], env=env | {"OPENROUTER_API_KEY": ""}
    )
    assert no_key.exit_code == 1 and "OPENROUTER_API_KEY" in no_key.stderr
