"""Share-change alerts: compare the newest snapshot with the last *alerted* value.

Rules (settings under openrouter.alert):
- the first snapshot of a source is the baseline (no alert);
- a tracked country moving >= min_points percentage points from its last alerted (or baseline)
  share alerts; small drifts accumulate instead of resetting the reference each poll;
- the leader among tracked countries changes only when the challenger leads by at least
  hysteresis_points, so a near-tie does not flip back and forth;
- within cooldown_hours of the last alert nothing is sent ("held"); the reference stays, so the
  move is reported once the cooldown ends if it still holds;
- a source change starts a new baseline: sources define shares differently.
Every evaluation is recorded in share_alerts, so state survives restarts and each snapshot is
judged once; each alert is keyed to its snapshot in the deliveries outbox.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlite_utils

from bot.clock import parse_iso, to_iso
from bot.config import AlertConfig, Settings
from bot.store.outbox import destination_for, enqueue
from bot.tokens.history import newest_snapshot, snapshot_rows
from bot.tokens.report import citation
from bot.tokens.shares import Period, build_periods, select_periods, shares_by, top_movers


def headline_period(rows: list[dict], *, now: datetime) -> Period | None:
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


def _record(db, snapshot: dict, period: Period | None, shares, leader, kind, reason, now, did=None):
    with db.conn:
        db.execute(
            # OR IGNORE: a second process judging the same snapshot at once changes nothing.
            """INSERT OR IGNORE INTO share_alerts (snapshot_id, evaluated_at, source, period_start,
                   period_end, shares, leader, kind, delivery_id, reason)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                snapshot["id"],
                to_iso(now),
                snapshot["source"],
                period.start if period else None,
                period.end if period else None,
                json.dumps(shares, sort_keys=True),
                leader,
                kind,
                did,
                reason,
            ],
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
    if snapshot is None:
        return []
    seen = db.execute("SELECT 1 FROM share_alerts WHERE snapshot_id = ?", [snapshot["id"]])
    if seen.fetchone():
        return []
    rows = snapshot_rows(db, snapshot["id"])
    period = headline_period(rows, now=now)
    if period is None:
        _record(db, snapshot, None, {}, None, "skipped", "no complete week in snapshot", now)
        return []
    _, current = shares_by(period.rows, "country")
    ref = db.execute(
        """SELECT snapshot_id, shares, leader FROM share_alerts
           WHERE source = ? AND kind IN ('baseline', 'alert')
           ORDER BY evaluated_at DESC, snapshot_id DESC LIMIT 1""",
        [snapshot["source"]],
    ).fetchone()
    if ref is None:
        leader = leader_of(current, conf.track)
        _record(db, snapshot, period, current, leader, "baseline", "first snapshot", now)
        return []
    ref_id, ref_shares, ref_leader = ref[0], json.loads(ref[1]), ref[2]
    moves, leader, reasons = judge(current, ref_shares, ref_leader, conf)
    if not reasons:
        _record(db, snapshot, period, current, None, "quiet", "below thresholds", now)
        return []
    last_alert = db.execute(
        "SELECT MAX(evaluated_at) FROM share_alerts WHERE kind = 'alert'"
    ).fetchone()[0]
    if last_alert and parse_iso(last_alert) + timedelta(hours=conf.cooldown_hours) > now:
        reason = "; ".join(reasons) + f" (held: cooldown since {last_alert})"
        _record(db, snapshot, period, current, None, "held", reason, now)
        return []
    reference = headline_period(snapshot_rows(db, ref_id), now=now)
    author_countries = {r["author"]: r["country"] for r in period.rows}
    model_countries = {r["model"]: r["country"] for r in period.rows}
    if reference is not None:
        author_countries |= {r["author"]: r["country"] for r in reference.rows}
        model_countries |= {r["model"]: r["country"] for r in reference.rows}
    movers = _movers(period, reference, conf, author_countries | model_countries)
    payload = {
        "type": "share_alert",
        "snapshot_id": snapshot["id"],
        "source": snapshot["source"],
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
    delivery_id = enqueue(
        db,
        kind="share_alert",
        key=f"snapshot:{snapshot['id']}",
        destination=destination_for(settings),
        payload=payload,
        now=now,
    )
    if delivery_id is None:  # queued before a crash stopped us recording it: same alert
        delivery_id = db.execute(
            "SELECT id FROM deliveries WHERE kind = 'share_alert' AND key = ? AND destination = ?",
            [f"snapshot:{snapshot['id']}", destination_for(settings)],
        ).fetchone()[0]
    _record(
        db,
        snapshot,
        period,
        current,
        leader["after"],
        "alert",
        "; ".join(reasons),
        now,
        delivery_id,
    )
    return [delivery_id]
