"""Share alerts: maker names from slugs, related stories found in a real SQLite archive, and
alert messages that fit Discord and never ping."""

from __future__ import annotations

import random

import pytest

from bot.digest.alerts import render_alert_messages, search_names
from bot.digest.limits import check_message
from bot.digest.names import author_names, country_name, model_names
from bot.narratives.search import find_related_stories

from .builders import NOW, insert_article, insert_story
from .test_render import assert_discord_limits, assert_safe, hostile_text

PAYLOAD = {
    "type": "share_alert",
    "snapshot_id": 12,
    "as_of": "2026-11-28T06:00:00Z",
    "citation": "Source: OpenRouter (openrouter.ai/rankings), as of 2026-11-28T06:00:00Z",
    "period": {"start": "2026-11-16T00:00:00Z", "end": "2026-11-23T00:00:00Z"},
    "moves": [
        {"country": "CN", "from": 0.52, "to": 0.581, "points": 6.1},
        {"country": "US", "from": 0.41, "to": 0.35, "points": -6.0},
    ],
    "leader": {"before": "US", "after": "CN", "changed": True},
    "movers": [
        {
            "kind": "author",
            "name": "deepseek",
            "country": "CN",
            "from": 0.12,
            "to": 0.18,
            "points": 6.0,
        },
        {
            "kind": "model",
            "name": "qwen/qwen3-235b-a22b-2507",
            "country": "CN",
            "from": 0.05,
            "to": 0.07,
            "points": 2.0,
        },
        {
            "kind": "author",
            "name": "moonshotai",
            "country": "CN",
            "from": 0.03,
            "to": 0.02,
            "points": -1.0,
        },
    ],
}


@pytest.mark.parametrize(
    ("slug", "first"),
    [
        ("deepseek", "DeepSeek"),
        ("DeepSeek", "DeepSeek"),
        ("moonshotai", "Moonshot"),
        ("z-ai", "Zhipu"),
        ("x-ai", "xAI"),
        ("acme-labs", "Acme Labs"),
        ("acmeai", "Acme"),
    ],
)
def test_author_names(slug, first):
    assert author_names(slug)[0] == first


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("qwen/qwen3-235b-a22b-2507", ("Qwen", "Alibaba")),
        ("moonshotai/kimi-k2", ("Kimi", "Moonshot")),
        ("deepseek/deepseek-chat-v3.1:free", ("DeepSeek",)),
        ("x-ai/grok-4-fast", ("Grok", "xAI")),
        ("z-ai/glm-4.6", ("GLM", "Zhipu", "Z.ai")),
        ("openai/gpt-4o-mini", ("GPT", "OpenAI", "ChatGPT")),
        ("anthropic/claude-sonnet-4.5", ("Claude", "Anthropic")),
        ("mistralai/mistral-small-3.2", ("Mistral",)),
        ("unknownco/x1-chat", ("Unknownco",)),
    ],
)
def test_model_names(model, expected):
    assert model_names(model) == expected


def test_country_names():
    assert country_name("cn") == "China" and country_name(None) == "Unattributed"
    assert country_name("ZZ") == "ZZ"


def test_search_names_follow_the_biggest_movers_without_repeats():
    assert search_names(PAYLOAD) == ["DeepSeek", "Qwen", "Alibaba", "Moonshot", "Kimi"]
    assert search_names({"movers": None}) == []


def fill_archive(db):
    insert_story(db, 1, "DeepSeek cuts API prices again", outlets=3, hours_ago=30)
    insert_article(db, 10, "DeepSeek halves API prices", story_id=1, hours_ago=30)
    insert_article(
        db, 11, "China's price war: DeepSeek's new cut", outlet="Reuters", story_id=1, hours_ago=29
    )
    insert_article(
        db,
        12,
        "Syndicated: DeepSeek halves prices",
        outlet="Yahoo",
        story_id=1,
        hours_ago=29,
        dup=10,
    )
    insert_story(db, 2, "Alibaba ships new open model", outlets=2, hours_ago=10)
    insert_article(
        db,
        20,
        "Alibaba ships new open model",
        summary="The Qwen3 family grows",
        story_id=2,
        hours_ago=10,
    )
    insert_story(db, 3, "Kimi K2 tops agent leaderboard", hours_ago=5)
    insert_article(db, 30, "Moonshot's Kimi K2 tops leaderboard", story_id=3, hours_ago=5)
    # Merged away into story 2: its article counts for the survivor.
    insert_story(db, 4, "old cluster", merged_into=2)
    insert_article(db, 40, "Qwen prices fall", story_id=4, hours_ago=8)
    # Too old (8 days) and unrelated articles must not show.
    insert_story(db, 5, "Ancient DeepSeek news", hours_ago=24 * 8)
    insert_article(db, 50, "DeepSeek founded", story_id=5, hours_ago=24 * 8)
    insert_story(db, 6, "Nvidia results", hours_ago=3)
    insert_article(db, 60, "Nvidia beats estimates on Blackwell demand", story_id=6, hours_ago=3)
    # Fresh, not yet clustered: shown as a story of its own.
    insert_article(db, 70, "DeepSeek and Qwen lead Chinese open models", outlet="FT", hours_ago=1)
    db.conn.commit()


