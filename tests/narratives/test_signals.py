"""Story signals: outlets in order of first report, the China/West lead, coverage by region."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.feeds.outlets import load_registry, normalise_outlet_name, resolve_outlet
from bot.narratives.signals import (
    Lead,
    StoryArticle,
    lead_marker,
    region_of,
    story_signals,
)

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
GOOGLE_NEWS = "https://news.google.com/rss/articles/CBMiX0FVX3lxTE?oc=5"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def art(outlet, country, hours=None, duplicate_of=None, kind=None) -> StoryArticle:
    return StoryArticle(outlet, country, kind, None if hours is None else at(hours), duplicate_of)


@pytest.mark.parametrize(
    ("country", "region"),
    [
        ("CN", "china"),
        ("HK", "china"),
        ("hk", "china"),
        ("US", "west"),
        ("GB", "west"),
        ("IE", "west"),
        ("DE", "west"),
        ("NO", "west"),  # EEA
        ("CH", "west"),
        ("AU", "west"),
        ("NZ", "west"),
        ("TW", None),
        ("JP", None),
        ("SG", None),
        ("RU", None),
        (None, None),
        ("", None),
    ],
)
def test_region_of(country, region):
    assert region_of(country) == region


def test_who_broke_it_scmp_first_then_the_west_three_hours_later():
    """SCMP, Global Times, Reuters, Bloomberg (via Google News), The Verge (via Google News) and
    Caixin over nine hours: six outlets in that order, China ahead of the West by 3 hours."""
    registry = load_registry()
    items = [
        # (feed outlet, source url, source name, link, hours after T0)
        ("SCMP", None, None, "https://www.scmp.com/tech/article/3354097/x?utm_source=rss_feed", 0),
        (None, None, None, "https://www.globaltimes.cn/page/202611/1234.shtml", 1.5),
        ("Google News", "https://www.reuters.com", "Reuters", GOOGLE_NEWS, 3),
        ("Google News", "https://www.bloomberg.com", "Bloomberg.com", GOOGLE_NEWS, 5),
        ("Google News", "https://www.theverge.com", "The Verge", GOOGLE_NEWS, 7),
        (None, None, None, "https://www.caixinglobal.com/2026-11-28/x.html", 9),
    ]
    articles = []
    for feed_outlet, source_url, source_name, link, hours in items:
        outlet = resolve_outlet(feed_outlet, source_url, source_name, link, registry)
        assert outlet is not None
        articles.append(
            {
                "outlet": outlet.name,
                "country": outlet.country,
                "kind": outlet.kind,
                "published_at": at(hours).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "duplicate_of": None,
            }
        )
    signals = story_signals(articles)
    assert [o.name for o in signals.outlets] == [
        "South China Morning Post",
        "Global Times",
        "Reuters",
        "Bloomberg",
        "The Verge",
        "Caixin",
    ]
    assert [o.first_at for o in signals.outlets] == [at(h) for h in (0, 1.5, 3, 5, 7, 9)]
    lead = signals.lead
    assert (lead.china.outlet, lead.china.at) == ("South China Morning Post", at(0))
    assert (lead.west.outlet, lead.west.at) == ("Reuters", at(3))
    assert lead.hours == pytest.approx(3.0)
    assert lead_marker(lead) == "CN press first, +3 h"
    assert signals.share == {"china": 0.5, "west": 0.5, "other": 0.0, "unknown": 0.0}
    assert signals.unattributed == 0
    as_json = signals.to_json()
    assert as_json["outlets"][0] == {
        "name": "South China Morning Post",
        "country": "HK",
        "kind": "newspaper",
        "first_at": "2026-11-28T06:00:00Z",
    }
    assert as_json["lead"] == {
        "china": {"outlet": "South China Morning Post", "at": "2026-11-28T06:00:00Z"},
        "west": {"outlet": "Reuters", "at": "2026-11-28T09:00:00Z"},
        "hours": 3.0,
    }


def test_an_outlet_is_listed_once_at_its_first_report():
    signals = story_signals(
        [art("Reuters", "GB", 2), art("SCMP", "HK", 1), art("Reuters", "GB", 0.5)]
    )
    assert [(o.name, o.first_at) for o in signals.outlets] == [
        ("Reuters", at(0.5)),
        ("SCMP", at(1)),
    ]
    assert signals.lead.hours == pytest.approx(-0.5)  # Reuters' earlier report counts


def test_syndicated_copies_add_no_outlet_and_no_report():
    signals = story_signals(
        [
            art("Reuters", "GB", 2),
            art("Mint", "IN", 2.5, duplicate_of=1),
            art("Global Times", "CN", 1, duplicate_of=1),  # an earlier copy still is a copy
            art("Caixin", "CN", 4),
        ]
    )
    assert [o.name for o in signals.outlets] == ["Reuters", "Caixin"]
    assert signals.lead.china.outlet == "Caixin"
    assert signals.lead.hours == pytest.approx(-2.0)


def test_undated_articles_keep_their_outlet_but_the_lead_uses_dated_ones_only():
    signals = story_signals(
        [
            art("Xinhua", "CN"),  # undated, would be "first" by input order
            art("Reuters", "GB", 1),
            art("Caixin", "CN", 3),
            art("Bloomberg", "US"),  # undated
        ]
    )
    assert [(o.name, o.first_at) for o in signals.outlets] == [
        ("Reuters", at(1)),
        ("Caixin", at(3)),
        ("Xinhua", None),
        ("Bloomberg", None),
    ]
    assert signals.lead.china.outlet == "Caixin"
    assert signals.lead.west.outlet == "Reuters"
    assert signals.lead.hours == pytest.approx(-2.0)
    assert lead_marker(signals.lead) == "West first, +2 h"


def test_an_undated_copy_and_a_dated_article_of_one_outlet():
    signals = story_signals([art("Caixin", "CN"), art("Caixin", "CN", 2), art("Reuters", "GB", 5)])
    assert [(o.name, o.first_at) for o in signals.outlets] == [
        ("Caixin", at(2)),
        ("Reuters", at(5)),
    ]
    assert signals.lead.hours == pytest.approx(3.0)


def test_no_lead_when_every_article_is_undated():
    signals = story_signals([art("SCMP", "HK"), art("Reuters", "GB")])
    assert signals.lead == Lead(None, None, None)
    assert lead_marker(signals.lead) is None
    assert signals.to_json()["lead"] == {"china": None, "west": None, "hours": None}
    assert [o.name for o in signals.outlets] == ["SCMP", "Reuters"]


def test_no_lead_hours_when_one_side_is_only_undated():
    signals = story_signals([art("SCMP", "HK", 0), art("Reuters", "GB")])
    assert signals.lead.china.outlet == "SCMP"
    assert signals.lead.west is None
    assert signals.lead.hours is None
    assert lead_marker(signals.lead) is None


def test_no_lead_hours_when_one_region_did_not_cover_it():
    signals = story_signals([art("Reuters", "GB", 0), art("Nikkei Asia", "JP", 1)])
    assert signals.lead.china is None
    assert signals.lead.west.outlet == "Reuters"
    assert signals.lead.hours is None
    assert signals.share == {"china": 0.0, "west": 0.5, "other": 0.5, "unknown": 0.0}


@pytest.mark.parametrize("value", ["not a date", "2026-13-45T00:00:00Z", 12345, ""])
def test_an_unreadable_date_counts_as_undated(value):
    signals = story_signals(
        [
            {"outlet": "SCMP", "country": "HK", "published_at": value},
            {"outlet": "Reuters", "country": "GB", "published_at": "2026-11-28T08:00:00Z"},
        ]
    )
    assert signals.lead.china is None
    assert signals.lead.west.at == at(2)
    assert signals.outlets[-1].first_at is None


def test_naive_datetimes_are_utc_and_offsets_are_converted():
    signals = story_signals(
        [
            {"outlet": "SCMP", "country": "HK", "published_at": "2026-11-28T14:00:00+08:00"},
            {"outlet": "Reuters", "country": "GB", "published_at": datetime(2026, 11, 28, 7, 30)},
        ]
    )
    assert signals.lead.china.at == at(0)
    assert signals.lead.hours == pytest.approx(1.5)


def test_articles_without_an_outlet_are_counted_as_unattributed():
    """An aggregator item with no source has outlet None: it is no outlet and no report."""
    signals = story_signals([art(None, None, 0), art("", None, 0), art("Reuters", "GB", 1)])
    assert [o.name for o in signals.outlets] == ["Reuters"]
    assert signals.unattributed == 2
    assert signals.to_json()["unattributed"] == 2


def test_unknown_countries_are_neither_region():
    signals = story_signals([art("some-blog.test", None, 0), art("Reuters", "GB", 1)])
    assert signals.lead.china is None
    assert signals.share == {"china": 0.0, "west": 0.5, "other": 0.0, "unknown": 0.5}


def test_an_empty_story():
    signals = story_signals([])
    assert signals.outlets == ()
    assert signals.lead == Lead(None, None, None)
    assert signals.share == {"china": 0.0, "west": 0.0, "other": 0.0, "unknown": 0.0}


def test_name_key_merges_spellings_of_one_outlet():
    registry = load_registry()
    signals = story_signals(
        [art("SCMP", "HK", 0), art("South China Morning Post", "HK", 1), art("Reuters", "GB", 2)],
        name_key=lambda name: normalise_outlet_name(name, registry),
    )
    assert [o.name for o in signals.outlets] == ["SCMP", "Reuters"]


@pytest.mark.parametrize(
    ("hours", "marker"),
    [
        (3.0, "CN press first, +3 h"),
        (2.6, "CN press first, +3 h"),
        (-2.0, "West first, +2 h"),
        (0.2, "CN press and West within the hour"),
        (-0.4, "CN press and West within the hour"),
        (72.0, "CN press first, +3 d"),
        (-50.0, "West first, +2 d"),
        (None, None),
    ],
)
def test_lead_marker(hours, marker):
    assert lead_marker(Lead(None, None, hours)) == marker
