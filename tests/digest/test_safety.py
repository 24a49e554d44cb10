"""Feed text made safe: escaping, mentions, links, control characters and word-boundary cuts."""

from __future__ import annotations

import re

import pytest

from bot.digest.safety import (
    ELLIPSIS,
    ZWSP,
    dlen,
    escape_markdown,
    link_label,
    link_text,
    masked_link,
    neutralise_mentions,
    one_line,
    plain,
    safe_inline,
    safe_url,
    strip_markdown_links,
    truncate,
)

PING = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>", re.IGNORECASE)


@pytest.mark.parametrize(
    "raw",
    [
        "@everyone look",
        "hi @here",
        "@EVERYONE",
        "<@123>",
        "<@!123>",
        "<@&456>",
        "<#789>",
        "</ban:1>",
        "<t:1700000000:R>",
        "<:pepe:1>",
        "<a:wave:2>",
    ],
)
def test_mentions_are_broken(raw):
    out = neutralise_mentions(raw)
    assert not PING.search(out)
    assert ZWSP in out
    assert out.replace(ZWSP, "") == raw  # only an invisible character was added


def test_email_like_text_is_left_alone():
    assert neutralise_mentions("mail press@scmp.com") == "mail press@scmp.com"


@pytest.mark.parametrize(
    "raw", ["**bold**", "__u__", "~~s~~", "||spoiler||", "`code`", "```block```", "*it*", "_it_"]
)
def test_inline_markdown_is_escaped(raw):
    out = escape_markdown(raw)
    # Every markup character is preceded by a backslash.
    assert re.fullmatch(r"(?:\\[*_~|`]|[a-z])+", out), out


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("# Big", "\\# Big"),
        ("> quote", "\\> quote"),
        ("- item", "\\- item"),
        ("1. x", "1\\. x"),
        ("US-China", "US-China"),
    ],
)
def test_block_markdown_escaped_only_where_it_acts(raw, expected):
    assert escape_markdown(raw) == expected


def test_markdown_links_in_headlines_become_their_text():
    raw = 'Read [Nvidia news](https://evil.example/x) and [more](<https://e.x/y> "t")'
    assert strip_markdown_links(raw) == "Read Nvidia news and more"
    out = safe_inline(raw, 200)
    assert "](" not in out and "evil.example" not in out


def test_nested_masked_links_are_stripped():
    assert strip_markdown_links("[[a](https://x.y)](https://z.w)") == "a"


def test_control_and_bidi_characters_are_removed():
    raw = "Chip\x1b[31m news\u202e evil\u2066 \r\n\t done\x00"
    out = one_line(raw)
    assert "\x1b" not in out and "\u202e" not in out and "\u2066" not in out
    assert "\n" not in out and "\x00" not in out
    assert out.startswith("Chip") and out.endswith("done")


def test_truncate_cuts_at_word_boundary_with_ellipsis():
    text = "Nvidia unveils next generation accelerator for data centres"
    out = truncate(text, 30)
    assert dlen(out) <= 30 and out.endswith(ELLIPSIS)
    assert text.startswith(out[:-1])
    assert out[:-1].split()[-1] in text.split()  # the last word is whole


def test_truncate_hard_cuts_one_huge_word():
    out = truncate("x" * 5000, 100)
    assert dlen(out) == 100 and out.endswith(ELLIPSIS)


def test_truncate_counts_astral_characters_as_two_units():
    out = truncate("🚀" * 300, 101)
    assert dlen(out) <= 101 and len(out) < 101


def test_truncate_never_leaves_a_dangling_escape():
    escaped = escape_markdown("a" * 9 + "*" * 50)
    for limit in range(5, 40):
        out = truncate(escaped, limit)
        assert not re.search(r"(?<!\\)\\" + ELLIPSIS, out), out


def test_truncate_short_text_unchanged_and_zero_limit_empty():
    assert truncate("short", 10) == "short"
    assert truncate("anything", 0) == ""


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,x",
        "ftp://x.y/z",
        "//no-scheme.com",
        "",
        None,
        "https://",
        "https://www.scmp.com@evil.example/a",
        "https://" + "a" * 600 + ".com",
    ],
)
def test_unsafe_or_unusable_urls_are_refused(url):
    assert safe_url(url) is None


def test_url_characters_that_could_end_a_link_are_encoded():
    out = safe_url('https://en.example.org/wiki/Chip_(computing) x<y>"')
    assert out is not None
    assert not set('() <>"') & set(out)
    assert out.startswith("https://en.example.org/wiki/Chip_")


@pytest.mark.parametrize(
    "label",
    [
        "https://evil.example",
        "www.evil.example",
        "evil.example.com",
        "mail@evil.com",
        "@everyone",
        "",
        "   ",
    ],
)
def test_link_text_never_names_a_different_url(label):
    assert link_text(label, "https://www.reuters.com/a") == "reuters.com"


def test_link_label_keeps_outlet_names_escaped():
    assert link_label("Tom's *Hardware*", "https://t.example/x") == "Tom's \\*Hardware\\*"
    # A label that is itself a masked link keeps only its text.
    assert link_text("[Reuters](https://evil.example)", "https://reuters.com/a") == "Reuters"


def test_masked_link_is_well_formed_or_absent():
    assert masked_link("SCMP", "https://www.scmp.com/a/1?x=(1)") == (
        "[SCMP](https://www.scmp.com/a/1?x=%281%29)"
    )
    assert masked_link("SCMP", "javascript:alert(1)") is None


def test_plain_keeps_markup_characters_but_not_pings():
    assert plain("**Nvidia** @here <@&1>") == f"**Nvidia** @{ZWSP}here <{ZWSP}@&1>"


def test_at_signs_in_paths_are_encoded():
    assert safe_url("https://x.example/@everyone") == "https://x.example/%40everyone"
