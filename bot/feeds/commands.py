"""CLI commands for feeds: poll, feeds (health), check-config, import-opml. Thin shells."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Any

import click

from bot.clock import utcnow
from bot.params import count


@click.command("poll")
@click.option("--all", "all_feeds", is_flag=True, help="Poll every enabled feed now.")
@click.pass_obj
def poll_cmd(obj: Any, all_feeds: bool) -> None:
    """Poll feeds that are due and archive new articles.

    Feeds are checked with conditional GET; failing feeds back off and their error is shown
    by `tokentide feeds`. `--all` ignores schedules (and retries disabled feeds).

    \b
    Example:
      tokentide poll --all
    """
    from bot.feeds.fetch import make_client
    from bot.feeds.poll import make_parse_pool, poll_feeds, sync_config_feeds

    settings, db = obj.settings, obj.db
    now = utcnow()
    sync_config_feeds(db, settings, now=now)
    pool = make_parse_pool(settings)

    async def run() -> dict:
        async with make_client(settings) as client:
            return await poll_feeds(
                db, settings, client, now=now, all_feeds=all_feeds, parse_pool=pool
            )

    try:
        counts = asyncio.run(run())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    click.echo(
        f"polled {counts['feeds_polled']} feeds: {counts['new_articles']} new articles, "
        f"{counts['not_modified']} not modified, {counts['errors']} errors"
    )


@click.command("feeds")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
@click.pass_obj
def feeds_cmd(obj: Any, as_json: bool) -> None:
    """Show every feed's health: last success, errors, next check, why disabled.

    \b
    Example:
      tokentide feeds --json
    """
    from bot.feeds.poll import sync_config_feeds
    from bot.store.feeds import feed_health

    db = obj.db
    sync_config_feeds(db, obj.settings, now=utcnow())
    rows = feed_health(db)
    if as_json:
        click.echo(json.dumps([asdict(row) for row in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no feeds: add some under `feeds:` in the config or run import-opml")
        return
    header = ("name", "last success", "errors", "next check", "status")
    table = [header]
    for row in rows:
        if not row.enabled:
            status = "off"
        elif row.disabled_reason:
            status = f"DISABLED: {row.disabled_reason}"
        elif row.last_error:
            status = f"error: {row.last_error}"
        else:
            status = "ok" if row.last_success_at else "not checked yet"
        table.append(
            (
                _clip(row.name, 40),
                row.last_success_at or "never",
                str(row.error_count),
                row.next_check_at or "now",
                status,
            )
        )
    _print_table(table)


def _print_table(table: list[tuple[str, ...]]) -> None:
    """Rows in aligned columns, the last one left ragged."""
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    for r in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command("outlets")
@click.option(
    "--unknown", is_flag=True, help="Only outlets with no country (to add under outlets:)."
)
@click.option("--limit", type=count(100_000), default=None, help="At most this many outlets.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout.")
@click.pass_obj
def outlets_cmd(obj: Any, unknown: bool, limit: int | None, as_json: bool) -> None:
    """List the archive's outlets, most articles first: country, kind, region, articles and
    stories (syndicated copies left out), newest report, and the site's domain.

    An outlet with no country counts in no region, so it never sets a story's China/West lead.
    --unknown lists those: add each under `outlets:` in feeds.yaml by its domain, then run
    `tokentide analyze --reattribute` to apply the entries to the archive.

    \b
    Example:
      tokentide outlets --unknown --limit 20
      tokentide outlets --json
    """
    from bot.feeds.outlets import registry_for, site_domains
    from bot.narratives.signals import region_of
    from bot.store.articles import outlet_links, outlet_tallies

    db = obj.db
    registry = registry_for(obj.settings)
    every = outlet_tallies(db)
    tallies = [t for t in every if not unknown or not t.country]
    if limit:
        tallies = tallies[:limit]
    links = {t.outlet: outlet_links(db, t.outlet) for t in tallies}
    docs = [
        {
            "outlet": t.outlet,
            "country": t.country,
            "region": region_of(t.country),
            "kind": t.kind,
            "in_registry": registry.entry_for_name(t.outlet) is not None,
            "articles": t.articles,
            "stories": t.stories,
            "last_report": t.last_report,
            "domains": site_domains(links[t.outlet], registry)[:3],
        }
        for t in tallies
    ]
    if as_json:
        click.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        return
    if not docs:
        click.echo("every outlet has a country" if every else "no outlets yet: poll feeds first")
        return
    header = ("outlet", "country", "kind", "articles", "stories", "last report", "domain")
    table = [header]
    for d in docs:
        table.append(
            (
                _clip(d["outlet"], 36),
                d["country"] or "?",
                d["kind"] or "?",
                str(d["articles"]),
                str(d["stories"]),
                (d["last_report"] or "")[:10],
                ", ".join(d["domains"])
                or ("(aggregator links only)" if links[d["outlet"]] else "-"),
            )
        )
    _print_table(table)


@click.command("check-config")
@click.pass_obj
def check_config_cmd(obj: Any) -> None:
    """Validate the config file and print a short summary; exit 2 on the first problem.

    \b
    Example:
      tokentide --config feeds.yaml check-config
    """
    from bot.store.outbox import destination_for

    settings = obj.settings
    enabled = sum(1 for f in settings.feeds if f.enabled)
    click.echo(f"{settings.source}: OK")
    click.echo(f"  feeds: {len(settings.feeds)} ({enabled} enabled)")
    click.echo(f"  topics: {', '.join(settings.topics) or 'none'}")
    click.echo(f"  destination: {destination_for(settings)}")
    click.echo(f"  archive: {settings.db_path}")


@click.command("import-opml")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_obj
def import_opml_cmd(obj: Any, file: str) -> None:
    """Add the feeds listed in an OPML file (origin 'opml'); all or nothing.

    Feeds already in the archive are skipped. A malformed file changes nothing.

    \b
    Example:
      tokentide import-opml subscriptions.opml
    """
    from bot.feeds.opml import import_opml, read_opml

    entries = read_opml(file)
    counts = import_opml(obj.db, entries, now=utcnow())
    click.echo(
        f"{file}: {counts['added']} feeds added, {counts['skipped']} already present "
        f"(of {len(entries)} in the file)"
    )
