"""The narratives part of feeds.yaml: shipped topics match the built-ins, bad values fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import default_topics, load_settings, parse_settings
from bot.errors import ConfigError

REPO = Path(__file__).parent.parent.parent


def test_shipped_feeds_yaml_repeats_the_built_in_topics():
    settings = load_settings(REPO / "feeds.yaml", env={})
    assert settings.topics == default_topics()


@pytest.mark.parametrize(
    "section, message",
    [
        ({"stories": {"threshold": 1.5}}, "stories.threshold: expected a number in [-1, 1]"),
        ({"stories": {"window_days": 0}}, "stories.window_days: expected a positive number"),
        ({"stories": {"decay": -1}}, "stories.decay: expected 0 or more"),
        ({"stories": {"method": "magic"}}, "stories.method: expected hybrid, centroid or learned"),
        ({"topics": {"x": {"threshold": 2}}}, "topics.x.threshold: expected a probability"),
    ],
)
def test_bad_narratives_values_name_the_key(section, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_settings({"feeds": [], **section}, "feeds.yaml")
