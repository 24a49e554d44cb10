"""Token prices: the `/api/v1/models` parser, the join to usage rows, blended prices.

The one real model-list item is the captured Kimi K2 Thinking entry; multi-model lists are
built from its documented shape with invented prices (they say nothing about real prices).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import OpenRouterError, TokentideError
from bot.tokens.countries import author_of, country_of, load_country_map
from bot.tokens.prices import (
    PriceListError,
    blended_prices,
    parse_models,
    price_gap,
    to_json,
)

from .or_server import real_models_payload

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openrouter"
KIMI = FIXTURES / "api-v1-models_single-model_kimi-k2-thinking.json"
FETCHED = datetime(2026, 8, 22, 2, 0, tzinfo=UTC)
PER_M = 1e-6  # USD per token for $1 per million tokens


def item(model_id, prompt, completion, *, slug=None, hf=None):
    """One `data[]` entry in the documented shape (the Kimi capture's keys, trimmed)."""
    return {
        "id": model_id,
        "canonical_slug": slug if slug is not None else model_id.split(":")[0],
        "hugging_face_id": hf,
        "name": model_id,
        "context_length": 131072,
        "pricing": {"prompt": prompt, "completion": completion, "request": "0", "image": "0"},
    }


def body(items) -> bytes:
    return json.dumps({"data": items}).encode()


def catalogue():
    """Prices per token; comments give them per million tokens."""
    return [
        # deepseek: $0.30 / $1.20 per M, open weights; its :free variant $0
        item(
            "deepseek/deepseek-v4",
            "0.0000003",
            "0.0000012",
            slug="deepseek/deepseek-v4-20260301",
            hf="deepseek-ai/DeepSeek-V4",
        ),  # fmt: skip
        item(
            "deepseek/deepseek-v4:free",
            "0",
            "0",
            slug="deepseek/deepseek-v4-20260301",
            hf="deepseek-ai/DeepSeek-V4",
        ),  # fmt: skip
        # qwen3-max: $1.20 / $6.00, closed (empty HF id)
        item("qwen/qwen3-max", "0.0000012", "0.000006", slug="qwen/qwen3-max-20260101", hf=""),
        # gpt-5: $1.25 / $10.00, closed
        item("openai/gpt-5", "0.00000125", "0.00001", slug="openai/gpt-5-20250807"),
        # claude-sonnet-5: $3 / $15, closed
        item("anthropic/claude-sonnet-5", "0.000003", "0.000015", hf=""),
        # gpt-oss-120b: $0.05 / $0.25, open weights
        item("openai/gpt-oss-120b", "0.00000005", "0.00000025", hf="openai/gpt-oss-120b"),
        # listed, never used
        item("meta-llama/llama-5-70b", "0.0000001", "0.0000003", hf="meta-llama/Llama-5-70B"),
        # "-1": price varies with the routed model
        item("openrouter/auto", "-1", "-1"),
    ]


def usage(model, prompt, completion, *, variant="standard", country=None):
    author = author_of(model)
    return {
        "model": model,
        "variant": variant,
        "author": author,
        "country": country or country_of(author, load_country_map()),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": None if prompt is None else prompt + completion,
    }


def week():
    return [
        usage("deepseek/deepseek-v4-20260301", 8_000_000, 1_000_000),
        usage("deepseek/deepseek-v4-20260301", 2_000_000, 500_000, variant="free"),
        usage("qwen/qwen3-max-20260101", 3_000_000, 1_000_000),
        usage("moonshotai/kimi-k9-20260801", 1_000_000, 500_000),  # not listed
        usage("openai/gpt-5-20250807", 4_000_000, 1_000_000),
        usage("anthropic/claude-sonnet-5", 2_000_000, 500_000),
        usage("openai/gpt-oss-120b", 6_000_000, 2_000_000),
    ]


@pytest.fixture
def prices():
    return parse_models(body(catalogue()), fetched_at=FETCHED)


# --- parse_models -----------------------------------------------------------------------------


def test_real_kimi_entry_parses():
    entry = json.loads(KIMI.read_text(encoding="utf-8"))
    snap = parse_models(body([entry]), fetched_at=FETCHED)
    (row,) = snap.rows
    assert row.id == "moonshotai/kimi-k2-thinking"
    assert row.canonical_slug == "moonshotai/kimi-k2-thinking-20251106"
    assert row.variant == "standard" and row.model == "moonshotai/kimi-k2-thinking"
    assert row.prompt == pytest.approx(0.6 * PER_M)
    assert row.completion == pytest.approx(2.5 * PER_M)
    assert row.hugging_face_id == "moonshotai/Kimi-K2-Thinking" and row.open_weights
    assert snap.fetched_at == "2026-08-22T02:00:00Z"
    assert len(snap.content_hash) == 64


def test_variants_hf_ids_and_varies(prices):
    rows = {r.id: r for r in prices.rows}
    assert rows["deepseek/deepseek-v4:free"].variant == "free"
    assert rows["deepseek/deepseek-v4:free"].canonical_slug == "deepseek/deepseek-v4-20260301"
    assert rows["deepseek/deepseek-v4"].variant == "standard"
    assert rows["qwen/qwen3-max"].hugging_face_id is None  # "" → None
    assert rows["openai/gpt-5"].hugging_face_id is None  # null → None
    assert [r.id for r in prices.rows] == sorted(rows)
    # "-1" means "varies": unpriced, not a reason to reject the list
    assert "openrouter/auto" not in rows
    assert prices.varies == ("openrouter/auto",)


def test_missing_canonical_slug_falls_back_to_the_id():
    entry = item("x-ai/grok-9:thinking", "0.000001", "0.000002")
    del entry["canonical_slug"]
    (row,) = parse_models(body([entry]), fetched_at=FETCHED).rows
    assert (row.canonical_slug, row.variant) == ("x-ai/grok-9", "thinking")


def good():
    return item("openai/gpt-5", "0.00000125", "0.00001")


def without_pricing():
    entry = item("a/no-price", "0", "0")
    del entry["pricing"]
    return entry


def without_prompt():
    entry = good()
    del entry["pricing"]["prompt"]
    return entry


BAD = {
    "non-numeric price": (
        body([item("a/b", "abc", "0.000001")]),
        "pricing.prompt 'abc' is not a number",
    ),  # fmt: skip
    "NaN price": (
        body([item("a/b", "0.000001", "NaN")]),
        "pricing.completion 'NaN' is not a number",
    ),  # fmt: skip
    "boolean price": (body([item("a/b", True, "0")]), "pricing.prompt True is not a number"),
    "missing prompt": (body([without_prompt()]), "pricing.prompt is missing"),
    "negative price": (
        body([item("a/b", "-0.000001", "0")]),
        "pricing.prompt '-0.000001' is negative",
    ),  # fmt: skip
    "absurd price": (
        body([item("a/b", "0.000001", "0.002")]),
        "$2,000.00 per million tokens, above the $1,000 sanity limit",
    ),  # fmt: skip
    "missing pricing": (
        body([good(), without_pricing()]),
        "data[1] (a/no-price) has no 'pricing' object",
    ),  # fmt: skip
    "duplicate ids": (
        body([good(), item("a/b", "0", "0"), good()]),
        "duplicate id 'openai/gpt-5' at data[0] and [2]",
    ),  # fmt: skip
    "empty list": (body([]), "'data' is an empty list"),
    "no data key": (b'{"models": []}', "expected {'data': [...]}, got keys models"),
    "top-level list": (json.dumps([good()]).encode(), "expected {'data': [...]}, got list"),
    "HTML body": (
        b"\n<!DOCTYPE html><html><body>Cloudflare</body></html>",
        "got an HTML page instead of JSON",
    ),  # fmt: skip
    "truncated JSON": (body([good(), good()])[:-40], "not valid JSON"),
    "empty body": (b"  \n", "the body is empty"),
    "not UTF-8": (b'{"data": [{"id": "\xff"}]}', "not UTF-8"),
    "deep nesting": (b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    "non-object item": (body([good(), "openai/gpt-4o"]), "data[1] is str, not an object"),
    "no id": (body([{"pricing": {"prompt": "0", "completion": "0"}}]), "data[0] has no 'id'"),
    "only varying prices": (
        body([item("openrouter/auto", "-1", "-1")]),
        "no model has a fixed price",
    ),  # fmt: skip
}


@pytest.mark.parametrize("payload, message", BAD.values(), ids=BAD.keys())
def test_bad_model_lists_are_rejected_whole(payload, message):
    with pytest.raises(PriceListError) as caught:
        parse_models(payload, fetched_at=FETCHED)
    text = str(caught.value)
    assert message in text
    assert text.startswith("OpenRouter /api/v1/models: price list rejected: ")
    assert text.endswith("keeping the last stored prices")
    assert isinstance(caught.value, OpenRouterError)  # the edges already translate these


def test_every_problem_is_named_in_one_error():
    items = [item(f"a/m{i}", "oops", "0") for i in range(7)] + [without_pricing()]
    with pytest.raises(PriceListError) as caught:
        parse_models(body(items), fetched_at=FETCHED)
    assert len(caught.value.problems) == 8
    assert "data[0] (a/m0) pricing.prompt 'oops' is not a number" in str(caught.value)
    assert "and 3 more" in str(caught.value)


def test_content_hash_ignores_key_order_row_order_and_trailing_zeros(prices):
    shuffled = [dict(reversed(entry.items())) for entry in reversed(catalogue())]
    for entry in shuffled:
        entry["pricing"] = dict(reversed(entry["pricing"].items()))
        if entry["pricing"]["prompt"] == "0.0000003":
            entry["pricing"]["prompt"] = "0.00000030"
    again = parse_models(body(shuffled), fetched_at=datetime(2026, 9, 1, tzinfo=UTC))
    assert again.content_hash == prices.content_hash


def test_content_hash_changes_with_a_price_or_weights(prices):
    cheaper = catalogue()
    cheaper[4]["pricing"]["completion"] = "0.000012"  # claude-sonnet-5: $15 → $12 per M
    assert parse_models(body(cheaper), fetched_at=FETCHED).content_hash != prices.content_hash
    opened = catalogue()
    opened[2]["hugging_face_id"] = "Qwen/Qwen3-Max"
    assert parse_models(body(opened), fetched_at=FETCHED).content_hash != prices.content_hash


# --- blended prices ---------------------------------------------------------------------------


def test_blended_price_by_country_matches_a_hand_computation(prices):
    report = blended_prices(week(), prices, by="country")
    # CN, in USD (tokens in millions × $ per million):
    #   deepseek standard  8 × 0.30 + 1 × 1.20 = 3.60   (9.0M tokens)
    #   deepseek :free     2.5M tokens at $0   = 0.00   (2.5M)
    #   qwen3-max          3 × 1.20 + 1 × 6.00 = 9.60   (4.0M)
    #   kimi-k9            not listed: left out          (1.5M)
    #   → 13.20 / 15.5 = $0.8516 per M; coverage 15.5 / 17 = 0.9118
    # US:
    #   gpt-5              4 × 1.25 + 1 × 10   = 15.00  (5.0M)
    #   claude-sonnet-5    2 × 3 + 0.5 × 15    = 13.50  (2.5M)
    #   gpt-oss-120b       6 × 0.05 + 2 × 0.25 =  0.80  (8.0M)
    #   → 29.30 / 15.5 = $1.8903 per M; coverage 1
    cn, us = report.groups
    assert (cn.key, us.key) == ("CN", "US")
    assert cn.usd_per_million == pytest.approx(0.8516, rel=0.01)
    assert us.usd_per_million == pytest.approx(1.8903, rel=0.01)
    assert cn.coverage == pytest.approx(15.5 / 17)
    assert us.coverage == 1.0
    assert report.coverage == pytest.approx(31 / 32.5)
    assert report.usd_per_million == pytest.approx((13.20 + 29.30) / 31, rel=0.01)
    # CN tokens cost 13.20/15.5 ÷ 29.30/15.5 = 0.4505 of US tokens
    assert price_gap(report) == pytest.approx(0.4505, rel=0.01)
    assert price_gap(report, "US", "CN") == pytest.approx(1 / 0.4505, rel=0.01)
    assert price_gap(report, "CN", "FR") is None


def test_free_variant_costs_nothing_even_when_no_longer_listed(prices):
    rows = [
        usage("deepseek/deepseek-v4-20260301", 2_000_000, 500_000, variant="free"),
        usage("z-ai/glm-9-20260801", 1_000_000, 0, variant="free"),  # no listing at all
        usage("deepseek/deepseek-v4:free", 1_000_000, 0, variant=""),  # variant in the slug
    ]
    report = blended_prices(rows, prices, by="model")
    assert report.prices == {
        "deepseek/deepseek-v4-20260301": 0.0,
        "z-ai/glm-9-20260801": 0.0,
        "deepseek/deepseek-v4:free": 0.0,
    }
    assert report.coverage == 1.0


def test_unlisted_models_are_left_out_and_reported(prices):
    rows = [
        usage("openai/gpt-5-20250807", 1_000_000, 0),
        usage("moonshotai/kimi-k9-20260801", 3_000_000, 0),  # no listing
        usage("openai/gpt-5-20250807", 2_000_000, 0, variant="batch"),  # no :batch listing
        usage("openrouter/auto", 500_000, 0),  # listed, but its price varies
    ]
    report = blended_prices(rows, prices, by="author")
    assert report.prices == {"openai": pytest.approx(1.25)}
    assert report.coverage == pytest.approx(1 / 6.5)
    assert report.unpriced == (
        ("moonshotai/kimi-k9-20260801", 3_000_000),
        ("openai/gpt-5-20250807", 2_000_000),
        ("openrouter/auto", 500_000),
    )
    groups = {g.key: g for g in report.groups}
    assert groups["moonshotai"].usd_per_million is None and groups["moonshotai"].coverage == 0


def test_listed_model_without_usage_and_usage_without_listing(prices):
    report = blended_prices([usage("openai/gpt-5-20250807", 1_000_000, 1_000_000)], prices)
    assert set(report.prices) == {"US"}  # meta-llama is listed but unused: no group
    assert report.prices["US"] == pytest.approx((1.25 + 10) / 2)
    only_unlisted = blended_prices([usage("moonshotai/kimi-k9", 5, 5)], prices)
    assert only_unlisted.prices == {} and only_unlisted.coverage == 0
    assert only_unlisted.usd_per_million is None
    assert blended_prices([], prices).coverage == 0.0


def test_date_suffixes_join_like_the_stored_rows(prices):
    """Stored usage rows carry `parse.model_key` names (date and variant removed)."""
    dated = blended_prices([usage("qwen/qwen3-max-20260101", 1_000_000, 0)], prices, by="model")
    undated = blended_prices([usage("qwen/qwen3-max", 1_000_000, 0)], prices, by="model")
    assert dated.prices == {"qwen/qwen3-max-20260101": pytest.approx(1.2)}
    assert undated.prices == {"qwen/qwen3-max": pytest.approx(1.2)}


def test_dated_versions_sharing_a_name():
    versions = [
        item("x/m-old", "0.000001", "0.000001", slug="x/m-20250101"),
        item("x/m", "0.000002", "0.000002", slug="x/m-20260101"),
    ]
    snap = parse_models(body(versions), fetched_at=FETCHED)
    rows = [usage("x/m-20250101", 1_000_000, 0), usage("x/m", 1_000_000, 0)]
    report = blended_prices(rows, snap, by="model")
    # the exact dated slug wins; an undated name takes the newest version's price
    assert report.prices == {"x/m-20250101": pytest.approx(1.0), "x/m": pytest.approx(2.0)}


def test_rows_without_a_prompt_completion_split_are_unpriced(prices):
    daily = usage("openai/gpt-5-20250807", None, None)
    daily["total_tokens"] = 4_000_000
    report = blended_prices([daily, usage("openai/gpt-5", 1_000_000, 0)], prices)
    assert report.prices == {"US": pytest.approx(1.25)}
    assert report.coverage == pytest.approx(1 / 5)


def test_open_weights_share_with_unknown_models(prices):
    report = blended_prices(week(), prices, by="country")
    cn, us = report.groups
    # deepseek 11.5M open (free variant included), qwen 4M closed, kimi-k9 1.5M unlisted
    assert cn.open_weights == pytest.approx(11.5 / 17)
    assert cn.closed_weights == pytest.approx(4 / 17)
    assert cn.weights_unknown == pytest.approx(1.5 / 17)
    assert us.open_weights == pytest.approx(8 / 15.5)
    assert us.weights_unknown == 0


def test_unknown_grouping_is_refused(prices):
    with pytest.raises(TokentideError, match="by must be one of country, author, model"):
        blended_prices(week(), prices, by="continent")


def test_json_document(prices):
    period = ("2026-08-15T00:00:00Z", "2026-08-22T00:00:00Z")
    doc = to_json(blended_prices(week(), prices, by="country", period=period))
    assert doc == {
        "period": {"start": "2026-08-15T00:00:00Z", "end": "2026-08-22T00:00:00Z"},
        "by": "country",
        "prices": {"CN": 0.8516, "US": 1.8903},
        "coverage": 0.9538,
        "as_of": "2026-08-22T02:00:00Z",
    }
    assert json.loads(json.dumps(doc)) == doc
    assert to_json(blended_prices([], prices))["period"] is None


def test_real_kimi_price_joins_the_real_rankings_row():
    """The captured Kimi entry against the captured 2026-08-22 rankings (543 rows)."""
    entry = json.loads(KIMI.read_text(encoding="utf-8"))
    snap = parse_models(body([entry]), fetched_at=FETCHED)
    table = load_country_map()
    rows = []
    for raw in real_models_payload("2026-08-22")["data"]:
        author = author_of(raw["model_permaslug"])
        rows.append(
            {
                "model": raw["model_permaslug"],
                "variant": raw["variant"],
                "author": author,
                "country": country_of(author, table),
                "prompt_tokens": raw["total_prompt_tokens"],
                "completion_tokens": raw["total_completion_tokens"],
            }
        )
    report = blended_prices(rows, snap, by="model")
    # kimi-k2-thinking-20251106, standard: 1,661,268,255 prompt, 576,291,333 completion
    # (1661.268255 × 0.6 + 576.291333 × 2.5) / 2237.559588 = 2437.489 / 2237.560 = $1.0894 per M
    priced = report.prices
    kimi = priced.pop("moonshotai/kimi-k2-thinking-20251106")
    assert kimi == pytest.approx(1.0894, rel=0.01)
    # every other priced token is a `:free` row, at $0
    free = {r["model"] for r in rows if r["variant"] == "free"}
    assert set(priced) == free and set(priced.values()) == {0.0}
    free_tokens = sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows if r["model"] in free and r["variant"] == "free")  # fmt: skip
    assert report.priced_tokens == 2_237_559_588 + free_tokens
    assert report.coverage == pytest.approx(report.priced_tokens / report.tokens)
    assert report.tokens == sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows)
