"""A sender killed mid-send (SIGKILL while Discord holds its request) does not stall the outbox.

Before, the dead sender's ten-minute claim made every `deliver` print `skipped 1` and exit 0
for ten minutes. Now the claim names its process: a successor on the same machine sees it is
dead and takes over at once; a live holder is named ("held by another process since …",
exit 3); a holder it cannot check is replaced when its one-minute lease runs out.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.chat.deliver import LEASE, deliver_pending
from bot.chat.sinks import WebhookSink
from bot.store import outbox
from bot.store.db import open_db
from bot.store.locks import Holder, this_process
from bot.store.outbox import destination_for, enqueue

from .conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def _payload(parts: int) -> dict:
    return {
        "type": "digest",
        "messages": [{"content": f"part {i + 1} of the digest"} for i in range(parts)],
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    # A long Discord timeout: the hung request must still be open when the test kills.
    (tmp_path / "feeds.yaml").write_text(
        "feeds: []\ndiscord: {timeout_s: 120, channel_id: 555}\n", encoding="utf-8"
    )
    return tmp_path


def _queue(workdir: Path, settings, parts: int = 1) -> int:
    db = open_db(workdir / "archive.db")
    try:
        return enqueue(
            db,
            kind="digest",
            key="2026-11-28",
            destination=destination_for(settings),
            payload=_payload(parts),
            now=NOW,
        )
    finally:
        db.close()


def _row(workdir: Path, delivery_id: int) -> dict:
    db = open_db(workdir / "archive.db")
    try:
        return db["deliveries"].get(delivery_id)
    finally:
        db.close()


async def _spawn(workdir: Path, env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    full = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "TOKENTIDE_", "OPENROUTER_"))
    }
    full.update(env, PYTHONPATH=str(ROOT))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(workdir / "feeds.yaml"),
        "--db",
        str(workdir / "archive.db"),
        *args,
        cwd=workdir,
        env=full,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _deliver(workdir: Path, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await _spawn(workdir, env, "deliver")
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode, out.decode(), err.decode()


async def _kill_mid_send(workdir: Path, env: dict[str, str], fake) -> int:
    """Start `deliver`, wait until Discord holds its request, SIGKILL it; its pid."""
    proc = await _spawn(workdir, env, "deliver")
    try:
        await asyncio.wait_for(fake.hung.wait(), timeout=120)
    finally:
        proc.kill()
        await proc.wait()
    return proc.pid


def _webhook_env(fake) -> dict[str, str]:
    return {"DISCORD_API_BASE": fake.base, "DISCORD_WEBHOOK_URL": f"{fake.base}/webhooks/1/tok"}


async def test_killed_webhook_sender_is_replaced_at_once_and_sends_once(fake, workdir):
    env = _webhook_env(fake)
    settings = make_settings(workdir / "archive.db", webhook=env["DISCORD_WEBHOOK_URL"])
    delivery = _queue(workdir, settings, parts=2)
    fake.hang_next(accepted=False)  # Discord never takes the first message

    # While the first sender is alive and mid-send, a second one names it and exits 3.
    first = await _spawn(workdir, env, "deliver")
    try:
        await asyncio.wait_for(fake.hung.wait(), timeout=120)
        code, out, err = await _deliver(workdir, env)
        assert code == 3, err
        assert "sent 0" in out and "held 1" in out
        holder = f"pid {first.pid} on host {socket.gethostname()}"
        assert f"held: delivery {delivery} (digest '2026-11-28') is held by another process " in err
        assert "since 20" in err and f"({holder}); it is taken over as soon as" in err
    finally:
        first.kill()
        await first.wait()
    row = _row(workdir, delivery)
    assert Holder.from_json(row["claimed_by"]).pid == first.pid and row["sending_part"] == 0

    # Killed: the next run, seconds later and well inside the dead sender's lease, takes over.
    code, out, err = await _deliver(workdir, env)
    assert code == 0, err
    assert "sent 1" in out and "held 0" in out
    assert "stopped while sending message 1" in err
    assert [m["content"] for m in fake.messages] == ["part 1 of the digest", "part 2 of the digest"]
    row = _row(workdir, delivery)
    assert row["status"] == "sent" and row["claimed_by"] is None
    assert json.loads(row["message_ids"]) == [m["id"] for m in fake.messages]
    assert json.loads(row["resent_parts"]) == [0]  # sent again after the crash, on record


async def test_killed_bot_sender_after_discord_took_the_message_leaves_one_copy(fake, workdir):
    env = {"DISCORD_API_BASE": fake.base, "DISCORD_TOKEN": fake.token}
    settings = make_settings(workdir / "archive.db", token=fake.token, channel_id=555)
    delivery = _queue(workdir, settings)
    fake.hang_next(accepted=True)  # Discord has the message; the sender never hears back
    await _kill_mid_send(workdir, env, fake)
    assert len(fake.messages) == 1

    code, out, err = await _deliver(workdir, env)
    assert code == 0, err
    assert "sent 1" in out and "same nonce" in err
    assert len(fake.messages) == 1  # the nonce: Discord answered with the first copy
    row = _row(workdir, delivery)
    assert row["status"] == "sent" and json.loads(row["message_ids"]) == [fake.messages[0]["id"]]


async def test_killed_webhook_sender_after_discord_took_it_is_a_visible_duplicate(fake, workdir):
    """The window left on the webhook path (no nonce there): at most one copy too many per
    crash, and the row says which message it was."""
    env = _webhook_env(fake)
    settings = make_settings(workdir / "archive.db", webhook=env["DISCORD_WEBHOOK_URL"])
    delivery = _queue(workdir, settings)
    fake.hang_next(accepted=True)
    await _kill_mid_send(workdir, env, fake)

    code, out, err = await _deliver(workdir, env)
    assert code == 0, err
    assert "shows it twice" in err
    assert len(fake.messages) == 2
    row = _row(workdir, delivery)
    assert row["status"] == "sent" and json.loads(row["resent_parts"]) == [0]


def _claim_as(db, delivery_id: int, holder: Holder, *, at: datetime) -> str:
    text = holder.to_json()
    assert outbox.claim(db, delivery_id, holder=text, now=at, until=at + LEASE, replacing=None)
    return text


async def test_holder_on_another_machine_is_replaced_when_its_lease_runs_out(
    db, fake, webhook_settings
):
    delivery = enqueue(
        db,
        kind="digest",
        key="2026-11-28",
        destination=destination_for(webhook_settings),
        payload=_payload(1),
        now=NOW,
    )
    _claim_as(db, delivery, Holder(pid=4242, host="elsewhere.example", since="x"), at=NOW)
    async with httpx.AsyncClient() as client:
        sink = WebhookSink(webhook_settings, client)
        counts = await deliver_pending(db, webhook_settings, sink, now=NOW + timedelta(seconds=30))
        assert counts["held"] == 1 and counts["sent"] == 0 and fake.requests == []
        assert "pid 4242 on host elsewhere.example" in counts["held_by"]
        assert "lease runs out at 2026-11-28T08:01:00Z" in counts["held_by"]
        counts = await deliver_pending(db, webhook_settings, sink, now=NOW + LEASE)
    assert counts["sent"] == 1 and counts["held"] == 0 and len(fake.messages) == 1


async def test_a_stalled_holder_is_replaced_after_its_lease_and_cannot_write_after(
    db, fake, webhook_settings
):
    delivery = enqueue(
        db,
        kind="digest",
        key="2026-11-28",
        destination=destination_for(webhook_settings),
        payload=_payload(1),
        now=NOW,
    )
    stalled = _claim_as(db, delivery, this_process(NOW), at=NOW)  # alive: this very process
    async with httpx.AsyncClient() as client:
        sink = WebhookSink(webhook_settings, client)
        held = await deliver_pending(db, webhook_settings, sink, now=NOW + timedelta(seconds=59))
        assert held["held"] == 1 and f"pid {os.getpid()}" in held["held_by"]
        counts = await deliver_pending(db, webhook_settings, sink, now=NOW + LEASE)
    assert counts["sent"] == 1 and len(fake.messages) == 1
    # The stalled one wakes up and tries to record: its claim is gone, nothing is written.
    assert not outbox.record(db, delivery, holder=stalled, status="pending")
    assert db["deliveries"].get(delivery)["status"] == "sent"


async def test_a_holder_whose_pid_now_belongs_to_another_process_is_dead(
    db, fake, webhook_settings
):
    delivery = enqueue(
        db,
        kind="digest",
        key="2026-11-28",
        destination=destination_for(webhook_settings),
        payload=_payload(1),
        now=NOW,
    )
    me = this_process(NOW)
    reused = Holder(**{**me.__dict__, "start": (me.start or 0) + 1})  # same pid, other start
    _claim_as(db, delivery, reused, at=NOW)
    async with httpx.AsyncClient() as client:
        counts = await deliver_pending(
            db, webhook_settings, WebhookSink(webhook_settings, client), now=NOW
        )
    assert counts["sent"] == 1 and counts["held"] == 0


async def test_an_unexpected_error_mid_send_releases_the_claim_and_keeps_the_mark(
    db, fake, webhook_settings
):
    """A bug (or a cancellation) while a message is on the wire: the living process lets go
    of the delivery at once, and the next run knows that message may already be out."""
    delivery = enqueue(
        db,
        kind="digest",
        key="2026-11-28",
        destination=destination_for(webhook_settings),
        payload=_payload(1),
        now=NOW,
    )

    class Broken(WebhookSink):
        async def send(self, out):
            raise RuntimeError("a bug in the middle of sending")

    async with httpx.AsyncClient() as client:
        with pytest.raises(RuntimeError):
            await deliver_pending(db, webhook_settings, Broken(webhook_settings, client), now=NOW)
        row = db["deliveries"].get(delivery)
        assert row["claimed_by"] is None and row["sending_part"] == 0
        counts = await deliver_pending(
            db, webhook_settings, WebhookSink(webhook_settings, client), now=NOW
        )
    assert counts["sent"] == 1 and len(fake.messages) == 1
    assert json.loads(db["deliveries"].get(delivery)["resent_parts"]) == [0]
