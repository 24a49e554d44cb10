"""The command line as a user meets it: fast help, documented commands, clean errors."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bot.cli import COMMANDS, cli

REPO = Path(__file__).parent.parent
HEAVY = [
    "torch",
    "sentence_transformers",
    "discord",
    "datasette",
    "matplotlib",
    "numpy",
    "feedparser",
]


def test_help_imports_no_heavy_library():
    code = (
        "import sys, json\n"
        "from bot.cli import cli\n"
        "try:\n    cli(['--help'], prog_name='tokentide')\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
    assert "Commands:" in out


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert re.search(r"tokentide, version \d+\.\d+", result.output)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(name):
    module, attr, _ = COMMANDS[name]
    command = getattr(importlib.import_module(module), attr)
    assert isinstance(command, click.Command)
    assert command.help and "Example" in command.help, f"{name} help lacks an example"
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "tokentide" in result.output


def test_config_typo_exits_2_with_one_line(tmp_path):
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text("feeds: []\nfetch: {timeout_s: soon}\n", encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(cfg),
            "--db",
            str(tmp_path / "a.db"),
            "check-config",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert (
        str(cfg) in lines[0] and "fetch.timeout_s" in lines[0] and "expected a number" in lines[0]
    )
    assert not (tmp_path / "a.db").exists()


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command" in result.output
