"""A bot you can watch: `run --once` prints one summary line per job, and the daemon logs the
same lines with UTC timestamps at -v. Real processes against the local feed server and the
OpenRouter stand-in."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.feeds.conftest import feed_server  # noqa: F401 (the session's loopback feed server)
from tests.tokens.or_server import MODELS, OpenRouterStandIn, json_response, real_models_payload

REPO = Path(__file__).resolve().parents[1]
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture
def openrouter():
    with OpenRouterStandIn() as server:
        server.set(MODELS, json_response(real_models_payload("2026-08-22")))
        yield server


def write_config(tmp_path: Path, feed_server) -> Path:  # noqa: F811
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "feeds:\n"
        f'  - {{name: "SCMP – Down", url: "{feed_server.url("/status/503")}", outlet: SCMP}}\n'
        f'  - {{name: TechCrunch, url: "{feed_server.url("/feed/techcrunch_ai_feed.xml")}"}}\n'
        f'  - {{name: The Verge, url: "{feed_server.url("/feed/theverge_ai_index.xml")}"}}\n'
        "fetch: {timeout_s: 5, parse_processes: 0}\n"
        "openrouter: {timeout_s: 5, max_retries: 0}\n",
        encoding="utf-8",
    )
    return config


def environment(tmp_path: Path, config: Path, openrouter) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TOKENTIDE_", "DISCORD_", "OPENROUTER_"))
    }
    return env | {
        "TOKENTIDE_CONFIG": str(config),
        "TOKENTIDE_DB": str(tmp_path / "data" / "tokentide.db"),
        "TOKENTIDE_OPENROUTER_URL": openrouter.url,
        "PYTHONPATH": str(REPO),
    }


@pytest.mark.model
def test_run_once_prints_one_summary_per_job(tmp_path, feed_server, openrouter):  # noqa: F811
    env = environment(tmp_path, write_config(tmp_path, feed_server), openrouter)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--once"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    labels = "poll|analyze|breaking|tokens|changes|digest|deliver"
    lines = [line for line in done.stdout.splitlines() if re.match(rf"^({labels}): ", line)]
    summaries = {line.split(":", 1)[0]: line for line in lines}
    assert list(summaries) == [
        "poll",
        "analyze",
        "breaking",
        "tokens",
        "changes",
        "digest",
        "deliver",
    ], done.stdout
    assert re.fullmatch(
        r"poll: 3 feeds, (\d+) new, 0 not modified, 1 failed \(SCMP – Down: service "
        r"unavailable \(HTTP 503\), asked to retry after 7200 s\) in \d+\.\d s",
        summaries["poll"],
    ), summaries["poll"]
    new = int(re.search(r"(\d+) new", summaries["poll"]).group(1))
    assert new > 0
    assert re.fullmatch(
        rf"analyze: {new} articles → (\d+) new stories, 0 joined in \d+\.\d s",
        summaries["analyze"],
    ), summaries["analyze"]
    # The real 2026-08-22 split: CN 57.9%, US 38.3% (no earlier period to move from).
    assert re.fullmatch(
        r"tokens: snapshot \d{4}-\d\d-\d\d, CN 57\.9%, US 38\.3%, 1 bad row skipped in \d+\.\d s",
        summaries["tokens"],
    ), summaries["tokens"]
    assert summaries["digest"].startswith("digest: queued (delivery ")
    assert re.fullmatch(r"deliver: 1 sent, 0 failed, 0 retrying in \d+\.\d s", summaries["deliver"])


def read_until(stream, wanted: list[re.Pattern]) -> list[str]:
    """Lines from `stream` until every pattern has matched one, or until the stream ends (the
    test's timer kills a daemon that hangs, which ends it)."""
    seen: list[str] = []
    missing = list(wanted)
    for line in stream:
        seen.append(line.rstrip("\n"))
        missing = [p for p in missing if not p.search(line)]
        if not missing:
            break
    return seen


def test_the_daemon_logs_summaries_with_timestamps(tmp_path, feed_server, openrouter):  # noqa: F811
    # Only the failing feed, so no article needs the model; jobs every second or so.
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "feeds:\n"
        f'  - {{name: "SCMP – Down", url: "{feed_server.url("/status/503")}", outlet: SCMP}}\n'
        "fetch: {timeout_s: 5}\n"
        "openrouter: {timeout_s: 5, max_retries: 0}\n"
        "schedule: {poll_minutes: 0.02, tokens_hours: 0.0005, deliver_seconds: 0.5,"
        " shutdown_grace_s: 2}\n",
        encoding="utf-8",
    )
    env = environment(tmp_path, config, openrouter)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "-v", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    killer = threading.Timer(120, proc.kill)  # a hung daemon fails the test, not the suite
    killer.start()
    try:
        wanted = [
            re.compile(rf"^{STAMP} INFO bot\.pipeline: poll: 1 feed, 0 new, 0 not modified, "
                       r"1 failed \(SCMP – Down: service unavailable \(HTTP 503\)"),
            re.compile(rf"^{STAMP} INFO bot\.pipeline: tokens: snapshot \d{{4}}-\d\d-\d\d, "
                       r"CN 57\.9%, US 38\.3%, 1 bad row skipped in \d+\.\d s$"),
            re.compile(rf"^{STAMP} INFO bot\.pipeline: digest: queued \(delivery 1\)"),
            re.compile(rf"^{STAMP} INFO bot\.pipeline: deliver: 1 sent, 0 failed, 0 retrying"),
        ]  # fmt: skip
        lines = read_until(proc.stderr, wanted)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pattern in wanted:
        assert any(pattern.search(line) for line in lines), (pattern.pattern, lines)
    assert proc.returncode == 0, rest
    # Every log line carries the timestamp and a level; the idle outbox checks stay at DEBUG.
    logged = [line for line in lines + rest.splitlines() if line.strip()]
    stamped = [line for line in logged if re.match(rf"^{STAMP} (DEBUG|INFO|WARNING|ERROR) ", line)]
    assert stamped and all(
        re.match(rf"^{STAMP} ", line) or not re.match(r"^(DEBUG|INFO|WARNING|ERROR)", line)
        for line in logged
    )
    assert not any("deliver: nothing due" in line for line in logged)
    assert not any(" INFO apscheduler" in line for line in logged)  # its chatter is for -vv
