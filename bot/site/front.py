"""What the front page and a story's page show beyond Datasette's own pages.

Datasette renders both from templates in `templates/` (index.html, row-archive-stories.html);
this plugin hands those templates their rows. It reads them through Datasette's own JSON API —
the canned queries and tables described in metadata.yaml — with the internal client
(`datasette.client`), so it runs no SQL of its own, obeys the same time limits and permissions,
and every list on the page is one a reader can open as a query. A section whose query or table
is missing (an older archive, a room not installed) is left out rather than failing the page.

Charts are datasette-dashboards charts from metadata.yaml, drawn in the browser by the plugin's
bundled Vega; the front page shows every chart of every dashboard that needs no filter.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.plugins import pm

from bot.narratives import signals

ARCHIVE = "archive"
TOP_STORIES = 10
NARRATIVES = 6
OUTLETS_SHOWN = 5
FAILING_NAMED = 2
TIMELINE_ROWS = 500
STORY_DASHBOARD = "story"


def register() -> None:
    """Add these hooks to Datasette's plugin manager (once per process)."""
    module = sys.modules[__name__]
    if not pm.is_registered(module):
        pm.register(module)


@hookimpl
def extra_template_vars(template, datasette, request):
    if template == "index.html":

        async def front():
            return {"front": await front_page(datasette, request)}

        return front
    if template == f"row-{ARCHIVE}-stories.html":

        async def story():
            return {"story": await story_page(datasette, request)}

        return story
    return {}


async def _rows(datasette, path: str, **params: Any) -> list[dict] | None:
    """Rows of a table or canned query as objects; None when it is missing or failed."""
    query = urlencode({**params, "_shape": "objects"}, doseq=True)
    response = await datasette.client.get(f"/{ARCHIVE}/{path}.json?{query}")
    if response.status_code != 200:
        return None
    return response.json().get("rows")


def _queries(datasette) -> dict[str, Any]:
    return (datasette.metadata(database=ARCHIVE) or {}).get("queries") or {}


# --- the front page ---


async def front_page(datasette, request) -> dict[str, Any]:
    top, feeds, narratives = await asyncio.gather(
        _rows(datasette, "top_stories_this_week"),
        _rows(datasette, "feeds", _size="max", _nocount=1, _nofacet=1),
        _rows(
            datasette,
            "narratives",
            _sort_desc="last_seen",
            _size=NARRATIVES,
            _nocount=1,
            _nofacet=1,
        ),
    )
    top = (top or [])[:TOP_STORIES]
    leads = {}
    if top:
        found = await _rows(
            datasette,
            "stories",
            id__in=",".join(str(r["story_id"]) for r in top),
            _nocount=1,
            _nofacet=1,
        )
        leads = {r["id"]: lead_marker(r) for r in found or []}
    return {
        "stories": [top_story(r, leads.get(r["story_id"])) for r in top],
        "has_top_stories": top is not None,
        "feed_health": feed_health_line(feeds) if feeds is not None else None,
        "narratives": [narrative(r) for r in narratives or []],
        # A narrative links to its timeline when the archive has that query, else to its row.
        "narrative_timeline": "narrative_timeline" in _queries(datasette),
        "charts": front_charts(datasette.plugin_config("datasette-dashboards") or {}),
        "absolute_url": datasette.absolute_url(request, datasette.urls.instance()),
    }


def top_story(row: dict, lead: str | None) -> dict[str, Any]:
    """A top-stories row as the front page lists it: outlets named (the first few), the lead."""
    names = [n for n in (row.get("outlet_names") or "").split(",") if n]
    shown = ", ".join(names[:OUTLETS_SHOWN])
    if len(names) > OUTLETS_SHOWN:
        shown += f" and {len(names) - OUTLETS_SHOWN} more"
    return {
        "id": row["story_id"],
        "title": row.get("title") or f"Story {row['story_id']}",
        "outlets": row.get("outlets") or 0,
        "articles": row.get("articles") or 0,
        "outlet_names": shown,
        "when": span(row.get("first_seen"), row.get("last_seen")),
        "topics": _topics(row.get("topics")),
        "lead": lead,
    }


def _topics(text: str | None) -> list[str]:
    try:
        found = json.loads(text or "[]")
    except ValueError:
        return []
    return [str(t) for t in found] if isinstance(found, list) else []


def lead_marker(story: dict) -> str | None:
    """Who reported first, from the stories table's lead columns, in the digest's words plus
    the outlet: 'CN press first, +3 h (SCMP)', 'West first, +2 d (Reuters)'; None when unknown
    (or the archive has no lead columns)."""
    hours = story.get("lead_hours")
    marker = signals.lead_marker({"hours": hours})
    if marker is None or abs(hours) < 0.5:
        return marker
    first = story.get("first_china_outlet") if hours > 0 else story.get("first_west_outlet")
    return f"{marker} ({first})" if first else marker


