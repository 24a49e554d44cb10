"""Hostile or careless input: command-line numbers, feeds.yaml and environment URLs. Each
ends as one line and exit code 2 (a usage or configuration error), never a traceback, a hang
or a silent wrong answer."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import MAX_YAML_DEPTH, load_settings
from bot.errors import ConfigError

# --- numbers on the command line ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["story", "9223372036854775808"], "Invalid value for 'STORY_ID'"),
        (["story", "0"], "Invalid value for 'STORY_ID'"),
        (["search", "--limit", "1e20", "chips"], "Invalid value for '--limit'"),
        (["search", "--limit", "100000000000000000000", "chips"], "Invalid value for '--limit'"),
        (["search", "--limit", "0", "chips"], "Invalid value for '--limit'"),
        (["stories", "--hours", "nan"], "Invalid value for '--hours'"),
        (["stories", "--hours", "inf"], "Invalid value for '--hours'"),
        (["stories", "--hours", "1e308"], "Invalid value for '--hours'"),
        (["stories", "--hours", "-1"], "Invalid value for '--hours'"),
        (["stories", "--hours", "0"], "Invalid value for '--hours'"),
        (["stories", "--limit", "-5"], "Invalid value for '--limit'"),
        (["digest", "--hours", "100000"], "Invalid value for '--hours'"),
        (["digest", "--hours", "nan"], "Invalid value for '--hours'"),
        (["share", "--top", "-1"], "Invalid value for '--top'"),
        (["analyze", "--batch-size", "0"], "Invalid value for '--batch-size'"),
    ],
)
def test_bad_numbers_are_usage_errors(tmp_path, args, needle):
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\n", encoding="utf-8")
    archive = tmp_path / "archive.db"
    result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(archive), *args])
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and needle in errors[0]
    assert not archive.exists()  # refused before anything was opened


def test_good_numbers_still_pass(tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds: []\n", encoding="utf-8")
    db = ["--config", str(config), "--db", str(tmp_path / "a.db")]
    result = CliRunner().invoke(cli, [*db, "stories", "--hours", "1000000", "--limit", "3"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, [*db, "digest", "--hours", "0.5"])
    assert result.exit_code == 0, result.output


# --- feeds.yaml ---------------------------------------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    """Each anchor is a list of nine aliases to the one before: 9**9 values in ~460 bytes."""
    lines = ["fetch:", "  timeout_s:", '    - &a0 ["xxxxxxxx","xxxxxxxx","xxxxxxxx","xxxxxxxx"]']
    for n in range(1, levels):
        lines.append(f"    - &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def check_config(tmp_path: Path, text: str, env: dict | None = None):
    config = tmp_path / "feeds.yaml"
    config.write_text(text, encoding="utf-8")
    return CliRunner().invoke(cli, ["--config", str(config), "check-config"], env=env or {})


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    text = alias_bomb()
    assert len(text.encode()) < 500
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()
    result = check_config(tmp_path, text)
    used_s = time.process_time() - started
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "expands to more than 100,000 values" in result.output
    assert "line 8, column 20" in result.output  # where the expansion passed the limit
    # Refused before anything was expanded (the old error message spent 37 s and 3 GB).
    assert used_s < 5 and resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000


def test_deep_nesting_is_refused_without_recursion(tmp_path):
    deep = 100_000
    result = check_config(tmp_path, "feeds: " + "[" * deep + "]" * deep + "\n")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert f"nests deeper than {MAX_YAML_DEPTH} levels" in result.output
    block = "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n"
    result = check_config(tmp_path, block)
    assert result.exit_code == 2 and "nests deeper than" in result.output


def test_anchors_used_sensibly_still_load(tmp_path):
    text = (
        "topics:\n"
        "  chips: &chip {description: AI chips, keywords: [gpu, nvidia, tsmc]}\n"
        "  hardware: *chip\n"
        "fetch: &fetch {timeout_s: 10}\n"
    )
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    settings = load_settings(path, env={})
    assert settings.topics["hardware"].keywords == ("gpu", "nvidia", "tsmc")


def test_a_large_wrong_value_is_shown_short(tmp_path):
    items = ", ".join(f'"item-{i}"' for i in range(20_000))
    result = check_config(tmp_path, f"fetch: {{timeout_s: [{items}]}}\n")
    assert result.exit_code == 2 and "fetch.timeout_s: expected a number" in result.output
    assert len(result.output) < 400


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("schedule: {poll_minutes: .inf}\n", "schedule.poll_minutes: expected a finite number"),
        ("digest: {hours: .nan}\n", "digest.hours: expected a finite number"),
        ("fetch: {timeout_s: -.inf}\n", "fetch.timeout_s: expected a finite number"),
        ("schedule: {poll_minutes: 1.0e+300}\n", "schedule.poll_minutes: expected at most a year"),
        ("digest: {hours: 100000}\n", "digest.hours: expected at most a year (8,784)"),
        ("fetch: {timeout_s: 1.0e+400}\n", "fetch.timeout_s: expected a finite number"),
        ("stories: {window_days: 1000}\n", "stories.window_days: expected at most a year"),
        ("fetch: {max_bytes: 1e3}\n", "fetch.max_bytes: expected an integer"),
    ],
)
def test_numbers_that_would_crash_a_run_fail_check_config(tmp_path, text, needle):
    result = check_config(tmp_path, text)
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and needle in result.output


# --- environment URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("DISCORD_API_BASE", "ftp://discord.example/api", "the scheme must be http or https"),
        ("DISCORD_API_BASE", "http://", "no host name"),
        ("TOKENTIDE_OPENROUTER_URL", "openrouter.ai", "the scheme must be http or https"),
        ("TOKENTIDE_OPENROUTER_URL", "http://127.0.0.1:99999", "not a valid URL"),
        ("TOKENTIDE_OPENROUTER_URL", "https://open router.ai", "white space"),
    ],
)
def test_bad_environment_urls_name_the_variable(tmp_path, name, value, needle):
    result = check_config(tmp_path, "feeds: []\n", {name: value})
    assert result.exit_code == 2
    assert result.output.startswith(f"error: environment {name}: expected an http(s) URL")
    assert needle in result.output and result.output.count("\n") == 1


@pytest.mark.parametrize(
    "value",
    [
        "discord.com/api/webhooks/123456/SECRETTOKEN-abcdefgh",
        "javascript://discord.com/api/webhooks/123456/SECRETTOKEN-abcdefgh",
        "https:///api/webhooks/123456/SECRETTOKEN-abcdefgh",
    ],
)
def test_a_bad_webhook_url_is_refused_without_showing_it(tmp_path, value):
    result = check_config(tmp_path, "feeds: []\n", {"DISCORD_WEBHOOK_URL": value})
    assert result.exit_code == 2
    assert result.output.startswith("error: environment DISCORD_WEBHOOK_URL: expected an http(s)")
    assert "SECRETTOKEN" not in result.output and "123456" not in result.output


def test_good_environment_urls_pass(tmp_path):
    env = {
        "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10",
        "TOKENTIDE_OPENROUTER_URL": "https://openrouter.ai",
        "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/abcdefghij",
    }
    result = check_config(tmp_path, "feeds: []\n", env)
    assert result.exit_code == 0, result.output
    with pytest.raises(ConfigError, match="DISCORD_API_BASE"):
        load_settings(tmp_path / "feeds.yaml", env={"DISCORD_API_BASE": "file:///etc"})
