"""One error tree for the whole package.

    TokentideError            anything a person can act on; the CLI prints it as one line
    ├── ConfigError           feeds.yaml / environment is wrong (exit code 2)
    ├── StoreError            the archive file cannot be opened or upgraded
    ├── FeedError             a feed could not be fetched or parsed (stored per feed)
    ├── ModelError            the embedding model cannot be loaded
    ├── OpenRouterError       OpenRouter answered badly or not at all
    └── DeliveryError         Discord (or the fallback sink) refused a message

Library code raises these with a message that says what failed, where, and what to do.
Only the edges (CLI, Discord commands, scheduler jobs) catch them.
"""

from __future__ import annotations


class TokentideError(Exception):
    """Base class: the message is shown to a person as it is."""

    exit_code = 1


class ConfigError(TokentideError):
    exit_code = 2


class StoreError(TokentideError):
    pass


class FeedError(TokentideError):
    pass


class ModelError(TokentideError):
    pass


class OpenRouterError(TokentideError):
    pass


class DeliveryError(TokentideError):
    pass
