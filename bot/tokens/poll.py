"""Fetch OpenRouter rankings and store them: the raw payload once, its rows in one transaction.

Sources are tried in order — the Data API when OPENROUTER_API_KEY is set, then the keyless
rankings/models, then the keyless market-share — and the first that answers with a usable
payload wins. A failure stores nothing, so the last good snapshot stays the current one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

import httpx
import sqlite_utils

from bot.clock import to_iso
from bot.config import Settings
from bot.errors import OpenRouterError
from bot.models import ParsedSnapshot
from bot.tokens.client import Fetched, OpenRouterAuthError, OpenRouterClient, Sleep
from bot.tokens.countries import load_country_map
from bot.tokens.history import content_hash, store_snapshot
from bot.tokens.parse import PARSERS
from bot.tokens.sources import MARKET_SHARE, RANKINGS_DAILY, RANKINGS_MODELS

log = logging.getLogger(__name__)


def _store(
    db: sqlite_utils.Database, settings: Settings, fetched: Fetched, *, now: datetime
) -> dict:
    parsed: ParsedSnapshot = PARSERS[fetched.source](fetched.payload, fetched_at=now)
    snapshot_id, stored = store_snapshot(
        db,
        parsed,
        body=fetched.body,
        # Only `data` counts: a `meta` that changes per request must not make a new snapshot.
        digest=content_hash(fetched.payload["data"]),
        fetched_at=to_iso(now),
        countries=load_country_map(settings.openrouter.countries),
    )
    if parsed.skipped:
        log.warning("OpenRouter %s: skipped rows: %s", parsed.source, parsed.skipped)
    return {
        "source": parsed.source,
        "snapshot_id": snapshot_id,
        "stored": stored,
        "rows": len(parsed.rows),
        "skipped": parsed.skipped,
        "no_author": parsed.no_author,
        "window": {"start": parsed.window_start, "end": parsed.window_end},
        "as_of": parsed.as_of,
    }


async def poll_tokens(
    db: sqlite_utils.Database,
    settings: Settings,
    client: httpx.AsyncClient,
    *,
    now: datetime,
    sleep: Sleep = asyncio.sleep,
) -> dict:
    """Fetch from the first working source and store it. Raises OpenRouterError if none works.

    Returns {"source", "snapshot_id", "stored" (False: same snapshot seen before), "rows",
    "skipped" {reason: n}, "no_author", "window" {"start","end"}, "as_of", "errors" [str]}.
    """
    api = OpenRouterClient(settings, client, sleep=sleep)
    sources = [RANKINGS_MODELS, MARKET_SHARE]
    if settings.secrets.openrouter_api_key:
        sources.insert(0, RANKINGS_DAILY)
    # The Data API is asked for the last `daily_days` complete days: enough to hold one whole
    # ISO week, and polls on the same day then fetch identical content, which is stored once.
    yesterday = now.date() - timedelta(days=1)
    first = yesterday - timedelta(days=settings.openrouter.daily_days - 1)
    fetchers = {
        RANKINGS_DAILY: lambda: api.rankings_daily(first, yesterday),
        RANKINGS_MODELS: api.rankings_models,
        MARKET_SHARE: api.market_share,
    }
    errors: list[str] = []
    for source in sources:
        try:
            fetched = await fetchers[source]()
            result = _store(db, settings, fetched, now=now)
        except OpenRouterAuthError:
            raise
        except OpenRouterError as exc:
            log.warning("%s", exc)
            errors.append(str(exc))
            continue
        result["errors"] = errors
        return result
    raise OpenRouterError(
        "no OpenRouter source worked (last good snapshot kept): " + " | ".join(errors)
    )


async def backfill_tokens(
    db: sqlite_utils.Database,
    settings: Settings,
    client: httpx.AsyncClient,
    *,
    now: datetime,
    days: int,
    progress: Callable[[int], None] | None = None,
    sleep: Sleep = asyncio.sleep,
) -> dict:
    """Fetch `days` complete days of rankings-daily in chunks, oldest first, within 30 req/min.

    Each chunk is its own snapshot, so an interruption keeps what was fetched; re-running
    stores nothing twice. `progress(n_days)` is called after each chunk.
    """
    if not settings.secrets.openrouter_api_key:
        raise OpenRouterError(
            "backfill-tokens uses the OpenRouter Data API: set OPENROUTER_API_KEY "
            "(the keyless rankings have no history to backfill)"
        )
    if not 1 <= days <= 366:
        raise OpenRouterError(f"backfill-tokens --days: expected 1 to 366, got {days}")
    conf = settings.openrouter
    api = OpenRouterClient(settings, client, sleep=sleep)
    last_day = now.date() - timedelta(days=1)  # today is still in progress
    first_day = last_day - timedelta(days=days - 1)
    interval = 60.0 / conf.requests_per_minute
    totals = {"chunks": 0, "stored": 0, "already_had": 0, "rows": 0, "skipped": 0}
    start: date = first_day
    while start <= last_day:
        end = min(start + timedelta(days=conf.backfill_chunk_days - 1), last_day)
        if totals["chunks"]:
            await sleep(interval)  # the Data API allows 30 requests a minute
        fetched = await api.rankings_daily(start, end)
        result = _store(db, settings, fetched, now=now)
        totals["chunks"] += 1
        totals["stored" if result["stored"] else "already_had"] += 1
        totals["rows"] += result["rows"]
        totals["skipped"] += sum(result["skipped"].values())
        if progress:
            progress((end - start).days + 1)
        start = end + timedelta(days=1)
    totals["start"] = first_day.isoformat()
    totals["end"] = last_day.isoformat()
    return totals
