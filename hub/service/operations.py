"""Persisted queries (automatic persisted queries, per process) and the allow-list of
operations (in the database), shared by every transport of the API."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import asyncpg
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    print_ast,
    validate,
    visit,
)
from graphql.language import Visitor

from hub.service.database import unavailable

log = logging.getLogger(__name__)

STORED_CHARS = 10_000_000
"""The most query text the persisted-query store of a process holds, in all."""


class OperationRefused(Exception):
    """A request for an operation the hub will not run; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    def formatted(self) -> dict[str, Any]:
        return {"message": self.message, "extensions": {"code": self.code}}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def document_hash(document: DocumentNode) -> str:
    """The allow-list's key of a parsed document: whitespace and comments do not count."""
    return sha256(print_ast(document))


class PersistedQueries:
    """Query texts by the SHA-256 of their exact text, the least recently used forgotten past
    `size` entries or `STORED_CHARS` characters."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._chars = 0

    def get(self, key: str) -> str | None:
        text = self._texts.get(key)
        if text is not None:
            self._texts.move_to_end(key)
        return text

    def put(self, key: str, text: str) -> None:
        if key in self._texts or self.size <= 0 or len(text) > STORED_CHARS:
            return
        self._texts[key] = text
        self._chars += len(text)
        while len(self._texts) > self.size or self._chars > STORED_CHARS:
            _, dropped = self._texts.popitem(last=False)
            self._chars -= len(dropped)


@dataclass(frozen=True)
class AllowedOperation:
    hash: str
    name: str
    text: str


class AllowList:
    """This process's copy of the allowed operations, read again every `refresh_seconds`."""

    def __init__(self, refresh_seconds: float) -> None:
        self.refresh_seconds = refresh_seconds
        self.by_hash: dict[str, AllowedOperation] = {}

    def allows(self, document: DocumentNode) -> bool:
        return document_hash(document) in self.by_hash

    async def load(self, pool: asyncpg.Pool) -> None:
        self.by_hash = {op.hash: op for op in await listed(pool)}

    async def follow(self, pool: asyncpg.Pool) -> None:
        """Keep the copy fresh; while the database is out of reach, keep the last one."""
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.load(pool)
            except Exception as error:
                if not unavailable(error):
                    raise
                log.warning("could not read the allowed operations (%s); keeping the last", error)


def resolve(
    store: PersistedQueries,
    allowed: AllowList | None,
    query: str | None,
    extensions: dict[str, Any] | None,
) -> str | None:
    """The text to run for a request's `query` and `extensions.persistedQuery`: a hash alone
    names a text stored before (or, allow-listed, an allowed operation's hash); a hash with a
    query must be the SHA-256 of that exact text, which is then stored."""
    if extensions is None:
        return query
    if not isinstance(extensions, dict):
        raise OperationRefused("BAD_REQUEST", "extensions must be an object")
    persisted = extensions.get("persistedQuery")
    if persisted is None:
        return query
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise OperationRefused(
            "BAD_REQUEST", "extensions.persistedQuery must be an object with version 1"
        )
    key = persisted.get("sha256Hash")
    if not isinstance(key, str):
        raise OperationRefused(
            "BAD_REQUEST", "extensions.persistedQuery.sha256Hash must be a string"
        )
    key = key.lower()
    if query is None:
        text = store.get(key)
        if text is None and allowed is not None and key in allowed.by_hash:
            text = allowed.by_hash[key].text
        if text is None:
            raise OperationRefused("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        return text
    if sha256(query) != key:
        raise OperationRefused(
            "BAD_REQUEST",
            "extensions.persistedQuery.sha256Hash does not match the SHA-256 of the query",
        )
    store.put(key, query)
    return query


def operations_of(text: str, schema: GraphQLSchema) -> list[AllowedOperation]:
    """Each operation of a file's `text`, with the fragments it uses (in the file's order),
    normalised. Raises `ValueError` naming the problem when the text does not parse, does not
    validate, or holds an unnamed operation."""
    try:
        document = parse(text)
    except GraphQLError as error:
        raise ValueError(f"does not parse: {error}") from None
    errors = validate(schema, document)
    if errors:
        raise ValueError("does not validate: " + "; ".join(e.message for e in errors))
    fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    found = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if definition.name is None:
            raise ValueError("every operation must be named; one is not")
        used = _fragments_used(definition, {f.name.value: f for f in fragments})
        alone = DocumentNode(
            definitions=[definition, *(f for f in fragments if f.name.value in used)]
        )
        normal = print_ast(alone)
        found.append(AllowedOperation(sha256(normal), definition.name.value, normal))
    if not found:
        raise ValueError("holds no operation")
    return found


def _fragments_used(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> set[str]:
    used: set[str] = set()

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: object) -> None:
            name = spread.name.value
            if name not in used and name in fragments:
                used.add(name)
                visit(fragments[name], self)

    visit(operation, Spreads())
    return used


async def listed(pool: asyncpg.Pool | asyncpg.Connection) -> list[AllowedOperation]:
    rows = await pool.fetch("SELECT hash, name, text FROM allowed_operations ORDER BY name, hash")
    return [AllowedOperation(r["hash"], r["name"], r["text"]) for r in rows]


async def add(pool: asyncpg.Pool, operations: list[AllowedOperation]) -> None:
    """All of `operations` or none; adding one already there changes nothing."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            "INSERT INTO allowed_operations (hash, name, text) VALUES ($1, $2, $3)"
            " ON CONFLICT (hash) DO NOTHING",
            [(op.hash, op.name, op.text) for op in operations],
        )


async def remove(pool: asyncpg.Pool, hash_or_name: str) -> list[AllowedOperation]:
    """The operations removed: the one with that hash, or every one with that name."""
    rows = await pool.fetch(
        "DELETE FROM allowed_operations WHERE hash = lower($1) OR name = $1"
        " RETURNING hash, name, text",
        hash_or_name,
    )
    return [AllowedOperation(r["hash"], r["name"], r["text"]) for r in rows]
