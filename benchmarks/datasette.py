"""Datasette response times on a year of archive, through `tokentide serve` over HTTP: p50/p95.

Builds a synthetic archive on the real schema (`open_db` and its migrations, so the full-text
and topic triggers run on every insert): articles with Zipf-distributed words plus the beat's own
terms at realistic rates, grouped into stories of skewed sizes (five articles a story on
average), a year of weekly token usage, a poll's job runs every 15 minutes, and — when the schema
has them — story leads, narratives and prices. Then it starts the real `tokentide serve` in a
child process and times each page over HTTP on one keep-alive connection, as a browser would:
one warm-up request each, then the repeats, one request at a time. The HTML pages' figures do
not include what the browser fetches afterwards; a chart's data is timed on its own line.

The full run measures 100k and 500k articles (the 500k archive takes a few minutes to build);
--smoke builds 2k and times each page three times. --keep DIR keeps the archives there and
reuses them on the next run.

Usage: python benchmarks/datasette.py [--smoke] [--articles N ...] [--repeat R] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import httpx

# This script's folder comes first on sys.path, and its name would shadow the datasette
# package: drop the folder and put the project root there instead.
_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))

from bot.clock import to_iso  # noqa: E402
from bot.config import Secrets  # noqa: E402
from bot.site.leaks import find_leaks  # noqa: E402
from bot.store.db import open_db  # noqa: E402

GENERATOR_VERSION = 8  # bump when the archive below changes, so --keep rebuilds it
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TOPICS = ("chips", "export_controls", "token_economics")
# The beat's own terms and the share of stories (so of articles) that bring each up.
TERMS = [
    ("chip", 0.22), ("Nvidia", 0.12), ("export controls", 0.08), ("Huawei", 0.05),
    ("TSMC", 0.05), ("DeepSeek", 0.04), ("tokens", 0.05), ("lithography", 0.02),
    ("ASML", 0.02), ("SMIC", 0.015), ("H20", 0.01), ("Blackwell", 0.02), ("HBM", 0.015),
    ("Commerce Department", 0.03), ("OpenRouter", 0.005), ("Qwen", 0.02), ("Kimi", 0.01),
    ("inference prices", 0.01), ("open weights", 0.015), ("datacentre", 0.03),
]  # fmt: skip
# (name, weight, country, kind): the shipped feeds' publishers and a long tail of others.
OUTLETS = [
    ("SCMP", 8, "HK", "newspaper"), ("Reuters", 7, "GB", "wire"),
    ("The Register", 5, "GB", "trade press"), ("TechCrunch", 5, "US", "trade press"),
    ("The Verge", 4, "US", "trade press"), ("Nikkei Asia", 4, "JP", "newspaper"),
    ("Bloomberg", 4, "US", "wire"), ("Caixin", 3, "CN", "newspaper"),
    ("Global Times", 3, "CN", "state media"), ("Xinhua", 3, "CN", "state media"),
    ("EE Times", 2, "US", "trade press"), ("Tom's Hardware", 2, "US", "trade press"),
    ("Ars Technica", 2, "US", "trade press"), ("Financial Times", 2, "GB", "newspaper"),
    ("36Kr", 2, "CN", "trade press"), ("The Information", 1, "US", "newsletter"),
    ("CNBC", 2, "US", "broadcaster"), ("Wired", 1, "US", "trade press"),
    ("Semafor", 1, "US", "newsletter"), ("AP", 2, "US", "wire"),
] + [(f"Outlet {i}", 0.2, ("US", "DE", "CN", "IN", "KR")[i % 5], "blog") for i in range(60)]  # fmt: skip
CHINA, WEST = {"CN", "HK"}, {"US", "GB", "DE", "FR"}
MAKERS = [
    ("openai", "US"), ("anthropic", "US"), ("google", "US"), ("meta-llama", "US"),
    ("x-ai", "US"), ("deepseek", "CN"), ("qwen", "CN"), ("moonshotai", "CN"), ("z-ai", "CN"),
    ("minimax", "CN"), ("mistralai", "FR"), ("stealth", "UNKNOWN"),
]  # fmt: skip
SEARCHES = ["Huawei lithography", "export controls", "chip"]


# --- the archive ---


def _vocabulary(rng: random.Random, size: int = 4000) -> tuple[list[str], list[float]]:
    syllables = ["ka", "lo", "mi", "ten", "ra", "su", "vel", "dor", "an", "chi", "pe", "ro",
                 "tas", "me", "ni", "gor", "la", "bri", "zu", "fen"]  # fmt: skip
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choices(syllables, k=rng.randint(2, 4))))
    ordered = sorted(words)
    rng.shuffle(ordered)
    weights = [1 / (rank + 1) ** 1.07 for rank in range(size)]
    cumulative, total = [], 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    return ordered, cumulative


def _text(rng, words, cum, n: int, terms: list[str]) -> str:
    out = rng.choices(words, cum_weights=cum, k=n)
    for term in terms:
        out.insert(rng.randrange(len(out) + 1), term)
    return " ".join(out)


def _story_sizes(rng: random.Random, articles: int) -> list[int]:
    """Skewed sizes averaging about five: half the stories one article, a few hundreds."""
    sizes: list[int] = []
    left = articles
    while left > 0:
        sizes.append(min(left, 400, int(rng.paretovariate(1.1))))
        left -= sizes[-1]
    return sizes


def generate(path: Path, articles: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    words, cum = _vocabulary(rng)
    outlet_names = [o[0] for o in OUTLETS]
    outlet_weights = [o[1] for o in OUTLETS]
    country = {o[0]: o[2] for o in OUTLETS}
    kind = {o[0]: o[3] for o in OUTLETS}
    db = open_db(path)
    columns = set(db["stories"].columns_dict)
    registry = "outlet_country" in db["articles"].columns_dict
    year = 365 * 24 * 3600

    # Stories first (in memory): when, which topics, which terms.
    sizes = _story_sizes(rng, articles)
    rows = []  # (published, story index, outlet, topics, terms)
    for s, size in enumerate(sizes):
        centre = NOW - timedelta(seconds=rng.random() ** 0.9 * year)
        topics = (
            sorted(rng.sample(TOPICS, k=rng.choice((1, 1, 1, 2)))) if rng.random() > 0.15 else []
        )
        terms = [t for t, p in TERMS if rng.random() < p]
        for _ in range(size):
            published = centre + timedelta(hours=rng.expovariate(1 / 20))
            mine = topics if rng.random() > 0.1 else topics[:1]
            outlet = rng.choices(outlet_names, weights=outlet_weights)[0]
            rows.append((min(published, NOW), s, outlet, mine, terms))
    rows.sort(key=lambda r: r[0])  # ids follow time, as the poll stores them

    feeds = [(i + 1, outlet_names[i % 20]) for i in range(26)]
    feed_of = {o: [f for f, fo in feeds if fo == o] for o in outlet_names}
    story_rows: dict[int, dict] = {}
    with db.conn:
        db.conn.executemany(
            "INSERT INTO feeds (id, url, name, outlet, created_at, last_checked_at,"
            " last_success_at, last_status, error_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (f, f"https://example.org/{f}/feed", f"{o} – feed {f}", o, to_iso(NOW - timedelta(days=365)),
                 to_iso(NOW), to_iso(NOW) if f != 26 else None, 200 if f != 26 else 503, 0 if f != 26 else 4)
                for f, o in feeds
            ],
        )  # fmt: skip
        db.conn.executemany(
            "INSERT INTO stories (id, title) VALUES (?, '')", [(s + 1,) for s in range(len(sizes))]
        )
        batch = []
        for i, (published, s, outlet, topics, terms) in enumerate(rows, start=1):
            fetched = published + timedelta(minutes=rng.randrange(1, 40))
            feed = rng.choice(feed_of.get(outlet) or [rng.randrange(1, 27)])
            title_terms = [t for t in terms if rng.random() < 0.5]
            title = _text(rng, words, cum, 9, title_terms)
            summary = _text(rng, words, cum, 38, terms)
            batch.append(
                (i, feed, f"https://example.org/a/{i}", title, summary, outlet, to_iso(published),
                 to_iso(fetched), json.dumps(topics), s + 1, to_iso(fetched))
                + ((country[outlet], kind[outlet]) if registry else ())
            )  # fmt: skip
            story = story_rows.setdefault(s + 1, {"first": i, "title": title, "outlets": {}})
            story["outlets"].setdefault(outlet, to_iso(published))
            story["last"] = to_iso(published)
            story["count"] = story.get("count", 0) + 1
            story["topics"] = sorted(set(story.get("topics", [])) | set(topics))
            if len(batch) == 5000:
                _insert_articles(db, batch, registry)
                batch = []
        _insert_articles(db, batch, registry)
        updates = []
        for sid, st in story_rows.items():
            first_outlet = next(iter(st["outlets"]))
            updates.append(
                (st["title"], st["first"], st["outlets"][first_outlet], st["last"], st["count"],
                 len(st["outlets"]), first_outlet, json.dumps(st["topics"]), sid)
            )  # fmt: skip
        db.conn.executemany(
            "UPDATE stories SET title = ?, representative_article_id = ?, first_seen = ?,"
            " last_seen = ?, article_count = ?, outlet_count = ?, first_outlet = ?, topics = ?"
            " WHERE id = ?",
            updates,
        )
        _fill_tokens(db, rng)
        _fill_runs(db)
        _fill_optional(db, rng, columns, story_rows, country)
    db.close()


def _insert_articles(db, batch: list[tuple], registry: bool) -> None:
    if not batch:
        return
    extra = ", outlet_country, outlet_kind" if registry else ""
    marks = ", ".join("?" * len(batch[0]))
    db.conn.executemany(
        "INSERT INTO articles (id, feed_id, url, title, summary, outlet, published_at, fetched_at,"
        f" topics, story_id, analyzed_at{extra}) VALUES ({marks})",
        batch,
    )


def _fill_tokens(db, rng: random.Random) -> None:
    monday = (NOW - timedelta(days=NOW.weekday())).replace(hour=0, minute=0, second=0)
    for week in range(52, 0, -1):
        start, end = monday - timedelta(weeks=week), monday - timedelta(weeks=week - 1)
        snap = db.conn.execute(
            "INSERT INTO token_snapshots (source, fetched_at, window_start, window_end,"
            " granularity, content_hash, payload) VALUES ('market-share', ?, ?, ?, 'week', ?, '{}')",
            [to_iso(end), to_iso(start), to_iso(end), str(week)],
        ).lastrowid
        db.conn.executemany(
            "INSERT INTO token_usage (snapshot_id, window_start, window_end, granularity, source,"
            " model, author, country, total_tokens) VALUES (?, ?, ?, 'week', 'market-share', ?, ?, ?, ?)",
            [
                (snap, to_iso(start), to_iso(end), f"{a}/m{k}", a, c,
                 rng.randrange(10**9, 10**11) * (1 + (52 - week) / 30 if c == "CN" else 1))
                for a, c in MAKERS for k in range(4)
            ],
        )  # fmt: skip


def _fill_runs(db) -> None:
    """A year of job runs: a poll every 15 minutes, tokens every 6 hours, a digest a day."""
    runs = []
    start = NOW - timedelta(days=365)
    for job, every in (("poll", 15), ("analyze", 15), ("tokens", 360), ("digest", 1440)):
        t = start
        while t < NOW:
            runs.append((job, to_iso(t), to_iso(t + timedelta(seconds=3)), "ok", "{}"))
            t += timedelta(minutes=every)
    db.conn.executemany(
        "INSERT INTO job_runs (job, started_at, finished_at, status, detail) VALUES (?, ?, ?, ?, ?)",
        runs,
    )


def _fill_optional(
    db, rng: random.Random, columns: set[str], stories: dict[int, dict], country: dict[str, str]
) -> None:
    """Columns and tables other rooms add, filled when the schema has them."""
    if "lead_hours" in columns:
        leads = []
        for sid, st in stories.items():
            china = next(((o, t) for o, t in st["outlets"].items() if country[o] in CHINA), None)
            west = next(((o, t) for o, t in st["outlets"].items() if country[o] in WEST), None)
            hours = None
            if china and west:
                gap = datetime.fromisoformat(west[1]) - datetime.fromisoformat(china[1])
                hours = round(gap.total_seconds() / 3600, 2)
            n = len(st["outlets"])
            leads.append(
                (*(china or (None, None)), *(west or (None, None)), hours,
                 sum(country[o] in CHINA for o in st["outlets"]) / n,
                 sum(country[o] in WEST for o in st["outlets"]) / n, sid)
            )  # fmt: skip
        db.conn.executemany(
            "UPDATE stories SET first_china_outlet = ?, first_china_at = ?, first_west_outlet = ?,"
            " first_west_at = ?, lead_hours = ?, china_share = ?, west_share = ? WHERE id = ?",
            leads,
        )
    if "story_outlets" in db.table_names():
        from bot.store.stories import refresh_story_outlets

        refresh_story_outlets(db, list(stories))  # as analyze keeps them with each lead
    if "outlet_leads" in db.table_names():
        from bot.store.stories import refresh_outlet_leads

        refresh_outlet_leads(db)  # as the end of an analysis does
    if "narrative_id" in columns and "narratives" in db.table_names():
        # A story in three belongs to one of len(stories) / 50 narratives.
        count = max(1, len(stories) // 50)
        members: dict[int, list[int]] = {}
        for sid in stories:
            if rng.random() < 0.3:
                members.setdefault(rng.randrange(count) + 1, []).append(sid)
        db.conn.executemany(
            "INSERT INTO narratives (id, title, first_story_id, first_seen, last_seen, story_count,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (n, stories[ids[0]]["title"], ids[0], stories[ids[0]]["outlets"][next(iter(stories[ids[0]]["outlets"]))],
                 max(stories[i]["last"] for i in ids), len(ids), to_iso(NOW))
                for n, ids in members.items()
            ],
        )  # fmt: skip
        db.conn.executemany(
            "UPDATE stories SET narrative_id = ? WHERE id = ?",
            [(n, sid) for n, ids in members.items() for sid in ids],
        )


def ensure_archive(size: int, folder: Path) -> tuple[Path, float]:
    """The archive of `size` articles in `folder`, built unless a current one is there."""
    path = folder / f"datasette-{size}.db"
    stamp = folder / f"datasette-{size}.json"
    wanted = {"version": GENERATOR_VERSION, "articles": size}
    if path.exists() and stamp.exists() and json.loads(stamp.read_text()) == wanted:
        open_db(path).close()  # apply migrations added since it was built
        return path, 0.0
    for leftover in folder.glob(f"datasette-{size}.db*"):
        leftover.unlink()
    started = time.perf_counter()
    generate(path, size)
    stamp.write_text(json.dumps(wanted))
    return path, time.perf_counter() - started


# --- the server and the pages ---


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`tokentide serve` over `path` in a child process."""

    def __init__(self, path: Path, tmp: Path):
        config = tmp / "feeds.yaml"
        config.write_text("feeds: []\n", encoding="utf-8")
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENTIDE_", "DISCORD_"))}
        env.pop("OPENROUTER_API_KEY", None)
        self.log = open(tmp / f"serve-{self.port}.log", "w+", encoding="utf-8")  # noqa: SIM115
        args = ["--config", str(config), "--db", str(path), "serve", "--port", str(self.port)]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait(self, timeout_s: float = 120) -> float:
        """Seconds from start until the server answers (migrations, the secrets scan, start)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise SystemExit(f"serve exited {self.proc.returncode}: {self.log.read()}")
            try:
                if httpx.get(self.base + "/-/versions.json", timeout=2).status_code == 200:
                    return time.monotonic() - self.started
            except httpx.TransportError:
                time.sleep(0.1)
        raise SystemExit("serve did not answer in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def pages(client: httpx.Client, path: Path) -> list[tuple[str, str]]:
    """(label, URL path) of every page timed, picked from the archive itself."""
    db = open_db(path, migrate_schema=False)
    try:
        typical = db.execute(
            "SELECT id FROM stories WHERE article_count BETWEEN 5 AND 8 ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]
        biggest = db.execute(
            "SELECT id FROM stories ORDER BY article_count DESC LIMIT 1"
        ).fetchone()[0]
        narrative = None
        if "narratives" in db.table_names():
            found = db.execute("SELECT max(id) FROM narratives").fetchone()
            narrative = found[0] if found else None
    finally:
        db.close()
    found = [
        ("front page", "/"),
        ("articles table (facets)", "/archive/articles"),
        *[(f"search: {q}", f"/archive/articles?_search={quote(q)}") for q in SEARCHES],
        ("articles with topic chips", _facet_link(client, "/archive/articles.json", "chips")),
        ("articles from SCMP", "/archive/articles?outlet=SCMP"),
        ("stories table (facets)", "/archive/stories"),
        ("story page (5-8 articles)", f"/archive/stories/{typical}"),
        ("story page (the largest story)", f"/archive/stories/{biggest}"),
    ]
    metadata = client.get("/-/metadata.json").json()
    queries = metadata["databases"]["archive"].get("queries", {})
    values = {"story_id": typical, "phrase": "export controls", "narrative_id": narrative}
    for name, spec in queries.items():
        wanted = {p: values.get(p) for p in re.findall(r":(\w+)", spec["sql"])}
        if None in wanted.values():
            continue  # a parameter this script cannot fill
        found.append((f"query {name}", f"/archive/{name}?{urlencode(wanted)}"))
    dashboards = metadata.get("plugins", {}).get("datasette-dashboards", {})
    for slug, dash in dashboards.items():
        filters = {key: values.get(key) for key in dash.get("filters", {})}
        if None in filters.values():
            continue
        found.append((f"dashboard {slug}", f"/-/dashboards/{slug}?{urlencode(filters)}"))
        for chart_slug, chart in dash.get("charts", {}).items():
            if chart.get("query"):
                query = urlencode({"sql": chart["query"], **filters, "_shape": "objects"})
                found.append((f"  chart data {chart_slug}", f"/{chart['db']}.json?{query}"))
    return found


def _facet_link(client: httpx.Client, url: str, value: str) -> str:
    """The page a reader opens by clicking `value` in the articles' topic facet."""
    for facet in client.get(url, timeout=60).json()["facet_results"].values():
        for item in facet["results"]:
            if item["value"] == value:
                link = urlsplit(item["toggle_url"])
                return f"{link.path.replace('.json', '')}?{link.query}"
    return "/archive/articles?topics__arraycontains=" + value  # the facet timed out


