"""The outbox worker: send due deliveries, exactly once, in order.

A delivery is one or more Discord messages. After each message is accepted its id is written to
the row at once (`parts_sent`, `message_ids`), so a retry — after a 5xx, a timeout, a rate
limit or a crash — resumes with the next message instead of posting earlier ones again. The one
window left (Discord accepted, we crashed before the write) is closed by the per-message nonce on
the bot path and kept to a single UPDATE on the webhook path.

Failures Discord reports as temporary (5xx, timeouts, no connection) back off exponentially up
to `discord.max_attempts`; rate limits wait as long as Discord says without counting as a failed
attempt; refusals (4xx) mark the delivery failed with Discord's reason.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.chat.sinks import Outgoing, RateLimitedError, Sink, TransientDeliveryError
from bot.clock import parse_iso, to_iso
from bot.config import Settings, destination_for
from bot.errors import DeliveryError
from bot.models import Delivery
from bot.store import outbox

log = logging.getLogger(__name__)

# While a worker is sending a delivery it holds it this long, so a second process running
# `tokentide deliver` at the same moment skips it instead of posting it twice.
_LEASE = timedelta(minutes=10)
# Inline rate-limit waits per message before the delivery is rescheduled instead.
_MAX_INLINE_RETRIES = 5


def backoff_delay(settings: Settings, attempts: int) -> timedelta:
    """Delay before retry number `attempts` (1-based): base * 2**(n-1), capped."""
    cfg = settings.discord
    seconds = min(cfg.backoff_max_s, cfg.backoff_base_s * (2 ** max(attempts - 1, 0)))
    return timedelta(seconds=seconds)


def _load_files(message: dict[str, Any], *, delivery_id: int) -> tuple[tuple[str, bytes], ...]:
    files = []
    for spec in message.get("files") or []:
        name = str(spec.get("filename") or "attachment.png")
        if spec.get("data_base64"):
            files.append((name, base64.b64decode(spec["data_base64"])))
        elif spec.get("path"):
            try:
                files.append((name, Path(spec["path"]).read_bytes()))
            except OSError as exc:
                # A missing chart should not hold back the text people are waiting for.
                log.warning("delivery %s: attachment %s skipped: %s", delivery_id, name, exc)
    return tuple(files)


def messages_for(
    db: sqlite_utils.Database, payload: dict[str, Any], *, now: datetime
) -> list[dict[str, Any]]:
    """The Discord message bodies a delivery payload stands for."""
    if isinstance(payload.get("messages"), list) and payload["messages"]:
        return payload["messages"]
    if payload.get("type") == "share_alert":
        # The tracker enqueues numbers only; the words (and related stories) are rendered
        # when sending, from the archive as it is then.
        from bot.digest.alerts import render_alert_messages
        from bot.narratives.search import find_related_stories

        return render_alert_messages(payload, find_related_stories(db, payload, now=now))
    raise DeliveryError(
        f"payload of type {payload.get('type')!r} has no messages to send (expected 'messages')"
    )


def part_nonce(nonce: str, part: int) -> str:
    """A distinct, stable nonce per message of a delivery (Discord allows 25 characters)."""
    return f"{(nonce or '')[:20]}p{part:04d}"[-25:]


async def _send_with_waits(sink: Sink, out: Outgoing, settings: Settings) -> str:
    """Send one message, sleeping through short rate limits Discord asks for."""
    for _ in range(_MAX_INLINE_RETRIES):
        try:
            return await sink.send(out)
        except RateLimitedError as exc:
            if exc.retry_after > settings.discord.max_inline_wait_s:
                raise
            log.info("rate limited, waiting %.2fs: %s", exc.retry_after, exc)
            await asyncio.sleep(exc.retry_after)
    return await sink.send(out)


async def deliver_pending(
    db: sqlite_utils.Database, settings: Settings, sink: Sink, *, now: datetime
) -> dict[str, int]:
    """Send every due delivery for this configuration's destination, oldest first.

    Returns counts: sent, failed (gave up or refused), retrying (rescheduled just now), skipped
    (1 when the run stopped at a delivery not yet due or held by another worker).
    """
    counts = {"sent": 0, "failed": 0, "retrying": 0, "skipped": 0}
    due = to_iso(now)
    for row in outbox.pending(db, destination_for(settings)):
        # Deliveries arrive in the order they were enqueued: one waiting for its retry (or
        # held by another worker) holds back everything after it.
        if (row.next_attempt_at or "") > due or not outbox.claim(db, row, until=now + _LEASE):
            counts["skipped"] += 1
            break
        outcome = await _deliver_one(db, settings, sink, row, now=now)
        counts[outcome] += 1
        if outcome == "retrying":
            break
    return counts


async def _deliver_one(
    db: sqlite_utils.Database,
    settings: Settings,
    sink: Sink,
    row: Delivery,
    *,
    now: datetime,
) -> str:
    delivery_id = row.id
    sent_ids: list[str] = json.loads(row.message_ids or "[]")
    try:
        payload = json.loads(row.payload)
        messages = messages_for(db, payload, now=now)
        for part in range(row.parts_sent, len(messages)):
            message = messages[part]
            out = Outgoing(
                delivery_id=delivery_id,
                kind=row.kind,
                key=row.key,
                part=part,
                parts=len(messages),
                body=message,
                nonce=part_nonce(row.nonce or "", part),
                files=_load_files(message, delivery_id=delivery_id),
                payload=payload,
            )
            message_id = await _send_with_waits(sink, out, settings)
            # Record before anything else: this row is what stops a second copy.
            sent_ids.append(message_id)
            outbox.record(
                db,
                delivery_id,
                parts_sent=part + 1,
                message_ids=json.dumps(sent_ids),
                message_id=sent_ids[0],
            )
    except RateLimitedError as exc:
        # Not a failure: Discord said when to come back.
        # Rounded up: timestamps have whole seconds, and early is what Discord punishes.
        wait = timedelta(seconds=math.ceil(max(exc.retry_after, 1.0)))
        outbox.record(db, delivery_id, next_attempt_at=to_iso(now + wait), last_error=str(exc))
        return "retrying"
    except TransientDeliveryError as exc:
        attempts = row.attempts + 1
        if attempts >= settings.discord.max_attempts:
            outbox.record(db, delivery_id, status="failed", attempts=attempts, last_error=str(exc))
            log.error("delivery %s failed after %d attempts: %s", delivery_id, attempts, exc)
            return "failed"
        outbox.record(
            db,
            delivery_id,
            attempts=attempts,
            last_error=str(exc),
            next_attempt_at=to_iso(now + backoff_delay(settings, attempts)),
        )
        log.warning("delivery %s will be retried (attempt %d): %s", delivery_id, attempts, exc)
        return "retrying"
    except (DeliveryError, ValueError, KeyError, TypeError) as exc:
        # Refused by Discord, or a payload we cannot turn into messages: retrying cannot help.
        outbox.record(
            db,
            delivery_id,
            status="failed",
            attempts=row.attempts + 1,
            last_error=f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, DeliveryError)
            else str(exc),
        )
        log.error("delivery %s failed: %s", delivery_id, exc)
        return "failed"
    outbox.record(
        db,
        delivery_id,
        status="sent",
        attempts=row.attempts + 1,
        sent_at=to_iso(now),
        last_error=None,
    )
    return "sent"


async def deliver_until_settled(
    db: sqlite_utils.Database,
    settings: Settings,
    sink: Sink,
    *,
    clock: Callable[[], datetime],
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> dict[str, int]:
    """Deliver, and keep retrying while the next retry is due within
    `discord.max_inline_wait_s` — so one `tokentide deliver` rides out a brief hiccup; longer
    waits are left to the next run (or the scheduler). Returns the summed counts."""
    total = {"sent": 0, "failed": 0, "retrying": 0, "skipped": 0}
    for _ in range(settings.discord.max_attempts + 1):
        counts = await deliver_pending(db, settings, sink, now=clock())
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
        if not counts["retrying"]:
            break
        wait = _next_wait(db, settings, clock())
        if wait is None or wait > settings.discord.max_inline_wait_s:
            break
        total["retrying"] -= counts["retrying"]  # it is being retried now, not left pending
        await sleep(max(wait, 0.0))
    return total


def _next_wait(db: sqlite_utils.Database, settings: Settings, now: datetime) -> float | None:
    due = outbox.next_attempt_at(db, destination_for(settings))
    return None if due is None else (parse_iso(due) - now).total_seconds()
