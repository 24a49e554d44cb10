"""Who broke it, end to end: ordinary feeds with no `outlet` set, served on loopback, polled and
analysed with the real model; the story lists its outlets in order of first report and the
China/West lead, and the digest and Discord's /story say so."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bot.feeds.fetch import make_client
from bot.feeds.poll import poll_feeds, sync_config_feeds

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=10)

# Each outlet tells it in its own words (identical text would be a syndicated copy).
SUMMARIES = {
    "scmp": "Beijing's internet regulator has told ByteDance, Alibaba and other tech companies "
    "to stop buying Nvidia's RTX Pro 6000D, sources said, in a blow to the US chipmaker.",
    "globaltimes": "Chinese authorities have asked domestic internet companies to halt orders "
    "of the Nvidia RTX Pro 6000D, citing security risks and the progress of domestic chips.",
    "reuters": "China's cyberspace regulator banned the country's biggest technology firms from "
    "buying Nvidia's RTX Pro 6000D chips and told them to cancel existing orders.",
    "caixin": "Several major Chinese internet platforms were told by regulators to stop "
    "purchasing Nvidia RTX Pro 6000D processors, Caixin learned.",
}


def item(title: str, link: str, hours: float, summary: str, *, source: str = "") -> str:
    when = format_datetime(T0 + timedelta(hours=hours), usegmt=True)
    return (
        f"<item><title>{title}</title><link>{link}</link><guid isPermaLink='false'>{link}</guid>"
        f"<pubDate>{when}</pubDate><description>{summary}</description>{source}</item>"
    )


def rss(*items: str, title: str = "feed") -> bytes:
    body = "".join(items)
    return f'<rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'.encode()


def google_news_description(url: str, title: str, outlet: str) -> str:
    """Google News' description: an escaped anchor and the outlet's name."""
    return f'&lt;a href="{url}"&gt;{title}&lt;/a&gt;&amp;nbsp;&lt;font&gt;{outlet}&lt;/font&gt;'


def publisher_feeds() -> dict[str, bytes]:
    """Six outlets over nine hours: SCMP, Global Times, Reuters, then Bloomberg and The Verge
    through a Google News search, then Caixin."""
    gn_bloomberg = "https://news.google.com/rss/articles/CBMiBloomberg6000D?oc=5"
    gn_verge = "https://news.google.com/rss/articles/CBMiVerge6000D?oc=5"
    bloomberg = "https://www.bloomberg.com/news/articles/2026-11-27/china-tells-firms-to-stop-buying-nvidia-chips"
    bloomberg_title = "China Tells ByteDance, Alibaba to Stop Buying Nvidia RTX Pro 6000D Chips"
    verge_title = "China orders tech giants to stop buying Nvidia's RTX Pro 6000D AI chips"
    return {
        "scmp": rss(
            item(
                "China tells tech firms to stop buying Nvidia's RTX Pro 6000D AI chips",
                "https://www.scmp.com/tech/big-tech/article/3400001/china-tells-tech-firms-stop-"
                "buying-nvidias-rtx-pro-6000d-ai-chips?utm_source=rss_feed",
                0,
                SUMMARIES["scmp"],
            )
        ),
        "globaltimes": rss(
            item(
                "Chinese regulator tells tech firms to halt purchases of Nvidia RTX Pro 6000D chips",
                "https://www.globaltimes.cn/page/202611/1336001.shtml",
                1,
                SUMMARIES["globaltimes"],
            )
        ),
        "reuters": rss(
            item(
                "China bans tech companies from buying Nvidia's RTX Pro 6000D AI chips",
                "https://www.reuters.com/world/china/china-bans-tech-companies-buying-nvidia-"
                "rtx-pro-6000d-2026-11-27/",
                3,
                SUMMARIES["reuters"],
            )
        ),
        "google-news": rss(
            item(
                f"{bloomberg_title} - Bloomberg",
                gn_bloomberg,
                5,
                source='<source url="https://www.bloomberg.com">Bloomberg</source>',
                summary=google_news_description(bloomberg, bloomberg_title, "Bloomberg"),
            ),
            item(
                f"{verge_title} - The Verge",
                gn_verge,
                7,
                source='<source url="https://www.theverge.com">The Verge</source>',
                summary=google_news_description(gn_verge, verge_title, "The Verge"),
            ),
            title="Nvidia China - Google News",
        ),
        "caixin": rss(
            item(
                "Regulator tells Chinese tech firms to stop buying Nvidia RTX Pro 6000D chips",
                "https://www.caixinglobal.com/2026-11-27/regulator-tells-chinese-tech-firms-to-"
                "stop-buying-nvidia-chips-102389001.html",
                9,
                SUMMARIES["caixin"],
            )
        ),
    }


@pytest.fixture(scope="module")
def embedder():
    from bot.narratives.embed import Embedder

    model = Embedder()
    model.encode(["warm up"])
    return model


async def poll(db, settings) -> dict:
    sync_config_feeds(db, settings, now=NOW)
    async with make_client(settings) as client:
        return await poll_feeds(db, settings, client, now=NOW, all_feeds=True, rng=random.Random(0))


@pytest.mark.model
async def test_a_story_lists_its_six_outlets_and_the_china_west_lead(
    db, feed_server, feed_settings, embedder
):
    from bot.chat.slash import story_embed
    from bot.digest.render import to_markdown, to_text
    from bot.narratives.pipeline import analyze_pending
    from bot.narratives.stories import recent_stories, story_detail
    from bot.pipeline import build_digest

    feeds = [
        (name, feed_server.set(f"who-broke-it-{name}", body))
        for name, body in publisher_feeds().items()
    ]
    settings = feed_settings(feeds)  # no `outlet` on any feed
    assert all(not f.outlet for f in settings.feeds)
    counts = await poll(db, settings)
    assert counts["new_articles"] == 6 and counts["errors"] == 0
    analyze_pending(db, settings, embedder, now=NOW)

    stories = {r[0] for r in db.execute("SELECT DISTINCT story_id FROM articles")}
    assert len(stories) == 1, "the six reports are one story"
    story = story_detail(db, stories.pop(), now=NOW)
    assert [(o["name"], o["country"]) for o in story["outlets"]] == [
        ("South China Morning Post", "HK"),
        ("Global Times", "CN"),
        ("Reuters", "GB"),
        ("Bloomberg", "US"),
        ("The Verge", "US"),
        ("Caixin", "CN"),
    ]
    assert [o["first_at"] for o in story["outlets"]] == [
        "2026-11-27T01:00:00Z",
        "2026-11-27T02:00:00Z",
        "2026-11-27T04:00:00Z",
        "2026-11-27T06:00:00Z",
        "2026-11-27T08:00:00Z",
        "2026-11-27T10:00:00Z",
    ]
    assert story["lead"] == {
        "china": {"outlet": "South China Morning Post", "at": "2026-11-27T01:00:00Z"},
        "west": {"outlet": "Reuters", "at": "2026-11-27T04:00:00Z"},
        "hours": 3.0,
    }
    assert story["outlet_count"] == 6 and story["first_outlet"] == "South China Morning Post"
    assert story["lead_marker"] == "CN press first, +3 h"

    # The stories columns Datasette shows are kept by analyze.
    row = db.execute(
        """SELECT first_china_outlet, first_west_outlet, lead_hours, china_share, west_share
           FROM stories WHERE id = ?""",
        [story["id"]],
    ).fetchone()
    assert tuple(row) == ("South China Morning Post", "Reuters", 3.0, 0.5, 0.5)

    # Bloomberg's item named its page: the link goes to the publisher. The Verge's did not:
    # the Google News link stays, and the digest says so.
    urls = {a["outlet"]: a["url"] for a in story["articles"]}
    assert urls["Bloomberg"].startswith("https://www.bloomberg.com/news/articles/")
    assert urls["The Verge"].startswith("https://news.google.com/")

    listed = recent_stories(db, now=NOW, hours=24)
    assert listed[0]["lead_marker"] == "CN press first, +3 h"

    digest = build_digest(db, settings, now=NOW, hours=24)
    markdown, text = to_markdown(digest), to_text(digest)
    assert "CN press first, +3 h" in markdown and "CN press first, +3 h" in text
    assert "6 outlets" in markdown and "0 outlets" not in markdown
    assert "first: South China Morning Post" in markdown

    embed = story_embed(story).to_dict()
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Outlets"] == "6"
    assert "CN press first, +3 h" in fields["Who reported first"]
    assert "South China Morning Post" in fields["Who reported first"]
    assert fields["Outlets, first report first"].splitlines()[:3] == [
        "South China Morning Post (HK, newspaper)",
        "Global Times (CN, state media)",
        "Reuters (GB, wire)",
    ]
    assert "The Verge (via Google News)" in embed["description"]
