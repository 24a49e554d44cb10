"""Click commands for token share and prices: thin shells over poll, report, chart and
backfill."""

from __future__ import annotations

import asyncio
import json

import click

from bot.clock import utcnow
from bot.params import count


@click.command("poll-tokens")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def poll_tokens_cmd(obj, as_json: bool) -> None:
    """Fetch OpenRouter rankings and the model list's prices now, store them, and queue a
    share alert if the share moved.

    Uses the Data API when OPENROUTER_API_KEY is set, else the keyless rankings
    (TOKENTIDE_OPENROUTER_URL overrides the base URL). An answer that fails the whole-snapshot
    checks is refused or held for the next poll, with the reason; it never alerts.

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
    prices = result["prices"]
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    state = "stored" if result["stored"] else "unchanged (already stored)"
    if result.get("confirmed"):
        state += " (confirmed by a second answer)"
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
    if "error" in prices:
        click.echo(f"warning: prices not updated: {prices['error']}", err=True)
        return
    listed = "stored" if prices["stored"] else "unchanged"
    click.echo(f"prices: snapshot {prices['snapshot_id']} {listed}, {prices['models']} models")


@click.command("share")
@click.option(
    "--by", type=click.Choice(["country", "author", "model"]), default="country", show_default=True
)
@click.option("--period", type=click.Choice(["day", "week"]), default="week", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (fractions).")
@click.option("--chart", "chart", metavar="FILE.png", help="Also write a PNG of shares over time.")
@click.option(
    "--top", type=count(1000), default=15, show_default=True, help="Rows shown in the text table."
)
@click.pass_obj
def share_cmd(obj, by: str, period: str, as_json: bool, chart: str | None, top: int) -> None:
    """Token share by country, author or model for the latest complete period, with the
    change vs the period before.

    \b
    Example:
      tokentide share --by country --period week --json
    """
    from bot.tokens.report import current_share
    from bot.tokens.shares import no_token_data

    now = utcnow()
    doc = current_share(obj.db, by=by, period=period, now=now)
    if doc is None:
        raise no_token_data(period)
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


@click.command("prices")
@click.option(
    "--by", type=click.Choice(["country", "author", "model"]), default="country", show_default=True
)
@click.option("--period", type=click.Choice(["day", "week"]), default="week", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (USD per million).")
@click.option(
    "--chart", "chart", metavar="FILE.png", help="Also write a PNG of prices and the gap over time."
)
@click.option(
    "--top", type=count(1000), default=15, show_default=True, help="Rows shown in the text table."
)
@click.pass_obj
def prices_cmd(obj, by: str, period: str, as_json: bool, chart: str | None, top: int) -> None:
    """Blended token price (USD per million tokens) by country, author or model for the period
    `share` reports, with the change vs the period before, the coverage and the price gap.

    Prices come from OpenRouter's model list, polled with the rankings; they exist only from
    the first price snapshot onwards and are never applied to earlier periods.

    \b
    Example:
      tokentide prices --by country --json
      tokentide prices --chart prices.png
    """
    from bot.tokens.price_report import current_prices

    now = utcnow()
    pair = obj.settings.openrouter.alert.track
    doc = current_prices(obj.db, by=by, period=period, now=now, pair=pair)
    if chart:
        from bot.tokens.chart import render_price_chart

        written = render_price_chart(obj.db, chart, by=by, now=now, period=period, pair=pair)
        click.echo(f"chart written to {written}", err=True)
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    flag = " (in progress)" if doc["in_progress"] else ""
    click.echo(
        f"Blended price by {by}, {doc['period']['start'][:10]} to {doc['period']['end'][:10]}"
        f" (end exclusive){flag}, USD per million tokens [{doc['source']}]"
    )
    rows = list(doc["prices"].items())  # most tokens first
    for key, price in rows[:top]:
        change = doc["change"].get(key)
        moved = f"  {change:+.2f}" if change is not None else ""
        covered = doc["coverage_by_group"][key]
        click.echo(f"  {key:<40} ${price:8.2f}{moved}  ({covered:.0%} of its tokens priced)")
    if len(rows) > top:
        click.echo(f"  ... {len(rows) - top} more (use --json)")
    if doc["gap"]:
        g = doc["gap"]
        other = next(k for k in g["between"] if k != g["cheaper"])
        click.echo(f"Price gap: {other} tokens cost {g['ratio']:.1f}x {g['cheaper']}'s")
    click.echo(f"Coverage: {doc['coverage']:.0%} of tokens priced (unlisted models left out)")
    if doc["note"]:
        click.echo(f"Note: {doc['note']}")
    click.echo(doc["citation"])
