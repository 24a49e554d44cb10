"""The docs stay true: whatever the code offers is documented, and every link resolves.

Everything checked is read from the code, not listed here: commands from `bot.cli.COMMANDS` (and
their options from the click commands), `feeds.yaml` keys from the settings dataclasses in
`bot/config.py` and from the shipped `feeds.yaml`, environment variables from the source of
`bot/`, the Dockerfile and compose.yaml. A new command, key or variable fails here until it is
documented.
"""

from __future__ import annotations

import re
import shlex
import types
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path

import click
import pytest
import yaml

import bot.config
from bot.cli import COMMANDS, cli

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
PAGES = sorted([REPO / "README.md", REPO / "benchmarks" / "README.md", *DOCS.glob("*.md")])

# Read by the code whatever the scan below finds (they are the documented interface).
KNOWN_ENV = {
    "TOKENTIDE_CONFIG",
    "TOKENTIDE_DB",
    "TOKENTIDE_OPENROUTER_URL",
    "DISCORD_API_BASE",
    "DISCORD_TOKEN",
    "DISCORD_WEBHOOK_URL",
    "OPENROUTER_API_KEY",
}
NAME = r"""["']([A-Z][A-Z0-9_]+)["']"""
ENV_READS = [
    re.compile(r"\benviron(?:\.get|\.setdefault|\.pop)?\s*[\[(]\s*" + NAME),
    re.compile(r"\bgetenv\(\s*" + NAME),
    re.compile(r"\benvvar\s*=\s*" + NAME),
    re.compile(r"\benv(?:\.get)?\s*[\[(]\s*" + NAME),  # a mapping passed in as `env`
]
ENVVAR_LIST = re.compile(r"\benvvar\s*=\s*[\[(]([^\])]*)[\])]")

QUICK_START = """```sh
make run    # set up .venv and run the bot on its embedded defaults (Ctrl-C stops it)
make test   # set up .venv and run lint plus the whole test suite
```"""


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def without_code_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


# --- commands -------------------------------------------------------------------------------


def command_sections() -> dict[str, str]:
    """`### \\`tokentide NAME\\`` heading in docs/commands.md -> the text up to the next heading."""
    sections: dict[str, str] = {}
    name = None
    for line in read(DOCS / "commands.md").splitlines():
        heading = re.match(r"#{1,3} ", line)
        if heading:
            found = re.match(r"#{2,3} `tokentide ([\w-]+)`", line)
            name = found.group(1) if found else None
            if name:
                sections[name] = ""
        elif name:
            sections[name] += line + "\n"
    return sections


def long_options(command: click.Command) -> list[list[str]]:
    return [
        [o for o in p.opts + p.secondary_opts if o.startswith("--")]
        for p in command.params
        if isinstance(p, click.Option) and not p.hidden
    ]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_documented_with_its_options_and_an_example(name):
    sections = command_sections()
    assert name in sections, f"docs/commands.md has no '### `tokentide {name}`' section"
    section = sections[name]
    command = cli.get_command(click.Context(cli), name)
    for opts in long_options(command):
        assert any(re.search(re.escape(o) + r"(?![\w-])", section) for o in opts), (
            f"docs/commands.md: `tokentide {name}` does not document {' / '.join(opts)}"
        )
    examples = "".join(re.findall(r"^```sh\n(.*?)^```", section, flags=re.M | re.S))
    assert re.search(rf"\btokentide\b.* {re.escape(name)}(?![\w-])", examples), (
        f"docs/commands.md: `tokentide {name}` has no example"
    )


def test_global_options_are_documented():
    text = read(DOCS / "commands.md")
    for opts in long_options(cli):
        assert any(o in text for o in opts), f"docs/commands.md lacks the global option {opts}"


def test_no_command_is_documented_that_does_not_exist():
    assert sorted(set(command_sections()) - set(COMMANDS)) == []


# --- feeds.yaml keys ------------------------------------------------------------------------

NOT_FROM_YAML = getattr(bot.config, "_NOT_FROM_YAML", {"source", "db_path", "secrets"})


def unwrap_optional(tp):
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def nested(tp) -> tuple[str, type] | None:
    """For a field holding settings sections: (path joint, section class)."""
    tp = unwrap_optional(tp)
    if is_dataclass(tp):
        return ".", tp
    args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple and args and is_dataclass(args[0]):
        return "[].", args[0]
    if typing.get_origin(tp) is dict and len(args) == 2 and is_dataclass(args[1]):
        return ".<id>.", args[1]
    return None


