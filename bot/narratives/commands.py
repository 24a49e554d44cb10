"""CLI commands for stories: analyze, stories, story, search. Thin shells over the pipeline."""

from __future__ import annotations

import json

import click

from bot.clock import utcnow
from bot.params import LOOKBACK_HOURS, STORY_ID, count


def _print_json(doc: object) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))


@click.command("analyze")
@click.option(
    "--batch-size", type=count(100_000), default=None, help="Articles per batch (model.batch_size)."
)
@click.option(
    "--retag",
    is_flag=True,
    help="First re-apply the current topic definitions to analysed articles and recompute "
    "story topics (stored vectors are reused; resumable).",
)
@click.option(
    "--reattribute",
    is_flag=True,
    help="First re-apply the outlet registry and feeds.yaml outlets: to archived articles and "
    "recompute who reported each story (no model needed; resumable).",
)
@click.pass_obj
def analyze_cmd(obj, batch_size: int | None, retag: bool, reattribute: bool) -> None:
    """Embed, tag and cluster every article not analysed yet.

    Safe to rerun: each batch is committed with its articles marked analysed, so an
    interrupted run resumes where it stopped. After changing `topics:` in feeds.yaml, add
    --retag to tag the archive by the new definitions (interrupted, it resumes too). After
    changing `outlets:` or a feed's outlet, country or kind, add --reattribute to give archived
    articles the new outlets and recompute their stories' China/West lead.

    \b
    Example:
      tokentide poll --all && tokentide analyze
      tokentide analyze --retag
      tokentide analyze --reattribute
    """
    from bot.narratives.embed import Embedder
    from bot.narratives.pipeline import analyze_pending, count_pending
    from bot.progress import progress

    db, settings = obj.db, obj.settings
    if batch_size is not None and batch_size <= 0:
        raise click.BadParameter("must be a positive number", param_hint="--batch-size")
    embedder = Embedder.from_settings(settings)  # checks model.path before any work
    if reattribute:
        _reattribute(db, settings, batch_size)
    tagger = _retag(db, settings, embedder, batch_size) if retag else None
    total = count_pending(db)
    if not total:
        click.echo("nothing to analyse", err=True)
        return
    with progress(total, "analyze", "articles") as bar:
        result = analyze_pending(
            db,
            settings,
            embedder,
            now=utcnow(),
            progress=bar.update,
            batch_size=batch_size,
            tagger=tagger,
            # Another analysis holds the archive: say who, wait, then do what it left.
            on_wait=lambda held: click.echo(f"waiting: {held}", err=True),
        )
    if not result["pending_before"]:
        click.echo("nothing left to analyse (another analysis did it)", err=True)
        return
    click.echo(
        f"analysed {result['analyzed']} articles, {result['new_stories']} new stories", err=True
    )


def _retag(db, settings, embedder, batch_size: int | None):
    """Run the retag part of `analyze --retag`; returns the tagger for the analysis after it."""
    from bot.narratives.retag import DEFAULT_BATCH, build_tagger, count_to_retag, retag_archive
    from bot.progress import progress

    tagger = build_tagger(settings, embedder)
    total = count_to_retag(db, tagger, embedder)
    with progress(total, "retag", "articles") as bar:
        result = retag_archive(
            db, tagger, embedder, batch_size=batch_size or DEFAULT_BATCH, progress=bar.update
        )
    line = f"retagged {result['retagged']} articles, topics of {result['stories']} stories updated"
    if result["no_vector"]:
        line += (
            f"; {result['no_vector']} analysed articles have no {embedder.model_id} vector "
            "and keep their tags"
        )
    click.echo(line, err=True)
    return tagger


def _reattribute(db, settings, batch_size: int | None) -> None:
    """Run the `analyze --reattribute` part: outlets again under the current registry."""
    from bot.narratives.reattribute import DEFAULT_BATCH, count_articles, reattribute_archive
    from bot.progress import progress

    with progress(count_articles(db), "reattribute", "articles") as bar:
        result = reattribute_archive(
            db, settings, batch_size=batch_size or DEFAULT_BATCH, progress=bar.update
        )
    click.echo(
        f"checked the outlets of {result['checked']} articles: {result['changed']} changed, "
        f"who reported {result['stories']} stories recomputed",
        err=True,
    )


