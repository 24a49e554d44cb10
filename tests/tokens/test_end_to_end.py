"""The issue's "done when": the real command line against a local OpenRouter serving real data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .or_server import MODELS, json_response, real_models_payload

REPO = Path(__file__).parent.parent.parent


def tokentide(args: list[str], *, tmp_path: Path, url: str) -> subprocess.CompletedProcess:
    config = tmp_path / "feeds.yaml"
    if not config.exists():
        config.write_text("feeds: []\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENTIDE_", "OPENROUTER_"))}
    env |= {
        "TOKENTIDE_OPENROUTER_URL": url,
        "TOKENTIDE_CONFIG": str(config),
        "TOKENTIDE_DB": str(tmp_path / "archive.db"),
    }
    env.pop("DISCORD_TOKEN", None)
    env.pop("DISCORD_WEBHOOK_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def test_poll_then_share_reports_the_real_split(server, tmp_path):
    server.set(MODELS, json_response(real_models_payload("2026-08-22")))
    polled = tokentide(["poll-tokens"], tmp_path=tmp_path, url=server.url)
    assert polled.returncode == 0, polled.stderr
    assert "rankings-models" in polled.stdout
    shown = tokentide(["share", "--json"], tmp_path=tmp_path, url=server.url)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["source"] == "rankings-models"
    assert round(doc["shares"]["CN"] * 100, 1) == 57.9
    assert round(doc["shares"]["US"] * 100, 1) == 38.3
    assert round(doc["total_tokens"] / 1e12, 2) == 84.09
    assert doc["period"] == {"start": "2026-08-15T00:00:00Z", "end": "2026-08-22T00:00:00Z"}
    assert doc["as_of"] == doc["as_of"] and doc["citation"].startswith(
        "Source: OpenRouter (openrouter.ai/rankings), as of "
    )
    assert doc["in_progress"] is False
    assert sum(doc["shares"].values()) == pytest.approx(1.0, abs=1e-5)


def test_a_later_snapshot_that_moves_lands_in_the_outbox(server, tmp_path):
    import sqlite3

    server.set(MODELS, json_response(real_models_payload("2026-07-12")))
    first = tokentide(["poll-tokens"], tmp_path=tmp_path, url=server.url)
    assert first.returncode == 0, first.stderr
    server.set(MODELS, json_response(real_models_payload("2026-08-22")))
    second = tokentide(["poll-tokens"], tmp_path=tmp_path, url=server.url)
    assert second.returncode == 0, second.stderr
    assert "share alert queued" in second.stdout
    # Polling the same data again stores nothing and alerts nothing.
    third = tokentide(["poll-tokens"], tmp_path=tmp_path, url=server.url)
    assert "unchanged" in third.stdout and "alert" not in third.stdout

    conn = sqlite3.connect(tmp_path / "archive.db")
    rows = conn.execute("SELECT kind, key, destination, payload FROM deliveries").fetchall()
    assert len(rows) == 1
    kind, key, destination, payload = rows[0]
    assert (kind, destination) == ("share_alert", "console")
    alert = json.loads(payload)
    assert key == f"snapshot:{alert['snapshot_id']}"
    cn = next(m for m in alert["moves"] if m["country"] == "CN")
    assert round(cn["from"] * 100, 1) == 62.3 and round(cn["to"] * 100, 1) == 57.9
    assert cn["points"] == pytest.approx(-4.48, abs=0.01)
    assert alert["leader"] == {"before": "CN", "after": "CN", "changed": False}
    assert alert["citation"].startswith("Source: OpenRouter (openrouter.ai/rankings), as of 2026-")
    assert alert["movers"] and {m["kind"] for m in alert["movers"]} == {"author", "model"}
    assert conn.execute("SELECT COUNT(*) FROM token_snapshots").fetchone()[0] == 2
