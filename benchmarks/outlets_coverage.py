"""Outlet registry coverage: how many publisher domains of the eval sets and feeds.yaml it knows.

For each eval file (../shared/eval/domain_news_dev.jsonl and uci_news_head.jsonl beside the
repository) counts articles per registrable domain and reports how many of the most frequent N
domains (ties at the cut kept) and how many articles the registry (bot/feeds/outlets.csv)
resolves; then checks that every feeds.yaml feed host and `outlet:` name is known. When the eval
files are absent it says so and exits 0. With --check it exits 1 if a top-N domain, feed host
or feed outlet is missing.

`outlet_quality_rows` is what benchmarks/quality.py adds to its table: outlet coverage (the share
of dev-set articles whose outlet resolves to a registry entry with a country; target >= 0.9) and
lead-time sanity on the dev set's labelled stories.

--unknown lists the dev set's publisher domains whose outlet has no country (the registry rows
to research next, most articles first) and the copy sites that name no source.

Usage: python benchmarks/outlets_coverage.py [--top 150] [--check] [--unknown] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402

from bot.feeds.outlets import (  # noqa: E402
    Outlet,
    OutletRegistry,
    load_registry,
    normalise_host,
    registrable_domain,
    resolve_outlet,
)
from bot.narratives.signals import StoryArticle, region_of, story_signals  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
FILES = ("domain_news_dev.jsonl", "uci_news_head.jsonl")
COVERAGE_TARGET = 0.9
PRESS = {"wire", "newspaper", "broadcaster", "state media", "trade press", "official"}
# "Candorium (AP)", "Head Topics (BBC copy)": a copy site naming the outlet it copied.
_COPIED_FROM = re.compile(
    r"\((?:[^()/]*/)?([^()/]+?)(?:\s+(?:copy|repost|summary|video|mirror))?\)\s*$"
)


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
    missing = [d for d in top if d not in known]
    articles = sum(counts.values())
    covered_articles = sum(counts[d] for d in known)
    print(f"\n{path.name}: {articles} articles, {len(counts)} publisher domains")
    print(f"  {'measure':<34} {'covered':>9} {'of':>6} {'share':>7}")
    rows = (
        (f"top {n} domains (ties kept: {len(top)})", len(top) - len(missing), len(top)),
        ("all domains", len(known), len(counts)),
        ("articles", covered_articles, articles),
    )
    for label, got, total in rows:
        print(f"  {label:<34} {got:>9} {total:>6} {got / max(total, 1):>7.1%}")
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


def article_outlet(row: dict, registry: OutletRegistry) -> Outlet | None:
    """An eval row's outlet as ingest would resolve it from its link; a copy site (an
    aggregator, never an outlet) is credited to the outlet its `publisher` says it copied."""
    outlet = resolve_outlet(None, None, None, row.get("url"), registry)
    if outlet is None:
        copied = _COPIED_FROM.search(row.get("publisher") or "")
        entry = registry.entry_for_name(copied.group(1)) if copied else None
        if entry is not None and entry.kind != "aggregator":
            outlet = Outlet(entry.name, entry.country, entry.kind, entry.domain)
    return outlet


def coverage_rows(rows: list[dict], registry: OutletRegistry) -> list[str]:
    """Share of articles whose outlet is a registry entry with a country, all and on-topic."""
    lines = []
    kinds: Counter[str] = Counter()
    for label, subset in (
        ("", rows),
        (" on-topic", [r for r in rows if r.get("subset") == "on_topic"]),
    ):
        ok = 0
        for row in subset:
            outlet = article_outlet(row, registry)
            if outlet is not None and outlet.country:
                ok += 1
            elif not label:
                kinds[
                    "aggregator copy, source not named"
                    if outlet is None
                    else f"{outlet.kind or 'unknown kind'}, country unknown"
                ] += 1
        share = ok / max(len(subset), 1)
        verdict = "meets" if share >= COVERAGE_TARGET else "below"
        lines.append(
            f"{'outlet coverage' + label:38} {ok}/{len(subset)} = {share:.3f} "
            f"({verdict} target {COVERAGE_TARGET})"
        )
    lines.append("  not covered: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    press = [o for o in (article_outlet(r, registry) for r in rows) if o and o.kind in PRESS]
    known = sum(1 for o in press if o.country)
    lines.append(
        f"{'  press outlets only':38} {known}/{len(press)} = {known / max(len(press), 1):.3f}"
    )
    return lines


def lead_rows(rows: list[dict], registry: OutletRegistry) -> list[str]:
    """Lead-time sanity over the labelled on-topic stories: how many have a dated Chinese and
    Western report, the leads' spread, and checks that must hold whatever the data."""
    stories: dict[str, list[StoryArticle]] = defaultdict(list)
    spans: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row.get("subset") != "on_topic":
            continue
        outlet = article_outlet(row, registry)
        dated = None if row.get("date_estimated") else row.get("published")
        stories[row["story"]].append(
            StoryArticle(
                outlet=outlet.name if outlet else None,
                country=outlet.country if outlet else None,
                kind=outlet.kind if outlet else None,
                published_at=dated,
            )
        )
        if dated:
            spans[row["story"]].append(dated)
    leads: list[float] = []
    problems: list[str] = []
    both = 0
    regions: Counter[str] = Counter()
    for slug, arts in stories.items():
        found = story_signals(arts)
        present = {region_of(o.country) for o in found.outlets}
        regions.update(r for r in present if r)
        if {"china", "west"} <= present:
            both += 1
        hours = found.lead.hours
        if hours is None:
            continue
        leads.append(hours)
        first, last = min(spans[slug]), max(spans[slug])
        span_h = (date.fromisoformat(last[:10]) - date.fromisoformat(first[:10])).days * 24
        if abs(hours) > span_h:
            problems.append(f"{slug}: lead {hours:+.0f} h exceeds the story's span {span_h} h")
        if hours % 24:
            problems.append(f"{slug}: lead {hours:+.1f} h is not whole days (dates only)")
    lines = [
        f"{'lead: on-topic stories':38} {len(stories)}; with a China and a West outlet {both}; "
        f"with a dated lead {len(leads)}",
        f"{'  stories covered by region':38} "
        + ", ".join(f"{r} {n}" for r, n in sorted(regions.items())),
    ]
    if leads:
        cn_first = sum(h > 0 for h in leads)
        west_first = sum(h < 0 for h in leads)
        lines.append(
            f"{'  lead hours (CN first > 0)':38} median {statistics.median(leads):+.0f}, "
            f"min {min(leads):+.0f}, max {max(leads):+.0f}; CN press first {cn_first}, "
            f"West first {west_first}, same day {len(leads) - cn_first - west_first}"
        )
    lines.append(
        f"{'  lead sanity':38} "
        + ("ok (within each story's span, whole days)" if not problems else "; ".join(problems))
    )
    return lines


