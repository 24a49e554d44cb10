"""Click commands for token share: thin shells over poll, report, chart and backfill."""

from __future__ import annotations

import asyncio
import json

import click

from bot.clock import utcnow


@click.command("poll-tokens")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def poll_tokens_cmd(obj, as_json: bool) -> None:
    """Fetch OpenRouter rankings now, store them, and queue a share alert if the share moved.

    Uses the Data API when OPENROUTER_API_KEY is set, else the keyless rankings
    (TOKENTIDE_OPENROUTER_URL overrides the base URL).

    \b
    Example:
      tokentide poll-tokens && tokentide share
    """
    from bot.tokens.changes import detect_changes
    from bot.tokens.client import make_api_client
    from bot.tokens.poll import poll_tokens

    settings, db = obj.settings, obj.db
    now = utcnow()

    async def fetch() -> dict:
        async with make_api_client(settings) as http:
            return await poll_tokens(db, settings, http, now=now)

    result = asyncio.run(fetch())
    result["alerts_queued"] = detect_changes(db, settings, now=now)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    state = "stored" if result["stored"] else "unchanged (already stored)"
    skipped = sum(result["skipped"].values())
    click.echo(
        f"{result['source']}: snapshot {result['snapshot_id']} {state}, {result['rows']} rows"
        f" for {result['window']['start'][:10]}..{result['window']['end'][:10]}"
        + (f", {skipped} bad rows skipped" if skipped else "")
    )
    for problem in result["errors"]:
        click.echo(f"warning: {problem}", err=True)
    if result["alerts_queued"]:
        click.echo(f"share alert queued (delivery {result['alerts_queued'][0]})")


@click.command("share")
@click.option(
    "--by", type=click.Choice(["country", "author", "model"]), default="country", show_default=True
)
@click.option("--period", type=click.Choice(["day", "week"]), default="week", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (fractions).")
@click.option("--chart", "chart", metavar="FILE.png", help="Also write a PNG of shares over time.")
@click.option("--top", default=15, show_default=True, help="Rows shown in the text table.")
@click.pass_obj
def share_cmd(obj, by: str, period: str, as_json: bool, chart: str | None, top: int) -> None:
    """Token share by country, author or model for the latest complete period, with the
    change vs the period before.

    \b
    Example:
      tokentide share --by country --period week --json
    """
    from bot.errors import TokentideError
    from bot.tokens.report import current_share

    now = utcnow()
    doc = current_share(obj.db, by=by, period=period, now=now)
    if doc is None:
        hint = " (daily data needs OPENROUTER_API_KEY)" if period == "day" else ""
        raise TokentideError(f"no token data yet{hint}: run `tokentide poll-tokens` first")
    if chart:
        from bot.tokens.chart import render_share_chart

        written = render_share_chart(obj.db, chart, by=by, now=now, period=period)
        click.echo(f"chart written to {written}", err=True)
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    flag = " (in progress)" if doc["in_progress"] else ""
    click.echo(
        f"Token share by {by}, {doc['period']['start'][:10]} to {doc['period']['end'][:10]}"
        f" (end exclusive){flag}: {doc['total_tokens'] / 1e12:.2f}T tokens [{doc['source']}]"
    )
    for key, share in list(doc["shares"].items())[:top]:
        delta = doc["deltas"].get(key)
        moved = f"  {delta:+.1f} pts" if delta is not None else ""
        click.echo(f"  {key:<40} {100 * share:6.1f}%{moved}")
    if len(doc["shares"]) > top:
        click.echo(f"  ... {len(doc['shares']) - top} more (use --json)")
    click.echo(doc["citation"])


@click.command("backfill-tokens")
@click.option("--days", type=click.IntRange(1, 366), default=30, show_default=True)
@click.pass_obj
def backfill_tokens_cmd(obj, days: int) -> None:
    """Backfill daily rankings from the OpenRouter Data API (needs OPENROUTER_API_KEY),
    at most 30 requests a minute.

    \b
    Example:
      OPENROUTER_API_KEY=... tokentide backfill-tokens --days 90
    """
    from bot.progress import progress
    from bot.tokens.client import make_api_client
    from bot.tokens.poll import backfill_tokens

    settings, db = obj.settings, obj.db
    now = utcnow()

    async def run(bar) -> dict:
        async with make_api_client(settings) as http:
            return await backfill_tokens(
                db, settings, http, now=now, days=days, progress=bar.update
            )

    with progress(days, "backfill-tokens", "days") as bar:
        result = asyncio.run(run(bar))
    click.echo(
        f"backfilled {result['start']}..{result['end']}: {result['chunks']} requests, "
        f"{result['stored']} new snapshots, {result['rows']} rows"
        + (f", {result['skipped']} bad rows skipped" if result["skipped"] else "")
    )