def test_related_stories_name_the_movers(db):
    fill_archive(db)
    related = find_related_stories(db, PAYLOAD, now=NOW)
    ids = [r["id"] for r in related]
    assert ids[0] is None  # the fresh article names two movers: DeepSeek and Qwen
    assert set(ids) == {None, 1, 2, 3}
    by_id = {r["id"]: r for r in related}
    assert by_id[2]["matched"] == ["Qwen", "Alibaba"]
    assert sorted(a["id"] for a in by_id[2]["articles"]) == [20, 40]
    assert by_id[1]["title"] == "DeepSeek cuts API prices again"
    assert by_id[1]["topics"] == ["token_economics"]
    assert by_id[None]["title"] == "DeepSeek and Qwen lead Chinese open models"
    assert 5 not in ids and 6 not in ids


def test_related_stories_window_and_limit(db):
    fill_archive(db)
    assert len(find_related_stories(db, PAYLOAD, now=NOW, limit=2)) == 2
    # With a 6-hour window only the fresh ones remain.
    recent = find_related_stories(db, PAYLOAD, now=NOW, days=0.25)
    assert {r["id"] for r in recent} == {None, 3}


def test_related_stories_without_full_text_search(db):
    fill_archive(db)
    for (name,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'articles_a%'"
    ).fetchall():
        db.execute(f"DROP TRIGGER [{name}]")
    db["articles_fts"].drop()
    related = find_related_stories(db, PAYLOAD, now=NOW)
    assert {r["id"] for r in related} == {None, 1, 2, 3}


def test_related_stories_empty_archive_and_no_movers(db):
    assert find_related_stories(db, PAYLOAD, now=NOW) == []
    fill_archive(db)
    assert find_related_stories(db, {"movers": []}, now=NOW) == []


def test_alert_messages_tell_the_move_movers_and_why(db):
    fill_archive(db)
    messages = render_alert_messages(PAYLOAD, find_related_stories(db, PAYLOAD, now=NOW))
    (body,) = messages
    assert_discord_limits(body)
    assert body["content"] == "**Token share alert** · China overtakes US in OpenRouter token share"
    move, news = body["embeds"]
    assert "**China** 52.0% → 58.1% (+6.1 pts)" in move["description"]
    assert "**US** 41.0% → 35.0% (-6.0 pts)" in move["description"]
    assert "Period 2026-11-16 → 2026-11-23" in move["description"]
    with_ref = PAYLOAD | {
        "reference_period": {"start": "2026-11-09T00:00:00Z", "end": "2026-11-16T00:00:00Z"}
    }
    desc = render_alert_messages(with_ref, [])[0]["embeds"][0]["description"]
    assert "Period 2026-11-16 → 2026-11-23, compared with 2026-11-09 → 2026-11-16" in desc
    movers = move["fields"][0]["value"].splitlines()
    assert movers[0] == "DeepSeek (China): 12.0% → 18.0% (+6.0 pts)"
    assert movers[1].startswith("qwen/qwen3-235b-a22b-2507 (China)")
    assert move["footer"]["text"].startswith("Source: OpenRouter")
    assert news["title"] == "Why it moved: related stories"
    assert "**DeepSeek cuts API prices again**" in news["description"]
    assert "[SCMP](https://scmp.example.com/a/10)" in news["description"]
    assert "yahoo" not in news["description"].lower()  # the syndicated copy is not linked


def test_alert_without_leader_change_or_related_stories():
    payload = PAYLOAD | {"leader": {"before": "CN", "after": "CN", "changed": False}}
    body = render_alert_messages(payload, [])[0]
    assert "China +6.1 pts in OpenRouter token share" in body["content"]
    assert "No stories in the archive" in body["embeds"][1]["description"]
    bare = render_alert_messages({"type": "share_alert"}, [])[0]
    assert check_message(bare) == []
    assert "OpenRouter token share moved" in bare["content"]


@pytest.mark.parametrize("seed", range(6))
def test_hostile_alerts_fit_and_never_ping(seed):
    rng = random.Random(seed)
    payload = PAYLOAD | {
        "movers": [
            {
                "kind": rng.choice(["author", "model"]),
                "name": hostile_text(rng, 8),
                "country": hostile_text(rng, 2),
                "from": rng.random(),
                "to": rng.random(),
                "points": rng.uniform(-9, 9),
            }
            for _ in range(rng.randint(0, 40))
        ],
        "citation": hostile_text(rng, 60),
    }
    related = [
        {
            "id": i,
            "title": hostile_text(rng),
            "outlet_count": rng.randint(0, 9),
            "last_seen": "2026-11-27T00:00:00Z",
            "matched": [hostile_text(rng, 3)],
            "articles": [
                {
                    "id": i,
                    "title": "t",
                    "url": f"https://a.example/{i}",
                    "outlet": hostile_text(rng, 4),
                    "published_at": None,
                    "duplicate_of": None,
                }
            ],
        }
        for i in range(rng.randint(0, 60))
    ]
    for body in render_alert_messages(payload, related):
        assert_discord_limits(body)
        assert check_message(body) == []
        for embed in body.get("embeds", []):
            for text in [embed.get("title", ""), embed.get("description", "")] + [
                f["value"] for f in embed.get("fields", [])
            ]:
                assert_safe(text)
        assert_safe(body.get("content", ""))
