"""CLI commands for stories: analyze, stories, story, search. Thin shells over the pipeline."""

from __future__ import annotations

import json

import click

from bot.clock import utcnow


def _print_json(doc: object) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))


@click.command("analyze")
@click.option("--batch-size", type=int, default=None, help="Articles per batch (model.batch_size).")
@click.pass_obj
def analyze_cmd(obj, batch_size: int | None) -> None:
    """Embed, tag and cluster every article not analysed yet.

    Safe to rerun: each batch is committed with its articles marked analysed, so an
    interrupted run resumes where it stopped.

    \b
    Example:
      tokentide poll --all && tokentide analyze
    """
    from bot.narratives.embed import Embedder
    from bot.narratives.pipeline import analyze_pending, count_pending
    from bot.progress import progress

    db, settings = obj.db, obj.settings
    embedder = Embedder.from_settings(settings)  # checks model.path before any work
    total = count_pending(db)
    if not total:
        click.echo("nothing to analyse", err=True)
        return
    with progress(total, "analyze", "articles") as bar:
        result = analyze_pending(
            db, settings, embedder, now=utcnow(), progress=bar.update, batch_size=batch_size
        )
    click.echo(
        f"analysed {result['analyzed']} articles, {result['new_stories']} new stories", err=True
    )


@click.command("stories")
@click.option("--topic", default=None, help="Only stories tagged with this topic id.")
@click.option("--hours", type=float, default=24.0, show_default=True, help="Look-back window.")
@click.option("--limit", type=int, default=None, help="At most this many stories.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout.")
@click.pass_obj
def stories_cmd(obj, topic: str | None, hours: float, limit: int | None, as_json: bool) -> None:
    """List recent stories, most significant first.

    \b
    Example:
      tokentide stories --topic export_controls --hours 72
    """
    from bot.narratives.stories import recent_stories

    if topic and topic not in obj.settings.topics:
        known = ", ".join(obj.settings.topics) or "none configured"
        raise click.BadParameter(f"unknown topic {topic!r} (known: {known})", param_hint="--topic")
    stories = recent_stories(obj.db, now=utcnow(), hours=hours, topic=topic, limit=limit)
    if as_json:
        _print_json(stories)
        return
    if not stories:
        click.echo(f"no stories in the last {hours:g} h", err=True)
        return
    for s in stories:
        topics = ",".join(s["topics"]) or "-"
        click.echo(
            f"#{s['id']:<6} {s['score']:6.2f}  {s['article_count']:>3} art {s['outlet_count']:>2} "
            f"outlets  [{topics}]  {s['title']}"
        )


@click.command("story")
@click.argument("story_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.pass_obj
def story_cmd(obj, story_id: int, as_json: bool) -> None:
    """Show one story's timeline: who reported it, in order.

    \b
    Example:
      tokentide story 42 --json
    """
    from bot.errors import TokentideError
    from bot.narratives.stories import story_detail

    story = story_detail(obj.db, story_id, now=utcnow())
    if story is None:
        raise TokentideError(f"story {story_id} not found (list them with: tokentide stories)")
    if as_json:
        _print_json(story)
        return
    click.echo(f"#{story['id']} {story['title']}")
    click.echo(
        f"{story['article_count']} articles, {story['outlet_count']} outlets, first: "
        f"{story['first_outlet'] or '-'}; topics: {', '.join(story['topics']) or '-'}; "
        f"momentum {story['momentum']}"
    )
    for a in story["articles"]:
        dup = f" (copy of #{a['duplicate_of']})" if a["duplicate_of"] else ""
        click.echo(f"  {a['published_at'] or '????':20} {a['outlet'] or '-':18} {a['title']}{dup}")
        click.echo(f"  {'':20} {a['url']}")


@click.command("search")
@click.argument("query")
@click.option("--limit", type=int, default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout.")
@click.pass_obj
def search_cmd(obj, query: str, limit: int, as_json: bool) -> None:
    """Search the archive by meaning (exact names also match by text).

    \b
    Example:
      tokentide search "Nvidia H20 licence" --limit 5
    """
    from bot.narratives.embed import Embedder
    from bot.narratives.search import search

    if not query.strip():
        raise click.BadParameter("empty query", param_hint="QUERY")
    if limit <= 0:
        raise click.BadParameter("must be positive", param_hint="--limit")
    results = search(obj.db, Embedder.from_settings(obj.settings), query, limit=limit)
    if as_json:
        _print_json(results)
        return
    if not results:
        click.echo("no matches", err=True)
    for r in results:
        story = f"story #{r['story_id']}" if r["story_id"] else "-"
        click.echo(
            f"{r['score']:.3f}  {(r['published_at'] or '')[:10]:10}  {r['outlet'] or '-':16} "
            f"{r['title']}  ({story})"
        )
