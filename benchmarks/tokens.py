"""Token share and prices: cost of parsing, checking, storing and reading OpenRouter history.

Builds an archive of N daily rankings/models snapshots (the real 2026-08-22 capture, shifted one
day back per snapshot with slightly changed numbers) and a model list polled with each of them
(every model in the capture with invented prices, changed once a week, so a new price snapshot
is stored weekly), then times the steps a poll, `/share`, `/prices` and the Datasette price
queries run. Prints one table.

Usage: python benchmarks/tokens.py [--smoke] [--days N]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import parse_settings  # noqa: E402
from bot.site.site import ARCHIVE_NAME, load_metadata  # noqa: E402
from bot.store.db import open_db  # noqa: E402
from bot.store.prices import save_prices  # noqa: E402
from bot.store.tokens import held_totals, previous_totals  # noqa: E402
from bot.tokens.changes import detect_changes  # noqa: E402
from bot.tokens.checks import judge_snapshot  # noqa: E402
from bot.tokens.countries import load_country_map  # noqa: E402
from bot.tokens.history import content_hash, store_snapshot  # noqa: E402
from bot.tokens.parse import parse_rankings_models  # noqa: E402
from bot.tokens.price_report import current_prices, price_series  # noqa: E402
from bot.tokens.prices import parse_models  # noqa: E402
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


def model_list(rows: list[dict], week: int) -> bytes:
    """Every model and variant of the capture with invented prices (a new one each `week`)."""
    items, seen = [], set()
    for r in rows:
        slug = r["model_permaslug"]
        base = slug.split("-20")[0] if "-20" in slug else slug
        suffix = "" if r["variant"] == "standard" else f":{r['variant']}"
        if not slug or base + suffix in seen:
            continue
        seen.add(base + suffix)
        cents = 5 + (sum(map(ord, slug)) + week) % 300  # $0.05 to $3.04 per M prompt tokens
        prompt = 0 if r["variant"] == "free" else cents / 100 / 1e6
        items.append(
            {
                "id": base + suffix,
                "canonical_slug": slug,
                "hugging_face_id": slug if cents % 2 else "",
                "pricing": {"prompt": f"{prompt:.10f}", "completion": f"{4 * prompt:.10f}"},
            }
        )
    return json.dumps({"data": items}).encode()


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


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
    listed = model_list(rows, 0)
    ms, prices = timed(lambda: parse_models(listed, fetched_at=fetched0), repeat=5)
    table.append(("parse + check the model list", f"{len(prices.rows)} models", ms))

    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        store_ms, check_ms, changed_ms, same_ms = [], [], [], []
        started = time.perf_counter()
        for back in range(days - 1, -1, -1):
            p = shifted(rows, back)
            fetched = fetched0 - timedelta(days=back)
            parsed = parse_rankings_models(p, fetched_at=fetched)
            t = time.perf_counter()
            previous = previous_totals(db, source=parsed.source, window_end=parsed.window_end)
            held = held_totals(db, source=parsed.source)
            judge_snapshot(parsed, previous, held, settings.openrouter)
            check_ms.append((time.perf_counter() - t) * 1000)
            prices = parse_models(model_list(rows, back // 7), fetched_at=fetched)
            t = time.perf_counter()
            _, new = save_prices(db, prices)
            (changed_ms if new else same_ms).append((time.perf_counter() - t) * 1000)
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
        table.append(("check a snapshot as a whole (median)", "vs the previous", median(check_ms)))
        table.append(("store one snapshot (median)", f"{len(parsed.rows)} rows", median(store_ms)))
        table.append(
            (
                "store a changed price list (median)",
                f"{len(prices.rows)} models",
                median(changed_ms),
            )
        )
        if same_ms:
            table.append(("an unchanged price list (median)", "last_seen_at only", median(same_ms)))
        now = fetched0 + timedelta(hours=1)
        for by in ("country", "model"):
            ms, doc = timed(lambda by=by: current_share(db, by=by, now=now), repeat=3)
            table.append((f"current_share by {by}", f"{days} snapshots, {n_rows} rows", ms))
        ms, _ = timed(lambda: detect_changes(db, settings, now=now))
        table.append(("detect_changes (newest snapshot)", f"{days} snapshots", ms))
        lists = db.execute("SELECT COUNT(*) FROM price_snapshots").fetchone()[0]
        priced = {}
        for by in ("country", "model"):
            ms, priced[by] = timed(lambda by=by: current_prices(db, by=by, now=now), repeat=3)
            table.append((f"current_prices by {by} (prices)", f"{lists} price lists", ms))
        ms, series = timed(lambda: price_series(db, now=now))
        table.append(("price_series (prices --chart data)", f"{len(series[2])} periods", ms))
        db.close()
        queries = load_metadata()["databases"][ARCHIVE_NAME]["queries"]
        conn = sqlite3.connect(f"file:{Path(tmp) / 'bench.db'}?mode=ro", uri=True)
        for name in ("latest_prices_by_country", "price_gap_over_time"):
            sql = queries[name]["sql"]
            ms, found = timed(lambda sql=sql: conn.execute(sql).fetchall(), repeat=3)
            table.append((f"canned query {name}", f"{len(found)} rows", ms))
        conn.close()

    print(f"token share benchmark: {days} daily snapshots built in {build_s:.1f}s")
    print(f"{'step':<38} {'size':<28} {'ms':>9}")
    for step, size, ms in table:
        print(f"{step:<38} {size:<28} {ms:>9.1f}")
    cn = doc["shares"]
    print(
        f"(sanity: newest period {doc['period']['start'][:10]}..{doc['period']['end'][:10]}, "
        f"{len(cn)} models; CN ${priced['country']['prices']['CN']:.2f}/M, US "
        f"${priced['country']['prices']['US']:.2f}/M, coverage {priced['country']['coverage']:.0%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
