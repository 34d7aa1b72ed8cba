"""The SQL every read model shares: lookups by key and pages, at a moment (None: now)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.projections.timeline import Moment, visible


async def by_key(
    pool: asyncpg.Pool,
    table: str,
    columns: Sequence[str],
    key: str,
    keys: Sequence[Any],
    moment: Moment | None = None,
) -> list[Any]:
    """Rows in the order of `keys` (None where unknown at `moment`), in one query."""
    found = {r[key]: r for r in await _at(pool, table, columns, key, keys, moment, None)}
    return [found.get(k) for k in keys]


async def related(
    pool: asyncpg.Pool,
    table: str,
    columns: Sequence[str],
    key: str,
    keys: Sequence[Any],
    moment: Moment | None = None,
    order: str = "seq",
) -> list[list[Any]]:
    """The rows of `table` whose `key` is each of `keys` at `moment`, one list per key, in
    `order`: one query for a whole level of nesting."""
    return grouped(await _at(pool, table, columns, key, keys, moment, order), key, keys)


async def _at(
    pool: asyncpg.Pool,
    table: str,
    columns: Sequence[str],
    key: str,
    keys: Sequence[Any],
    moment: Moment | None,
    order: str | None,
) -> list[Any]:
    args: list[Any] = [list(keys)]
    return await pool.fetch(
        f"SELECT {', '.join(columns)} FROM {table}"
        f" WHERE {key} = ANY($1) AND {visible(moment, args)}"
        + (f" ORDER BY {order}" if order else ""),
        *args,
    )


def grouped(rows: Sequence[Any], key: str, keys: Sequence[Any]) -> list[list[Any]]:
    """`rows` split into one list per key, in the order of `keys`."""
    groups: dict[Any, list[Any]] = {k: [] for k in keys}
    for row in rows:
        groups[row[key]].append(row)
    return [groups[k] for k in keys]


async def page(
    pool: asyncpg.Pool,
    table: str,
    columns: Sequence[str],
    first: int,
    after_seq: int,
    filters: dict[str, Any],
    contains: dict[str, list[Any] | None] | None = None,
    conditions: dict[str, tuple[str, Any]] | None = None,
    order: str = "seq",
    moment: Moment | None = None,
    bitemporal: bool = True,
    visibility: str | None = None,
) -> tuple[list[Any], bool, int]:
    """One page in creation order (`seq`, or the `order` column), whether more follow, and the
    total, as the rows stand at `moment`.

    `filters` are column = value, `contains` array column @> values, `conditions` named SQL
    conditions whose one parameter is written `$?`; each is skipped when its value is None.
    `visibility`, if given, is the SQL selecting the versions to answer instead of those that
    hold at `moment`.
    """
    where: list[str] = []
    args: list[Any] = []
    if bitemporal:
        where.append(visibility or visible(moment, args))
    for column, value in filters.items():
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    for column, values in (contains or {}).items():
        if values is not None:
            args.append(values)
            where.append(f"{column} @> ${len(args)}")
    for condition_sql, value in (conditions or {}).values():
        if value is not None:
            args.append(value)
            where.append(condition_sql.replace("$?", f"${len(args)}"))
    condition = " AND ".join(where) or "true"
    total = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE {condition}", *args)
    args += [after_seq, first + 1]
    rows = await pool.fetch(
        f"SELECT {', '.join(columns)} FROM {table} WHERE {condition}"
        f" AND {order} > ${len(args) - 1} ORDER BY {order} LIMIT ${len(args)}",
        *args,
    )
    return rows[:first], len(rows) > first, total
