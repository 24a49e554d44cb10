"""Pure scheduling: when to check a feed next, how to back off, when to give up on it.

Inputs are plain values (headers, counts, settings, `now`, a `random.Random` for jitter), so
every rule is tested without a clock or a network.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from bot.config import FetchConfig

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def _http_date(text: str) -> datetime | None:
    try:
        dt = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None or dt.tzinfo is None:
        return None
    return dt


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Retry-After as seconds from `now`: either delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    return max(0.0, (when - now).total_seconds())


def cache_hint_minutes(
    headers: Mapping[str, str], *, ttl_minutes: float | None, now: datetime
) -> float | None:
    """How long the publisher says the feed stays fresh: the largest of RSS <ttl>,
    Cache-Control max-age and Expires. None when it says nothing."""
    hints: list[float] = []
    if ttl_minutes is not None and ttl_minutes > 0:
        hints.append(ttl_minutes)
    cache_control = headers.get("cache-control", "")
    match = _MAX_AGE.search(cache_control)
    if match:
        hints.append(int(match.group(1)) / 60)
    elif headers.get("expires"):
        expires = _http_date(headers["expires"])
        if expires is not None:
            hints.append(max(0.0, (expires - now).total_seconds() / 60))
    return max(hints) if hints else None


def next_check_after_success(
    headers: Mapping[str, str],
    *,
    ttl_minutes: float | None,
    cfg: FetchConfig,
    now: datetime,
) -> datetime:
    """Poll no sooner than the publisher asks, within [min_interval, max_interval]."""
    hint = cache_hint_minutes(headers, ttl_minutes=ttl_minutes, now=now)
    minutes = cfg.min_interval_min if hint is None else hint
    minutes = min(max(minutes, cfg.min_interval_min), cfg.max_interval_min)
    return now + timedelta(minutes=minutes)


def backoff_minutes(failures: int, cfg: FetchConfig, rng: random.Random) -> float:
    """Exponential backoff with 'equal jitter': half the delay fixed, half random, so failing
    feeds spread out instead of retrying in lockstep, yet never retry immediately."""
    exponent = min(max(failures, 1) - 1, 30)
    delay = min(cfg.backoff_base_min * (2**exponent), cfg.backoff_max_min)
    return delay / 2 + rng.uniform(0, delay / 2)


@dataclass(frozen=True)
class FailurePlan:
    error_count: int
    next_check_at: datetime
    disabled_reason: str | None


def plan_after_failure(
    *,
    error_count: int,
    message: str,
    counts: bool,
    retry_after_s: float | None,
    cfg: FetchConfig,
    rng: random.Random,
    now: datetime,
) -> FailurePlan:
    """What to store after a failed check.

    `counts` is False when the machine itself looks offline (every host unreachable): the
    feed is retried with backoff but its failure count does not grow, so a laptop on a train
    never disables its feeds. A Retry-After longer than our backoff wins, up to its cap.
    """
    new_count = error_count + 1 if counts else error_count
    delay = backoff_minutes(max(new_count, 1), cfg, rng)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s / 60, cfg.retry_after_max_min))
    reason = None
    if counts and new_count >= cfg.max_failures:
        reason = f"disabled after {new_count} consecutive failures; last: {message}"
    return FailurePlan(new_count, now + timedelta(minutes=delay), reason)
