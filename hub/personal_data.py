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


@dataclass
class PendingKeys:
    """Keys created, and erasures asked for, while deferred (see `KeyStore.deferred`)."""

    created: dict[UUID, bytes] = field(default_factory=dict)
    destroyed: list[UUID] = field(default_factory=list)

    def mark(self) -> tuple[int, int]:
        return len(self.created), len(self.destroyed)

    def reset(self, mark: tuple[int, int]) -> None:
        """Forget what was added since `mark`."""
        for worker_id in list(self.created)[mark[0] :]:
            del self.created[worker_id]
        del self.destroyed[mark[1] :]


class KeyStore:
    """The write side's access to worker keys, through the event store's connection pool."""

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        self._local = threading.local()

    @contextlib.contextmanager
    def deferred(self) -> Iterator[PendingKeys]:
        """Until the block ends, this thread's `create` and `destroy` only note what to do.

        Whoever saves events sealed with a noted key must `store` it first (the registry's
        batch mode does, in each save); what is still noted when the block ends is dropped.
        """
        pending = PendingKeys()
        self._local.pending = pending
        try:
            yield pending
        finally:
            self._local.pending = None

    def _pending(self) -> PendingKeys | None:
        return getattr(self._local, "pending", None)

    def create(self, worker_id: UUID) -> bytes:
        key = new_key()
        pending = self._pending()
        if pending is not None:
            pending.created[worker_id] = key
            return key
        self.store({worker_id: key})
        return key

    def get(self, worker_id: UUID) -> bytes | None:
        pending = self._pending()
        if pending is not None:
            if worker_id in pending.destroyed:
                return None
            if worker_id in pending.created:
                return pending.created[worker_id]
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT key FROM personal_data_keys WHERE worker_id = %s", (worker_id,))
            row = curs.fetchone()
        return bytes(row["key"]) if row else None

    def destroy(self, worker_id: UUID) -> None:
        pending = self._pending()
        if pending is not None:
            pending.destroyed.append(worker_id)
            return
        self.destroy_all([worker_id])

    def store(self, keys: Mapping[UUID, bytes]) -> None:
        """Insert these keys in one statement."""
        if not keys:
            return
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "INSERT INTO personal_data_keys (worker_id, key)"
                " SELECT * FROM unnest(%s::uuid[], %s::bytea[])",
                (list(keys), list(keys.values())),
            )

    def destroy_all(self, worker_ids: Sequence[UUID]) -> None:
        if not worker_ids:
            return
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "DELETE FROM personal_data_keys WHERE worker_id = ANY(%s)", (list(worker_ids),)
            )


async def keys_by_worker(
    pool: asyncpg.Pool, ids: Sequence[UUID], moment: object = None
) -> list[bytes | None]:
    """Keys in the order of `ids` (None where erased or unknown), in one query. Keys have no
    history: once erased, a worker's personal data is gone at every moment."""
    rows = await pool.fetch(
        "SELECT worker_id, key FROM personal_data_keys WHERE worker_id = ANY($1)", list(ids)
    )
    found = {r["worker_id"]: bytes(r["key"]) for r in rows}
    return [found.get(i) for i in ids]
