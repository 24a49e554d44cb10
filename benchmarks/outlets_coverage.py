"""Outlet registry coverage: how many publisher domains of the eval sets and feeds.yaml it knows.

For each eval file (../shared/eval/domain_news_dev.jsonl and uci_news_head.jsonl beside the
repository) counts articles per registrable domain and reports how many of the most frequent N
domains (ties at the cut kept) and how many articles the registry (bot/feeds/outlets.csv)
resolves; then checks that every feeds.yaml feed host and `outlet:` name is known. When the eval
files are absent it says so and exits 0. With --check it exits 1 if a top-N domain, feed host
or feed outlet is missing.

Usage: python benchmarks/outlets_coverage.py [--top 150] [--check] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402

from bot.feeds.outlets import (  # noqa: E402
    OutletRegistry,
    load_registry,
    normalise_host,
    registrable_domain,
)

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
FILES = ("domain_news_dev.jsonl", "uci_news_head.jsonl")
# Domains left out of the registry on purpose (also noted in outlets.csv): not press, so they
# must not count as a region's first report.
NOT_PRESS = {"bis.gov": "US Bureau of Industry and Security, a government agency"}


def domain_counts(path: Path) -> tuple[Counter[str], dict[str, set[str]]]:
    """Articles per registrable domain of each row's `url`, and the hosts seen under each."""
    counts: Counter[str] = Counter()
    hosts: dict[str, set[str]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            url = json.loads(line).get("url") or ""
            host = normalise_host(url)
            if not host:
                continue
            domain = registrable_domain(host)
            counts[domain] += 1
            hosts.setdefault(domain, set()).add(host)
    return counts, hosts


def top_domains(counts: Counter[str], n: int) -> list[str]:
    """The n most frequent domains, plus any tied with the n-th (so the cut is not arbitrary)."""
    ranked = sorted(counts, key=lambda d: (-counts[d], d))
    if len(ranked) <= n:
        return ranked
    floor = counts[ranked[n - 1]]
    return [d for d in ranked if counts[d] >= floor]


def report_file(path: Path, registry: OutletRegistry, n: int) -> list[str]:
    counts, hosts = domain_counts(path)
    known = {d for d in counts if all(registry.entry_for_host(h) for h in hosts[d])}
    top = top_domains(counts, n)
    left_out = [d for d in top if d not in known and d in NOT_PRESS]
    missing = [d for d in top if d not in known and d not in NOT_PRESS]
    articles = sum(counts.values())
    covered_articles = sum(counts[d] for d in known)
    print(f"\n{path.name}: {articles} articles, {len(counts)} publisher domains")
    print(f"  {'measure':<34} {'covered':>9} {'of':>6} {'share':>7}")
    rows = (
        (
            f"top {n} domains (ties kept: {len(top)})",
            len(top) - len(missing) - len(left_out),
            len(top),
        ),
        ("  of them not press, left out", len(left_out), len(top)),
        ("all domains", len(known), len(counts)),
        ("articles", covered_articles, articles),
    )
    for label, got, total in rows:
        print(f"  {label:<34} {got:>9} {total:>6} {got / max(total, 1):>7.1%}")
    for d in left_out:
        print(f"  not press, left out: {d} ({NOT_PRESS[d]})")
    for d in missing:
        print(f"  missing from the top {n}: {d} ({counts[d]} articles)")
    return missing


def report_feeds(config: Path, registry: OutletRegistry) -> list[str]:
    if not config.exists():
        print(f"\n{config}: not found; feeds not checked")
        return []
    feeds = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("feeds") or []
    missing = []
    for feed in feeds:
        host = normalise_host(feed.get("url") or "")
        if registry.entry_for_host(host) is None:
            missing.append(f"feed host {host}")
        outlet = feed.get("outlet")
        if outlet and registry.entry_for_name(outlet) is None:
            missing.append(f"feed outlet {outlet!r}")
    print(f"\n{config.name}: {len(feeds)} feeds, {len(missing)} hosts or outlet names unknown")
    for m in missing:
        print(f"  missing: {m}")
    return missing


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", type=Path, default=EVAL, help="folder holding the eval files")
    ap.add_argument("--config", type=Path, default=ROOT / "feeds.yaml")
    ap.add_argument("--top", type=int, default=150)
    ap.add_argument("--check", action="store_true", help="exit 1 when something is missing")
    ap.add_argument("--smoke", action="store_true", help="accepted for run_all.py; same run")
    args = ap.parse_args(argv)
    registry = load_registry()
    kinds = Counter(e.kind for e in registry.by_host.values())
    print(f"registry: {len(registry.by_host)} domains, {len(registry.by_name)} outlets")
    print("  " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    missing = report_feeds(args.config, registry)
    paths = [args.eval / name for name in FILES if (args.eval / name).exists()]
    if not paths:
        print(
            f"\noutlets_coverage: no eval files in {args.eval} (the labelled eval set lives in "
            "../shared/eval/ beside the repository); domain coverage not measured."
        )
    for path in paths:
        missing += report_file(path, registry, args.top)
    return 1 if args.check and missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
