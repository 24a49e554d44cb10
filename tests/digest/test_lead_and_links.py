"""The digest says who reported first ("CN press first, +3 h") and says when a link is Google
News' redirect rather than the publisher's page."""

from __future__ import annotations

from bot.digest.compose import compose_digest
from bot.digest.render import to_discord_messages, to_markdown, to_text

from .builders import NOW, TOPICS, article, story

GN = "https://news.google.com/rss/articles/CBMiExample"


def digest_of(doc):
    return compose_digest([doc], None, now=NOW, hours=24, per_topic=5, topics=TOPICS)


def test_the_lead_marker_shows_in_every_rendering():
    doc = story(1, "China bans Nvidia chip purchases", outlets=2)
    doc["lead"] = {"china": None, "west": None, "hours": 3.2}
    digest = digest_of(doc)
    assert digest.sections[0].stories[0].lead == "CN press first, +3 h"
    assert "CN press first, +3 h" in to_markdown(digest)
    assert "CN press first, +3 h" in to_text(digest)
    bodies = str(to_discord_messages(digest))
    assert "CN press first, +3 h" in bodies


def test_no_marker_when_the_lead_is_unknown():
    doc = story(2, "Chip story", outlets=2)
    doc["lead"] = {"china": None, "west": {"outlet": "Reuters", "at": "x"}, "hours": None}
    assert digest_of(doc).sections[0].stories[0].lead == ""
    markdown = to_markdown(digest_of(doc))
    assert "press first" not in markdown and "West first" not in markdown


def test_a_google_news_link_says_so_and_a_publisher_link_does_not():
    doc = story(
        3,
        "Export curbs widen",
        articles=[
            article(301, "Reuters", hours_ago=3, url=GN),
            article(302, "Bloomberg", hours_ago=2),
        ],
    )
    digest = digest_of(doc)
    links = digest.sections[0].stories[0].links
    assert [(link.outlet, link.via) for link in links] == [
        ("Reuters", "Google News"),
        ("Bloomberg", ""),
    ]
    markdown = to_markdown(digest)
    assert "[Reuters (via Google News)]" in markdown
    assert "[Bloomberg]" in markdown
    assert "Reuters (via Google News)" in to_text(digest)
