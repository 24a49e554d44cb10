"""OpenRouter's token sources: their names, which one wins when several cover a period, and
how a figure taken from them is cited.

Pure and import-light, so the digest can cite a figure without loading the archive code. The
Datasette canned queries (bot/site/metadata.yaml) restate the preference and the citation in
SQL; tests/tokens/test_canned_queries.py proves they pick and cite what this module does.
"""

from __future__ import annotations

RANKINGS_DAILY = "rankings-daily"  # Data API: one row per day and model (top 50 + 'other')
RANKINGS_MODELS = "rankings-models"  # keyless: a rolling 7 days, every model
MARKET_SHARE = "market-share"  # keyless: ISO weeks, top authors + 'others'
MODEL_LIST = "models"  # keyless /api/v1/models: prices and open weights, not tokens

# When two sources cover the same period: daily figures (summed into the period), then an
# ISO week as OpenRouter reports it, then a rolling seven days, which straddles weeks.
SOURCE_PREFERENCE = (RANKINGS_DAILY, MARKET_SHARE, RANKINGS_MODELS)

_CITATION = "Source: OpenRouter (openrouter.ai/rankings), as of {as_of}"


def preference(source: str) -> int:
    """Rank of `source` in SOURCE_PREFERENCE (0 = most preferred); unknown sources come last."""
    return (
        SOURCE_PREFERENCE.index(source) if source in SOURCE_PREFERENCE else len(SOURCE_PREFERENCE)
    )


def citation(as_of: str) -> str:
    """The line every token figure is shown with, wherever it is shown."""
    return _CITATION.format(as_of=as_of)


_PRICE_CITATION = (
    "Source: OpenRouter (openrouter.ai/rankings, tokens as of {tokens_as_of}; "
    "openrouter.ai/api/v1/models, prices as of {prices_as_of})"
)


def price_citation(tokens_as_of: str, prices_as_of: str) -> str:
    """The line every price figure is shown with: both the tokens' and the prices' as-of."""
    return _PRICE_CITATION.format(tokens_as_of=tokens_as_of, prices_as_of=prices_as_of)