def facet_check(client: httpx.Client) -> list[str]:
    """Problems with the articles' facets on the table page and in a search (none timed out)."""
    problems = []
    for url in ["/archive/articles.json", f"/archive/articles.json?_search={quote(SEARCHES[-1])}"]:
        body = client.get(url, timeout=60).json()
        if body.get("facets_timed_out"):
            problems.append(f"{url}: facets timed out: {body['facets_timed_out']}")
        shown = {f["name"] for f in body.get("facet_results", {}).values() if f["results"]}
        shown |= {"topic"} if "topics" in shown else set()  # Datasette's array facet's name
        for name in ("topic", "outlet", "story_id"):
            if name not in shown:
                problems.append(f"{url}: no {name} facet")
    return problems


def measure(base: str, targets: list[tuple[str, str]], repeat: int) -> list[tuple]:
    results = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for label, url in targets:
            response = client.get(url)  # warm-up, and a check that it works
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, url
            times.sort()
            p95 = times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)]
            results.append((label, statistics.median(times), p95, len(response.content)))
    return results


def time_leak_scan(path: Path) -> float:
    """Seconds `serve` spends looking for secrets before it starts when all three are set
    (each is looked for in every text column; with none set only the bot's own tables are
    searched for their shapes, as in the benchmark's own `serve`)."""
    secrets = Secrets(
        "x" * 70, "https://discord.com/api/webhooks/1/" + "y" * 60, "sk-or-v1-" + "z" * 64
    )
    db = open_db(path, migrate_schema=False)
    try:
        started = time.perf_counter()
        assert find_leaks(db, secrets) == []
        return time.perf_counter() - started
    finally:
        db.close()


