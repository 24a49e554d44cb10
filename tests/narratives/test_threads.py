"""Narratives: linking stories into threads (pure), keeping a narrative consistent when its
stories merge (real archive), and the commands and documents that show them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.clock import to_iso
from bot.digest.compose import continues_line, ordinal
from bot.models import NarrativeStory
from bot.narratives.narratives import link_touched, load_thread_index, story_narrative
from bot.narratives.stories import story_detail
from bot.narratives.threads import ThreadIndex, ThreadRule, summarise
from bot.store import narratives as narrative_store
from bot.store import stories as store
from bot.store import vectors

from .conftest import insert_article

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
RULE = ThreadRule(threshold=0.8)


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def test_closest_story_links_and_a_chain_stays_one_narrative():
    index = ThreadIndex(3, capacity=2)
    index.put(1, unit([1, 0, 0]))
    index.put(2, unit([0, 1, 0]))
    index.put(3, unit([1, 0.1, 0]))  # closest to 1
    index.put(4, unit([1, 0.5, 0]))  # closest to 3
    made = []
    for story, partner, narrative in index.link_all([3, 4, 2], RULE):
        nid = narrative or 10 + len(made)
        index.assign([story, partner], nid)
        made.append((story, partner, nid))
    assert made == [(3, 1, 10), (4, 3, 10)]  # 4 joins the narrative 3 just started
    assert index.narrative == {1: 10, 3: 10, 4: 10}
    assert list(index.link_all([2], RULE)) == []  # nothing close to 2


def test_a_story_merged_away_is_never_a_partner():
    index = ThreadIndex(2)
    index.put(1, unit([1, 0]))
    index.put(2, unit([1, 0.1]))
    index.remove(1)
    assert list(index.link_all([2], RULE)) == []


def test_summary_counts_live_stories_and_keeps_shared_names_and_topics():
    stories = [
        NarrativeStory(
            5,
            "Later",
            "2025-08-01T00:00:00Z",
            "2025-08-03T00:00:00Z",
            3,
            2,
            ("chips",),
            {"nvidia": 3, "h20": 2},
        ),
        NarrativeStory(
            2,
            "First",
            "2025-04-15T00:00:00Z",
            "2025-04-20T00:00:00Z",
            4,
            3,
            ("chips", "export_controls"),
            {"nvidia": 4, "h20": 4, "trump": 1},
        ),
    ]
    s = summarise(stories, ["chips", "export_controls"])
    assert (s.title, s.first_story_id, s.story_count, s.article_count) == ("First", 2, 2, 7)
    assert (s.first_seen, s.last_seen) == ("2025-04-15T00:00:00Z", "2025-08-03T00:00:00Z")
    assert s.topics == ("chips", "export_controls") and s.names == ("nvidia", "h20")


def test_continues_line_for_the_digest():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "101st",
    ]
    thread = {
        "title": "US restricts Nvidia H20 sales",
        "position": 6,
        "first_seen": "2026-04-15T00:00:00Z",
        "story_count": 6,
    }
    assert continues_line(thread, NOW) == (
        "continues: US restricts Nvidia H20 sales, 6th story since April"
    )
    assert continues_line({**thread, "first_seen": "2025-04-15T00:00:00Z"}, NOW).endswith(
        "since April 2025"
    )
    assert continues_line({**thread, "position": 1}, NOW) == ""  # it starts the thread
    assert continues_line(None, NOW) == ""


# --- in the archive ---


def _story(db, title: str, vector, first: str, n: int = 2) -> int:
    sid = store.create_story(db, title=title)
    for k in range(n):
        insert_article(
            db,
            url=f"https://t.test/{sid}/{k}",
            title=title,
            story_id=sid,
            published_at=first,
            analyzed_at=first,
        )
    with db.conn:
        db.execute(
            "UPDATE stories SET first_seen = ?, last_seen = ?, article_count = ? WHERE id = ?",
            [first, first, n, sid],
        )
    vectors.save_story_vectors(db, [(sid, np.asarray(vector, np.float32), {"acme": n})], model="m")
    return sid


class Touched:
    def __init__(self, v) -> None:
        self.vector_sum = np.asarray(v, np.float32)


def _link(db, touched, merges=()):
    index = load_thread_index(db, model="m", dim=3)
    return link_touched(db, index, RULE, touched, merges, topic_ids=[], now=NOW)


def test_linked_stories_form_a_narrative_row(db):
    a = _story(db, "Acme bans widgets", [1, 0, 0], "2026-04-01T00:00:00Z")
    b = _story(db, "Acme lifts the widget ban", [1, 0.2, 0], "2026-07-01T00:00:00Z", n=3)
    c = _story(db, "Orbital launches a satellite", [0, 0, 1], "2026-07-02T00:00:00Z")
    assert _link(db, {b: Touched([1, 0.2, 0]), c: Touched([0, 0, 1])}) == 1
    (n,) = narrative_store.list_narratives(db)
    assert (n.title, n.story_count, n.article_count, n.first_story_id) == (
        "Acme bans widgets",
        2,
        5,
        a,
    )
    assert (n.first_seen, n.last_seen) == ("2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z")
    assert story_narrative(db, b)["position"] == 2 and story_narrative(db, c) is None


def test_a_narrative_whose_stories_merge_stays_consistent(db):
    a = _story(db, "Acme bans widgets", [1, 0, 0], "2026-04-01T00:00:00Z")
    b = _story(db, "Acme lifts the widget ban", [1, 0.2, 0], "2026-07-01T00:00:00Z", n=3)
    _link(db, {b: Touched([1, 0.2, 0])})
    # A later story closest to b joins b's narrative.
    c = _story(db, "Acme widget ban: the reaction", [1, 0.25, 0], "2026-07-01T01:00:00Z")
    _link(db, {c: Touched([1, 0.25, 0])})
    (n,) = narrative_store.list_narratives(db)
    assert n.story_count == 3 and n.article_count == 7
    # c turns out to be the same event as b: merged, its articles moved, the narrative recounted.
    store.merge_story(db, c, b)
    with db.conn:
        db.execute("UPDATE stories SET article_count = 5 WHERE id = ?", [b])
    _link(db, {b: Touched([2, 0.45, 0])}, merges=[(c, b)])
    n = narrative_store.get_narrative(db, n.id)
    assert (n.story_count, n.article_count) == (2, 7)
    assert [s.id for s in narrative_store.narrative_stories(db, [n.id])[n.id]] == [a, b]
    # The old id still finds the narrative, through the survivor.
    assert story_narrative(db, c)["id"] == n.id and story_narrative(db, c)["position"] == 2
    # A merge into a story with no narrative hands the narrative over.
    d = _story(db, "Acme widgets, again", [0, 1, 0], "2026-07-03T00:00:00Z")
    store.merge_story(db, a, d)
    with db.conn:  # what analyze saves for the survivor
        db.execute(
            "UPDATE stories SET first_seen = '2026-04-01T00:00:00Z', article_count = 4 "
            "WHERE id = ?",
            [d],
        )
    _link(db, {d: Touched([1, 1, 0])}, merges=[(a, d)])
    n = narrative_store.get_narrative(db, n.id)
    assert n.story_count == 2 and narrative_store.narratives_of(db, [d]) == {d: n.id}
    assert (n.first_story_id, n.article_count) == (d, 9)


def test_commands_show_narratives_on_an_empty_and_a_full_archive(db, db_path, tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\n", encoding="utf-8")

    def run(*args):
        return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db_path), *args])

    empty = run("narratives", "--json")
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    assert "no narratives yet" in run("narratives").output
    missing = run("narrative", "7")
    assert missing.exit_code == 1 and "narrative 7 not found" in missing.output

    a = _story(db, "Acme bans widgets", [1, 0, 0], "2026-04-01T00:00:00Z")
    b = _story(db, "Acme lifts the widget ban", [1, 0.2, 0], "2026-07-01T00:00:00Z")
    _link(db, {b: Touched([1, 0.2, 0])})
    listed = json.loads(run("narratives", "--json").stdout)
    assert [(x["story_count"], x["title"]) for x in listed] == [(2, "Acme bans widgets")]
    assert set(listed[0]) >= {
        "id",
        "title",
        "first_seen",
        "last_seen",
        "story_count",
        "momentum",
        "topics",
        "names",
    }
    one = json.loads(run("narrative", str(listed[0]["id"]), "--json").stdout)
    assert [s["id"] for s in one["stories"]] == [a, b]
    text = run("narrative", str(listed[0]["id"]))
    assert text.exit_code == 0 and "Acme lifts the widget ban" in text.output
    shown = json.loads(run("story", str(b), "--json").stdout)
    assert shown["narrative"]["id"] == listed[0]["id"] and shown["narrative"]["position"] == 2
    assert f"narrative #{listed[0]['id']}" in run("story", str(b)).output
    assert story_detail(db, a, now=NOW)["narrative"]["position"] == 1
    bad = run("narratives", "--topic", "nope")
    assert bad.exit_code == 2 and "unknown topic" in bad.output


@pytest.mark.model
def test_analyze_links_a_thread_months_apart_with_the_real_model(db, settings, real_embedder):
    from dataclasses import replace

    from bot.config import StoriesConfig
    from bot.narratives.pipeline import analyze_pending

    articles = [
        (
            "2026-04-15",
            "US bans Nvidia H20 chip sales to China",
            "Nvidia said the US government will require a licence to export its H20 AI chips to "
            "China, and expects a $5.5 billion charge.",
        ),
        (
            "2026-04-16",
            "Nvidia takes $5.5 billion hit as US curbs H20 exports to China",
            "The US has restricted sales of Nvidia's H20 chip to China, the company said.",
        ),
        (
            "2026-08-22",
            "Nvidia halts H20 production after Beijing discourages purchases",
            "Nvidia has told suppliers to stop work on the H20 AI chip after China urged local "
            "companies not to buy it.",
        ),
        (
            "2026-08-22",
            "Orbital launches a weather satellite from French Guiana",
            "The rocket lifted off on schedule and placed the satellite in orbit.",
        ),
    ]
    for k, (day, title, summary) in enumerate(articles):
        insert_article(
            db,
            url=f"https://real.test/{k}",
            title=title,
            summary=summary,
            published_at=f"{day}T10:00:00Z",
        )
    analyze_pending(db, replace(settings, stories=StoriesConfig()), real_embedder, now=NOW)
    (n,) = narrative_store.list_narratives(db)
    titles = [s.title for s in narrative_store.narrative_stories(db, [n.id])[n.id]]
    assert len(titles) == 2 and "Orbital" not in " ".join(titles)
    assert to_iso(NOW) >= n.last_seen >= "2026-08-22"


def test_the_digest_says_which_narrative_a_story_continues():
    from bot.digest.compose import compose_digest
    from bot.digest.render import to_markdown, to_text

    story = {
        "id": 9,
        "title": "Nvidia halts H20 production",
        "topics": ["chips"],
        "outlet_count": 3,
        "article_count": 4,
        "first_seen": to_iso(NOW),
        "last_seen": to_iso(NOW),
        "articles": [],
        "narrative": {
            "id": 2,
            "title": "US bans Nvidia H20 sales to China",
            "story_count": 6,
            "position": 6,
            "first_seen": "2026-04-15T00:00:00Z",
        },
    }
    digest = compose_digest([story], None, now=NOW, hours=24, per_topic=5, topics=["chips"])
    line = "continues: US bans Nvidia H20 sales to China, 6th story since April"
    assert digest.sections[0].stories[0].continues == line
    assert line in to_text(digest) and line in to_markdown(digest)
