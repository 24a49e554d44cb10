"""The issue's own story as a breaking-story alert: six outlets over nine hours, fed through
ordinary feeds with no `outlet` set, polled and analysed with the real model, then checked twice
(as two cycles would): exactly one story_alert, listing the six outlets and the lead."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from .test_who_broke_it import NOW, poll, publisher_feeds


@pytest.fixture(scope="module")
def model():
    from bot.narratives.embed import Embedder

    embedder = Embedder()
    embedder.encode(["warm up"])
    return embedder


@pytest.mark.model
async def test_six_outlets_over_nine_hours_raise_exactly_one_alert(
    db, feed_server, feed_settings, model
):
    from bot.digest.limits import check_message
    from bot.narratives.pipeline import analyze_pending
    from bot.pipeline import enqueue_breaking_alerts

    feeds = [
        (name, feed_server.set(f"who-broke-it-alert-{name}", body))
        for name, body in publisher_feeds().items()
    ]
    settings = feed_settings(feeds)
    await poll(db, settings)
    analyze_pending(db, settings, model, now=NOW)
    first = enqueue_breaking_alerts(db, settings, now=NOW)
    # A second cycle a quarter of an hour later: polled again (nothing new), checked again.
    await poll(db, settings)
    analyze_pending(db, settings, model, now=NOW + timedelta(minutes=15))
    second = enqueue_breaking_alerts(db, settings, now=NOW + timedelta(minutes=15))
    assert len(first["queued"]) == 1 and second["queued"] == []

    [(key, raw)] = db.execute(
        "SELECT key, payload FROM deliveries WHERE kind = 'story_alert'"
    ).fetchall()
    assert key == str(db.execute("SELECT DISTINCT story_id FROM articles").fetchone()[0])
    payload = json.loads(raw)
    story = payload["story"]
    assert [o["name"] for o in story["outlets"]] == [
        "South China Morning Post",
        "Global Times",
        "Reuters",
        "Bloomberg",
        "The Verge",
        "Caixin",
    ]
    assert story["lead"]["hours"] == 3.0
    assert story["broke_at"] == "2026-11-27T06:00:00Z"  # Bloomberg: the fourth outlet
    description = payload["messages"][0]["embeds"][0]["description"]
    assert "CN press first, +3 h" in description and "6 outlets in 9 h" in description
    assert all(check_message(m) == [] for m in payload["messages"])
