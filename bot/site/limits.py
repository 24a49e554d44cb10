"""How much memory one visitor's query may make the Datasette process use.

Datasette's time limit stops a slow query, not a big one: `select randomblob(400000000)`
answers in well under the limit and grows the server by gigabytes. Three bounds close that:

- each value: SQLite's length limit (`value_limit`) refuses a string or blob larger than the
  largest value the bot stores, before allocating it;
- each answer: the rows Datasette reads for one query may total `answer_limit` bytes of text
  and blobs (`AnswerBudget`, counted row by row as they arrive), so many rows of large values
  fail instead of piling up;
- the process: SQLite's hard heap limit (`HEAP_LIMIT`) refuses a single row whose values
  together would outgrow it ("out of memory" for that query, not for the process).
"""

from __future__ import annotations

import sqlite3
from typing import Any

MiB = 1024 * 1024
HEAP_LIMIT = 256 * MiB
MIN_ANSWER_LIMIT = 64 * MiB


def value_limit(max_payload_bytes: int) -> int:
    """The largest string or blob a query may make: the largest value the bot stores (an
    OpenRouter answer, at most `openrouter.max_bytes`) plus room for the rest of its row."""
    return max_payload_bytes + MiB


def answer_limit(max_value_bytes: int) -> int:
    """What one answer may hold: a couple of the largest values, and never under 64 MiB."""
    return max(MIN_ANSWER_LIMIT, 2 * max_value_bytes)


def heap_limit(max_value_bytes: int) -> int:
    return max(HEAP_LIMIT, 4 * max_value_bytes)


class AnswerBudget:
    """A sqlite3 row factory that counts the bytes of text and blobs it has seen and refuses
    the query once they pass `limit`; it hands Datasette the `sqlite3.Row` it expects."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def __call__(self, cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> sqlite3.Row:
        for value in row:
            self.used += len(value) if isinstance(value, str | bytes) else 8
        if self.used > self.limit:
            raise sqlite3.OperationalError(
                f"the answer is larger than {self.limit // MiB} MiB: ask for fewer rows "
                "(LIMIT, _size) or leave out the large columns"
            )
        return sqlite3.Row(cursor, row)


def out_of_memory(limit: int) -> sqlite3.OperationalError:
    """The error shown for a query that met the heap limit (SQLite reports it as MemoryError)."""
    return sqlite3.OperationalError(
        f"the query needs more than the {limit // MiB} MiB this server gives SQLite: ask for "
        "fewer or smaller values"
    )
