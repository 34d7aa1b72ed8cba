"""The SQL every current-state read model shares: fold-and-upsert, lookups by key, pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from hub.projections.changes import Change

Fold = Callable[[dict[str, Any] | None, Change], dict[str, Any]]


async def upsert(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    changes: Sequence[Change],
    fold: Fold,
) -> None:
    """Fold `changes` into their rows: one SELECT of the rows they touch, one upsert."""
    ids = list({c.entity_id for c in changes})
    rows = {
        r["id"]: dict(r)
        for r in await conn.fetch(
            f"SELECT {', '.join(columns)} FROM {table} WHERE id = ANY($1)", ids
        )
    }
    for change in changes:
        rows[change.entity_id] = fold(rows.get(change.entity_id), change)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in ("id", "seq", "code"))
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    await conn.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
        f" ON CONFLICT (id) DO UPDATE SET {updates}",
        [tuple(row[c] for c in columns) for row in rows.values()],
    )


async def by_key(
    pool: asyncpg.Pool, table: str, columns: Sequence[str], key: str, keys: Sequence[Any]
) -> list[Any]:
    """Rows in the order of `keys` (None where unknown), in one query."""
    rows = await pool.fetch(
        f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = ANY($1)", list(keys)
    )
    found = {r[key]: r for r in rows}
    return [found.get(k) for k in keys]


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
) -> tuple[list[Any], bool, int]:
    """One page in creation order (`seq`, or the `order` column), whether more follow, and the
    total.

    `filters` are column = value, `contains` array column @> values, `conditions` named SQL
    conditions whose one parameter is written `$?`; each is skipped when its value is None.
    """
    where, args = [], []
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
