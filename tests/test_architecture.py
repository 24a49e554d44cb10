"""The package's layout rules, checked on the source itself.

- Every SQL statement lives in `bot/store/` (Datasette's canned queries stay in the site's
  metadata.yaml and are checked against the store elsewhere).
- `bot/chat/` is a leaf: it never imports the scheduler, the pipeline, the process or the
  composition root, which hand it what it needs.
- `bot/digest/` is pure: it composes and renders, and never touches the archive or Discord.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"

SQL = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|ALTER|DROP|PRAGMA|BEGIN|COMMIT|"
    r"ROLLBACK|SAVEPOINT|VACUUM|ATTACH)\s"
    # A common table expression, not prose that starts with "With".
    r"|^\s*WITH\s+(RECURSIVE\s+)?\w+\s*(\(|AS\s*\()",
    re.IGNORECASE,
)


def _modules(folder: Path = BOT) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts:
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            found.append((node.lineno, text))
    return found


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                lines.add(body[0].value.lineno)
    return lines


def _imports(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_sql_outside_the_store():
    offenders = []
    for path in _modules():
        if path.is_relative_to(BOT / "store"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        docs = _docstring_lines(tree)
        for line, text in _strings(tree):
            if line not in docs and SQL.match(text):
                offenders.append(f"{path.relative_to(BOT.parent)}:{line}: {text.strip()[:60]}")
    assert offenders == []


def test_sql_detector_sees_sql():
    tree = ast.parse(
        'x = f"SELECT {cols} FROM t"\ny = "INSERT INTO t VALUES (1)"\nz = "select"\n'
        'w = "WITH latest AS (SELECT 1) SELECT * FROM latest"\nv = "With --post: send again"'
    )
    assert [t for _, t in _strings(tree) if SQL.match(t)] == [
        "SELECT {} FROM t",
        "INSERT INTO t VALUES (1)",
        "WITH latest AS (SELECT 1) SELECT * FROM latest",
    ]


FORBIDDEN = {
    "chat": ("bot.jobs", "bot.app", "bot.run", "bot.pipeline", "apscheduler"),
    "digest": (
        "bot.store",
        "bot.chat",
        "bot.app",
        "bot.run",
        "bot.pipeline",
        "sqlite_utils",
        "sqlite3",
        "discord",
        "httpx",
    ),
}


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_room_imports_stay_in_their_lane(room):
    offenders = []
    for path in _modules(BOT / room):
        for name in _imports(ast.parse(path.read_text(), str(path))):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[room]):
                offenders.append(f"{path.relative_to(BOT.parent)}: imports {name}")
    assert offenders == []


def test_no_pyplot_state_machine():
    """Charts draw on matplotlib `Figure` objects: pyplot's global state is not thread-safe."""
    offenders = [
        str(path.relative_to(BOT.parent))
        for path in _modules()
        if "matplotlib.pyplot" in _imports(ast.parse(path.read_text(), str(path)))
    ]
    assert offenders == []


DB_METHODS = {
    "execute",
    "executemany",
    "executescript",
    "query",
    "insert_all",
    "upsert",
    "upsert_all",
    "enable_fts",
    "table",
}


def test_no_database_calls_outside_the_store():
    """sqlite-utils' table API is SQL by another name: `db["feeds"].insert(...)` belongs in the
    store as much as an INSERT string does."""
    offenders = []
    for path in _modules():
        if path.is_relative_to(BOT / "store"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name | ast.Attribute):
                target = node.value.id if isinstance(node.value, ast.Name) else node.value.attr
                if target == "db":
                    offenders.append(f"{path.relative_to(BOT.parent)}:{node.lineno}: db[...]")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in DB_METHODS
                and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "re")
            ):
                offenders.append(
                    f"{path.relative_to(BOT.parent)}:{node.lineno}: .{node.func.attr}()"
                )
    assert offenders == []
