"""Renderers under attack: huge, hostile and numerous headlines must always give Discord bodies
within every documented limit, with no pings, no hidden links and no lost stories."""

from __future__ import annotations

import random
import re

import pytest

from bot.digest.compose import compose_digest
from bot.digest.limits import check_message, embed_length, pack_messages
from bot.digest.render import to_discord_messages, to_markdown, to_text

from .builders import NOW, TOPICS, article, share_doc, story

HOSTILE = [
    "@everyone",
    "@here",
    "@EveryOne",
    "<@&123456789012345678>",
    "<@!42>",
    "<@42>",
    "<#9>",
    "</ban:1>",
    "**",
    "__",
    "~~",
    "||",
    "`",
    "```",
    "[Reuters](https://evil.example/x)",
    "[https://bank.example](https://phish.example)",
    "https://phish.example/login",
    "# ",
    "> ",
    "- ",
    "1. ",
    "\n",
    "\r\n",
    "\t",
    "\u202e",
    "\u2066",
    "\x1b[31m",
    "\x00",
    "🚀",
    "👩\u200d👩\u200d👧",
    "中文标题",
    "Ñandú",
    "\\",
    "*" * 40,
    "(",
    ")",
    "]",
    "[",
    "<",
    ">",
    ":skull:",
    "www.evil.example",
    "Nvidia",
    "export",
    "controls",
    "DeepSeek",
]
PING = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>|</\w+:\d+>", re.IGNORECASE)
# A masked link starts at an unescaped "[" (an escaped one, "\[", is plain text).
MASKED = re.compile(r"(?<!\\)\[((?:\\.|[^\]\\])*)\]\(([^)\s]*)\)")
URLISH = re.compile(r"://|www\.|\.[a-z]{2,}\b", re.IGNORECASE)


def hostile_text(rng: random.Random, max_parts: int = 40) -> str:
    parts = [rng.choice(HOSTILE) for _ in range(rng.randint(0, max_parts))]
    if rng.random() < 0.15:
        parts.append("x" * rng.randint(300, 12000))  # one giant word
    if rng.random() < 0.15:
        parts.append(" ".join(["word"] * rng.randint(100, 3000)))
    return " ".join(parts)


def hostile_stories(rng: random.Random, n: int) -> list[dict]:
    out = []
    for sid in range(1, n + 1):
        arts = []
        for i in range(rng.randint(0, 6)):
            url = rng.choice(
                [
                    f"https://news{i}.example.com/a/{sid}?q=(x)",
                    "javascript:alert(1)",
                    "https://e.example/" + "p" * rng.randint(10, 3000),
                    f"https://x.example/{hostile_text(rng, 3)}",
                ]
            )
            a = article(sid * 10 + i, "o", url=url, dup=rng.choice([None, None, sid * 10]))
            a["outlet"] = hostile_text(rng, 4)
            arts.append(a)
        s = story(
            sid,
            hostile_text(rng),
            outlets=rng.randint(0, 50),
            articles=arts,
            topics=rng.sample([*TOPICS, "other"], rng.randint(0, 3)),
            momentum=rng.uniform(-3, 10),
            hours_ago=rng.uniform(0, 23),
        )
        s["first_outlet"] = hostile_text(rng, 5)
        out.append(s)
    return out


def assert_discord_limits(body: dict) -> None:
    """Discord's documented limits, checked independently of limits.check_message."""

    def units(text: str) -> int:
        return len(text.encode("utf-16-le")) // 2

    assert body["allowed_mentions"] == {"parse": []}
    assert body.get("content") or body.get("embeds")
    assert units(body.get("content", "")) <= 2000
    embeds = body.get("embeds", [])
    assert len(embeds) <= 10
    total = 0
    for e in embeds:
        title = e.get("title", "")
        desc = e.get("description", "")
        footer = e.get("footer", {}).get("text", "")
        fields = e.get("fields", [])
        assert units(title) <= 256 and units(desc) <= 4096 and units(footer) <= 2048
        assert len(fields) <= 25
        for f in fields:
            assert 0 < units(f["name"]) <= 256 and 0 < units(f["value"]) <= 1024
        total += units(title) + units(desc) + units(footer)
        total += sum(units(f["name"]) + units(f["value"]) for f in fields)
    assert total <= 6000


def all_text(body: dict) -> list[str]:
    texts = [body.get("content", "")]
    for e in body.get("embeds", []):
        texts += [e.get("title", ""), e.get("description", ""), e.get("footer", {}).get("text", "")]
        texts += [f[k] for f in e.get("fields", []) for k in ("name", "value")]
    return texts


def assert_safe(text: str) -> None:
    assert not PING.search(text), text
    assert "\u202e" not in text and "\x1b" not in text and "\x00" not in text
    for label, target in MASKED.findall(text):
        host = re.match(r"https?://(?:www\.)?([^/?#]+)", target)
        assert host, f"link target is not http(s): {target}"
        # A label looking like a URL or domain must be the target's own host.
        assert not URLISH.search(label) or label.replace("\\", "") == host.group(1), label


