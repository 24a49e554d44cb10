"""Pure scheduling rules: cache hints, Retry-After, backoff with jitter, disabling."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from bot.config import FetchConfig
from bot.feeds.schedule import (
    backoff_minutes,
    cache_hint_minutes,
    next_check_after_success,
    parse_retry_after,
    plan_after_failure,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CFG = FetchConfig(
    min_interval_min=15,
    max_interval_min=1440,
    backoff_base_min=5,
    backoff_max_min=1440,
    max_failures=3,
    retry_after_max_min=600,
)


def test_next_check_defaults_to_min_interval() -> None:
    assert next_check_after_success({}, ttl_minutes=None, cfg=CFG, now=NOW) == NOW + timedelta(
        minutes=15
    )


def test_next_check_uses_largest_hint_within_bounds() -> None:
    headers = {"cache-control": "public, max-age=3600"}
    assert next_check_after_success(headers, ttl_minutes=30, cfg=CFG, now=NOW) == NOW + timedelta(
        hours=1
    )
    # A feed asking for a 1-minute TTL still waits the minimum.
    assert next_check_after_success({}, ttl_minutes=1, cfg=CFG, now=NOW) == NOW + timedelta(
        minutes=15
    )
    # One asking for a week is checked daily.
    assert next_check_after_success({}, ttl_minutes=10080, cfg=CFG, now=NOW) == NOW + timedelta(
        days=1
    )


def test_expires_header_counts_when_no_max_age() -> None:
    headers = {"expires": "Sat, 28 Nov 2026 14:00:00 GMT"}
    assert cache_hint_minutes(headers, ttl_minutes=None, now=NOW) == 120
    assert cache_hint_minutes({"expires": "garbage"}, ttl_minutes=None, now=NOW) is None


def test_retry_after_seconds_and_date() -> None:
    assert parse_retry_after("120", now=NOW) == 120
    assert parse_retry_after("Sat, 28 Nov 2026 13:00:00 GMT", now=NOW) == 3600
    assert parse_retry_after("Sat, 28 Nov 2026 11:00:00 GMT", now=NOW) == 0
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None


def test_backoff_doubles_with_bounded_jitter() -> None:
    rng = random.Random(7)
    for failures, full in [(1, 5), (2, 10), (3, 20), (10, 1440), (100, 1440)]:
        for _ in range(20):
            d = backoff_minutes(failures, CFG, rng)
            assert full / 2 <= d <= full


def test_jitter_spreads_feeds() -> None:
    rng = random.Random(1)
    delays = {round(backoff_minutes(4, CFG, rng), 3) for _ in range(10)}
    assert len(delays) > 5


def test_disable_after_max_failures_with_reason() -> None:
    rng = random.Random(0)
    plan = plan_after_failure(
        error_count=1,
        message="HTTP 404",
        counts=True,
        retry_after_s=None,
        cfg=CFG,
        rng=rng,
        now=NOW,
    )
    assert plan.error_count == 2 and plan.disabled_reason is None
    plan = plan_after_failure(
        error_count=2,
        message="HTTP 404",
        counts=True,
        retry_after_s=None,
        cfg=CFG,
        rng=rng,
        now=NOW,
    )
    assert plan.error_count == 3
    assert plan.disabled_reason == "disabled after 3 consecutive failures; last: HTTP 404"


def test_offline_failures_do_not_count() -> None:
    plan = plan_after_failure(
        error_count=2,
        message="DNS",
        counts=False,
        retry_after_s=None,
        cfg=CFG,
        rng=random.Random(0),
        now=NOW,
    )
    assert plan.error_count == 2 and plan.disabled_reason is None
    assert plan.next_check_at > NOW


def test_retry_after_wins_but_is_capped() -> None:
    rng = random.Random(0)
    plan = plan_after_failure(
        error_count=0, message="429", counts=True, retry_after_s=7200, cfg=CFG, rng=rng, now=NOW
    )
    assert plan.next_check_at == NOW + timedelta(hours=2)
    plan = plan_after_failure(
        error_count=0, message="429", counts=True, retry_after_s=10**9, cfg=CFG, rng=rng, now=NOW
    )
    assert plan.next_check_at == NOW + timedelta(minutes=600)
