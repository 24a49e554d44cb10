"""The breaking-story alert's words, pure: outlets with times, the lead, Discord's limits and no
pings however hostile or long the feed text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.digest.limits import check_message
from bot.digest.story_alert import compose_story_alert, story_alert_payload
from bot.narratives.signals import story_signals

BROKE = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TOPICS = ["chips", "export_controls", "token_economics"]


def article(outlet, hours_before, country=None, url=None, duplicate_of=None):
    return {
        "outlet": outlet,
        "country": country,
        "published_at": None if hours_before is None else BROKE - timedelta(hours=hours_before),
        "duplicate_of": duplicate_of,
        "url": url or f"https://{outlet.split()[0].lower()}.example/a",
    }


def alert_for(
    articles, *, title="US widens chip export curbs", topics=("export_controls",), tz="UTC"
):
    story = {"id": 42, "title": title, "topics": list(topics)}
    return compose_story_alert(
        story,
        articles,
        story_signals(articles),
        broke_at=BROKE,
        window_hours=12,
        topics=TOPICS,
        timezone=tz,
    )


def test_outlets_times_lead_and_topics():
    arts = [
        article("South China Morning Post", 9, "HK"),
        article("Global Times", 7, "CN"),
        article("Reuters", 6, "GB"),
        article("Yahoo", 5, "US", duplicate_of=3),  # a syndicated copy: no outlet
        article("Bloomberg", 0, "US"),
    ]
    alert = alert_for(arts, topics=("export_controls", "chips", "off_topic"))
    payload = story_alert_payload(alert)
    assert payload["type"] == "story_alert"
    story = payload["story"]
    assert [o["name"] for o in story["outlets"]] == [
        "South China Morning Post",
        "Global Times",
        "Reuters",
        "Bloomberg",
    ]
    assert story["outlets"][0]["first_at"] == "2026-11-28T00:00:00Z"
    assert story["lead"]["hours"] == 3.0 and story["topic"] == "export_controls"
    assert story["also_in"] == ["chips"]
    [message] = payload["messages"]
    assert check_message(message) == []
    embed = message["embeds"][0]
    assert "CN press first, +3 h" in embed["description"]
    assert "4 outlets in 9 h" in embed["description"]
    assert "Export controls · also in Chips" in embed["description"]
    assert (
        "`28 Nov 00:00` [South China Morning Post](https://south.example/a) (HK)"
        in (embed["description"])
    )
    assert embed["url"] == "https://south.example/a"
    assert "tokentide story 42" in embed["footer"]["text"]
    assert (
        "| 28 Nov 00:00 | [South China Morning Post](<https://south.example/a>) | HK |"
        in (payload["markdown"])
    )
    assert "BREAKING STORY: US widens chip export curbs" in payload["text"]


def test_times_follow_the_digest_time_zone():
    alert = alert_for([article("Reuters", 2, "GB"), article("Caixin", 1, "CN")], tz="Asia/Shanghai")
    text = story_alert_payload(alert)["messages"][0]["embeds"][0]["description"]
    assert "`28 Nov 15:00` [Reuters]" in text  # 07:00 UTC
    assert "West first, +1 h" in text


@pytest.mark.parametrize(
    ("articles", "expected"),
    [
        ([article("Reuters", 2, "GB"), article("AP", 1, "US")], "no dated Chinese report yet"),
        ([article("Nikkei", 2, "JP"), article("Yonhap", 1, "KR")], "no dated Chinese or Western"),
        ([article("Reuters", None, "GB"), article("Xinhua", 1, "CN")], "no dated Western report"),
    ],
)
def test_unknown_lead_is_said_plainly(articles, expected):
    payload = story_alert_payload(alert_for(articles))
    assert f"unknown: {expected}" in payload["messages"][0]["embeds"][0]["description"]
    assert "undated" in payload["text"] or all(a["published_at"] for a in articles)


def test_hostile_and_huge_input_stays_within_limits_and_pings_nobody():
    title = "@everyone <@&123> **Nvidia** [H20](https://evil.example) ||ban|| " * 80
    arts = [
        article(
            f"@here Outlet {n} <#99> " + "x" * 300, 11 - n * 0.2, "US", url="javascript:alert(1)"
        )
        for n in range(45)
    ]
    payload = story_alert_payload(alert_for(arts, title=title))
    for message in payload["messages"]:
        assert check_message(message) == []
    sent = str(payload["messages"])
    assert "@everyone" not in sent and "@here" not in sent and "<@&123>" not in sent
    assert "evil.example" not in sent and "javascript:" not in sent
    assert "… and 25 more" in sent
    assert "@everyone" not in payload["markdown"] and "@everyone" not in payload["text"]
