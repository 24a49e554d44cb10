"""Share-change detection on a real archive: threshold vs last alerted value, leader hysteresis,
cooldown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import to_iso
from bot.config import apply_env
from bot.errors import StoreError
from bot.tokens.changes import detect_changes, judge
from bot.tokens.countries import load_country_map
from bot.tokens.history import content_hash, store_snapshot
from bot.tokens.parse import parse_market_share, parse_rankings_models

from .conftest import make_settings

T0 = datetime(2026, 9, 1, 6, tzinfo=UTC)


def settings(**alert):
    return make_settings("http://127.0.0.1:9", openrouter={"alert": alert} if alert else None)


def snapshot(db, day: int, cn: float, us: float, other: float = 0.0):
    """Store a rankings/models snapshot ending on 2026-08-<day> (fetched early next morning)."""
    now = datetime(2026, 8, day + 1, 2, tzinfo=UTC)
    parts = {"deepseek/v4": cn, "qwen/q3": 0.0, "openai/gpt": us, "stealth/x": other}
    rows = [
        {
            "date": f"2026-08-{day:02d}",
            "model_permaslug": slug,
            "variant": "standard",
            "total_prompt_tokens": int(pct * 1e9),
            "total_completion_tokens": 0,
        }
        for slug, pct in parts.items()
        if pct
    ]
    payload = {"data": rows}
    parsed = parse_rankings_models(payload, fetched_at=now)
    sid, _ = store_snapshot(
        db,
        parsed,
        body=json.dumps(payload),
        digest=content_hash(payload),
        fetched_at=to_iso(now),
        countries=load_country_map(),
    )
    return sid


def decisions(db) -> list[str]:
    return [r[0] for r in db.execute("SELECT kind FROM share_alerts ORDER BY snapshot_id")]


def outbox(db) -> list[dict]:
    rows = db.execute("SELECT kind, key, destination, payload FROM deliveries ORDER BY id")
    return [{"kind": k, "key": key, "dest": d, "payload": json.loads(p)} for k, key, d, p in rows]


def test_first_snapshot_is_a_baseline_then_a_big_move_alerts_once(db):
    s = settings()
    snapshot(db, 10, 60, 40)
    assert detect_changes(db, s, now=T0) == []
    sid = snapshot(db, 11, 57, 43)
    ids = detect_changes(db, s, now=T0 + timedelta(hours=1))
    assert len(ids) == 1
    assert detect_changes(db, s, now=T0 + timedelta(hours=2)) == []  # judged once
    [alert] = outbox(db)
    assert alert["kind"] == "share_alert" and alert["key"] == f"snapshot:{sid}"
    assert alert["dest"] == "console"
    p = alert["payload"]
    assert p["type"] == "share_alert" and p["snapshot_id"] == sid
    assert p["period"] == {"start": "2026-08-05T00:00:00Z", "end": "2026-08-12T00:00:00Z"}
    assert p["moves"][0] == {"country": "CN", "from": 0.6, "to": 0.57, "points": -3.0}
    assert p["leader"] == {"before": "CN", "after": "CN", "changed": False}
    assert (
        p["citation"] == "Source: OpenRouter (openrouter.ai/rankings), as of 2026-08-12T02:00:00Z"
    )
    assert {(m["kind"], m["name"], m["country"]) for m in p["movers"]} == {
        ("author", "deepseek", "CN"),
        ("author", "openai", "US"),
        ("model", "deepseek/v4", "CN"),
        ("model", "openai/gpt", "US"),
    }
    assert decisions(db) == ["baseline", "alert"]


def test_small_drifts_accumulate_against_the_last_alerted_value(db):
    s = settings()
    snapshot(db, 10, 60, 40)
    detect_changes(db, s, now=T0)
    snapshot(db, 11, 61.5, 38.5)
    assert detect_changes(db, s, now=T0) == []
    snapshot(db, 12, 62.5, 37.5)  # +1 vs previous poll, +2.5 vs the baseline
    assert len(detect_changes(db, s, now=T0)) == 1
    assert outbox(db)[0]["payload"]["moves"][0]["points"] == 2.5
    assert decisions(db) == ["baseline", "quiet", "alert"]


def test_leader_change_needs_the_hysteresis_margin(db):
    s = settings(min_points=50, hysteresis_points=0.5)
    snapshot(db, 10, 49.9, 50.1)
    detect_changes(db, s, now=T0)
    snapshot(db, 11, 50.2, 49.8)  # CN ahead by 0.4 points: not yet a change
    assert detect_changes(db, s, now=T0) == []
    snapshot(db, 12, 50.4, 49.6)  # ahead by 0.8 points
    assert len(detect_changes(db, s, now=T0)) == 1
    leader = outbox(db)[0]["payload"]["leader"]
    assert leader == {"before": "US", "after": "CN", "changed": True}
    snapshot(db, 13, 50.1, 49.9)  # tiny dip back: the new leader holds
    assert detect_changes(db, s, now=T0) == []
    assert decisions(db) == ["baseline", "quiet", "alert", "quiet"]


def test_cooldown_holds_alerts_and_the_move_is_reported_after(db):
    s = settings(cooldown_hours=24)
    snapshot(db, 10, 60, 40)
    detect_changes(db, s, now=T0)
    snapshot(db, 11, 55, 45)
    assert len(detect_changes(db, s, now=T0)) == 1
    snapshot(db, 12, 50, 50)
    assert detect_changes(db, s, now=T0 + timedelta(hours=2)) == []
    snapshot(db, 13, 51, 49)
    ids = detect_changes(db, s, now=T0 + timedelta(hours=25))
    assert len(ids) == 1
    # Compared with the last *alerted* share (55%), not with the held 50%.
    assert outbox(db)[1]["payload"]["moves"][0]["from"] == 0.55
    assert decisions(db) == ["baseline", "alert", "held", "alert"]


def test_a_new_source_starts_a_new_baseline(db):
    s = settings()
    snapshot(db, 10, 60, 40)
    detect_changes(db, s, now=T0)
    payload = {"data": [{"x": "2026-08-17", "ys": {"deepseek": 10, "openai": 90}}]}
    parsed = parse_market_share(payload, fetched_at=datetime(2026, 8, 25, tzinfo=UTC))
    store_snapshot(
        db,
        parsed,
        body="{}",
        digest=content_hash(payload),
        fetched_at="2026-08-25T00:00:00Z",
        countries=load_country_map(),
    )
    assert detect_changes(db, s, now=T0) == []
    assert decisions(db) == ["baseline", "baseline"]


def test_a_snapshot_with_only_an_unfinished_week_is_skipped(db):
    payload = {"data": [{"x": "2026-08-17", "ys": {"deepseek": 10, "openai": 90}}]}
    now = datetime(2026, 8, 19, tzinfo=UTC)
    parsed = parse_market_share(payload, fetched_at=now)
    store_snapshot(
        db,
        parsed,
        body="{}",
        digest=content_hash(payload),
        fetched_at=to_iso(now),
        countries=load_country_map(),
    )
    assert detect_changes(db, settings(), now=now) == []
    assert decisions(db) == ["skipped"]


def test_alerts_go_to_the_configured_destination(db):
    s = apply_env(
        settings(), {"DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/123/secret"}
    )
    snapshot(db, 10, 60, 40)
    detect_changes(db, s, now=T0)
    snapshot(db, 11, 50, 50)
    detect_changes(db, s, now=T0)
    assert outbox(db)[0]["dest"] == "discord-webhook:123"


def test_judge_is_pure_and_reports_every_tracked_country():
    conf = settings(track=["CN", "US", "FR"], min_points=2).openrouter.alert
    moves, leader, reasons = judge({"CN": 0.5, "US": 0.45}, {"CN": 0.55, "US": 0.4}, "CN", conf)
    assert [m["country"] for m in moves] == ["CN", "US", "FR"]
    assert reasons == ["CN moved -5.0 points", "US moved +5.0 points"]
    assert leader == {"before": "CN", "after": "CN", "changed": False}


def test_a_crash_between_queueing_and_recording_does_not_double_alert(db):
    s = settings()
    snapshot(db, 10, 60, 40)
    detect_changes(db, s, now=T0)
    sid = snapshot(db, 11, 50, 50)
    [first] = detect_changes(db, s, now=T0)
    # Simulate the crash: the decision was never written, the delivery was.
    with db.conn:
        db.execute("DELETE FROM share_alerts WHERE snapshot_id = ?", [sid])
    assert detect_changes(db, s, now=T0) == [first]
    assert len(outbox(db)) == 1
    assert (
        db.execute("SELECT delivery_id FROM share_alerts WHERE snapshot_id = ?", [sid]).fetchone()[
            0
        ]
        == first
    )


@pytest.mark.parametrize(
    "fault",
    [
        # The delivery row is refused: the decision written just before must go too.
        "CREATE TRIGGER boom AFTER INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'injected'); END",
        # Recording the queued delivery on the decision is refused: the delivery must go too.
        "CREATE TRIGGER boom BEFORE UPDATE ON share_alerts"
        " BEGIN SELECT RAISE(ABORT, 'injected'); END",
    ],
    ids=["delivery refused", "recording the delivery refused"],
)
def test_an_alert_is_queued_and_recorded_together_or_not_at_all(db, fault):
    s = settings()
    snapshot(db, 10, 60, 40)
    detect_changes(db, s, now=T0)
    sid = snapshot(db, 11, 50, 50)
    db.execute(fault)
    with pytest.raises(StoreError, match="injected"):
        detect_changes(db, s, now=T0)
    assert outbox(db) == [] and decisions(db) == ["baseline"]
    db.execute("DROP TRIGGER boom")
    [delivery] = detect_changes(db, s, now=T0)
    assert [d["key"] for d in outbox(db)] == [f"snapshot:{sid}"]
    assert decisions(db) == ["baseline", "alert"]
    recorded = db.execute("SELECT delivery_id FROM share_alerts WHERE snapshot_id = ?", [sid])
    assert recorded.fetchone()[0] == delivery
