"""The pure composer: ranking, one listing per story, links, and the token-share line."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from bot.digest.compose import compose_digest, pick_links, share_line, topic_label

from .builders import NOW, TOPICS, article, share_doc, story


def compose(stories, share=None, **kw):
    args = {"now": NOW, "hours": 24, "per_topic": 5, "topics": TOPICS} | kw
    return compose_digest(stories, share, **args)


def ids(section):
    return [s.id for s in section.stories]


def test_more_outlets_rank_above_more_articles_from_one_outlet():
    wide = story(1, outlets=4)
    busy = story(2, articles=[article(200 + i, "Solo") for i in range(8)], outlets=1)
    digest = compose([busy, wide])
    assert ids(digest.sections[0]) == [1, 2]


def test_recency_breaks_ties_between_equal_stories():
    old = story(1, outlets=2, hours_ago=20)
    new = story(2, outlets=2, hours_ago=1)
    assert ids(compose([old, new]).sections[0]) == [2, 1]


def test_momentum_lifts_a_story():
    calm = story(1, outlets=2, momentum=0.0)
    rising = story(2, outlets=2, momentum=3.0)
    assert ids(compose([calm, rising]).sections[0]) == [2, 1]


def test_rank_is_deterministic_for_identical_stories():
    twins = [story(7, outlets=2), story(3, outlets=2)]
    assert ids(compose(twins).sections[0]) == [3, 7]


def test_rank_tolerates_missing_and_bad_numbers():
    bad = {"id": 1, "outlet_count": None, "article_count": "x", "momentum": float("nan")}
    good = story(2, outlets=1)
    listed = compose([{**good, **bad, "id": 1}, good]).sections[0].stories
    assert [(s.id, s.rank) for s in listed] == [(2, 1), (1, 2)]


def test_per_topic_limits_and_total_counts():
    stories = [story(i, outlets=i) for i in range(1, 9)]
    section = compose(stories, per_topic=3).sections[0]
    assert ids(section) == [8, 7, 6]
    assert section.total == 8


def test_story_in_several_topics_is_listed_once_under_its_first_topic():
    both = story(1, topics=["export_controls", "chips"], outlets=3)
    digest = compose([both, story(2, topics=["chips"])])
    listed = [s.id for sec in digest.sections for s in sec.stories]
    assert listed.count(1) == 1
    by_topic = {sec.topic: ids(sec) for sec in digest.sections}
    assert by_topic == {"chips": [2], "export_controls": [1]}
    only = digest.sections[1].stories[0]
    assert only.topic == "export_controls" and only.also_in == ("chips",)


def test_sections_follow_configured_topic_order_and_skip_empty_ones():
    digest = compose([story(1, topics=["token_economics"]), story(2, topics=["chips"])])
    assert [s.topic for s in digest.sections] == ["chips", "token_economics"]
    assert [s.label for s in digest.sections] == ["Chips", "Token economics"]


def test_stories_without_shown_topics_are_counted_not_listed():
    digest = compose([story(1, topics=[]), story(2, topics=["sports"]), story(3)])
    assert digest.story_count == 1 and digest.unlisted == 2


def test_stories_older_than_the_window_are_dropped():
    digest = compose([story(1, hours_ago=30), story(2, hours_ago=3)], hours=24)
    assert ids(digest.sections[0]) == [2]
    assert digest.period_start == "2026-11-27T08:00:00Z"
    assert digest.period_end == "2026-11-28T08:00:00Z"


def test_duplicate_story_ids_are_listed_once():
    assert compose([story(1), story(1)]).story_count == 1


def test_links_skip_syndicated_copies_and_repeat_outlets():
    arts = [
        article(1, "SCMP", hours_ago=5),
        article(2, "Yahoo", hours_ago=4, dup=1),  # syndicated copy of 1
        article(3, "SCMP", hours_ago=3),  # same outlet again
        article(4, "Reuters", hours_ago=2),
        article(5, "Bad", hours_ago=1, url="javascript:alert(1)"),
        article(6, "FT", hours_ago=0.5),
        article(7, "Late", hours_ago=0.1),
    ]
    links = pick_links(arts)
    assert [link.outlet for link in links] == ["SCMP", "Reuters", "FT"]


def test_headline_and_first_outlet_fall_back_to_articles():
    s = story(1, outlets=2) | {"title": "  ", "first_outlet": ""}
    listed = compose([s]).sections[0].stories[0]
    assert listed.title == s["articles"][0]["title"]
    assert listed.first_outlet == listed.links[0].outlet
    empty = {"id": 2, "topics": ["chips"], "last_seen": "2026-11-28T07:00:00Z"}
    assert compose([empty]).sections[0].stories[0].title == "(untitled story)"


def test_digest_is_frozen():
    digest = compose([story(1)])
    with pytest.raises(dataclasses.FrozenInstanceError):
        digest.hours = 1  # type: ignore[misc]


def test_share_line_reads_like_a_sentence_with_citation():
    line = share_line(share_doc())
    assert line.text == "China 58% of OpenRouter tokens, +3.1 pts w/w"
    assert line.citation.startswith("Source: OpenRouter (openrouter.ai/rankings), as of")
    assert [e.key for e in line.entries] == ["CN", "US", "UNKNOWN"]


def test_share_line_leads_with_a_country_not_the_unknown_bucket():
    line = share_line(share_doc(cn=0.3, us=0.2, unknown=0.5, deltas={"US": -1.25}))
    assert line.text.startswith("China 30% of OpenRouter tokens")
    assert "pts" not in line.text  # no delta known for CN


def test_share_line_negative_move_small_share_and_in_progress():
    doc = share_doc(cn=0.05, us=0.9, deltas={"US": -2.04}, in_progress=True)
    doc["period"] = {"start": "2026-11-27T00:00:00Z", "end": "2026-11-28T00:00:00Z"}
    assert share_line(doc).text == "US 90% of OpenRouter tokens, -2.0 pts d/d (period in progress)"
    doc["shares"] = {"CN": 0.05}
    assert share_line(doc).text.startswith("China 5.0%")


def test_share_line_builds_a_citation_when_missing():
    doc = share_doc() | {"citation": ""}
    assert share_line(doc).citation == (
        "Source: OpenRouter (openrouter.ai/rankings), as of 2026-11-28T06:00:00Z"
    )


@pytest.mark.parametrize("doc", [None, {}, {"shares": {}}, {"shares": "x"}, "nonsense"])
def test_no_share_line_without_shares(doc):
    assert share_line(doc) is None


def test_topic_labels():
    assert topic_label("export_controls") == "Export controls"
    assert topic_label("") == "Other"


def test_future_last_seen_counts_as_fresh():
    s = story(1) | {"last_seen": (NOW + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert compose([s]).story_count == 1


def test_garbage_fields_do_not_break_the_composer():
    junk = {
        "id": "7",
        "title": None,
        "topics": "chips",
        "articles": [None, "x", {"url": 5}, {"url": "https://ok.example/a", "outlet": None}],
        "last_seen": "not a time",
        "outlet_count": "many",
    }
    listed = compose([junk]).sections[0].stories[0]
    assert listed.id == 7 and listed.title == "(untitled story)"
    assert [link.url for link in listed.links] == ["https://ok.example/a"]
    assert listed.outlet_count == 0
