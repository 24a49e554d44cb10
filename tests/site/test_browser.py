"""The archive as a person sees it: headless Chromium against a real `tokentide serve`.

Every request the page makes is checked to stay on the server: the chart's JavaScript must
come from the package, not a CDN. Screenshots land in test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.site.site import load_metadata

from .conftest import ARTIFACTS, KNOWN_HEADLINE, SECRETS

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
QUERY_PARAMS = {
    "story_timeline": "story_id=4",
    "narrative_timeline": "narrative_id=1",
    "articles_matching": "phrase=annualized+revenue",
}


def _unavailable(reason: str) -> None:
    # In CI the browser is installed by .ci/run, so its absence is a failure, not a skip.
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so browser tests must run)")
    pytest.skip(f"{reason}; install Debian's chromium (apt-get install chromium) to run them")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Python playwright is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A page that records every request and refuses any that leaves the server."""
    host = urlsplit(server).netloc
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.elsewhere = []
    page.console_errors = []

    def route(r):
        if urlsplit(r.request.url).netloc != host and not r.request.url.startswith("data:"):
            page.elsewhere.append(r.request.url)
            return r.abort()
        return r.continue_()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    yield page
    assert page.elsewhere == [], f"the page tried to load from elsewhere: {page.elsewhere}"
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"archive-{name}.png"), full_page=True)


def test_home_page_lists_the_tables(page, server):
    page.goto(server + "/")
    shot(page, "home")
    assert "Tokentide archive" in page.title()
    page.goto(server + "/archive")
    shot(page, "database")
    links = page.locator("h3 a, .db-table h3 a").all_inner_texts()
    for name in ("articles", "stories", "feeds", "token_usage", "token_snapshots"):
        assert name in links, links
    assert "_migrations" not in links and "article_vectors" not in links
    body = page.inner_text("body")
    assert "Latest token share by country" in body and "Feed health" in body


def test_full_text_search_finds_a_known_headline(page, server):
    page.goto(server + "/archive/articles")
    page.fill("input[name=_search]", "annualized revenue")
    page.locator("input[name=_search]").press("Enter")
    page.wait_for_url("**_search=annualized*")
    shot(page, "search")
    titles = page.locator("td.col-title").all_inner_texts()
    assert titles == [KNOWN_HEADLINE]
    # The story column shows the story's title (label_column), not just its number.
    assert "FYI: Tor Browser" in page.locator("td.col-story_id").inner_text()


@pytest.mark.parametrize("name", sorted(load_metadata()["databases"]["archive"]["queries"]))
def test_each_canned_query_renders_rows(page, server, name):
    page.goto(f"{server}/archive/{name}?{QUERY_PARAMS.get(name, '')}")
    shot(page, f"query-{name}")
    assert page.locator("table.rows-and-columns tbody tr").count() > 0
    if name in ("latest_share_by_country", "share_over_time"):
        assert "Source: OpenRouter (openrouter.ai/rankings)" in page.inner_text("body")


def test_share_chart_draws_offline(page, server):
    page.goto(server + "/-/dashboards/token-share")
    marks = page.locator("#chart-share-over-time svg .mark-line path")
    marks.first.wait_for()
    page.wait_for_timeout(300)  # let vega finish the legend before the screenshot
    shot(page, "share-chart")
    assert marks.count() == 4  # CN, FR, UNKNOWN, US
    points = page.locator("#chart-share-over-time svg .role-mark.mark-symbol path").count()
    assert points == 4 * 6  # one per country per week
    legend = page.locator("#chart-share-over-time svg .role-legend").text_content()
    assert "CN" in legend and "US" in legend
    assert page.console_errors == []


def test_price_gap_chart_draws_beside_the_share(page, server):
    page.goto(server + "/-/dashboards/token-share")
    line = page.locator("#chart-price-gap-over-time svg .mark-line path")
    line.first.wait_for(state="attached")  # a flat line has no height: never "visible"
    page.wait_for_timeout(300)
    shot(page, "price-gap-chart")
    assert line.count() == 1
    # One point per week a price list covers: all six (US $5.40/M, CN $0.48/M: 11.25x).
    points = page.locator("#chart-price-gap-over-time svg .role-mark.mark-symbol path")
    assert points.count() == 6
    assert page.console_errors == []