def run_size(size: int, folder: Path, repeat: int) -> tuple[list[tuple], list[str], str]:
    path, built = ensure_archive(size, folder)
    server = Server(path, folder)
    try:
        ready = server.wait()
        with httpx.Client(base_url=server.base, timeout=60) as client:
            targets = pages(client, path)
            problems = facet_check(client)
        results = measure(server.base, targets, repeat)
    finally:
        server.stop()
    note = f"{size:,} articles ({path.stat().st_size / 1e6:.0f} MB"
    note += f", built in {built:.0f} s)" if built else ", reused)"
    note += f"; serve answered {ready:.1f} s after it started"
    note += f"; its secrets scan with all three set: {time_leak_scan(path):.1f} s"
    return results, problems, note


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2k articles, 3 requests a page")
    parser.add_argument("--articles", type=int, nargs="+", help="archive sizes (default 100k 500k)")
    parser.add_argument("--repeat", type=int, default=None, help="requests per page (default 20)")
    parser.add_argument("--keep", type=Path, help="build the archives here and reuse them")
    args = parser.parse_args(argv)
    sizes = args.articles or ([2_000] if args.smoke else [100_000, 500_000])
    repeat = args.repeat or (3 if args.smoke else 20)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        runs = [run_size(size, folder, repeat) for size in sizes]
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"`tokentide serve` over HTTP, {repeat} requests a page after one warm-up, p50 / p95 ms")
    print(f"  {os.cpu_count()} CPUs, load average after the run {load} (1 / 5 / 15 min)")
    for _, _, note in runs:
        print(f"  {note}")
    labels = [label for label, *_ in runs[0][0]]
    header = " | ".join(f"{s // 1000}k p50 / p95" for s in sizes)
    print(f"\n| page | {header} |")
    print("|---|" + "---|" * len(sizes))
    for i, label in enumerate(labels):
        cells = []
        for results, _, _ in runs:
            match = [r for r in results if r[0] == label] or [results[i]]
            cells.append(f"{match[0][1]:.0f} / {match[0][2]:.0f}")
        print(f"| {label} | {' | '.join(cells)} |")
    failed = [p for _, problems, _ in runs for p in problems]
    for problem in failed:
        print(f"FACETS: {problem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
