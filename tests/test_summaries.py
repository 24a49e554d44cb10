"""bot/summaries.py: one line per job run, from the dict the step returned."""

from __future__ import annotations

import pytest

from bot.summaries import is_idle, summarize


def test_poll_with_a_failure_names_the_feed_and_why():
    line = summarize(
        {
            "job": "poll_feeds",
            "status": "ok",
            "feeds_polled": 26,
            "new_articles": 143,
            "errors": 1,
            "not_modified": 3,
            "failures": [
                {"feed": "SCMP – Semiconductors", "error": "service unavailable (HTTP 503)"}
            ],
            "duration_s": 2.14,
        }
    )
    assert line == (
        "poll: 26 feeds, 143 new, 3 not modified, 1 failed "
        "(SCMP – Semiconducto…: service unavailable (HTTP 503)) in 2.1 s"
    )


def test_poll_lists_at_most_three_failures():
    failures = [{"feed": f"feed {i}", "error": "DNS lookup failed"} for i in range(5)]
    line = summarize(
        {"job": "poll_feeds", "status": "ok", "feeds_polled": 5, "new_articles": 0,
         "errors": 5, "not_modified": 0, "failures": failures}
    )  # fmt: skip
    assert line.endswith("feed 2: DNS lookup failed; +2 more)")
    assert "feed 3" not in line


def test_analyze_counts_new_and_joined_stories():
    result = {"job": "analyze", "status": "ok", "analyzed": 143, "new_stories": 12,
              "stories_joined": 31, "pending_before": 143, "duration_s": 40.25}  # fmt: skip
    assert summarize(result) == "analyze: 143 articles → 12 new stories, 31 joined in 40.2 s"
    one = {"job": "analyze", "status": "ok", "analyzed": 1, "new_stories": 1, "stories_joined": 0}
    assert summarize(one) == "analyze: 1 article → 1 new story, 0 joined"
    idle = {"job": "analyze", "status": "ok", "analyzed": 0, "new_stories": 0}
    assert summarize(idle) == "analyze: nothing new"


def test_breaking_alerts():
    result = {"job": "breaking_alerts", "status": "ok", "stories_checked": 43, "breaking": 3,
              "queued": [7, 8], "capped": 1}  # fmt: skip
    assert summarize(result) == (
        "breaking: 43 stories checked, 3 breaking, 2 alerts queued, 1 held back by the daily cap"
    )
    off = {"job": "breaking_alerts", "status": "ok", "enabled": False}
    assert summarize(off) == "breaking: off (alerts.breaking.enabled is false)"


def test_tokens_shows_the_snapshot_and_the_tracked_share_with_its_move():
    result = {
        "job": "poll_tokens",
        "status": "ok",
        "source": "rankings-models",
        "stored": True,
        "as_of": "2026-11-29T06:00:00Z",
        "skipped": {},
        "errors": [],
        "share": {"shares": {"CN": 0.5812, "US": 0.3832}, "deltas": {"CN": 0.43, "US": -0.2}},
        "duration_s": 0.8,
    }
    assert summarize(result) == (
        "tokens: snapshot 2026-11-29, CN 58.1% (+0.4), US 38.3% (-0.2) in 0.8 s"
    )
    first = {**result, "stored": False, "share": None, "duration_s": None}
    assert summarize(first) == (
        "tokens: snapshot 2026-11-29 (unchanged), no complete period to share yet"
    )
    no_previous = {**result, "share": {"shares": {"CN": 0.5}, "deltas": {}}, "duration_s": None}
    assert summarize(no_previous) == "tokens: snapshot 2026-11-29, CN 50.0%"


@pytest.mark.parametrize(
    ("result", "line"),
    [
        ({"job": "detect_changes", "enqueued": [4]}, "changes: 1 share alert queued"),
        ({"job": "detect_changes", "enqueued": []}, "changes: no share move to report"),
        ({"job": "daily_digest", "queued": True, "delivery_id": 9}, "digest: queued (delivery 9)"),
        ({"job": "daily_digest", "queued": False}, "digest: already queued for this period"),
        ({"job": "deliver", "sent": 2, "failed": 0, "retrying": 1}, "deliver: 2 sent, 0 failed, 1 retrying"),
        ({"job": "deliver", "sent": 0, "held": 1, "held_by": "pid 7 on host"}, "deliver: nothing due; waiting: pid 7 on host"),
        ({"job": "someday_job", "made": 3}, "someday_job: made 3"),
    ],
)  # fmt: skip
def test_other_jobs(result, line):
    assert summarize({"status": "ok", **result}) == line


def test_a_failed_run_says_why():
    result = {"job": "poll_tokens", "status": "error", "duration_s": 75.0,
              "error": "OpenRouterError: no OpenRouter source worked"}  # fmt: skip
    assert summarize(result) == (
        "tokens: failed in 1.2 min: OpenRouterError: no OpenRouter source worked"
    )


def test_only_an_idle_outbox_check_is_quiet():
    assert is_idle({"job": "deliver", "status": "ok", "sent": 0, "failed": 0, "retrying": 0})
    assert not is_idle({"job": "deliver", "status": "ok", "sent": 1})
    assert not is_idle({"job": "deliver", "status": "error", "error": "x"})
    assert not is_idle({"job": "analyze", "status": "ok", "analyzed": 0})
