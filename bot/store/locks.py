"""Who may write what, across processes sharing one archive.

Two tools:

- `hold(lock_path(archive, name))`: an advisory `flock` on a file beside the archive
  (`tokentide.db.run.lock`, `tokentide.db.analyze.lock`). The kernel releases it when the
  holder exits or dies, so a crashed holder never blocks anyone. The file holds the holder's
  pid, host and start time as text, so a refusal can name who has it. `tokentide run` holds
  `run` for its lifetime; analysis holds `analyze` for each run of `analyze_pending`.
- `Holder`: a process's identity (pid, host, boot id, pid namespace, start tick), written with
  an outbox claim, and `holder_state`, which tells whether that process still runs. A holder
  on this machine and boot whose pid is gone (or reused) is dead at once; a holder elsewhere
  is trusted until its lease runs out.

The lock files are never deleted: removing a file someone may be about to lock lets two
processes each lock a different file of the same name.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import sqlite_utils

from bot.clock import to_iso
from bot.errors import TokentideError


class LockHeld(TokentideError):
    """Another process holds what this one needs (exit code 3: busy, try again later)."""

    exit_code = 3


# --- process identity -----------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _boot_id() -> str:
    return _read("/proc/sys/kernel/random/boot_id") or ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks after boot) of `pid` from /proc, or None if gone."""
    text = _read(f"/proc/{pid}/stat")
    if not text:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Holder:
    """A process that holds a lock or a claim, as recorded for others to check."""

    pid: int
    host: str
    boot_id: str = ""
    pid_ns: str = ""
    start: int | None = None  # /proc/<pid>/stat start tick: tells a reused pid apart
    since: str = ""
    token: str = ""  # distinct per claim, so two workers in one process never match

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Holder | None:
        try:
            data = json.loads(text or "")
            return cls(
                pid=int(data["pid"]),
                host=str(data["host"]),
                boot_id=str(data.get("boot_id") or ""),
                pid_ns=str(data.get("pid_ns") or ""),
                start=int(data["start"]) if data.get("start") is not None else None,
                since=str(data.get("since") or ""),
                token=str(data.get("token") or ""),
            )
        except (ValueError, TypeError, KeyError):
            return None


def this_process(now: datetime) -> Holder:
    """This process as a holder, with a fresh token."""
    stat = _stat(os.getpid())
    return Holder(
        pid=os.getpid(),
        host=socket.gethostname(),
        boot_id=_boot_id(),
        pid_ns=_pid_namespace(),
        start=stat[1] if stat else None,
        since=to_iso(now),
        token=uuid.uuid4().hex[:12],
    )


def holder_state(holder: Holder) -> str:
    """ "alive", "dead" or "unknown" (another machine or pid namespace: only a lease can tell)."""
    if holder.host != socket.gethostname():
        return "unknown"
    boot = _boot_id()
    if holder.boot_id and boot and holder.boot_id != boot:
        return "dead"  # this machine has rebooted since the holder wrote its claim
    if holder.pid_ns and holder.pid_ns != _pid_namespace():
        return "unknown"  # another container on this kernel: its pids are not ours
    if Path("/proc/self/stat").exists():
        stat = _stat(holder.pid)
        if stat is None or stat[0] in ("Z", "X"):
            return "dead"
        if holder.start is not None and stat[1] != holder.start:
            return "dead"  # the pid now belongs to another process
        return "alive"
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:
        return "alive"
    return "alive"


# --- lock files beside the archive ----------------------------------------------------------


def lock_path(archive: str | Path, name: str) -> Path:
    """The lock file for `name` beside the archive: `<archive>.<name>.lock`."""
    archive = Path(archive)
    return archive.with_name(f"{archive.name}.{name}.lock")


def _holder_text(fd: int) -> Holder | None:
    os.lseek(fd, 0, os.SEEK_SET)
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
        if len(data) > 65536:
            break
    return Holder.from_json(data.decode("utf-8", errors="replace"))


def describe_holder(holder: Holder | None) -> str:
    if holder is None:
        return "another process (it has not written its name yet)"
    since = f", since {holder.since}" if holder.since else ""
    return f"{holder.describe()}{since}"


@contextmanager
def hold(
    path: Path,
    *,
    now: datetime,
    refusal: Callable[[str], str],
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Holder]:
    """Hold the lock file `path` for the block.

    Held elsewhere: with `wait`, report `refusal(holder)` through `on_wait` and block until it
    is free; without, raise `LockHeld(refusal(holder))`, where holder names the pid and host.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise TokentideError(f"{path}: cannot open the lock file: {exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            message = refusal(describe_holder(_holder_text(fd)))
            if not wait:
                raise LockHeld(message) from None
            if on_wait is not None:
                on_wait(message)
            fcntl.flock(fd, fcntl.LOCK_EX)
        me = this_process(now)
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.to_json().encode(), 0)
        try:
            yield me
        finally:
            # Cleared before unlocking, so nobody reads a stale name from a free lock.
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def archive_file(db: sqlite_utils.Database) -> str:
    """The file behind `db`'s main database ("" for an in-memory or temporary one)."""
    for _, name, file in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return file or ""
    return ""


def analysis_lock(
    db: sqlite_utils.Database,
    *,
    now: datetime,
    wait: bool,
    on_wait: Callable[[str], None] | None = None,
) -> AbstractContextManager[Holder | None]:
    """Hold the archive's analysis lock: one analyser at a time reads the pending articles and
    the active stories and writes what it decided. No file (in-memory db): nothing to share."""
    archive = archive_file(db)
    if not archive:
        return nullcontext()
    return hold(
        lock_path(archive, "analyze"),
        now=now,
        refusal=lambda who: f"analysis of {archive} is running in {who}",
        wait=wait,
        on_wait=on_wait,
    )
