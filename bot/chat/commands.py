"""`tokentide run`, `tokentide digest` and `tokentide deliver` — thin shells over bot.jobs,
bot.digest.service and the outbox worker."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import click

from bot.clock import utcnow


def _summary(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if not isinstance(v, dict | list))


@click.command("run")
@click.option(
    "--once",
    is_flag=True,
    help="Do one full cycle (poll, analyse, tokens, digest, deliver) and exit.",
)
@click.pass_obj
def run_cmd(obj, once: bool) -> None:
    """Run everything on schedule: poll feeds and OpenRouter, analyse, post digests and alerts.

    With DISCORD_TOKEN set the Discord bot runs too (slash commands) and the scheduler lives
    in its event loop; without it the scheduler runs alone and messages go to the webhook or
    the console. Stop with Ctrl-C: deliveries in flight are finished first.

    \b
    Example:
      tokentide run --once
    """
    settings, db = obj.settings, obj.db
    if once:
        results = asyncio.run(_run_once(settings, db))
        for result in results:
            line = f"{result['job']}: {result['status']}"
            if result.get("error"):
                line += f" ({result['error']})"
            click.echo(line, err=True)
        return
    if settings.secrets.discord_token:
        from bot.chat.bot import run_bot

        asyncio.run(run_bot(settings, db))
    else:
        asyncio.run(_run_scheduler(settings, db))


async def _run_once(settings, db) -> list[dict]:
    from bot.app import open_app
    from bot.jobs import run_cycle

    async with open_app(settings, db) as app:
        return await run_cycle(app, now=utcnow())


async def _run_scheduler(settings, db) -> None:
    from bot.app import open_app
    from bot.jobs import run_forever

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_app(settings, db) as app:
        click.echo(
            f"tokentide: scheduler running, delivering to {type(app.sink).__name__}", err=True
        )
        await run_forever(app, stop)


@click.command("digest")
@click.option("--hours", type=float, default=None, help="Period length (default digest.hours, 24).")
@click.option("--json", "as_json", is_flag=True, help="Print the digest as one JSON document.")
@click.option("--post", is_flag=True, help="Enqueue the digest and deliver it now.")
@click.option("--force", is_flag=True, help="With --post: send again even if already posted.")
@click.pass_obj
def digest_cmd(obj, hours: float | None, as_json: bool, post: bool, force: bool) -> None:
    """Compose the digest of recent stories and the token share; print it, or --post it.

    --post goes to the configured destination (bot channel, webhook, else the console and
    digests/*.md). Posting the same period twice sends nothing new unless --force.

    \b
    Example:
      tokentide digest --hours 12 --post
    """
    if hours is not None and not hours > 0:
        raise click.BadParameter("must be a positive number of hours", param_hint="--hours")
    settings, db = obj.settings, obj.db
    now = utcnow()
    if not post:
        from bot.digest.render import to_text
        from bot.digest.service import build_digest, digest_json

        digest = build_digest(db, settings, now=now, hours=hours)
        if as_json:
            click.echo(json.dumps(digest_json(digest), ensure_ascii=False, indent=2))
        else:
            click.echo(to_text(digest))
        return
    from bot.chat.sinks import parse_webhook_url
    from bot.digest.service import compose_and_enqueue_digest

    uses_bot = settings.secrets.discord_token and settings.discord.channel_id
    if settings.secrets.discord_webhook_url and not uses_bot:
        parse_webhook_url(settings.secrets.discord_webhook_url)  # fail before queuing anything
    delivery = compose_and_enqueue_digest(db, settings, now=now, hours=hours, force=force)
    if delivery is None:
        click.echo(
            "digest for this period already queued or sent; use --force to send again", err=True
        )
    counts = asyncio.run(_deliver(settings, db))
    if as_json:
        click.echo(json.dumps({"delivery_id": delivery, **counts}))
    else:
        click.echo(
            f"delivery {delivery if delivery is not None else '-'}: {_summary(counts)}", err=True
        )
    if counts.get("failed"):
        sys.exit(1)


async def _deliver(settings, db) -> dict:
    from bot.app import open_app
    from bot.chat.outbox import deliver_until_settled

    async with open_app(settings, db) as app:
        return await deliver_until_settled(db, settings, app.sink, clock=utcnow)


@click.command("deliver")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_obj
def deliver_cmd(obj, as_json: bool) -> None:
    """Deliver every due message in the outbox (digests, share alerts) and print the counts.

    Messages that Discord answered with 5xx, a timeout or a rate limit are retried on a later
    run after backoff; refused ones are marked failed with Discord's reason.

    \b
    Example:
      tokentide deliver
    """
    counts = asyncio.run(_deliver(obj.settings, obj.db))
    if as_json:
        click.echo(json.dumps(counts))
    else:
        click.echo(_summary(counts))
    if counts.get("failed"):
        sys.exit(1)
