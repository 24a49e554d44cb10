"""Fixtures for the hardening tests: the loopback feed server and a small disk."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.feeds.conftest import feed_server  # noqa: F401 - the session's loopback server


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a real file system that runs out of space. Needs the right to mount
    (root in a container that allows it); skipped with the reason otherwise."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() or 'no mount'}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
