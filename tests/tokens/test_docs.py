"""The README's token-share claims and settings stay true."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

from bot.config import AlertConfig, OpenRouterConfig
from bot.tokens.countries import load_country_map
from bot.tokens.history import content_hash, store_snapshot
from bot.tokens.parse import parse_market_share
from bot.tokens.report import share_series

from .or_server import market_share_payload

REPO = Path(__file__).parent.parent.parent


def test_feeds_yaml_comments_show_the_real_defaults():
    text = (REPO / "feeds.yaml").read_text(encoding="utf-8").split("\nopenrouter:")[1]
    shown = dict(re.findall(r"#\s+(\w+): (\[[^\]]*\]|[^\s#]+)", text))
    defaults = {f.name: f.default for f in fields(OpenRouterConfig) if f.name in shown}
    defaults |= {f.name: f.default for f in fields(AlertConfig) if f.name in shown}
    assert len(defaults) >= 12
    for name, value in defaults.items():
        if isinstance(value, tuple):
            assert shown[name] == "[" + ", ".join(value) + "]", name
        elif isinstance(value, str):
            assert shown[name].strip('"') == value, name
        else:
            assert float(shown[name]) == value, name


def test_market_share_history_shows_china_passing_the_us_in_early_june_2026(db):
    now = datetime(2026, 9, 2, 12, tzinfo=UTC)
    payload = market_share_payload()
    parsed = parse_market_share(payload, fetched_at=now)
    store_snapshot(
        db,
        parsed,
        body="{}",
        digest=content_hash(payload),
        fetched_at="2026-09-02T12:00:00Z",
        countries=load_country_map(),
    )
    source, _, points = share_series(db, now=now)
    assert source == "market-share" and len(points) == 51  # the unfinished week is left out
    ahead = [end for end, s in points if s.get("CN", 0) > s.get("US", 0)]
    # From the week starting 2026-06-01 (ending 06-08) China leads every week.
    since_june = [end for end, _ in points if end >= "2026-06-08"]
    assert set(since_june) <= set(ahead)
    assert "2026-06-01T00:00:00Z" not in ahead  # the week before, the US still led
    week = dict(points)["2026-06-08T00:00:00Z"]
    assert (round(week["CN"] * 100, 1), round(week["US"] * 100, 1)) == (47.9, 38.1)
    autumn = [s["CN"] for end, s in points if end <= "2026-01-05T00:00:00Z"]
    assert round(100 * sum(autumn) / len(autumn), 1) == 19.7 and round(100 * max(autumn), 1) == 26.1