def unknown_rows(rows: list[dict], registry: OutletRegistry) -> list[str]:
    """Dev-set domains whose outlet resolves without a country, most articles first."""
    missing: Counter[tuple[str, str]] = Counter()
    for row in rows:
        outlet = article_outlet(row, registry)
        if outlet is None or not outlet.country:
            domain = registrable_domain(normalise_host(row.get("url") or ""))
            why = "copy naming no source" if outlet is None else outlet.kind or "not in registry"
            missing[(domain, why)] += 1
    lines = [
        f"\n{len(missing)} dev-set domains without a country ({sum(missing.values())} articles):"
    ]
    for (domain, why), n in sorted(missing.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {n:>3}  {domain:<32} {why}")
    return lines


def outlet_quality_rows(rows: list[dict]) -> list[str]:
    """The lines benchmarks/quality.py prints about outlets for eval rows (the dev set)."""
    registry = load_registry()
    return coverage_rows(rows, registry) + lead_rows(rows, registry)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", type=Path, default=EVAL, help="folder holding the eval files")
    ap.add_argument("--config", type=Path, default=ROOT / "feeds.yaml")
    ap.add_argument("--top", type=int, default=150)
    ap.add_argument("--check", action="store_true", help="exit 1 when something is missing")
    ap.add_argument(
        "--unknown", action="store_true", help="list dev-set domains whose outlet has no country"
    )
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
    dev = args.eval / FILES[0]
    if args.unknown and dev.exists():
        with dev.open(encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        print("\n".join(unknown_rows(rows, registry)))
    return 1 if args.check and missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
