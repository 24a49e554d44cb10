"""One `tokentide run` per archive: a second daemon (or `run --once`) refuses to start with one
line naming the holder, and a holder killed with SIGKILL blocks nobody."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from bot.store.locks import LockHeld, hold, lock_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    # No feeds, OpenRouter on a closed port, no Discord: the daemon starts fast and idles.
    (tmp_path / "feeds.yaml").write_text(
        "feeds: []\nopenrouter: {base_url: 'http://127.0.0.1:9'}\n", encoding="utf-8"
    )
    return tmp_path


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "TOKENTIDE_", "OPENROUTER_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    return env


async def _spawn(workdir: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(workdir / "feeds.yaml"),
        "--db",
        str(workdir / "data" / "tokentide.db"),
        *args,
        cwd=workdir,
        env=_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _started(proc: asyncio.subprocess.Process) -> None:
    """Read the daemon's stderr until it says the scheduler runs."""
    seen = []
    while True:
        line = await asyncio.wait_for(proc.stderr.readline(), timeout=60)
        assert line, f"daemon exited early: {b''.join(seen).decode()}"
        seen.append(line)
        if b"scheduler running" in line:
            return


async def _finish(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode, err.decode()


async def test_second_daemon_refuses_with_holder_and_a_killed_holder_blocks_nobody(workdir):
    first = await _spawn(workdir, "run")
    try:
        await _started(first)
        db_file = workdir / "data" / "tokentide.db"
        holder = f"pid {first.pid} on host {socket.gethostname()}, since "
        for args in (("run",), ("run", "--once")):
            code, err = await _finish(await _spawn(workdir, *args))
            assert code == 3, err
            lines = err.strip().splitlines()
            assert len(lines) == 1, err
            assert lines[0].startswith(
                f"error: {db_file} is already used by another `tokentide run` ({holder}"
            )
        first.kill()  # SIGKILL: no cleanup runs; the kernel drops the lock
        await first.wait()

        second = await _spawn(workdir, "run")
        await _started(second)
        second.send_signal(signal.SIGTERM)
        code, err = await _finish(second)
        assert code == 0, err
        assert "Traceback" not in err
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()


def test_lock_file_names_the_holder_and_is_free_again_after(tmp_path, monkeypatch):
    from datetime import UTC, datetime

    now = datetime(2026, 11, 28, 8, tzinfo=UTC)
    path = lock_path(tmp_path / "a.db", "run")
    assert path.name == "a.db.run.lock"
    with hold(path, now=now, refusal=lambda who: f"busy: {who}"):
        # A second holder in the same process is refused too: flock locks belong to the
        # open file, not the process.
        with (
            pytest.raises(LockHeld) as refused,
            hold(path, now=now, refusal=lambda who: f"busy: {who}"),
        ):
            pass
        assert str(refused.value) == (
            f"busy: pid {os.getpid()} on host {socket.gethostname()}, since 2026-11-28T08:00:00Z"
        )
        assert refused.value.exit_code == 3
    assert path.read_text() == ""  # cleared on release: no stale name
    with hold(path, now=now, refusal=str):
        pass


def test_holder_states():
    from dataclasses import replace
    from datetime import UTC, datetime

    from bot.store.locks import holder_state, this_process

    me = this_process(datetime(2026, 11, 28, tzinfo=UTC))
    assert holder_state(me) == "alive"
    assert holder_state(replace(me, start=(me.start or 0) + 1)) == "dead"  # pid reused
    assert holder_state(replace(me, boot_id="an-earlier-boot")) == "dead"  # rebooted since
    assert holder_state(replace(me, pid_ns="pid:[1]")) == "unknown"  # another container
    assert holder_state(replace(me, host="elsewhere.example")) == "unknown"
    assert holder_state(replace(me, pid=2**22 + 1)) == "dead"  # beyond pid_max: no such pid
