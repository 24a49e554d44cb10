"""Breaking stories: a story on a tracked topic that reaches `alerts.breaking.min_outlets`
distinct outlets within `alerts.breaking.window_hours`.

- Outlets are `articles.outlet` of original articles: a syndicated copy (`duplicate_of`) adds
  no outlet, and spellings differing only in case or spacing are one outlet. Only dated
  articles count; an undated one's fetch time says when we saw it, not when it broke.
- A story *breaks* at the report that brings `min_outlets` distinct outlets within the window
  ending at it. It is announced only when that moment is within the last `window_hours`, so a
  first poll of a backlog or a restart after downtime finds old breaks and stays quiet (its
  newest article is then older than the window too, or the break is).
- One alert per story, also after merges: a story whose merge family (itself and the stories
  merged into it) was alerted is never alerted again (`bot.store.signals`).

`find_breaking` reads the archive and returns what to announce; composing the message is
`bot.digest.story_alert`, queuing it (with the daily cap) `bot.store.signals`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from bot.clock import parse_iso, to_iso
from bot.models import Story, StoryArticle
from bot.narratives.signals import StorySignals, story_signals
from bot.store import articles as articles_store
from bot.store import signals as store
from bot.store import stories as story_store

# A publisher's clock a little ahead of ours still counts as now.
SKEW = timedelta(hours=1)


@dataclass(frozen=True)
class BreakingStory:
    story: Story
    family: frozenset[int]  # the story and every story merged into it
    broke_at: datetime  # the report that brought `min_outlets` outlets within the window
    window_outlets: tuple[str, ...]  # those outlets, in order of report
    articles: tuple[StoryArticle, ...] = ()  # the family's, oldest first (`family_articles`)


def outlet_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def breaking_moment(
    reports: Sequence[tuple[datetime, str]],
    *,
    min_outlets: int,
    window: timedelta,
    since: datetime,
    until: datetime,
) -> tuple[datetime, tuple[str, ...]] | None:
    """The first report in [since, until] after which `min_outlets` distinct outlets had
    reported within `window` (inclusive) ending at it: its time and those outlets in order of
    report. `reports` are (time, outlet) pairs sorted by time; None when there is no such
    report."""
    counts: Counter[str] = Counter()
    left = 0
    for right, (at, outlet) in enumerate(reports):
        if at > until:
            break
        counts[outlet_key(outlet)] += 1
        while reports[left][0] < at - window:
            gone = outlet_key(reports[left][1])
            counts[gone] -= 1
            if not counts[gone]:
                del counts[gone]
            left += 1
        if at >= since and len(counts) >= min_outlets:
            named: dict[str, str] = {}
            for _, name in reports[left : right + 1]:
                named.setdefault(outlet_key(name), name)
            return at, tuple(named.values())
    return None


def find_breaking(
    db: sqlite_utils.Database, settings: Any, *, now: datetime
) -> tuple[list[BreakingStory], dict[str, int]]:
    """Stories that broke within the last window and were never alerted, earliest break
    first. Also counts for job_runs: stories_checked (stories with enough outlets lately),
    breaking.

    Cheap first: one grouped query says which stories (merges followed) have enough outlet
    names and a report inside the window; only those are checked for topics and earlier
    alerts, and only the rest have their reports read and the moment they broke found."""
    conf = settings.alerts.breaking
    window = timedelta(hours=conf.window_hours)
    since, until = to_iso(now - 2 * window), to_iso(now + SKEW)
    counts = {"stories_checked": 0, "breaking": 0}
    recent = to_iso(now - window)
    activity = store.story_activity(
        db, since=since, until=until, min_names=conf.min_outlets, recent=recent
    )
    merged = [a.story_id for a in activity if a.merged_into is not None]
    survivor = story_store.resolve_merged(db, merged) if merged else {}
    names: dict[int, int] = {}
    newest: dict[int, str] = {}
    for a in activity:
        sid = survivor.get(a.story_id, a.story_id)
        names[sid] = names.get(sid, 0) + a.outlets
        newest[sid] = max(newest.get(sid, ""), a.last_report)
    counts["stories_checked"] = len(names)
    possible = [s for s, n in names.items() if n >= conf.min_outlets and newest[s] >= recent]
    if not possible:
        return [], counts
    candidates = sorted(store.on_topics(db, possible, settings.topics))
    families = store.merge_families(db, candidates)
    done = store.alerted(db, {m for fam in families.values() for m in fam})
    fresh = {sid: families[sid] for sid in candidates if not done.intersection(families[sid])}
    root_of = {m: sid for sid, fam in fresh.items() for m in fam}
    by_story: dict[int, list[tuple[datetime, str]]] = {}
    for r in store.dated_reports(db, root_of, since=since, until=until):
        try:
            at = parse_iso(r.published_at)
        except ValueError:
            continue  # an unreadable date counts as undated
        if at is not None:
            by_story.setdefault(root_of[r.story_id], []).append((at, r.outlet))
    moments = {}
    for sid in fresh:
        found = breaking_moment(
            sorted(by_story.get(sid, ()), key=lambda pair: pair[0]),
            min_outlets=conf.min_outlets,
            window=window,
            since=now - window,
            until=now + SKEW,
        )
        if found is not None:
            moments[sid] = found
    stories = story_store.stories_by_id(db, moments)
    out = [
        BreakingStory(stories[sid], frozenset(fresh[sid]), at, outlets)
        for sid, (at, outlets) in moments.items()
        if sid in stories
    ]
    out.sort(key=lambda b: (b.broke_at, b.story.id))
    counts["breaking"] = len(out)
    return out, counts


def family_articles(db: sqlite_utils.Database, item: BreakingStory) -> BreakingStory:
    """`item` with its family's articles, oldest first (read only for alerts being sent)."""
    found = story_store.story_articles(db, item.family)
    articles = sorted(
        (a for arts in found.values() for a in arts),
        key=lambda a: (a.published_at or a.fetched_at or "", a.id),
    )
    return replace(item, articles=tuple(articles))


def family_signals(db: sqlite_utils.Database, item: BreakingStory) -> StorySignals:
    """Who reported the story and the China/West lead, over its whole merge family, from the
    outlets' countries and kinds stored at ingest (the same reading as `tokentide story`)."""
    found = articles_store.outlet_mentions(db, item.family)
    mentions = sorted(
        (m for ms in found.values() for m in ms),
        key=lambda m: (m.published_at is None, m.published_at or "", m.article_id),
    )
    return story_signals(mentions)
