"""A Datasette facet type that stays fast on a year of archive (registered by `bot.site.site`).

In metadata.yaml, `{indexed: outlet}` is Datasette's column facet (the same links, the same
labels for foreign keys) and `{indexed: {through: article_topics, column: topic}}` counts the
values of a table pointing at this one, such as an article's topics; its links filter with
Datasette's own `_through`. `bot.store.facets` does the counting from narrow indexes: on a page
without filters each facet walks its own index (concurrently), on a filtered page one query
finds the matching rows once for every facet, where Datasette would run the search again and
read every matching row once per facet.

Counting runs on Datasette's read connections under the facet time limit, like Datasette's own
facets; a count that runs out of time is reported as timed out, never as a wrong number.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from typing import Any

import sqlite_utils
from datasette import hookimpl
from datasette.facets import Facet
from datasette.plugins import pm
from datasette.utils import (
    escape_sqlite,
    path_with_added_args,
    path_with_removed_args,
    sqlite_timelimit,
)
from datasette.utils.asgi import BadRequest

from bot.models import FacetCount
from bot.store import facets as counting
from bot.store.facets import FacetColumn


def register() -> None:
    """Add the facet type to Datasette's plugin manager (once per process)."""
    module = sys.modules[__name__]
    if not pm.is_registered(module):
        pm.register(module)


@hookimpl
def register_facet_classes():
    return [IndexedFacet]


def _db(conn: sqlite3.Connection) -> sqlite_utils.Database:
    # A thin wrapper for the store's functions; it changes nothing on Datasette's connection.
    return sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)


class IndexedFacet(Facet):
    type = "indexed"

    async def facet_results(self):
        configs = self.get_configs()
        if not configs:
            return [], []
        database = self.ds.get_database(self.database)
        pks = await database.primary_keys(self.table)
        key = pks[0] if len(pks) == 1 else "rowid"
        facets = [await self._facet_column(c["config"]) for c in configs]
        found = await self._count(key, facets)
        results, timed_out = [], []
        for config, facet, values in zip(configs, facets, found, strict=True):
            if values is None:
                timed_out.append(facet.column)
            elif facet.through is None:
                results.append(await self._column_result(config, facet, values))
            else:
                results.append(self._through_result(config, facet, values))
        return results, timed_out

    async def _facet_column(self, config: dict[str, Any]) -> FacetColumn:
        if "through" not in config:
            return FacetColumn(config.get("column") or config["simple"])
        through = config["through"]
        keys = await self.ds.get_database(self.database).foreign_keys_for_table(through)
        fk = next((k for k in keys if k["other_table"] == self.table), None)
        if fk is None:
            raise BadRequest(f"facet through {through}: it has no foreign key to {self.table}")
        return FacetColumn(config["column"], through, fk["column"])

    def _whole_table(self) -> bool:
        # A table page without filters queries "select <columns> from <table> " (no WHERE).
        return not self.params and self.sql.rstrip().endswith(f"from {escape_sqlite(self.table)}")

    async def _count(self, key: str, facets: list[FacetColumn]) -> list[list[FacetCount] | None]:
        """Each facet's counts, or None for those that ran out of time."""
        database = self.ds.get_database(self.database)
        limit = self.get_facet_size() + 1
        # As Datasette's own facets: the facet limit when set and shorter, else the SQL limit.
        time_limit = self.ds.setting("sql_time_limit_ms")
        if 0 < (self.ds.setting("facet_time_limit_ms") or 0) < time_limit:
            time_limit = self.ds.setting("facet_time_limit_ms")

        async def timed(count) -> Any:
            def run(conn: sqlite3.Connection):
                with sqlite_timelimit(conn, time_limit):
                    try:
                        return count(_db(conn))
                    except sqlite3.OperationalError as exc:
                        if exc.args == ("interrupted",):
                            return None
                        raise

            return await database.execute_fn(run)

        if self._whole_table():
            # One walk of its own index per facet, side by side on Datasette's threads.
            return list(
                await asyncio.gather(
                    *(
                        timed(
                            lambda db, f=f: counting.count_whole_table(
                                db, table=self.table, facet=f, limit=limit
                            )
                        )
                        for f in facets
                    )
                )
            )
        found = await timed(
            lambda db: counting.count_within(
                db,
                table=self.table,
                key=key,
                facets=facets,
                within=self.sql,
                params=self.params,
                limit=limit,
            )
        )
        return found if found is not None else [None] * len(facets)

    async def _column_result(self, config, facet: FacetColumn, found: list[FacetCount]) -> dict:
        column, size = facet.column, self.get_facet_size()
        pairs = self.get_querystring_pairs()
        labels = await self.ds.expand_foreign_keys(
            self.database, self.table, column, [f.value for f in found[:size]]
        )
        arg = f"{column}__exact" if column.startswith("_") else column
        values = []
        for item in found:
            selected = (arg, str(item.value)) in pairs
            toggle = (
                path_with_removed_args(self.request, {arg: str(item.value)})
                if selected
                else path_with_added_args(self.request, {arg: item.value})
            )
            label = labels.get((column, item.value), item.value)
            values.append(self._value(item, label, toggle, selected))
        off = path_with_removed_args(self.request, {"_facet_indexed": column})
        return self._result(column, config["source"], off, values, "column")

    def _through_result(self, config, facet: FacetColumn, found: list[FacetCount]) -> dict:
        chosen = _through_args(self.request)
        values = []
        for item in found:
            wanted = {"table": facet.through, "column": facet.column, "value": str(item.value)}
            raw = next((raw for raw, spec in chosen if spec == wanted), None)
            toggle = (
                path_with_removed_args(self.request, {"_through": raw})
                if raw is not None
                else path_with_added_args(self.request, {"_through": json.dumps(wanted)})
            )
            values.append(self._value(item, item.value, toggle, raw is not None))
        off = path_with_removed_args(self.request, {"_facet_indexed": json.dumps(config["config"])})
        return self._result(facet.column, config["source"], off, values, "array")

    def _value(self, item: FacetCount, label: Any, toggle: str, selected: bool) -> dict:
        return {
            "value": item.value,
            "label": label,
            "count": item.count,
            "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(toggle)),
            "selected": selected,
        }

    def _result(
        self, name: str, source: str, toggle_url: str, values: list[dict], kind: str
    ) -> dict:
        size = self.get_facet_size()
        return {
            "name": name,
            # Shown beside the name as Datasette's own facets would be: a column, or many
            # values per row (an array).
            "type": kind,
            "hideable": source != "metadata",
            "toggle_url": self.ds.urls.path(toggle_url),
            "results": values[:size],
            "truncated": len(values) > size,
        }


def _through_args(request) -> list[tuple[str, dict[str, Any]]]:
    """Each `_through` argument of the request, raw and parsed (values compared as text)."""
    found = []
    for raw in request.args.getlist("_through"):
        try:
            spec = json.loads(raw)
        except ValueError:
            continue
        if isinstance(spec, dict):
            found.append((raw, {k: str(v) if k == "value" else v for k, v in spec.items()}))
    return found
