"""The front page and a story's page: what they show from the archive, and how they degrade.

Pages come from the real `tokentide serve` (the session's `server`) or, for archives changed by
a test, from the Datasette that `serve` builds, driven in-process.
"""

from __future__ import annotations

import copy
import html
import re
import shutil

import httpx
import pytest

from bot.site import front
from bot.site.site import build_datasette, load_metadata
from bot.store.db import open_db


def get(base: str, path: str) -> httpx.Response:
    return httpx.get(base + path, timeout=20)


def text_of(page: str) -> str:
    """The page's words, tags dropped and entities decoded."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def story_items(page: str) -> list[str]:
    listed = page.split('<ol class="stories">', 1)[1].split("</ol>", 1)[0]
    return listed.split("<li>")[1:]


# --- the front page ---


def test_front_page_leads_with_the_weeks_top_stories(server, archive):
    page = get(server, "/").text
    items = story_items(page)
    story = archive[1]["cross_outlet_story"]
    # The story most outlets covered this week comes first, linked to its page, outlets named.
    assert f'href="/archive/stories/{story}"' in items[0]
    first = text_of(items[0])
    week = get(server, "/archive/top_stories_this_week.json?_shape=objects").json()["rows"][0]
    assert f"{week['outlets']} outlets, {week['articles']} articles" in first
    for outlet in week["outlet_names"].split(","):
        assert outlet in first
    assert re.search(r"\d{1,2}(–\d{1,2})? \w{3} \d{4}", first)  # when, with month and year
    assert len(items) <= front.TOP_STORIES
    assert 'href="/archive/top_stories_this_week"' in page


def test_front_page_says_how_the_feeds_are_in_one_line(server):
    line = text_of(get(server, "/").text).split("Feeds:", 1)[1].split("Feed health", 1)[0]
    assert "3 feeds: 2 answering, 1 failing (The Verge – AI: HTTP 503)" in line


def test_front_page_searches_and_links_onwards(server):
    page = get(server, "/").text
    form = page.split('<form class="front-search"', 1)[1].split("</form>", 1)[0]
    assert 'action="/archive/articles"' in form and 'name="_search"' in form
    for link in re.findall(r'class="front-links">(.*?)</p>', page, re.S)[0].split("<a ")[1:]:
        href = re.search(r'href="([^"]+)"', link).group(1)
        assert get(server, href).status_code == 200, href
    # Search from the front page lands on the articles with their facets.
    found = get(server, "/archive/articles.json?_search=annualized+revenue&_shape=objects")
    assert found.json()["rows"]


def test_front_page_draws_every_dashboard_chart_that_needs_no_filter(server):
    page = get(server, "/").text
    dashboards = load_metadata()["plugins"]["datasette-dashboards"]
    expected = [
        f"{slug}-{chart}"
        for slug, dashboard in dashboards.items()
        if not dashboard.get("filters")
        for chart in dashboard["charts"]
    ]
    assert "token-share-share-over-time" in expected
    for chart_id in expected:
        assert f'id="chart-{chart_id}"' in page
        assert f'renderChart("{chart_id}"' in page
    assert "story-coverage" not in page  # that one needs a story
    assert "/-/static-plugins/datasette_dashboards/vega-lite.min.js" in page


def test_front_page_shows_the_lead_and_live_narratives_when_the_archive_has_them(archive, tmp_path):
    path = tmp_path / "copy.db"
    shutil.copy(archive[0], path)
    story = archive[1]["cross_outlet_story"]
    db = open_db(path)
    with db.conn:
        db.execute(
            "UPDATE stories SET first_china_outlet = 'SCMP', first_west_outlet = 'TechCrunch',"
            " lead_hours = 3.2 WHERE id = ?",
            [story],
        )
        db["narratives"].insert_all(
            [
                {"id": 9001, "title": "Nvidia's China chips", "first_seen": "2026-03-02T00:00:00Z",
                 "last_seen": "2026-11-27T00:00:00Z", "story_count": 14, "created_at": "now"},
                {"id": 9002, "title": "An old thread", "first_seen": "2025-01-02T00:00:00Z",
                 "last_seen": "2025-02-01T00:00:00Z", "story_count": 1, "created_at": "now"},
            ]
        )  # fmt: skip
    db.close()

    async def fetch():
        return (await build_datasette(path).client.get("/")).text

    import asyncio

    page = asyncio.run(fetch())
    assert "CN press first, +3 h (SCMP)" in text_of(story_items(page)[0])
    narratives = text_of(page.split("Live narratives", 1)[1])
    assert narratives.index("Nvidia's China chips") < narratives.find("An old thread") or (
        "An old thread" not in narratives  # only the six most recently active are listed
    )
    assert "14 stories, 2 Mar – 27 Nov 2026" in narratives
    assert 'href="/archive/narrative_timeline?narrative_id=9001"' in page


async def test_front_page_leaves_out_what_the_archive_or_metadata_lacks(archive):
    # No narratives table, no top-stories query, no dashboards: the page still answers.
    meta = copy.deepcopy(load_metadata())
    del meta["databases"]["archive"]["queries"]["top_stories_this_week"]
    meta["plugins"].pop("datasette-dashboards")
    page = (await build_datasette(archive[0], metadata=meta).client.get("/")).text
    assert "Top stories this week" in page and "No stories in the last seven days" in page
    assert "renderChart" not in page and "vega" not in page
    assert "Feeds:" in page


# --- canned queries and tables ---


@pytest.mark.parametrize("name", sorted(load_metadata()["databases"]["archive"]["queries"]))
def test_canned_queries_show_their_title_and_hide_their_sql(server, name):
    spec = load_metadata()["databases"]["archive"]["queries"][name]
    params = {"story_timeline": "story_id=4", "articles_matching": "phrase=revenue"}
    page = get(server, f"/archive/{name}?{params.get(name, '')}").text
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert html.unescape(spec["title"]) in html.unescape(title)
    assert "SELECT" not in title.upper()
    first_line = spec["sql"].strip().splitlines()[1].strip()
    assert html.escape(first_line) not in page and first_line not in page
    assert re.search(r'class="show-hide-sql">\(<a href="[^"]*">show</a>', page)  # one click


def test_stories_open_newest_first(server):
    rows = get(server, "/archive/stories.json?_shape=objects").json()["rows"]
    seen = [r["last_seen"] for r in rows]
    assert len(seen) > 1 and seen == sorted(seen, reverse=True)


# --- a story's page ---


def test_story_page_shows_its_timeline_by_time_and_outlet(server, archive):
    story = archive[1]["cross_outlet_story"]
    page = get(server, f"/archive/stories/{story}").text
    titles = archive[1]["stories"][story]
    assert "<h1" in page and html.escape(titles[0], quote=False) in page.split("</h1>")[0]
    facts = text_of(page.split('class="story-facts"', 1)[1].split("</p>", 1)[0])
    assert "3 articles from 3 outlets" in facts
    table = page.split('<table class="timeline">', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr>")[2:]
    assert [text_of(r).strip() for r in rows] and len(rows) == len(titles)
    whens = [text_of(re.search(r'<td class="when">(.*?)</td>', r).group(1)).strip() for r in rows]
    assert all(re.fullmatch(r"\d{1,2} \w{3} \d{4}, \d\d:\d\d", w) for w in whens), whens
    outlets = [text_of(re.search(r'<td class="outlet">(.*?)</td>', r).group(1)) for r in rows]
    assert {o.split(" (")[0].strip() for o in outlets} == {
        "The Register",
        "TechCrunch",
        "The Verge",
    }
    assert 'id="chart-story-coverage"' in page
    assert f"/archive/story_timeline?story_id={story}" in page


def test_story_page_of_a_missing_story_is_not_found(server):
    assert get(server, "/archive/stories/999999").status_code == 404


# --- the pure parts ---


def test_feed_health_line():
    ok = {"name": "A", "enabled": 1, "error_count": 0, "last_success_at": "2026-11-28T08:05:00Z"}
    assert front.feed_health_line([]) == "No feeds yet."
    assert front.feed_health_line([ok]) == (
        "1 feed: 1 answering. Last answer 28 Nov 2026, 08:05 UTC."
    )
    failing = [
        {"name": f"F{i}", "enabled": 1, "error_count": i + 1, "last_status": 503} for i in range(3)
    ]
    off = {"name": "Off", "enabled": 0, "disabled_reason": "gone", "error_count": 10}
    line = front.feed_health_line([ok, *failing, off])
    assert line.startswith("5 feeds: 1 answering, 3 failing (F0: HTTP 503; F1: HTTP 503; 1 more)")
    assert ", 1 disabled." in line


@pytest.mark.parametrize(
    ("first", "last", "said"),
    [
        ("2026-11-28T08:00:00Z", "2026-11-28T23:00:00Z", "28 Nov 2026"),
        ("2026-11-21T08:00:00Z", "2026-11-28T08:00:00Z", "21–28 Nov 2026"),
        ("2026-11-30T08:00:00Z", "2026-12-02T08:00:00Z", "30 Nov – 2 Dec 2026"),
        ("2025-12-30T08:00:00Z", "2026-01-02T08:00:00Z", "30 Dec 2025 – 2 Jan 2026"),
        (None, "2026-01-02T08:00:00Z", ""),
        ("garbage", "2026-01-02T08:00:00Z", ""),
    ],
)
def test_spans_always_say_month_and_year(first, last, said):
    assert front.span(first, last) == said


@pytest.mark.parametrize(
    ("story", "said"),
    [
        ({"lead_hours": 3.2, "first_china_outlet": "SCMP"}, "CN press first, +3 h (SCMP)"),
        ({"lead_hours": -50.0, "first_west_outlet": "Reuters"}, "West first, +2 d (Reuters)"),
        ({"lead_hours": 0.2}, "CN press and West within the hour"),
        ({"lead_hours": None}, None),
        ({}, None),
    ],
)
def test_lead_marker(story, said):
    assert front.lead_marker(story) == said


def test_top_story_names_a_few_outlets_and_counts_the_rest():
    row = {"story_id": 7, "title": "T", "outlets": 8, "articles": 9,
           "outlet_names": "A,B,C,D,E,F,G,H", "topics": "not json"}  # fmt: skip
    shown = front.top_story(row, None)
    assert shown["outlet_names"] == "A, B, C, D, E and 3 more"
    assert shown["topics"] == [] and shown["when"] == ""


def test_timeline_links_only_to_web_pages():
    row = {"published": "2026-11-28T08:05:00Z", "url": "javascript:alert(1)", "title": "x"}
    assert front.timeline_row(row)["url"] is None
    assert front.timeline_row({**row, "url": "https://a.example/x"})["url"] == "https://a.example/x"
    assert front.timeline_row(row)["when"] == "28 Nov 2026, 08:05"
