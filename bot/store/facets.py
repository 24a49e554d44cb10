"""Facet counts for the archive's Datasette pages that stay fast at a year of archive.

Datasette counts each facet with its own query through the page's whole query: it parses every
article's topics JSON, and on a search it runs the full-text match again for every facet and
looks up every matching row once per facet. These count from narrow indexes instead:

- the whole table (a page without filters): each facet groups its own index, topics from
  `article_topics` (one row per topic and article), a column from an index on it;
- a filtered page (a search, a topic, an outlet): one query finds the matching rows and reads
  their facet columns once, then groups them per facet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from bot.models import FacetCount

LIMIT_PARAM = "_facet_count_limit"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class FacetColumn:
    """What one facet counts: a column of the page's table, or (with `through`) a column of a
    table pointing at it, such as `article_topics.topic` through `article_topics.article_id`."""

    column: str
    through: str | None = None
    through_key: str | None = None


def _name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a plain SQL name: {name!r}")
    return f"[{name}]"


def _grouped(source: str, column: str) -> str:
    return (
        f"SELECT {column} AS value, count(*) AS count FROM {source} WHERE {column} IS NOT NULL "
        f"GROUP BY {column} ORDER BY count DESC, value LIMIT :{LIMIT_PARAM}"
    )


def count_whole_table(
    db: sqlite_utils.Database, *, table: str, facet: FacetColumn, limit: int
) -> list[FacetCount]:
    """The `limit` most frequent non-null values of one facet over the whole table, most first
    (ties by value): a walk of the column's index."""
    source = _name(facet.through or table)
    rows = db.execute(_grouped(source, _name(facet.column)), {LIMIT_PARAM: limit}).fetchall()
    return [FacetCount(value, count) for value, count in rows]


def count_within(
    db: sqlite_utils.Database,
    *,
    table: str,
    key: str,
    facets: Sequence[FacetColumn],
    within: str,
    params: Mapping[str, Any] | None = None,
    limit: int,
) -> list[list[FacetCount]]:
    """Each facet's `limit` most frequent values among the rows of `table` whose `key` is among
    the results of `within` (a SELECT over `table` returning `key` and the facet columns, with
    `params`), in one query: the matching rows are found and read once, then grouped per facet."""
    columns = [_name(c) for c in dict.fromkeys(f.column for f in facets if f.through is None)]
    listed = ", ".join([f"{_name(key)} AS _key", *columns])
    selects = []
    for i, facet in enumerate(facets):
        if facet.through is None:
            grouped = _grouped("matched", _name(facet.column))
        else:
            # A join, not IN: the matches are walked once, each probing the table's index.
            source = (
                f"matched JOIN {_name(facet.through)} AS t "
                f"ON t.{_name(facet.through_key or '')} = matched._key"
            )
            grouped = _grouped(source, f"t.{_name(facet.column)}")
        selects.append(f"SELECT {i} AS facet, value, count FROM ({grouped})")
    sql = f"WITH matched AS MATERIALIZED (SELECT {listed} FROM ({within})) " + " UNION ALL ".join(
        selects
    )
    found: list[list[FacetCount]] = [[] for _ in facets]
    for i, value, count in db.execute(sql, {**(params or {}), LIMIT_PARAM: limit}).fetchall():
        found[i].append(FacetCount(value, count))
    return found