@click.command("stories")
@click.option("--topic", default=None, help="Only stories tagged with this topic id.")
@click.option(
    "--hours", type=LOOKBACK_HOURS, default=24.0, show_default=True, help="Look-back window."
)
@click.option("--limit", type=count(100_000), default=None, help="At most this many stories.")
@click.option(
    "--all", "show_all", is_flag=True, help="Also stories on none of the configured topics."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout.")
@click.pass_obj
def stories_cmd(
    obj, topic: str | None, hours: float, limit: int | None, show_all: bool, as_json: bool
) -> None:
    """List recent stories on the configured topics, most significant first.

    Each story is shown under its best topic (the one its articles score highest on), with
    its other topics as "also in". --all lists off-topic stories too.

    \b
    Example:
      tokentide stories --topic export_controls --hours 72
      tokentide stories --all --limit 20
    """
    from bot.narratives.stories import recent_stories

    if topic and topic not in obj.settings.topics:
        known = ", ".join(obj.settings.topics) or "none configured"
        raise click.BadParameter(f"unknown topic {topic!r} (known: {known})", param_hint="--topic")
    tracked = None if show_all else list(obj.settings.topics)
    stories = recent_stories(
        obj.db, now=utcnow(), hours=hours, topic=topic, limit=limit, topics=tracked
    )
    if as_json:
        _print_json(stories)
        return
    if not stories:
        where = "" if show_all else " on the configured topics (--all shows every story)"
        click.echo(f"no stories in the last {hours:g} h{where}", err=True)
        return
    for s in stories:
        topics = s["topics"][0] if s["topics"] else "-"
        if len(s["topics"]) > 1:
            topics += f"; also in {', '.join(s['topics'][1:])}"
        lead = f"  ({s['lead_marker']})" if s.get("lead_marker") else ""
        click.echo(
            f"#{s['id']:<6} {s['score']:6.2f}  {s['article_count']:>3} art {s['outlet_count']:>2} "
            f"outlets  [{topics}]  {s['title']}{lead}"
        )


@click.command("story")
@click.argument("story_id", type=STORY_ID)
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
    click.echo(f"lead: {story.get('lead_marker') or 'unknown (needs a dated CN and West report)'}")
    thread = story.get("narrative")
    if thread:
        click.echo(
            f"narrative #{thread['id']}: {thread['title']} (story {thread['position']} of "
            f"{thread['story_count']})"
        )
    for o in story.get("outlets") or []:
        where = ", ".join(x for x in (o["country"], o["kind"]) if x) or "unknown"
        click.echo(f"  {o['first_at'] or 'undated':20} {o['name']} ({where})")
    for a in story["articles"]:
        dup = f" (copy of #{a['duplicate_of']})" if a["duplicate_of"] else ""
        click.echo(f"  {a['published_at'] or '????':20} {a['outlet'] or '-':18} {a['title']}{dup}")
        click.echo(f"  {'':20} {a['url']}")


@click.command("search")
@click.argument("query")
@click.option("--limit", type=count(1000), default=10, show_default=True, help="At most this many.")
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


@click.command("narratives")
@click.option("--topic", default=None, help="Only narratives tagged with this topic id.")
@click.option("--limit", type=count(100_000), default=None, help="At most this many narratives.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout.")
@click.pass_obj
def narratives_cmd(obj, topic: str | None, limit: int | None, as_json: bool) -> None:
    """List narratives: stories linked into one actor's thread on one subject, across months.

    Most recently active first; only narratives of two or more stories.

    \b
    Example:
      tokentide narratives --topic export_controls
      tokentide narratives --json
    """
    from bot.narratives.narratives import list_narratives

    if topic and topic not in obj.settings.topics:
        known = ", ".join(obj.settings.topics) or "none configured"
        raise click.BadParameter(f"unknown topic {topic!r} (known: {known})", param_hint="--topic")
    found = list_narratives(obj.db, now=utcnow(), topic=topic, limit=limit)
    if as_json:
        _print_json(found)
        return
    if not found:
        click.echo("no narratives yet (they form when analyze links two stories)", err=True)
        return
    for n in found:
        topics = ",".join(n["topics"]) or "-"
        span = f"{(n['first_seen'] or '?')[:10]} → {(n['last_seen'] or '?')[:10]}"
        click.echo(
            f"#{n['id']:<5} {n['story_count']:>3} stories {n['article_count']:>4} art  {span}  "
            f"momentum {n['momentum']:<5g} [{topics}]  {n['title']}"
        )


@click.command("narrative")
@click.argument("narrative_id", type=STORY_ID)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.pass_obj
def narrative_cmd(obj, narrative_id: int, as_json: bool) -> None:
    """Show one narrative's timeline: its stories, oldest first.

    \b
    Example:
      tokentide narrative 3 --json
    """
    from bot.errors import TokentideError
    from bot.narratives.narratives import narrative_detail

    found = narrative_detail(obj.db, narrative_id, now=utcnow())
    if found is None:
        raise TokentideError(
            f"narrative {narrative_id} not found (list them with: tokentide narratives)"
        )
    if as_json:
        _print_json(found)
        return
    click.echo(f"narrative #{found['id']}: {found['title']}")
    names = ", ".join(found["names"]) or "-"
    click.echo(
        f"{found['story_count']} stories, {found['article_count']} articles, "
        f"{(found['first_seen'] or '?')[:10]} → {(found['last_seen'] or '?')[:10]}; "
        f"names: {names}; topics: {', '.join(found['topics']) or '-'}; "
        f"momentum {found['momentum']}"
    )
    for s in found["stories"]:
        click.echo(
            f"  {(s['first_seen'] or '????')[:10]:10}  #{s['id']:<6} {s['article_count']:>3} art "
            f"{s['outlet_count']:>2} outlets  {s['title']}"
        )
