"""Fetch OpenRouter rankings and prices and store them: the raw payload once, its rows in one
transaction.

Sources are tried in order — the Data API when OPENROUTER_API_KEY is set, then the keyless
rankings/models, then the keyless market-share — and the first that answers with a usable
payload wins. A failure stores nothing, so the last good snapshot stays the current one. An
answer is checked as a whole before it is stored (`tokens.checks`): refused or held answers
are recorded in `rejected_snapshots` with the reason, and never alert.

Each poll then makes one request for the model list (`/api/v1/models`), retried and backed off
like the rankings, and stores it when the prices changed; a failure there is reported and
recorded but does not fail the poll.
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
from bot.store.prices import save_prices
from bot.store.tokens import held_totals, previous_totals, record_rejection
from bot.tokens.checks import CONFIRM, HOLD, REJECT, judge_snapshot
from bot.tokens.client import (
    Fetched,
    OpenRouterAuthError,
    OpenRouterClient,
    RejectedAnswer,
    Sleep,
)
from bot.tokens.countries import load_country_map
from bot.tokens.history import content_hash, store_snapshot
from bot.tokens.parse import PARSERS
from bot.tokens.prices import PriceListError, parse_models
from bot.tokens.sources import MARKET_SHARE, MODEL_LIST, RANKINGS_DAILY, RANKINGS_MODELS

log = logging.getLogger(__name__)


def _refused(db: sqlite_utils.Database, source: str, exc: RejectedAnswer, *, now: datetime) -> None:
    record_rejection(
        db,
        source=source,
        fetched_at=to_iso(now),
        verdict=exc.verdict,
        reason=str(exc),
        content_hash=exc.content_hash,
        totals=exc.totals,
    )


def _store(
    db: sqlite_utils.Database, settings: Settings, fetched: Fetched, *, now: datetime
) -> dict:
    """Parse, check as a whole and store one answer; RejectedAnswer when it is refused or held."""
    source = fetched.source
    try:
        parsed: ParsedSnapshot = PARSERS[source](fetched.payload, fetched_at=now)
    except OpenRouterError as exc:
        raise RejectedAnswer(str(exc)) from None
    # Only `data` counts: a `meta` that changes per request must not make a new snapshot.
    digest = content_hash(fetched.payload["data"])
    previous = previous_totals(db, source=source, window_end=parsed.window_end)
    verdict = judge_snapshot(parsed, previous, held_totals(db, source=source), settings.openrouter)
    if verdict.action in (REJECT, HOLD):
        why = "; ".join(verdict.reasons)
        if verdict.action == REJECT:
            message = f"snapshot rejected: {why} - keeping the last good snapshot, no alert"
        else:
            message = (
                f"snapshot held until the next poll confirms it: {why} - keeping the last "
                "good snapshot, no alert"
            )
        raise RejectedAnswer(
            f"OpenRouter {source}: {message}",
            verdict="held" if verdict.action == HOLD else "rejected",
            content_hash=digest,
            totals=verdict.totals,
        )
    if verdict.action == CONFIRM:
        log.warning(
            "OpenRouter %s: confirmed by a second answer, stored: %s",
            source,
            "; ".join(verdict.reasons),
        )
    snapshot_id, stored = store_snapshot(
        db,
        parsed,
        body=fetched.body,
        digest=digest,
        fetched_at=to_iso(now),
        countries=load_country_map(settings.openrouter.countries),
        holds="confirmed" if verdict.action == CONFIRM else "superseded",
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
        "confirmed": verdict.action == CONFIRM,
    }


async def poll_prices(db: sqlite_utils.Database, api: OpenRouterClient, *, now: datetime) -> dict:
    """One request for the model list; store it if the prices changed.

    Returns {"snapshot_id", "stored", "models", "fetched_at"} or {"error": str}: a bad list is
    recorded in `rejected_snapshots` and the last stored one stays in use."""
    try:
        fetched = await api.model_list()
        prices = parse_models(fetched.raw, fetched_at=now)
    except OpenRouterAuthError:
        raise
    except OpenRouterError as exc:
        # Every answer that came back but cannot be used is recorded; an unreachable or
        # failing server is only reported (job_runs keeps it).
        if isinstance(exc, RejectedAnswer | PriceListError):
            record_rejection(
                db, source=MODEL_LIST, fetched_at=to_iso(now), verdict="rejected", reason=str(exc)
            )
        log.warning("%s", exc)
        return {"error": str(exc)}
    snapshot_id, stored = save_prices(db, prices)
    return {
        "snapshot_id": snapshot_id,
        "stored": stored,
        "models": len(prices.rows),
        "fetched_at": prices.fetched_at,
    }


async def poll_tokens(
    db: sqlite_utils.Database,
    settings: Settings,
    client: httpx.AsyncClient,
    *,
    now: datetime,
    sleep: Sleep = asyncio.sleep,
) -> dict:
    """Fetch from the first working source and store it, then poll the price list once.
    Raises OpenRouterError if no rankings source works (the price list is polled first).

    Returns {"source", "snapshot_id", "stored" (False: same snapshot seen before), "rows",
    "skipped" {reason: n}, "no_author", "window" {"start","end"}, "as_of", "confirmed",
    "errors" [str], "prices" (see `poll_prices`)}.
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
    result = None
    for source in sources:
        try:
            fetched = await fetchers[source]()
            result = _store(db, settings, fetched, now=now)
        except OpenRouterAuthError:
            raise
        except RejectedAnswer as exc:
            _refused(db, source, exc, now=now)
            log.warning("%s", exc)
            errors.append(str(exc))
            continue
        except OpenRouterError as exc:
            log.warning("%s", exc)
            errors.append(str(exc))
            continue
        result["errors"] = errors
        break
    # One request for prices per poll, retried like the rankings (it is not the Data API, so
    # the Data API's 30 requests a minute do not apply to it).
    prices = await poll_prices(db, api, now=now)
    if result is None:
        raise OpenRouterError(
            "no OpenRouter source worked (last good snapshot kept): " + " | ".join(errors)
        )
    result["prices"] = prices
    return result


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
        try:
            result = _store(db, settings, fetched, now=now)
        except RejectedAnswer as exc:
            _refused(db, RANKINGS_DAILY, exc, now=now)
            raise
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
