"""The outbox worker against a local Discord stand-in: exactly once through 5xx, 429, outages."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.chat.deliver import deliver_pending
from bot.chat.sinks import BotChannelSink, ConsoleSink, WebhookSink
from bot.store.outbox import destination_for, enqueue

from .conftest import make_settings

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

INJECTION = [
    "@everyone Nvidia H20 banned",
    "<@&123456789> role ping in a headline",
    "<@42> user ping and @here too",
    "**bold** [click me](https://evil.example/phish) ||spoiler||",
]


def _messages(n: int = 2) -> list[dict]:
    return [
        {
            "content": f"part {i + 1}: {INJECTION[i % len(INJECTION)]}",
            # A renderer bug that asks for pings must still never ping.
            "allowed_mentions": {"parse": ["everyone", "roles", "users"]},
            "embeds": [{"title": f"Story {i}", "description": INJECTION[(i + 1) % 4]}],
        }
        for i in range(n)
    ]


def _enqueue(db, settings, key="2026-11-28", messages=None, kind="digest") -> int:
    return enqueue(
        db,
        kind=kind,
        key=key,
        destination=destination_for(settings),
        payload={"type": kind, "messages": messages or _messages()},
        now=NOW,
    )


def _row(db, delivery_id):
    return db["deliveries"].get(delivery_id)


async def _deliver(db, settings, now):
    async with httpx.AsyncClient() as client:
        return await deliver_pending(db, settings, WebhookSink(settings, client), now=now)


def _assert_never_pings(fake):
    assert fake.messages
    for msg in fake.messages:
        assert msg["allowed_mentions"] == {"parse": []}


async def test_webhook_delivers_once_through_500_and_429(db, fake, webhook_settings):
    delivery = _enqueue(db, webhook_settings)
    fake.fail_next(500)
    counts = await _deliver(db, webhook_settings, NOW)
    assert counts["retrying"] == 1 and fake.messages == []
    row = _row(db, delivery)
    assert row["status"] == "pending" and row["attempts"] == 1 and "HTTP 500" in row["last_error"]
    assert row["next_attempt_at"] == "2026-11-28T08:00:30Z"  # backoff_base_s

    # Not due yet: nothing is sent early.
    assert (await _deliver(db, webhook_settings, NOW + timedelta(seconds=10)))["sent"] == 0

    fake.fail_next(429, retry_after=0.05)  # short: slept inline, not a failed attempt
    counts = await _deliver(db, webhook_settings, NOW + timedelta(seconds=30))
    assert counts == {"sent": 1, "failed": 0, "retrying": 0, "skipped": 0, "held": 0}
    assert [m["content"][:6] for m in fake.messages] == ["part 1", "part 2"]
    row = _row(db, delivery)
    assert row["status"] == "sent" and row["sent_at"] == "2026-11-28T08:00:30Z"
    assert json.loads(row["message_ids"]) == [m["id"] for m in fake.messages]
    assert row["message_id"] == fake.messages[0]["id"]

    # Later runs send nothing more.
    assert (await _deliver(db, webhook_settings, NOW + timedelta(hours=2)))["sent"] == 0
    assert len(fake.messages) == 2
    _assert_never_pings(fake)


async def test_failure_mid_delivery_resumes_without_reposting(db, fake, webhook_settings):
    delivery = _enqueue(db, webhook_settings, messages=_messages(3))

    class FailOnSecondPost(WebhookSink):
        posts = 0

        async def send(self, out):
            FailOnSecondPost.posts += 1
            if FailOnSecondPost.posts == 2:
                fake.fail_next(503)
            return await super().send(out)

    async with httpx.AsyncClient() as client:
        sink = FailOnSecondPost(webhook_settings, client)
        assert (await deliver_pending(db, webhook_settings, sink, now=NOW))["retrying"] == 1
    assert len(fake.messages) == 1 and _row(db, delivery)["parts_sent"] == 1
    await _deliver(db, webhook_settings, NOW + timedelta(hours=1))
    assert [m["content"][:6] for m in fake.messages] == ["part 1", "part 2", "part 3"]
    assert _row(db, delivery)["status"] == "sent"


async def test_discord_down_for_an_hour_everything_arrives_once(db, fake, webhook_settings):
    first = _enqueue(db, webhook_settings, key="2026-11-28")
    second = _enqueue(db, webhook_settings, key="snapshot:7", kind="share_alert_rendered")
    fake.down_status = 503
    for minute in range(0, 61, 3):
        await _deliver(db, webhook_settings, NOW + timedelta(minutes=minute))
    assert fake.messages == []
    row = _row(db, first)
    assert row["status"] == "pending" and 1 < row["attempts"] < 15
    assert _row(db, second)["attempts"] == 0  # waits behind the first, keeps the order
    fake.down_status = None
    for minute in range(61, 200, 5):
        await _deliver(db, webhook_settings, NOW + timedelta(minutes=minute))
    assert _row(db, first)["status"] == "sent" and _row(db, second)["status"] == "sent"
    assert [m["content"][:6] for m in fake.messages] == ["part 1", "part 2"] * 2
    _assert_never_pings(fake)


async def test_limit_violation_fails_with_reason_and_next_delivery_still_goes(
    db, fake, webhook_settings
):
    bad = _enqueue(db, webhook_settings, key="bad", messages=[{"content": "x" * 2001}])
    good = _enqueue(db, webhook_settings, key="good")
    counts = await _deliver(db, webhook_settings, NOW)
    assert counts["failed"] == 1 and counts["sent"] == 1
    row = _row(db, bad)
    assert row["status"] == "failed" and "HTTP 400 code 50035" in row["last_error"]
    assert "content" in row["last_error"]
    assert _row(db, good)["status"] == "sent"
    # A failed delivery is not retried.
    await _deliver(db, webhook_settings, NOW + timedelta(days=1))
    assert len([r for r in fake.requests if r["body"].get("content") == "x" * 2001]) == 1


async def test_long_rate_limit_reschedules_without_counting_an_attempt(db, fake, webhook_settings):
    delivery = _enqueue(db, webhook_settings)
    fake.fail_next(429, retry_after=120.0, is_global=True)
    counts = await _deliver(db, webhook_settings, NOW)
    assert counts["retrying"] == 1
    row = _row(db, delivery)
    assert row["attempts"] == 0 and row["next_attempt_at"] == "2026-11-28T08:02:00Z"
    await _deliver(db, webhook_settings, NOW + timedelta(minutes=2))
    assert _row(db, delivery)["status"] == "sent" and len(fake.messages) == 2


async def test_gives_up_after_max_attempts(db, fake, db_path):
    settings = make_settings(
        db_path,
        base=fake.base,
        webhook=f"{fake.base}/webhooks/1/tok",
        extra={"discord": {"max_attempts": 3}},
    )
    delivery = _enqueue(db, settings)
    fake.down_status = 500
    for hour in range(5):
        await _deliver(db, settings, NOW + timedelta(hours=hour))
    row = _row(db, delivery)
    assert row["status"] == "failed" and row["attempts"] == 3 and "HTTP 500" in row["last_error"]


async def test_unreachable_discord_is_retried_not_failed(db, db_path):
    settings = make_settings(
        db_path, base="http://127.0.0.1:9/api/v10", webhook="https://discord.com/api/webhooks/1/tok"
    )
    delivery = _enqueue(db, settings)
    counts = await _deliver(db, settings, NOW)
    assert counts["retrying"] == 1
    row = _row(db, delivery)
    assert row["status"] == "pending" and "cannot reach Discord" in row["last_error"]


async def test_webhook_sends_chart_as_multipart(db, fake, webhook_settings, tmp_path):
    chart = tmp_path / "share.png"
    chart.write_bytes(PNG)
    messages = [
        {"content": "share", "files": [{"filename": "share.png", "path": str(chart)}]},
        {
            "content": "inline",
            "files": [{"filename": "b.png", "data_base64": base64.b64encode(PNG).decode()}],
        },
    ]
    _enqueue(db, webhook_settings, messages=messages)
    assert (await _deliver(db, webhook_settings, NOW))["sent"] == 1
    assert [m["attachments"][0]["filename"] for m in fake.messages] == ["share.png", "b.png"]
    assert all(m["files"][0]["png"] for m in fake.messages)
    _assert_never_pings(fake)


async def test_bad_webhook_url_is_a_config_error(db_path):
    from bot.errors import ConfigError

    settings = make_settings(db_path, webhook="https://example.com/not-a-webhook")
    async with httpx.AsyncClient() as client:
        with pytest.raises(ConfigError, match="DISCORD_WEBHOOK_URL"):
            WebhookSink(settings, client)


async def test_bot_channel_through_discord_py_http_client(db, fake, bot_settings, tmp_path):
    chart = tmp_path / "share.png"
    chart.write_bytes(PNG)
    messages = _messages(2) + [
        {"content": "chart", "files": [{"filename": "share.png", "path": str(chart)}]}
    ]
    delivery = _enqueue(db, bot_settings, messages=messages)
    sink = BotChannelSink(bot_settings)
    try:
        fake.fail_next(503)  # discord.py raises DiscordServerError: our backoff retries
        assert (await deliver_pending(db, bot_settings, sink, now=NOW))["retrying"] == 1
        fake.fail_next(429, retry_after=0.05)  # handled by discord.py's own bucket logic
        counts = await deliver_pending(db, bot_settings, sink, now=NOW + timedelta(minutes=1))
        assert counts["sent"] == 1
        assert len(fake.messages) == 3 and fake.messages[2]["files"][0]["png"]
        assert all(m["where"] == "channel:555" for m in fake.messages)
        nonces = [m["nonce"] for m in fake.messages]
        assert len(set(nonces)) == 3 and all(len(n) <= 25 for n in nonces)

        # A crash after Discord accepted but before we recorded: the row still says pending.
        db.execute(
            "UPDATE deliveries SET status='pending', parts_sent=0, message_ids='[]', "
            "next_attempt_at=? WHERE id=?",
            ["2026-11-28T08:00:00Z", delivery],
        )
        db.conn.commit()
        await deliver_pending(db, bot_settings, sink, now=NOW + timedelta(minutes=2))
        assert len(fake.messages) == 3  # the nonce made Discord return the same messages
        assert _row(db, delivery)["status"] == "sent"
    finally:
        await sink.aclose()
    _assert_never_pings(fake)


async def test_bot_channel_bad_token_is_a_config_error(db, fake, db_path):
    from bot.errors import ConfigError

    settings = make_settings(db_path, base=fake.base, token="wrong", channel_id=555)
    _enqueue(db, settings)
    sink = BotChannelSink(settings)
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        await deliver_pending(db, settings, sink, now=NOW)
    await sink.aclose()


async def test_console_sink_prints_and_writes_markdown(db, db_path, capsys):
    settings = make_settings(db_path)
    delivery = _enqueue(db, settings, messages=_messages(2))
    counts = await deliver_pending(db, settings, ConsoleSink(settings), now=NOW)
    assert counts["sent"] == 1
    md = (db_path.parent / "digests" / "digest-2026-11-28.md").read_text()
    assert "part 1" in md and "part 2" in md and "## Story 0" in md
    assert "part 1" in capsys.readouterr().out
    assert _row(db, delivery)["status"] == "sent"


async def test_other_destinations_are_left_alone(db, fake, webhook_settings, db_path):
    console = make_settings(db_path)
    queued = _enqueue(db, console)  # enqueued while no Discord was configured
    counts = await _deliver(db, webhook_settings, NOW)
    assert counts["sent"] == 0 and fake.requests == []
    assert _row(db, queued)["status"] == "pending"


async def test_unrenderable_payload_fails_with_reason(db, fake, webhook_settings):
    delivery = enqueue(
        db,
        kind="mystery",
        key="k",
        destination=destination_for(webhook_settings),
        payload={"type": "mystery"},
        now=NOW,
    )
    assert (await _deliver(db, webhook_settings, NOW))["failed"] == 1
    assert "no messages to send" in _row(db, delivery)["last_error"]


async def test_corrupt_payload_fails_alone_and_keeps_the_rest(db, fake, webhook_settings):
    broken = _enqueue(db, webhook_settings, key="broken")
    good = _enqueue(db, webhook_settings, key="good")
    with db.conn:
        db.execute("UPDATE deliveries SET payload = '{not json' WHERE id = ?", [broken])
    counts = await _deliver(db, webhook_settings, NOW)
    assert counts["failed"] == 1 and counts["sent"] == 1
    assert "JSONDecodeError" in _row(db, broken)["last_error"]
    assert _row(db, good)["status"] == "sent" and len(fake.messages) == 2


async def test_unwritable_console_directory_is_retried(db, db_path):
    settings = make_settings(db_path)
    delivery = _enqueue(db, settings)
    (db_path.parent / "digests").write_text("a file where the directory should be")
    counts = await deliver_pending(db, settings, ConsoleSink(settings), now=NOW)
    assert counts["retrying"] == 1
    row = _row(db, delivery)
    assert row["status"] == "pending" and "cannot write the Markdown copy" in row["last_error"]


async def test_exhausted_bucket_defers_the_rest_of_a_delivery(db, fake, webhook_settings):
    delivery = _enqueue(db, webhook_settings, messages=_messages(3))
    fake.remaining, fake.reset_after = 0, 90.0  # bucket empty for longer than we wait inline
    counts = await _deliver(db, webhook_settings, NOW)
    assert counts["retrying"] == 1
    assert len(fake.requests) == 1  # nothing sent into an exhausted bucket
    row = _row(db, delivery)
    assert row["parts_sent"] == 1 and row["attempts"] == 0
    assert row["next_attempt_at"] == "2026-11-28T08:01:30Z"
    fake.remaining, fake.reset_after = None, 0.05
    await _deliver(db, webhook_settings, NOW + timedelta(minutes=2))
    assert [m["content"][:6] for m in fake.messages] == ["part 1", "part 2", "part 3"]


async def test_share_alert_is_rendered_when_sent_with_related_stories(db, fake, webhook_settings):
    """The tracker enqueues numbers only; the worker renders them with the archive's stories."""
    with db.conn:
        db.execute(
            "INSERT INTO articles (url, title, outlet, published_at, fetched_at, topics) "
            "VALUES ('https://news.example/ds', '@everyone DeepSeek V4 tops usage charts', "
            "'SCMP', ?, ?, '[]')",
            ["2026-11-27T10:00:00Z", "2026-11-27T10:00:00Z"],
        )
    payload = {
        "type": "share_alert",
        "snapshot_id": 12,
        "as_of": "2026-11-28T06:00:00Z",
        "citation": "Source: OpenRouter (openrouter.ai/rankings), as of 2026-11-28",
        "period": {"start": "2026-11-16T00:00:00Z", "end": "2026-11-23T00:00:00Z"},
        "moves": [{"country": "CN", "from": 0.40, "to": 0.58, "points": 18.0}],
        "leader": {"before": "US", "after": "CN", "changed": True},
        "movers": [
            {
                "kind": "author",
                "name": "deepseek",
                "country": "CN",
                "from": 0.10,
                "to": 0.25,
                "points": 15.0,
            }
        ],
    }
    delivery = enqueue(
        db,
        kind="share_alert",
        key="snapshot:12",
        destination=destination_for(webhook_settings),
        payload=payload,
        now=NOW,
    )
    assert (await _deliver(db, webhook_settings, NOW))["sent"] == 1
    text = json.dumps([(m["content"], m["embeds"]) for m in fake.messages])
    assert "Token share alert" in text and "DeepSeek V4" in text
    assert "@everyone" not in text
    _assert_never_pings(fake)
    assert _row(db, delivery)["status"] == "sent"


async def test_missing_permission_is_retried_until_fixed(db, fake, webhook_settings):
    delivery = _enqueue(db, webhook_settings)
    fake.fail_next(403)
    assert (await _deliver(db, webhook_settings, NOW))["retrying"] == 1
    row = _row(db, delivery)
    assert row["status"] == "pending" and "HTTP 403" in row["last_error"]
    assert "permissions" in row["last_error"]
    await _deliver(db, webhook_settings, NOW + timedelta(minutes=1))
    assert _row(db, delivery)["status"] == "sent" and len(fake.messages) == 2
