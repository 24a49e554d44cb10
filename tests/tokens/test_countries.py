"""The shipped author → country table and its overrides."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.tokens.countries import author_of, country_of, load_country_map, read_country_table


def test_shipped_table_policies():
    table = load_country_map()
    assert country_of("deepseek", table) == "CN" and country_of("moonshotai", table) == "CN"
    assert country_of("openai", table) == "US" and country_of("mistralai", table) == "FR"
    # Anonymous routes, community fine-tuners and unknown makers are never guessed.
    for author in ("stealth", "openrouter", "thedrummer", "sao10k", "dots-studio", "", "other"):
        assert country_of(author, table) == "UNKNOWN", author
    # tngtech's policy is explicit: its maker's country unless the operator says otherwise.
    assert country_of("tngtech", table) == "DE"
    assert all(c == "UNKNOWN" or (len(c) == 2 and c.isupper()) for c in table.values())


def test_overrides_win_and_slugs_are_case_insensitive():
    table = load_country_map({"TNGtech": "CN", "dots-studio": "CN", "openai": "UNKNOWN"})
    assert country_of("tngtech", table) == "CN"
    assert country_of("Dots-Studio", table) == "CN"
    assert country_of("OpenAI", table) == "UNKNOWN"


@pytest.mark.parametrize(
    "slug, author",
    [
        ("deepseek/deepseek-v4", "deepseek"),
        ("Qwen/Q3", "qwen"),
        ("~openai/x", "openai"),
        ("gpt", ""),
    ],
)
def test_author_of(slug, author):
    assert author_of(slug) == author


def test_a_bad_row_in_the_table_is_named():
    with pytest.raises(ConfigError, match="line 4: expected author_slug and a country code"):
        read_country_table("# comment\nauthor_slug,country\nqwen,CN\nodd,China\n")
