"""Author slug → country, from the shipped data file plus `openrouter.countries` overrides.

The table is data (bot/tokens/author_country.csv, reviewed and cited in its header), not code.
Anything not in it — anonymous routes, unknown or empty authors, community fine-tunes — is
UNKNOWN: a share is only as honest as its attribution, so we never guess.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from importlib import resources

from bot.errors import ConfigError

UNKNOWN = "UNKNOWN"
DATA_FILE = "author_country.csv"


def read_country_table(text: str, source: str = DATA_FILE) -> dict[str, str]:
    """Parse the CSV (lines starting with '#' are provenance comments) into {slug: country}."""
    numbered = [
        (n, line)
        for n, line in enumerate(text.splitlines(), start=1)
        if not line.lstrip().startswith("#")
    ]
    reader = csv.DictReader(io.StringIO("\n".join(line for _, line in numbered)))
    table: dict[str, str] = {}
    for row in reader:
        slug = (row.get("author_slug") or "").strip().lower()
        country = (row.get("country") or "").strip()
        if not slug or not _valid_code(country):
            line = numbered[reader.line_num - 1][0]  # the file's own line number, comments included
            raise ConfigError(
                f"{source}: line {line}: expected author_slug and a country code, got {row!r}"
            )
        table[slug] = country
    return table


def _valid_code(code: str) -> bool:
    return code == UNKNOWN or (len(code) == 2 and code.isalpha() and code.isupper())


def load_country_map(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The shipped table with config overrides applied (slugs compared case-insensitively)."""
    text = resources.files("bot.tokens").joinpath(DATA_FILE).read_text(encoding="utf-8")
    table = read_country_table(text)
    for slug, country in (overrides or {}).items():
        table[slug.strip().lower()] = country
    return table


def author_of(model_slug: str) -> str:
    """'deepseek/deepseek-v4' → 'deepseek'; a slug without '/' has no author → ''."""
    slug = model_slug.strip().lstrip("~")  # '~' marks OpenRouter's "latest" aliases
    if "/" not in slug:
        return ""
    return slug.split("/", 1)[0].strip().lower()


def country_of(author: str, table: Mapping[str, str]) -> str:
    return table.get(author.strip().lower(), UNKNOWN) if author else UNKNOWN
