"""feeds.yaml validation: defaults, overrides, and one clear line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings, parse_settings
from bot.errors import ConfigError

REPO = Path(__file__).parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_feeds_yaml_is_valid():
    settings = load_settings(REPO / "feeds.yaml", env={})
    urls = [f.url for f in settings.feeds]
    assert "https://www.scmp.com/rss/519738/feed" in urls
    assert any("site:reuters.com" in u for u in urls)
    assert {"chips", "export_controls", "token_economics"} <= set(settings.topics)


def test_feeds_only_config_gets_every_default(tmp_path):
    path = write(tmp_path, "feeds:\n  - {url: 'https://example.org/feed', name: Example}\n")
    s = load_settings(path, env={})
    assert s.fetch.timeout_s == 20 and s.fetch.max_bytes == 15 * 1024 * 1024
    assert s.fetch.per_host == 2
    assert s.openrouter.base_url == "https://openrouter.ai"
    assert s.digest.time == "08:00"
    assert s.db_path == "data/tokentide.db"
    assert set(s.topics) == {"chips", "export_controls", "token_economics"}


def test_env_overrides_and_secrets(tmp_path):
    path = write(tmp_path, "feeds: []\n")
    env = {
        "TOKENTIDE_OPENROUTER_URL": "http://127.0.0.1:9/",
        "DISCORD_API_BASE": "http://127.0.0.1:8/api/v10",
        "DISCORD_TOKEN": "secret-token",
        "TOKENTIDE_DB": str(tmp_path / "x.db"),
    }
    s = load_settings(path, env=env)
    assert s.openrouter.base_url == "http://127.0.0.1:9"
    assert s.discord.api_base == "http://127.0.0.1:8/api/v10"
    assert s.secrets.discord_token == "secret-token"
    assert "secret-token" not in repr(s)
    assert s.db_path == str(tmp_path / "x.db")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fetch: {timeout_s: fast}\n", "fetch.timeout_s: expected a number, got 'fast'"),
        ("fetch: {timout_s: 3}\n", "fetch.timout_s: unknown key"),
        ("feeds: [{name: x}]\n", "feeds[0].url: required"),
        ("feeds: [{url: 'ftp://x'}]\n", "feeds[0].url: expected an http(s) URL"),
        ("digest: {time: '25:00'}\n", "digest.time: expected a local time HH:MM"),
        ("digest: {timezone: Mars/Base}\n", "digest.timezone: expected an IANA time zone"),
        ("openrouter: {countries: {tngtech: Germany}}\n", "openrouter.countries.tngtech"),
        ("feeds: {url: x}\n", "feeds: expected a list of a mapping"),
        ("- just\n- a list\n", "expected a mapping at the top level"),
        ("feeds: [\n", "invalid YAML"),
        ("fetch: {per_host: 0}\n", "fetch.per_host: expected a positive integer"),
        ("model: {backend: gpu}\n", "model.backend: expected one of torch, onnx"),
    ],
)
def test_bad_config_names_file_key_and_expectation(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml", env={})


def test_user_topics_replace_the_builtin_ones():
    s = parse_settings({"topics": {"robots": {"description": "Robotics", "keywords": ["robot"]}}})
    assert list(s.topics) == ["robots"]
    assert s.topics["robots"].keywords == ("robot",)
