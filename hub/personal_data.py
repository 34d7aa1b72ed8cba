"""Personal data sealed with a key per worker (crypto-shredding).

A worker's name and ID number are stored in events only as sealed tokens. The key lives in
`personal_data_keys`; erasing a worker deletes it, after which no stored event, projection or
stream can show those values again, while the rest of the history stays intact.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sealed:v1:"


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, worker_id: UUID, value: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, value.encode(), worker_id.bytes)
    return PREFIX + base64.b64encode(nonce + sealed).decode()


def unseal(key: bytes | None, worker_id: UUID, token: str | None) -> str | None:
    """The value, or None when the key is gone (erased) or the token is not ours."""
    if key is None or not token or not token.startswith(PREFIX):
        return None
    raw = base64.b64decode(token[len(PREFIX) :])
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], worker_id.bytes).decode()
    except InvalidTag:
        return None


class KeyStore:
    """The write side's access to worker keys, through the event store's connection pool."""

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore

    def create(self, worker_id: UUID) -> bytes:
        key = new_key()
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "INSERT INTO personal_data_keys (worker_id, key) VALUES (%s, %s)",
                (worker_id, key),
            )
        return key

    def get(self, worker_id: UUID) -> bytes | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT key FROM personal_data_keys WHERE worker_id = %s", (worker_id,))
            row = curs.fetchone()
        return bytes(row["key"]) if row else None

    def destroy(self, worker_id: UUID) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("DELETE FROM personal_data_keys WHERE worker_id = %s", (worker_id,))


async def keys_by_worker(pool: asyncpg.Pool, ids: Sequence[UUID]) -> list[bytes | None]:
    """Keys in the order of `ids` (None where erased or unknown), in one query."""
    rows = await pool.fetch(
        "SELECT worker_id, key FROM personal_data_keys WHERE worker_id = ANY($1)", list(ids)
    )
    found = {r["worker_id"]: bytes(r["key"]) for r in rows}
    return [found.get(i) for i in ids]