def feed_health_line(feeds: list[dict]) -> str:
    """One line: how many feeds answer, which fail and why, how many are off, the last answer."""
    if not feeds:
        return "No feeds yet."
    disabled = [f for f in feeds if not f.get("enabled") or f.get("disabled_reason")]
    failing = [f for f in feeds if f not in disabled and (f.get("error_count") or 0) > 0]
    healthy = len(feeds) - len(disabled) - len(failing)
    parts = [f"{len(feeds)} feed{'s' if len(feeds) != 1 else ''}: {healthy} answering"]
    if failing:
        named = "; ".join(
            f"{f.get('name') or f.get('url')}: {_failure(f)}" for f in failing[:FAILING_NAMED]
        )
        more = f"; {len(failing) - FAILING_NAMED} more" if len(failing) > FAILING_NAMED else ""
        parts.append(f"{len(failing)} failing ({named}{more})")
    if disabled:
        parts.append(f"{len(disabled)} disabled")
    line = ", ".join(parts)
    last = max((f["last_success_at"] for f in feeds if f.get("last_success_at")), default=None)
    if last:
        line += f". Last answer {_when(last)}."
    return line


def _failure(feed: dict) -> str:
    if feed.get("last_error"):
        return str(feed["last_error"])
    return f"HTTP {feed['last_status']}" if feed.get("last_status") else "failing"


def _moment(iso: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")) if iso else None
    except ValueError:
        return None


def _when(iso: str) -> str:
    """'2026-11-28T08:05:00Z' → '28 Nov 2026, 08:05 UTC' (the archive keeps UTC)."""
    moment = _moment(iso)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC" if moment else iso


def span(first: str | None, last: str | None) -> str:
    """Two archive times as days, with the month and year always said: '28 Nov 2026',
    '21–28 Nov 2026', '30 Nov – 2 Dec 2026', '30 Dec 2025 – 2 Jan 2026'."""
    a, b = _moment(first), _moment(last)
    if a is None or b is None:
        return ""
    if a.date() == b.date():
        return f"{a.day} {a:%b %Y}"
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day}–{b.day} {b:%b %Y}"
    if a.year == b.year:
        return f"{a.day} {a:%b} – {b.day} {b:%b %Y}"
    return f"{a.day} {a:%b %Y} – {b.day} {b:%b %Y}"


def narrative(row: dict) -> dict[str, Any]:
    """A narratives row as the front page lists it: its title, how many stories, since when."""
    parts = []
    if isinstance(row.get("story_count"), int):
        parts.append(f"{row['story_count']} stor{'y' if row['story_count'] == 1 else 'ies'}")
    when = span(row.get("first_seen"), row.get("last_seen"))
    if when:
        parts.append(when)
    return {"id": row.get("id"), "title": row.get("title") or f"Narrative {row.get('id')}",
            "meta": ", ".join(parts)}  # fmt: skip


def front_charts(dashboards: dict[str, Any]) -> list[dict[str, Any]]:
    """Every chart of every dashboard that needs no filter, with where to open it alone."""
    charts = []
    for slug, dashboard in dashboards.items():
        if dashboard.get("filters"):
            continue
        for chart_slug, chart in (dashboard.get("charts") or {}).items():
            charts.append(
                {
                    "id": f"{slug}-{chart_slug}",
                    "dashboard": slug,
                    "slug": chart_slug,
                    "chart": chart,
                }
            )
    return charts


# --- a story's page ---


async def story_page(datasette, request) -> dict[str, Any]:
    story_id = (request.url_vars or {}).get("pks", "") if request else ""
    if not story_id.isdigit():
        return {}
    timeline, found = await asyncio.gather(
        _rows(datasette, "story_timeline", story_id=story_id),
        _rows(datasette, "stories", id=story_id, _nocount=1, _nofacet=1),
    )
    row = found[0] if found else {}
    dashboard = (datasette.plugin_config("datasette-dashboards") or {}).get(STORY_DASHBOARD) or {}
    charts = dashboard.get("charts") or {}
    chart_slug = next(iter(charts), None)
    articles = [timeline_row(r) for r in (timeline or [])[:TIMELINE_ROWS]]
    times = [r.get("published") for r in timeline or [] if r.get("published")]
    return {
        "row": row,
        "timeline": articles if timeline is not None else None,
        "truncated": timeline is not None and len(timeline) > TIMELINE_ROWS,
        "outlets": len({r.get("outlet") for r in timeline or [] if r.get("outlet")}),
        "when": span(min(times), max(times)) if times else "",
        "lead": lead_marker(row),
        "topics": _topics(row.get("topics")),
        "chart": (
            {
                "id": f"{STORY_DASHBOARD}-{chart_slug}",
                "dashboard": STORY_DASHBOARD,
                "slug": chart_slug,
                "chart": charts[chart_slug],
            }
            if chart_slug
            else None
        ),  # fmt: skip
        "query_string": urlencode({"story_id": story_id}),
        "absolute_url": datasette.absolute_url(request, datasette.urls.instance()),
        # Tables visitors do not see (the bot's own state) are left out of the row's links.
        "hidden_tables": sorted(
            name
            for name, spec in (datasette.metadata("tables", database=ARCHIVE) or {}).items()
            if spec.get("hidden")
        ),
    }


def timeline_row(row: dict) -> dict[str, Any]:
    """A story_timeline row for the story's page: its time in words, a link only to a web page."""
    url = row.get("url") or ""
    return {
        **row,
        "when": _when(row["published"]).removesuffix(" UTC") if row.get("published") else "",
        "url": url if url.startswith(("https://", "http://")) else None,
        "title": row.get("title") or url,
    }