def keys_of(cls: type, prefix: str = "") -> list[str]:
    """Every key feeds.yaml accepts, e.g. `fetch.timeout_s`, `feeds[].url`, `topics.<id>.keywords`."""
    hints = typing.get_type_hints(cls)
    keys = []
    for f in fields(cls):
        if not prefix and f.name in NOT_FROM_YAML:
            continue
        inner = nested(hints[f.name])
        if inner:
            keys += keys_of(inner[1], prefix + f.name + inner[0])
        else:
            keys.append(prefix + f.name)
    return keys


def keys_in(data: dict, cls: type, prefix: str = "") -> list[str]:
    """The keys a parsed feeds.yaml uses, spelled as `keys_of` spells them."""
    hints = typing.get_type_hints(cls)
    keys = []
    for key, value in data.items():
        inner = nested(hints[key]) if key in hints else None
        if not inner:
            keys.append(prefix + str(key))
            continue
        joint, section = inner
        if joint == "[].":
            items = value or []
        elif joint == ".<id>.":
            items = list((value or {}).values())
        else:
            items = [value or {}]
        for item in items:
            keys += keys_in(item, section, prefix + str(key) + joint)
    return keys


SETTING_KEYS = keys_of(bot.config.Settings)


def test_the_settings_walk_finds_the_sections():
    assert len(SETTING_KEYS) > 20
    assert "fetch.timeout_s" in SETTING_KEYS and "feeds[].url" in SETTING_KEYS


@pytest.mark.parametrize("key", SETTING_KEYS)
def test_every_feeds_yaml_key_is_documented(key):
    assert f"`{key}`" in read(DOCS / "configuration.md"), (
        f"document `{key}` in docs/configuration.md"
    )


def test_every_key_in_the_shipped_feeds_yaml_is_documented():
    data = yaml.safe_load(read(REPO / "feeds.yaml"))
    text = read(DOCS / "configuration.md")
    used = sorted(set(keys_in(data, bot.config.Settings)))
    assert used
    assert [k for k in used if f"`{k}`" not in text] == []


# --- environment variables ------------------------------------------------------------------


def env_vars_in_code() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "bot").rglob("*.py"):
        source = read(path)
        for pattern in ENV_READS:
            names |= set(pattern.findall(source))
        for listed in ENVVAR_LIST.findall(source):
            names |= set(re.findall(NAME, listed))
    return names


def env_vars_of_the_image() -> set[str]:
    names: set[str] = set()
    dockerfile = re.sub(r"\\\n", " ", read(REPO / "Dockerfile"))
    for line in dockerfile.splitlines():
        keyword, _, args = line.strip().partition(" ")
        if keyword.upper() == "ENV":
            words = shlex.split(args, comments=True)
            if words and "=" not in words[0]:  # legacy `ENV NAME value`
                names.add(words[0])
            else:
                names |= {w.partition("=")[0] for w in words}
    compose = yaml.safe_load(read(REPO / "compose.yaml"))
    for service in compose.get("services", {}).values():
        env = service.get("environment") or {}
        names |= set(env) if isinstance(env, dict) else {e.partition("=")[0] for e in env}
    return names


def test_the_source_scan_finds_environment_variables():
    assert env_vars_in_code(), "the scan of bot/ for environment variables found none"


@pytest.mark.parametrize("name", sorted(env_vars_in_code() | KNOWN_ENV))
def test_every_environment_variable_is_documented(name):
    assert f"`{name}`" in read(DOCS / "configuration.md"), (
        f"document `{name}` in docs/configuration.md"
    )


@pytest.mark.parametrize("name", sorted(env_vars_of_the_image()))
def test_every_docker_environment_variable_is_documented(name):
    assert f"`{name}`" in read(DOCS / "docker.md"), f"document `{name}` in docs/docker.md"


# --- README and links -----------------------------------------------------------------------


def test_readme_keeps_the_quick_start_ci_runs():
    assert QUICK_START in read(REPO / "README.md")


def test_readme_mentions_the_docker_files():
    text = read(REPO / "README.md")
    for name in ("Dockerfile", "compose.yaml", ".dockerignore"):
        assert name in text


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    seen: dict[str, int] = {}
    found = set()
    for line in without_code_blocks(read(path)).splitlines():
        heading = re.match(r"#{1,6} (.+)", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    text = without_code_blocks(read(page))
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        resolved = (page.parent / file).resolve() if file else page
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no such heading)")
    assert broken == [], f"{page.relative_to(REPO)}: broken links: {broken}"


def test_docs_pages_are_linked_from_the_readme():
    text = read(REPO / "README.md")
    for page in DOCS.glob("*.md"):
        assert f"(docs/{page.name})" in text, f"README.md does not link docs/{page.name}"
