"""Share-change detection: compare the newest snapshot with the last *alerted* value.

Rules (settings under openrouter.alert):
- the first snapshot of a source is the baseline (no alert);
- a tracked country moving >= min_points percentage points from its last alerted (or baseline)
  share alerts; small drifts accumulate instead of resetting the reference each poll;
- the leader among tracked countries changes only when the challenger leads by at least
  hysteresis_points, so a near-tie does not flip back and forth;
- within cooldown_hours of the last alert nothing is sent ("held"); the reference stays, so the
  move is reported once the cooldown ends if it still holds;
- a source change starts a new baseline: sources define shares differently;
- an alert cites the CN-US price gap when both weeks are priced and the gap moved by at least
  price_gap_change (or the cheaper side changed).
Every evaluation is recorded in share_alerts, so state survives restarts and each snapshot is
judged once; each alert is keyed to its snapshot in the deliveries outbox, queued in the same
transaction that records the decision.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlite_utils

from bot.clock import parse_iso, to_iso
from bot.config import AlertConfig, Settings
from bot.models import ShareAlert, Snapshot, TokenRow
from bot.store.outbox import destination_for
from bot.store.tokens import (
    last_alert_at,
    last_reference,
    newest_snapshot,
    record_share_alert,
    share_alert,
    snapshot_rows,
)
from bot.tokens.price_report import gap_move
from bot.tokens.shares import Period, build_periods, select_periods, shares_by, top_movers
from bot.tokens.sources import citation


def headline_period(rows: list[TokenRow], *, now: datetime) -> Period | None:
    """The complete week a snapshot is judged on (None when it holds no complete week)."""
    chosen = select_periods(build_periods(rows, "week"), now=now)
    if chosen is None or chosen[0].in_progress:
        return None
    return chosen[0]


def leader_of(shares: dict[str, float], track: tuple[str, ...]) -> str | None:
    if not track:
        return None
    return max(track, key=lambda c: (shares.get(c, 0.0), c))


def judge(
    current: dict[str, float],
    reference: dict[str, float],
    reference_leader: str | None,
    conf: AlertConfig,
) -> tuple[list[dict], dict, list[str]]:
    """Pure: (moves for tracked countries, leader info, reasons to alert; empty = no alert)."""
    moves = []
    reasons = []
    for country in conf.track:
        before, after = reference.get(country, 0.0), current.get(country, 0.0)
        points = round((after - before) * 100, 2)
        moves.append({"country": country, "from": before, "to": after, "points": points})
        if abs(after - before) * 100 >= conf.min_points:
            reasons.append(f"{country} moved {points:+.1f} points")
    moves.sort(key=lambda m: -abs(m["points"]))
    top = leader_of(current, conf.track)
    changed = (
        top is not None
        and reference_leader is not None
        and top != reference_leader
        and (current.get(top, 0.0) - current.get(reference_leader, 0.0)) * 100
        >= conf.hysteresis_points
    )
    leader = {
        "before": reference_leader,
        "after": top if changed else reference_leader,
        "changed": changed,
    }
    if changed:
        reasons.append(f"{top} overtook {reference_leader}")
    return moves, leader, reasons


def _decision(
    snapshot: Snapshot,
    period: Period | None,
    shares: dict[str, float],
    leader: str | None,
    kind: str,
    reason: str,
    now: datetime,
) -> ShareAlert:
    return ShareAlert(
        snapshot_id=snapshot.id,
        evaluated_at=to_iso(now),
        source=snapshot.source,
        period_start=period.start if period else None,
        period_end=period.end if period else None,
        shares=shares,
        leader=leader,
        kind=kind,
        delivery_id=None,
        reason=reason,
    )


def _movers(
    current: Period, reference: Period | None, conf: AlertConfig, countries: dict[str, str]
) -> list[dict]:
    if reference is None or conf.top_movers <= 0:
        return []
    out = []
    for kind in ("author", "model"):
        _, now_shares = shares_by(current.rows, kind)
        _, then_shares = shares_by(reference.rows, kind)
        for name, before, after, points in top_movers(now_shares, then_shares, conf.top_movers):
            out.append(
                {
                    "kind": kind,
                    "name": name,
                    "country": countries.get(name, "UNKNOWN"),
                    "from": round(before, 6),
                    "to": round(after, 6),
                    "points": points,
                }
            )
    return out


def detect_changes(db: sqlite_utils.Database, settings: Settings, *, now: datetime) -> list[int]:
    """Judge the newest snapshot once; enqueue a share_alert when it moved. Returns delivery ids."""
    conf = settings.openrouter.alert
    snapshot = newest_snapshot(db)
    if snapshot is None or share_alert(db, snapshot_id=snapshot.id) is not None:
        return []
    rows = snapshot_rows(db, snapshot_id=snapshot.id)
    period = headline_period(rows, now=now)
    if period is None:
        skipped = _decision(
            snapshot, None, {}, None, "skipped", "no complete week in snapshot", now
        )
        record_share_alert(db, skipped)
        return []
    _, current = shares_by(period.rows, "country")
    ref = last_reference(db, source=snapshot.source)
    if ref is None:
        leader = leader_of(current, conf.track)
        record_share_alert(
            db, _decision(snapshot, period, current, leader, "baseline", "first snapshot", now)
        )
        return []
    moves, leader, reasons = judge(current, ref.shares, ref.leader, conf)
    if not reasons:
        record_share_alert(
            db, _decision(snapshot, period, current, None, "quiet", "below thresholds", now)
        )
        return []
    last_alert = last_alert_at(db)
    if last_alert and parse_iso(last_alert) + timedelta(hours=conf.cooldown_hours) > now:
        reason = "; ".join(reasons) + f" (held: cooldown since {last_alert})"
        record_share_alert(db, _decision(snapshot, period, current, None, "held", reason, now))
        return []
    reference = headline_period(snapshot_rows(db, snapshot_id=ref.snapshot_id), now=now)
    author_countries = {r.author: r.country for r in period.rows}
    model_countries = {r.model: r.country for r in period.rows}
    if reference is not None:
        author_countries |= {r.author: r.country for r in reference.rows}
        model_countries |= {r.model: r.country for r in reference.rows}
    movers = _movers(period, reference, conf, author_countries | model_countries)
    price_gap = gap_move(db, period, reference, pair=conf.track, threshold=conf.price_gap_change)
    payload = {
        "type": "share_alert",
        "snapshot_id": snapshot.id,
        "source": snapshot.source,
        "as_of": period.as_of,
        "citation": citation(period.as_of),
        "period": {"start": period.start, "end": period.end},
        "reference_period": (
            {"start": reference.start, "end": reference.end} if reference is not None else None
        ),
        "moves": [{**m, "from": round(m["from"], 6), "to": round(m["to"], 6)} for m in moves],
        "leader": leader,
        "movers": movers,
        "reasons": reasons,
    }
    if price_gap is not None:
        payload["price_gap"] = price_gap
    alert = _decision(snapshot, period, current, leader["after"], "alert", "; ".join(reasons), now)
    delivery_id = record_share_alert(
        db, alert, destination=destination_for(settings), payload=payload
    )
    return [] if delivery_id is None else [delivery_id]
