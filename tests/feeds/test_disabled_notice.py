"""A feed disabled after repeated failures is announced once in the channel, through the outbox,
queued in the same write that disables it."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.chat.deliver import deliver_pending
from bot.chat.sinks import ConsoleSink
from bot.digest.limits import check_message
from bot.errors import StoreError

from .test_poll import NOW, poll, rss


def notices(db):
    return db.execute(
        "SELECT key, destination, payload, status FROM deliveries WHERE kind = 'feed_disabled'"
    ).fetchall()


async def test_disabled_feed_is_announced_once(db, db_path, feed_server, feed_settings):
    url = feed_server.set("flaky", b"down", status=500, headers={"Content-Type": "text/plain"})
    settings = replace(feed_settings([("Flaky @everyone feed", url)]), db_path=str(db_path))
    for n in range(2):
        await poll(db, settings, now=NOW + timedelta(hours=n))
    assert notices(db) == []  # failing, not yet disabled
    await poll(db, settings, now=NOW + timedelta(hours=2))  # fetch.max_failures is 3 in tests
    feed_id = db.execute("SELECT id FROM feeds").fetchone()[0]
    [(key, destination, payload, status)] = notices(db)
    assert key == f"{feed_id}@2026-11-28T14:00:00Z" and destination == "console"
    body = json.loads(payload)
    assert "disabled after 3 consecutive failures" in body["feed"]["reason"]
    for message in body["messages"]:
        assert check_message(message) == []
    assert "@everyone" not in json.dumps(body["messages"])
    # Still failing (`poll --all` retries disabled feeds): no second notice.
    await poll(db, settings, now=NOW + timedelta(hours=3))
    assert len(notices(db)) == 1

    out = io.StringIO()
    counts = await deliver_pending(
        db, settings, ConsoleSink(settings, stream=out), now=NOW + timedelta(hours=3)
    )
    assert counts["sent"] == 1 and "FEED SWITCHED OFF" in out.getvalue()
    assert list((db_path.parent / "digests").glob("feed_disabled-*.md"))

    # Revived by a success, disabled again later: that is a new event, told once more.
    feed_server.set("flaky", rss([("a", "https://flaky.example/a", "Back")]))
    await poll(db, settings, now=NOW + timedelta(hours=4))
    feed_server.set("flaky", b"down", status=500, headers={"Content-Type": "text/plain"})
    for n in range(5, 8):
        await poll(db, settings, now=NOW + timedelta(hours=n))
    assert len(notices(db)) == 2


async def test_disabling_and_its_notice_are_one_write(db, db_path, feed_server, feed_settings):
    url = feed_server.set("flaky", b"down", status=500, headers={"Content-Type": "text/plain"})
    settings = replace(feed_settings([("F", url)]), db_path=str(db_path))
    for n in range(2):
        await poll(db, settings, now=NOW + timedelta(hours=n))
    with db.conn:  # the outbox refuses the notice, as a full disk would
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON deliveries "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    with pytest.raises(StoreError, match="disk is full"):
        await poll(db, settings, now=NOW + timedelta(hours=2))
    row = db.execute("SELECT error_count, disabled_reason FROM feeds").fetchone()
    assert row == (2, None)  # neither the disabling nor the notice was stored
    with db.conn:
        db.execute("DROP TRIGGER refuse")
    await poll(db, settings, now=NOW + timedelta(hours=3))
    assert db.execute("SELECT error_count FROM feeds").fetchone()[0] == 3
    assert len(notices(db)) == 1
