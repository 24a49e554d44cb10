"""Composing and enqueuing the digest against a real SQLite archive: keys, payload shape, exactly-once enqueue."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.digest.compose import compose_digest
from bot.digest.limits import check_message
from bot.digest.payload import digest_json, digest_key, digest_payload
from bot.errors import TokentideError
from bot.pipeline import compose_and_enqueue_digest, render_chart
from bot.store.outbox import destination_for, enqueue

from .builders import NOW, TOPICS, insert_article, insert_story, insert_week, share_doc, story


def test_daily_key_is_the_local_calendar_date(settings):
    assert digest_key(settings, now=NOW) == "2026-11-28"
    late = NOW.replace(hour=23)
    shanghai = replace(settings, digest=replace(settings.digest, timezone="Asia/Shanghai"))
    assert digest_key(shanghai, now=late) == "2026-11-29"
    assert digest_key(settings, now=late.replace(tzinfo=None)) == "2026-11-28"


def test_explicit_hours_are_part_of_the_key(settings):
    assert digest_key(settings, now=NOW, hours=6) == "2026-11-28/6h"
    assert digest_key(settings, now=NOW, hours=24) == "2026-11-28/24h"
    assert digest_key(settings, now=NOW, hours=1.5) == "2026-11-28/1.5h"


def test_payload_shape_the_chat_worker_sends(tmp_path):
    digest = compose_digest(
        [story(1, outlets=2)], share_doc(), now=NOW, hours=24, per_topic=5, topics=TOPICS
    )
    chart = tmp_path / "c.png"
    chart.write_bytes(b"\x89PNG")
    payload = digest_payload(digest, key="2026-11-28", chart=chart)
    assert payload["type"] == "digest"
    assert payload["period"] == {
        "key": "2026-11-28",
        "start": "2026-11-27T08:00:00Z",
        "end": "2026-11-28T08:00:00Z",
        "hours": 24.0,
        "timezone": "UTC",
    }
    first = payload["messages"][0]
    assert first["files"] == [{"path": str(chart), "filename": "shares.png"}]
    assert first["embeds"][0]["image"] == {"url": "attachment://shares.png"}
    for body in payload["messages"]:
        assert check_message({k: v for k, v in body.items() if k != "files"}) == []
    assert payload["markdown"].startswith("# Tokentide digest")
    assert "China 58% of OpenRouter tokens" in payload["text"]
    json.dumps(payload)  # stored as JSON in the outbox
    no_chart = digest_payload(digest, key="k")
    assert "files" not in no_chart["messages"][0]
    assert "image" not in no_chart["messages"][0]["embeds"][0]


def test_digest_json_uses_archive_column_names():
    digest = compose_digest(
        [story(1, "Chip news", outlets=2, topics=["chips", "export_controls"])],
        share_doc(),
        now=NOW,
        hours=24,
        per_topic=5,
        topics=TOPICS,
    )
    doc = json.loads(json.dumps(digest_json(digest)))
    assert doc["period"]["hours"] == 24.0 and doc["story_count"] == 1
    (section,) = doc["topics"]
    row = section["stories"][0]
    assert section["topic"] == "chips"
    assert {
        "id",
        "title",
        "outlet_count",
        "article_count",
        "first_outlet",
        "first_seen",
        "last_seen",
        "momentum",
        "score",
        "rank",
        "links",
        "also_in",
    } <= set(row)
    assert row["also_in"] == ["export_controls"]
    assert row["links"][0]["url"].startswith("https://")
    assert doc["share"]["text"].startswith("China 58%")
    assert doc["share"]["entries"][0] == {
        "key": "CN",
        "name": "China",
        "share": 0.58,
        "points": 3.1,
    }


def test_already_queued_period_does_nothing_and_keeps_the_delivery(db, settings):
    first = enqueue(
        db,
        kind="digest",
        key="2026-11-28",
        destination=destination_for(settings),
        payload={"type": "digest", "messages": [{"content": "kept"}]},
        now=NOW,
    )
    assert compose_and_enqueue_digest(db, settings, now=NOW + timedelta(hours=3)) is None
    rows = db.execute("SELECT id, payload FROM deliveries").fetchall()
    assert rows == [(first, json.dumps({"messages": [{"content": "kept"}], "type": "digest"}))]


# --- the whole path, with the narratives and tokens rooms' real query functions -------------


def fill_archive(db):
    insert_story(db, 1, "Nvidia H20 licences tightened", outlets=2, topics=["export_controls"])
    insert_article(db, 10, "US tightens Nvidia H20 licences", story_id=1)
    insert_article(db, 11, "Nvidia H20 licence rules tightened", outlet="Reuters", story_id=1)
    insert_story(db, 2, "DeepSeek cuts prices", topics=["token_economics"], hours_ago=4)
    insert_article(db, 20, "DeepSeek cuts prices", story_id=2, hours_ago=4)
    insert_week(
        db,
        1,
        "2026-11-09T00:00:00Z",
        "2026-11-16T00:00:00Z",
        {"deepseek": ("CN", 50), "openai": ("US", 50)},
    )
    insert_week(
        db,
        2,
        "2026-11-16T00:00:00Z",
        "2026-11-23T00:00:00Z",
        {"deepseek": ("CN", 58), "openai": ("US", 42)},
    )
    db.conn.commit()


@pytest.fixture
def full_path():
    pytest.importorskip("bot.narratives.stories", reason="narratives room not merged yet")
    pytest.importorskip("bot.tokens.report", reason="tokens room not merged yet")


def test_compose_and_enqueue_once_then_force(db, settings, full_path):
    fill_archive(db)
    first = compose_and_enqueue_digest(db, settings, now=NOW)
    assert isinstance(first, int)
    assert compose_and_enqueue_digest(db, settings, now=NOW + timedelta(hours=1)) is None
    row = db.execute("SELECT kind, key, destination, status, payload FROM deliveries").fetchone()
    assert row[:4] == ("digest", "2026-11-28", "console", "pending")
    payload = json.loads(row[4])
    assert "Nvidia H20 licences tightened" in payload["markdown"]
    assert "China 58% of OpenRouter tokens, +8.0 pts w/w" in payload["messages"][0]["content"]
    chart = payload["messages"][0]["files"][0]
    assert chart["filename"] == "shares.png"
    with open(chart["path"], "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    db.execute("UPDATE deliveries SET status = 'sent' WHERE id = ?", [first])
    insert_story(db, 3, "SMIC ramps 5nm", topics=["chips"], hours_ago=1)
    insert_article(db, 30, "SMIC ramps 5nm", story_id=3, hours_ago=1)
    db.conn.commit()
    again = compose_and_enqueue_digest(db, settings, now=NOW + timedelta(hours=2), force=True)
    assert again == first
    status, payload = db.execute("SELECT status, payload FROM deliveries").fetchone()
    assert status == "pending" and "SMIC ramps 5nm" in json.loads(payload)["markdown"]


def test_explicit_hours_digest_is_its_own_delivery(db, settings, full_path):
    fill_archive(db)
    daily = compose_and_enqueue_digest(db, settings, now=NOW)
    short = compose_and_enqueue_digest(db, settings, now=NOW, hours=3)
    assert daily != short and short is not None
    keys = [r[0] for r in db.execute("SELECT key FROM deliveries ORDER BY id")]
    assert keys == ["2026-11-28", "2026-11-28/3h"]
    payload = json.loads(
        db.execute("SELECT payload FROM deliveries WHERE key LIKE '%/3h'").fetchone()[0]
    )
    assert "Nvidia H20 licences tightened" in payload["markdown"]  # 2 h old: inside
    assert "DeepSeek cuts prices" not in payload["markdown"]  # 4 h old: outside


def test_empty_archive_still_enqueues_a_digest(db, settings, full_path):
    delivery = compose_and_enqueue_digest(db, settings, now=NOW)
    payload = json.loads(
        db.execute("SELECT payload FROM deliveries WHERE id = ?", [delivery]).fetchone()[0]
    )
    assert "No new stories" in payload["text"]
    assert all("files" not in m for m in payload["messages"])


@pytest.mark.parametrize("hours", [0, -6, float("nan"), float("inf"), 24 * 400, "6", True])
def test_bad_hours_are_refused_and_nothing_is_touched(db, settings, hours):
    kept = enqueue(
        db,
        kind="digest",
        key="2026-11-27",
        destination="console",
        payload={"type": "digest", "messages": [{"content": "x"}]},
        now=NOW,
    )
    with pytest.raises(TokentideError, match="digest hours must be a number of hours"):
        compose_and_enqueue_digest(db, settings, now=NOW, hours=hours)
    assert db.execute("SELECT id, key FROM deliveries").fetchall() == [(kept, "2026-11-27")]


def test_chart_falls_back_to_none_without_token_data(db, tmp_path, caplog):
    pytest.importorskip("bot.tokens.chart")
    caplog.set_level("WARNING")
    assert render_chart(db, tmp_path / "charts" / "x.png", now=NOW) is None
    assert "share chart skipped" in caplog.text
    assert not (tmp_path / "charts" / "x.png").exists()
