"""Where people see prices: the digest's token section, share alerts and Discord `/prices`.

The archive is filled by the real poll against the OpenRouter stand-in (rankings and a model
list with invented prices); the digest and the alert go through the real composers and
renderers, `/prices` through a real discord.py interaction against the Discord stand-in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from bot.digest.alerts import render_alert_messages
from bot.digest.compose import share_line, with_prices
from bot.digest.render import to_discord_messages, to_markdown, to_text
from bot.pipeline import build_digest
from bot.tokens.changes import detect_changes
from bot.tokens.poll import poll_tokens

from ..chat import conftest as chat_fixtures
from ..chat import test_slash
from .or_server import MODEL_LIST, MODELS, json_response
from .test_price_poll import model_list, models_row, week_of_rankings
from .test_prices import catalogue

# The chat room's fixtures: the Discord stand-in and a logged-in bot on this test's archive.
fake = chat_fixtures.fake
bot = test_slash.bot
invoke = test_slash.invoke
DEFERRED_CHANNEL_MESSAGE = test_slash.DEFERRED_CHANNEL_MESSAGE

NOW = datetime(2026, 8, 22, 2, 0, tzinfo=UTC)
LINE = "China 52% of tokens at $0.85/M; US 48% at $1.89/M; 2.2× price gap"


async def poll(db, settings, sleep, now=NOW):
    async with httpx.AsyncClient() as http:
        return await poll_tokens(db, settings, http, now=now, sleep=sleep)


async def test_the_digest_token_section_gives_prices_and_the_gap(db, server, settings, sleep):
    server.set(MODELS, json_response(week_of_rankings("2026-08-21")))
    server.set(MODEL_LIST, model_list())
    await poll(db, settings, sleep)
    digest = build_digest(db, settings, now=NOW)
    share = digest.share
    assert share.prices_text == LINE
    assert share.open_weights_text == "Open weights: China 68%, US 52% of their tokens"
    assert share.prices_citation.startswith("Source: OpenRouter (openrouter.ai/rankings, tokens")
    assert "prices as of 2026-08-22T02:00:00Z" in share.prices_citation

    markdown, text = to_markdown(digest), to_text(digest)
    for rendered in (markdown, text):
        assert LINE in rendered and share.prices_citation in rendered
    (message,) = to_discord_messages(digest)
    embed = message["embeds"][0]
    assert LINE in embed["description"] and "Open weights: China 68%" in embed["description"]
    assert share.citation in embed["footer"]["text"]
    assert share.prices_citation in embed["footer"]["text"]


async def test_a_digest_without_prices_says_nothing_about_them(db, server, settings, sleep):
    server.set(MODELS, json_response(week_of_rankings("2026-08-21")))  # no model list: 404
    await poll(db, settings, sleep)
    share = build_digest(db, settings, now=NOW).share
    assert share.text.startswith("China 52% of OpenRouter tokens")
    assert share.prices_text is None and share.prices_citation is None
    assert "/M" not in to_text(build_digest(db, settings, now=NOW))


def test_prices_of_another_period_are_not_shown():
    share = {
        "period": {"start": "2026-08-15T00:00:00Z", "end": "2026-08-22T00:00:00Z"},
        "shares": {"CN": 0.6, "US": 0.4},
        "open_weights": {"CN": 0.9},
    }
    prices = {
        "period": {"start": "2026-08-08T00:00:00Z", "end": "2026-08-15T00:00:00Z"},
        "prices": {"CN": 0.4, "US": 2.0},
        "gap": {"between": ["CN", "US"], "cheaper": "CN", "ratio": 5.0},
        "citation": "Source: …",
    }
    assert with_prices(share_line(share), share, prices).prices_text is None
    same = prices | {"period": share["period"], "gap": None}
    line = with_prices(share_line(share), share, same)
    assert line.prices_text == "China 60% of tokens at $0.40/M; US 40% at $2.00/M"
    assert line.open_weights_text == "Open weights: China 90% of their tokens"


def two_weeks(deepseek_tokens: int) -> dict:
    """The week to 2026-08-21 with DeepSeek's standard traffic changed (CN's share moves)."""
    payload = week_of_rankings("2026-08-21")
    payload["data"][0] = models_row(
        "2026-08-21", "deepseek/deepseek-v4-20260301", deepseek_tokens, deepseek_tokens // 8
    )
    return payload


async def test_a_share_alert_cites_the_price_gap_when_it_moved(db, server, settings, sleep):
    server.set(MODELS, json_response(week_of_rankings("2026-08-14")))
    server.set(MODEL_LIST, model_list())
    await poll(db, settings, sleep, now=datetime(2026, 8, 15, 2, tzinfo=UTC))
    assert detect_changes(db, settings, now=datetime(2026, 8, 15, 2, tzinfo=UTC)) == []
    dearer = catalogue()
    dearer[4]["pricing"]["completion"] = "0.000025"  # claude-sonnet-5: $15 → $25 per M
    server.set(MODELS, json_response(two_weeks(16_000_000)))
    server.set(MODEL_LIST, model_list(dearer))
    await poll(db, settings, sleep)
    (delivery,) = detect_changes(db, settings, now=NOW)
    payload = json.loads(
        db.execute("SELECT payload FROM deliveries WHERE id = ?", [delivery]).fetchone()[0]
    )
    gap = payload["price_gap"]
    # US before: 29.30 / 15.5 = 1.8903; now 34.30 / 15.5 = 2.2129 (claude 2 × 3 + 0.5 × 25)
    # CN before: 13.20 / 15.5 = 0.8516; now (16 × 0.3 + 2 × 1.2 + 9.6) / 24.5 = 0.6857
    assert (gap["from"], gap["to"]) == (
        pytest.approx(2.22, abs=0.01),
        pytest.approx(3.23, abs=0.01),
    )
    assert gap["between"] == ["CN", "US"] and gap["cheaper"] == "CN"
    assert gap["prices"] == {
        "CN": pytest.approx(0.6857, abs=1e-3),
        "US": pytest.approx(2.2129, abs=1e-3),
    }
    assert gap["as_of"] == "2026-08-22T02:00:00Z" and "prices as of" in gap["citation"]
    (message,) = render_alert_messages(payload, [])[:1]
    card = message["embeds"][0]
    assert "Price gap China–US: 2.2× → 3.2× (China cheaper)" in card["description"]
    assert gap["citation"] in card["footer"]["text"]


async def test_a_share_alert_leaves_an_unmoved_gap_out(db, server, settings, sleep):
    server.set(MODELS, json_response(week_of_rankings("2026-08-14")))
    server.set(MODEL_LIST, model_list())
    await poll(db, settings, sleep, now=datetime(2026, 8, 15, 2, tzinfo=UTC))
    detect_changes(db, settings, now=datetime(2026, 8, 15, 2, tzinfo=UTC))
    # US traffic halves on every model: CN's share jumps (52% → 69%), each country's blended
    # price, and so the gap, stays exactly where it was.
    payload = week_of_rankings("2026-08-21")
    for row in payload["data"]:
        if row["model_permaslug"].startswith(("openai/", "anthropic/")):
            row["total_prompt_tokens"] //= 2
            row["total_completion_tokens"] //= 2
    server.set(MODELS, json_response(payload))
    await poll(db, settings, sleep)
    (delivery,) = detect_changes(db, settings, now=NOW)
    alert = json.loads(
        db.execute("SELECT payload FROM deliveries WHERE id = ?", [delivery]).fetchone()[0]
    )
    assert alert["reasons"][0].startswith("CN moved +16.")
    assert "price_gap" not in alert
    card = render_alert_messages(alert, [])[0]["embeds"][0]
    assert "Price gap" not in card["description"]


async def test_slash_prices_shows_the_table_gap_and_citation(
    bot, fake, db, server, settings, sleep
):
    server.set(MODELS, json_response(week_of_rankings("2026-11-27")))
    server.set(MODEL_LIST, model_list())
    await poll(db, settings, sleep, now=datetime(2026, 11, 28, 2, tzinfo=UTC))
    body, followups = await invoke(bot, fake, "prices")
    assert body["type"] == DEFERRED_CHANNEL_MESSAGE
    reply = followups[-1]
    embed = reply["embeds"][0]
    assert embed["title"] == "OpenRouter blended token price by country"
    assert "CN" in embed["description"] and "$   0.85" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Price gap"] == "US tokens cost 2.2× CN's"
    assert fields["Coverage"] == "95% of tokens priced"
    assert "prices as of 2026-11-28T02:00:00Z" in embed["footer"]["text"]
    assert reply["allowed_mentions"]["parse"] == []


async def test_slash_prices_without_prices_says_why(bot, fake, db, server, settings, sleep):
    server.set(MODELS, json_response(week_of_rankings("2026-11-27")))  # no model list
    await poll(db, settings, sleep, now=datetime(2026, 11, 28, 2, tzinfo=UTC))
    _, followups = await invoke(bot, fake, "prices")
    assert "no price list stored yet" in followups[-1]["content"]