FULL_DATE = re.compile(r"^\d{1,2} [A-Z][a-z]{2} \d{4}( \d\d:\d\d)?$")


def axis_labels(page, chart: str) -> list[str]:
    """The labels on the x axis of a Vega chart."""
    axis = page.locator(f"#chart-{chart} svg .role-axis[aria-label^='X-axis']")
    return [t for t in axis.locator(".role-axis-label text").all_text_contents() if t]


def test_front_page_shows_the_week_the_charts_and_the_feeds(page, server, archive):
    page.goto(server + "/")
    lines = page.locator("#chart-token-share-share-over-time svg .mark-line path")
    lines.first.wait_for()
    page.locator("#chart-token-share-price-gap-over-time svg .mark-line path").first.wait_for(
        state="attached"
    )
    page.wait_for_timeout(300)  # let vega finish the legends before the screenshot
    shot(page, "front")
    assert lines.count() == 4  # CN, FR, UNKNOWN, US
    stories = page.locator("ol.stories > li")
    assert stories.count() >= 3
    first = stories.first
    assert first.locator("a.story-title").get_attribute("href") == (
        f"/archive/stories/{archive[1]['cross_outlet_story']}"
    )
    assert "outlets" in first.inner_text()
    assert "1 failing (The Verge – AI: HTTP 503)" in page.locator(".feed-health").inner_text()
    # Weeks are labelled with day, month and year ("23 Nov 2026"), never "Mon 29".
    labels = axis_labels(page, "token-share-share-over-time")
    assert labels and all(FULL_DATE.match(t) for t in labels), labels
    assert page.console_errors == []
    # Searching from the front page lands on the matching articles.
    page.fill("input[name=_search]", "annualized revenue")
    page.locator("input[name=_search]").press("Enter")
    page.wait_for_url("**/archive/articles?_search=annualized*")
    assert page.locator("td.col-title").all_inner_texts() == [KNOWN_HEADLINE]


def test_story_page_shows_who_reported_it_and_when(page, server, archive):
    story = archive[1]["cross_outlet_story"]
    page.goto(f"{server}/archive/stories/{story}")
    dots = page.locator("#chart-story-coverage svg .role-mark.mark-symbol path")
    dots.first.wait_for()
    page.wait_for_timeout(300)
    shot(page, "story-page")
    titles = archive[1]["stories"][story]
    assert dots.count() == len(titles)  # one dot per article
    assert page.locator("h1").inner_text() == titles[0]
    rows = page.locator("table.timeline tbody tr")
    assert rows.count() == len(titles)
    whens = rows.locator("td.when").all_inner_texts()
    assert whens == sorted(whens, key=lambda w: datetime.strptime(w, "%d %b %Y, %H:%M"))
    labels = axis_labels(page, "story-coverage")
    assert labels and all(FULL_DATE.match(t) for t in labels), labels
    assert page.console_errors == []


def test_story_page_links_to_its_articles(page, server, archive):
    story = archive[1]["cross_outlet_story"]
    page.goto(f"{server}/archive/stories/{story}")
    shot(page, "story")
    page.click("text=Timeline of this story")
    page.wait_for_url(f"**/archive/story_timeline?story_id={story}")
    shot(page, "story-timeline")
    timeline = page.locator("td.col-title").all_inner_texts()
    assert sorted(timeline) == sorted(archive[1]["stories"][story])
    page.goto(f"{server}/archive/stories/{story}")
    link = page.locator("a[href*='articles?story_id=']")
    assert link.count() == 1
    link.click()
    page.wait_for_url("**/archive/articles?story_id=*")
    shot(page, "story-articles")
    titles = page.locator("td.col-title").all_inner_texts()
    assert sorted(titles) == sorted(archive[1]["stories"][story])


def test_no_secret_in_what_the_browser_shows(page, server):
    for path in ("/", "/-/settings", "/-/metadata", "/-/plugins", "/-/dashboards/token-share"):
        page.goto(server + path)
        html = page.content()
        for value in SECRETS.values():
            assert value not in html, path