@pytest.mark.parametrize("seed", range(12))
def test_hostile_digests_always_fit_discord_and_never_ping(seed):
    rng = random.Random(seed)
    stories = hostile_stories(rng, rng.choice([1, 20, 120, 500]))
    per_topic = rng.choice([1, 5, 25, 500])
    digest = compose_digest(
        stories, share_doc(), now=NOW, hours=24, per_topic=per_topic, topics=TOPICS
    )
    messages = to_discord_messages(digest, chart_filename="shares.png")
    blocks = 0
    for body in messages:
        assert_discord_limits(body)
        assert check_message(body) == []
        for text in all_text(body):
            assert_safe(text)
        blocks += sum(
            len(re.findall(r"^\*\*\d+\. ", e.get("description", ""), re.M))
            for e in body.get("embeds", [])
        )
    assert blocks == digest.story_count  # every listed story made it into some message
    for text in (to_markdown(digest), to_text(digest)):
        assert not PING.search(text)
        assert "\u202e" not in text and "\x1b" not in text and "\x00" not in text


def test_five_hundred_stories_in_one_topic_split_over_messages():
    stories = [story(i, "Chip headline " + "long " * 200, outlets=3) for i in range(1, 501)]
    digest = compose_digest(stories, None, now=NOW, hours=24, per_topic=500, topics=TOPICS)
    messages = to_discord_messages(digest)
    assert len(messages) > 1
    titles = [e["title"] for m in messages for e in m["embeds"]]
    assert titles[0] == "Chips" and set(titles[1:]) == {"Chips (continued)"}
    assert messages[0]["content"].startswith("**Tokentide digest")
    assert all("content" not in m for m in messages[1:])
    for body in messages:
        assert_discord_limits(body)


def test_headline_markup_is_escaped_and_masked_links_removed():
    title = "**Nvidia** [Official statement](https://evil.example/x) @everyone <@&1> `rm`"
    digest = compose_digest(
        [story(1, title, outlets=2)], None, now=NOW, hours=24, per_topic=5, topics=TOPICS
    )
    desc = to_discord_messages(digest)[0]["embeds"][0]["description"]
    first_line = desc.splitlines()[0]
    assert "\\*\\*Nvidia\\*\\*" in first_line
    assert "evil.example" not in desc
    assert "Official statement" in first_line
    assert "\\`rm\\`" in first_line
    assert_safe(desc)


def test_links_show_outlet_names_and_true_targets():
    arts = [article(1, "SCMP"), article(2, "Reuters", hours_ago=1)]
    arts[1]["outlet"] = "https://www.scmp.com"  # a feed lying about who it is
    digest = compose_digest(
        [story(1, articles=arts, outlets=2)], None, now=NOW, hours=24, per_topic=5, topics=TOPICS
    )
    desc = to_discord_messages(digest)[0]["embeds"][0]["description"]
    links = MASKED.findall(desc)
    assert links == [
        ("SCMP", "https://scmp.example.com/news/1"),
        ("reuters.example.com", "https://reuters.example.com/news/2"),
    ]


def test_share_embed_carries_citation_and_chart():
    digest = compose_digest([story(1)], share_doc(), now=NOW, hours=24, per_topic=5, topics=TOPICS)
    first = to_discord_messages(digest, chart_filename="shares.png")[0]
    assert "China 58% of OpenRouter tokens, +3.1 pts w/w" in first["content"]
    share = first["embeds"][0]
    assert share["footer"]["text"].startswith("Source: OpenRouter (openrouter.ai/rankings)")
    assert share["image"] == {"url": "attachment://shares.png"}
    assert "image" not in to_discord_messages(digest)[0]["embeds"][0]


def test_empty_digest_still_says_something():
    digest = compose_digest([], None, now=NOW, hours=6, per_topic=5, topics=TOPICS)
    (only,) = to_discord_messages(digest)
    assert "No new stories" in only["content"] and "last 6 h" in only["content"]
    assert "embeds" not in only
    assert_discord_limits(only)
    assert "No new stories" in to_markdown(digest) and "No new stories" in to_text(digest)


def test_markdown_and_text_list_every_story_with_links():
    stories = [
        story(1, "Chips *up*", outlets=2),
        story(2, "Prices down", topics=["token_economics"]),
    ]
    digest = compose_digest(stories, share_doc(), now=NOW, hours=24, per_topic=5, topics=TOPICS)
    md = to_markdown(digest)
    assert "## Chips" in md and "## Token economics" in md
    assert "1. **Chips \\*up\\***" in md
    assert "[Outlet0](<https://outlet0.example.com/news/100>)" in md
    assert "| China | 58.0% | +3.1 pts |" in md
    text = to_text(digest)
    assert " 1. Chips *up*" in text and "Outlet0: https://outlet0.example.com/news/100" in text
    assert "CHIPS" in text and "TOKEN ECONOMICS" in text


def test_digest_day_is_shown_in_the_digest_time_zone():
    digest = compose_digest(
        [],
        None,
        now=NOW.replace(hour=23),
        hours=24,
        per_topic=5,
        topics=TOPICS,
        timezone="Asia/Shanghai",
    )
    assert "Sun 29 Nov 2026" in to_discord_messages(digest)[0]["content"]


def test_pack_messages_never_exceeds_ten_embeds_or_6000_chars():
    embeds = [{"title": "t" * 300, "description": "d" * 5000, "footer": {"text": "f" * 3000}}] * 23
    messages = pack_messages("c" * 5000, embeds)
    for body in messages:
        assert_discord_limits(body)
        assert sum(embed_length(e) for e in body["embeds"]) <= 6000
    assert sum(len(m["embeds"]) for m in messages) == 23
