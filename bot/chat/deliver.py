"""The outbox worker: send due deliveries, exactly once, in order.

A delivery is one or more Discord messages. After each message is accepted its id is written to
the row at once (`parts_sent`, `message_ids`), so a retry — after a 5xx, a timeout, a rate
limit or a crash — resumes with the next message instead of posting earlier ones again.

The window left is a crash while a message is on the wire: Discord may have taken it, and we
do not know. Each message is marked (`sending_part`) before it goes out. The next sender — at
once when the crashed one is a dead process on this machine, else when its one-minute lease
runs out — finds the mark and sends that message again. On the bot path the nonce makes
Discord keep one copy; a webhook takes no nonce, so there the channel may show it twice, and
the row lists it in `resent_parts`.

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
import time
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
from bot.store import locks, outbox

log = logging.getLogger(__name__)

# A worker holds a delivery while it sends it, so a second process running `tokentide
# deliver` at the same moment leaves it alone instead of posting it twice. The claim names the
# process: one that has died is replaced at once; one on another machine (or stalled) after
# its lease, which is short and renewed while sending.
LEASE = timedelta(seconds=60)
RENEW_EVERY = timedelta(seconds=20)
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
) -> dict[str, Any]:
    """Send every due delivery for this configuration's destination, oldest first.

    Returns counts: sent, failed (gave up or refused), retrying (rescheduled just now), skipped
    (1 when the run stopped at a delivery not yet due), held (1 when it stopped at a delivery
    another live sender holds; `held_by` then says who, since when, and until when).
    """
    counts: dict[str, Any] = {"sent": 0, "failed": 0, "retrying": 0, "skipped": 0, "held": 0}
    due = to_iso(now)
    started = time.monotonic()

    def clock() -> datetime:  # `now`, moved on by the time this run has taken so far
        return now + timedelta(seconds=time.monotonic() - started)

    for row in outbox.pending(db, destination_for(settings)):
        # Deliveries arrive in the order they were enqueued: one waiting for its retry (or
        # held by another worker) holds back everything after it.
        if (row.next_attempt_at or "") > due:
            counts["skipped"] += 1
            break
        held_by = _held_by(row, now)
        me = locks.this_process(now).to_json()
        at = clock()
        if held_by is None and not outbox.claim(
            db, row.id, holder=me, now=at, until=at + LEASE, replacing=row.claimed_by
        ):
            # Another worker claimed it between our read and our claim.
            current = outbox.get(db, row.id)
            held_by = _held_by(current, now) if current is not None else None
            held_by = held_by or f"delivery {row.id} was just claimed by another process"
        if held_by is not None:
            counts["held"] += 1
            counts["held_by"] = held_by
            break
        renewing = asyncio.ensure_future(_keep_claim(db, row.id, me, clock))
        try:
            outcome = await _deliver_one(db, settings, sink, row, now=now, holder=me)
        except _ClaimLost:
            counts["held"] += 1
            counts["held_by"] = (
                f"delivery {row.id} was taken over by another process while this one sent it "
                f"(this one stalled for more than {LEASE.total_seconds():.0f}s)"
            )
            break
        finally:
            renewing.cancel()
            # Normally released with the outcome already; this covers an unexpected error or a
            # cancellation, and keeps `sending_part`: that message may be out.
            outbox.record(db, row.id, holder=me, claimed_by=None, claimed_at=None, lease_until=None)
        counts[outcome] += 1
        if outcome == "retrying":
            break
    return counts


def _held_by(row: Delivery, now: datetime) -> str | None:
    """Why `row` cannot be taken now (who holds it, since when, until when), or None when it is
    free: never claimed, its lease ran out, or its holder is a process that no longer runs."""
    if not row.claimed_by:
        return None
    if (row.lease_until or "") <= to_iso(now):
        return None
    holder = locks.Holder.from_json(row.claimed_by)
    if holder is not None and locks.holder_state(holder) == "dead":
        return None
    who = holder.describe() if holder is not None else "an unknown process"
    return (
        f"delivery {row.id} ({row.kind} {row.key!r}) is held by another process since "
        f"{row.claimed_at} ({who}); it is taken over as soon as that process stops, or when "
        f"its lease runs out at {row.lease_until}"
    )


async def _keep_claim(
    db: sqlite_utils.Database, delivery_id: int, holder: str, clock: Callable[[], datetime]
) -> None:
    """Renew the lease while a delivery is being sent (slow uploads, rate-limit waits)."""
    while True:
        await asyncio.sleep(RENEW_EVERY.total_seconds())
        if not outbox.renew(db, delivery_id, holder=holder, until=clock() + LEASE):
            return


class _ClaimLost(Exception):
    """Another worker took the delivery over (this one stalled past its lease)."""


# Written with every outcome: the claim ends with the attempt.
_RELEASE: dict[str, Any] = {
    "claimed_by": None,
    "claimed_at": None,
    "lease_until": None,
    "sending_part": None,
}


async def _deliver_one(
    db: sqlite_utils.Database,
    settings: Settings,
    sink: Sink,
    row: Delivery,
    *,
    now: datetime,
    holder: str,
) -> str:
    delivery_id = row.id

    def record(**values: Any) -> None:
        if not outbox.record(db, delivery_id, holder=holder, **values):
            raise _ClaimLost(delivery_id)

    sent_ids: list[str] = json.loads(row.message_ids or "[]")
    try:
        payload = json.loads(row.payload)
        messages = messages_for(db, payload, now=now)
        if row.sending_part is not None and row.sending_part < len(messages):
            _note_resend(row, sink, record)
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
            # Written before the message goes out: if this process dies before the answer is
            # recorded, the next sender knows this message may already be in the channel.
            record(sending_part=part)
            message_id = await _send_with_waits(sink, out, settings)
            # Record before anything else: this row is what stops a second copy.
            sent_ids.append(message_id)
            record(
                parts_sent=part + 1,
                message_ids=json.dumps(sent_ids),
                message_id=sent_ids[0],
                sending_part=None,
            )
    except RateLimitedError as exc:
        # Not a failure: Discord said when to come back.
        # Rounded up: timestamps have whole seconds, and early is what Discord punishes.
        wait = timedelta(seconds=math.ceil(max(exc.retry_after, 1.0)))
        record(next_attempt_at=to_iso(now + wait), last_error=str(exc), **_RELEASE)
        return "retrying"
    except TransientDeliveryError as exc:
        attempts = row.attempts + 1
        if attempts >= settings.discord.max_attempts:
            record(status="failed", attempts=attempts, last_error=str(exc), **_RELEASE)
            log.error("delivery %s failed after %d attempts: %s", delivery_id, attempts, exc)
            return "failed"
        record(
            attempts=attempts,
            last_error=str(exc),
            next_attempt_at=to_iso(now + backoff_delay(settings, attempts)),
            **_RELEASE,
        )
        log.warning("delivery %s will be retried (attempt %d): %s", delivery_id, attempts, exc)
        return "retrying"
    except (DeliveryError, ValueError, KeyError, TypeError) as exc:
        # Refused by Discord, or a payload we cannot turn into messages: retrying cannot help.
        record(
            status="failed",
            attempts=row.attempts + 1,
            last_error=f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, DeliveryError)
            else str(exc),
            **_RELEASE,
        )
        log.error("delivery %s failed: %s", delivery_id, exc)
        return "failed"
    record(
        status="sent",
        attempts=row.attempts + 1,
        sent_at=to_iso(now),
        last_error=None,
        **_RELEASE,
    )
    return "sent"


def _note_resend(row: Delivery, sink: Sink, record: Callable[..., None]) -> None:
    """The previous sender died while sending message `row.sending_part`: it may be in the
    channel already. Say so, and keep it in `resent_parts`, before sending it again."""
    part = row.sending_part
    resent = json.loads(row.resent_parts or "[]")
    record(resent_parts=json.dumps([*resent, part]))
    holder = locks.Holder.from_json(row.claimed_by)
    who = holder.describe() if holder is not None else "a previous sender"
    if sink.name == "bot":
        log.warning(
            "delivery %s: %s stopped while sending message %d; sending it again with the "
            "same nonce, so Discord keeps one copy",
            row.id,
            who,
            part + 1,
        )
    else:
        log.warning(
            "delivery %s: %s stopped while sending message %d; sending it again (if Discord "
            "had already accepted it, the channel now shows it twice; see resent_parts)",
            row.id,
            who,
            part + 1,
        )


async def deliver_until_settled(
    db: sqlite_utils.Database,
    settings: Settings,
    sink: Sink,
    *,
    clock: Callable[[], datetime],
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> dict[str, Any]:
    """Deliver, and keep retrying while the next retry is due within
    `discord.max_inline_wait_s` — so one `tokentide deliver` rides out a brief hiccup; longer
    waits are left to the next run (or the scheduler). Returns the summed counts."""
    total: dict[str, Any] = {"sent": 0, "failed": 0, "retrying": 0, "skipped": 0, "held": 0}
    for _ in range(settings.discord.max_attempts + 1):
        counts = await deliver_pending(db, settings, sink, now=clock())
        for key, value in counts.items():
            total[key] = value if key == "held_by" else total.get(key, 0) + value
        if not counts["retrying"] or counts["held"]:
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
