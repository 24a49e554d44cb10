"""Token share: cost of parsing, storing and reading OpenRouter history.

Builds an archive of N daily rankings/models snapshots (the real 2026-08-22 capture, shifted one
day back per snapshot with slightly changed numbers), then times the steps a poll and a `/share`
run. Prints one table.

Usage: python benchmarks/tokens.py [--smoke] [--days N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import parse_settings  # noqa: E402
from bot.store.db import open_db  # noqa: E402
from bot.tokens.changes import detect_changes  # noqa: E402
from bot.tokens.countries import load_country_map  # noqa: E402
from bot.tokens.history import content_hash, store_snapshot  # noqa: E402
from bot.tokens.parse import parse_rankings_models  # noqa: E402
from bot.tokens.report import current_share  # noqa: E402

FIXTURE = (
    Path(__file__).resolve().parent.parent
    / "tests/fixtures/openrouter/token-economy-tracker_openrouter_2026-08-22.json"
)
RENAMES = {
    "permaslug": "model_permaslug",
    "prompt_tokens": "total_prompt_tokens",
    "completion_tokens": "total_completion_tokens",
    "reasoning_tokens": "total_native_tokens_reasoning",
    "requests": "count",
}


def real_rows() -> list[dict]:
    rows = json.loads(FIXTURE.read_text(encoding="utf-8"))["payload"]["models_week"]
    return [{RENAMES.get(k, k): v for k, v in r.items()} for r in rows]


def shifted(rows: list[dict], back: int) -> dict:
    out = []
    for i, r in enumerate(rows):
        day = date.fromisoformat(r["date"]) - timedelta(days=back)
        wobble = 1 + ((i * 7 + back * 13) % 11 - 5) / 100  # ±5%, deterministic
        out.append(
            r
            | {
                "date": day.isoformat(),
                "total_prompt_tokens": int(r["total_prompt_tokens"] * wobble),
                "total_completion_tokens": int(r["total_completion_tokens"] * wobble),
            }
        )
    return {"data": out}


def timed(fn, repeat: int = 1):
    best = float("inf")
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000, result


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="30 snapshots instead of 365")
    ap.add_argument("--days", type=int, default=None)
    args = ap.parse_args(argv)
    days = args.days or (30 if args.smoke else 365)
    settings = parse_settings({"feeds": []})
    countries = load_country_map()
    rows = real_rows()
    fetched0 = datetime(2026, 8, 22, 2, tzinfo=UTC)
    table = []

    payload = {"data": rows}
    ms, parsed = timed(lambda: parse_rankings_models(payload, fetched_at=fetched0), repeat=5)
    table.append(("parse one rankings/models answer", f"{len(rows)} rows", ms))

    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        store_ms = []
        started = time.perf_counter()
        for back in range(days - 1, -1, -1):
            p = shifted(rows, back)
            fetched = fetched0 - timedelta(days=back)
            parsed = parse_rankings_models(p, fetched_at=fetched)
            t = time.perf_counter()
            store_snapshot(
                db,
                parsed,
                body=json.dumps(p),
                digest=content_hash(p),
                fetched_at=parsed.as_of,
                countries=countries,
            )
            store_ms.append((time.perf_counter() - t) * 1000)
        build_s = time.perf_counter() - started
        n_rows = db.execute("SELECT COUNT(*) FROM token_usage").fetchone()[0]
        store_ms.sort()
        table.append(
            (
                "store one snapshot (median)",
                f"{len(parsed.rows)} rows",
                store_ms[len(store_ms) // 2],
            )
        )
        now = fetched0 + timedelta(hours=1)
        for by in ("country", "model"):
            ms, doc = timed(lambda by=by: current_share(db, by=by, now=now), repeat=3)
            table.append((f"current_share by {by}", f"{days} snapshots, {n_rows} rows", ms))
        ms, _ = timed(lambda: detect_changes(db, settings, now=now))
        table.append(("detect_changes (newest snapshot)", f"{days} snapshots", ms))
        db.close()

    print(f"token share benchmark: {days} daily snapshots built in {build_s:.1f}s")
    print(f"{'step':<36} {'size':<28} {'ms':>9}")
    for step, size, ms in table:
        print(f"{step:<36} {size:<28} {ms:>9.1f}")
    cn = doc["shares"]
    print(
        f"(sanity: newest period {doc['period']['start'][:10]}..{doc['period']['end'][:10]}, "
        f"{len(cn)} models)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
