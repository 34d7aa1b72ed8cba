"""Personal data sealed with a key per worker (crypto-shredding).

A worker's name and ID number are stored in events only as sealed tokens. The worker's key
lives in `personal_data_keys`, itself stored only wrapped by the key-encryption key (`Kek`),
which is kept outside the database; erasing a worker deletes the key, after which no stored
event, projection, stream, database file or backup can show those values again to anyone
without the KEK, while the rest of the history stays intact.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.projections.timeline import visible
from hub.registry.blind_index import FIELDS, digests_of, normalised
from hub.registry.recorder import EventStoreReads
from hub.service.progress import meter

log = logging.getLogger(__name__)

PREFIX = "sealed:v1:"
KEY_FILE = "personal-data.key"
"""The KEK's file in `HUB_HOME` when `HUB_PERSONAL_DATA_KEY` is not set."""
KEK_BYTES = 32
NONCE_BYTES = 12


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, worker_id: UUID, value: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, value.encode(), worker_id.bytes)
    return PREFIX + base64.b64encode(nonce + sealed).decode()


def unseal(key: bytes | None, worker_id: UUID, token: str | None) -> str | None:
    """The value, or None when the key is gone (erased) or the token is not ours."""
    if key is None or not token or not token.startswith(PREFIX):
        return None
    raw = base64.b64decode(token[len(PREFIX) :])
    try:
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], worker_id.bytes).decode()
    except InvalidTag:
        return None


class PersonalDataKeyError(Exception):
    """The KEK is malformed, readable by others, or not the one the stored keys are wrapped
    with: the hub refuses to start rather than show names as erased."""


def _derive(secret: bytes, label: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label).derive(secret)


class Kek:
    """The key-encryption key: worker keys are stored only wrapped by it (AES-GCM, the worker
    id as associated data); idempotency fingerprints and the blind index's digests are keyed
    by keys derived from it, one each."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != KEK_BYTES:
            raise PersonalDataKeyError(
                f"the personal-data key must be {KEK_BYTES} bytes, got {len(secret)}"
            )
        self._aead = AESGCM(secret)
        self.id = _derive(secret, b"hub personal-data key id", 8)
        """Stored beside each wrapped key, so a wrong KEK is told apart from erased keys."""
        self._fingerprints = _derive(secret, b"hub idempotency fingerprint", 32)
        self._index = _derive(secret, b"hub personal-data blind index", 32)

    def __repr__(self) -> str:
        return f"Kek(id={self.id.hex()})"

    def wrap(self, worker_id: UUID, key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, key, worker_id.bytes)

    def unwrap(self, worker_id: UUID, wrapped: bytes, kek_id: bytes | None) -> bytes:
        if kek_id != self.id:
            raise PersonalDataKeyError(_mismatch(self, kek_id))
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], worker_id.bytes)
        except InvalidTag:
            raise PersonalDataKeyError(
                f"the stored key of worker {worker_id} does not open with the personal-data key"
            ) from None

    def fingerprint(self, digest: str) -> str:
        """An HMAC-SHA256 of a request's digest (`Request.digest`): it confirms nothing about
        the request's inputs to whoever lacks the KEK. Keying the digest, not the inputs, lets
        claims stored before with the bare digest be re-keyed in place (`check_and_upgrade`)."""
        return hmac.new(self._fingerprints, digest.encode(), hashlib.sha256).hexdigest()

    def index_digest(self, field: str, value: str) -> bytes:
        """The blind index's digest of a worker's `field` holding `value` (`normalised`, so
        spellings of one value agree): an HMAC-SHA256 under a key of its own, so it confirms
        no guess to whoever lacks the KEK (`hub.registry.blind_index`)."""
        message = f"{field}\0{normalised(field, value)}".encode()
        return hmac.digest(self._index, message, "sha256")


def _mismatch(kek: Kek, stored: bytes | None) -> str:
    return (
        f"the personal-data key does not match the one the stored worker keys are wrapped with"
        f" (its id is {kek.id.hex()}, the stored keys' {stored.hex() if stored else 'none'}):"
        " set HUB_PERSONAL_DATA_KEY, or the key file in HUB_HOME, to the key this database"
        " was written with"
    )


def load_kek(configured: str | None, home: Path) -> Kek:
    """The KEK from `HUB_PERSONAL_DATA_KEY` (base64), else from `home/personal-data.key`,
    which is made at first start (mode 0600) and must stay readable by its owner alone."""
    if configured:
        return Kek(_decode(configured, "HUB_PERSONAL_DATA_KEY"))
    path = home / KEY_FILE
    if not path.exists():
        _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PersonalDataKeyError(
            f"{path} is open to others (mode {mode:04o}): make it readable by its owner alone"
            f" (chmod 600 {path}) before the hub will use it"
        )
    return Kek(_decode(path.read_text(), str(path)))


def _decode(text: str, where: str) -> bytes:
    try:
        secret = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PersonalDataKeyError(f"{where} is not base64 of {KEK_BYTES} bytes") from None
    if len(secret) != KEK_BYTES:
        raise PersonalDataKeyError(
            f"{where} must be base64 of {KEK_BYTES} bytes, got {len(secret)} bytes"
        )
    return secret


def _create(path: Path) -> None:
    """A new random KEK in `path`, written whole before it appears (two processes starting
    at once agree on one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(os.urandom(KEK_BYTES)).decode() + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
            log.warning(
                "made a new personal-data key in %s: back it up apart from the database", path
            )
    finally:
        draft.unlink()


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

    def __init__(self, datastore: Any, kek: Kek) -> None:
        self.datastore = datastore
        self.kek = kek
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
        self._local.made = (worker_id, key)
        return key

    @contextlib.contextmanager
    def command(self) -> Iterator[None]:
        """The span of one command in this thread: a key it stores is answered by `get`
        without a query until the command ends, and never after (the worker may be erased by
        then, and the group that saved the registration may have asked in another thread)."""
        try:
            yield
        finally:
            self._local.made = None

    def get(self, worker_id: UUID) -> bytes | None:
        """The worker's key, None once erased. The key this thread's command stored last is
        answered once without a query (the registration that made it asks for it as it
        saves, when it leads its group)."""
        made = getattr(self._local, "made", None)
        if made is not None and made[0] == worker_id:
            self._local.made = None
            return made[1]
        pending = self._pending()
        if pending is not None:
            if worker_id in pending.destroyed:
                return None
            if worker_id in pending.created:
                return pending.created[worker_id]
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT key, kek_id FROM personal_data_keys WHERE worker_id = %s", (worker_id,)
            )
            row = curs.fetchone()
        return self.kek.unwrap(worker_id, row["key"], row["kek_id"]) if row else None

    def destroy(self, worker_id: UUID) -> None:
        pending = self._pending()
        if pending is not None:
            pending.destroyed.append(worker_id)
            return
        self.destroy_all([worker_id])

    def store(self, keys: Mapping[UUID, bytes]) -> None:
        """Insert these keys, wrapped, in one statement."""
        if not keys:
            return
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "INSERT INTO personal_data_keys (worker_id, key, kek_id)"
                " SELECT w, k, %s FROM unnest(%s::uuid[], %s::bytea[]) AS t (w, k)",
                (self.kek.id, list(keys), [self.kek.wrap(w, k) for w, k in keys.items()]),
            )

    def destroy_all(self, worker_ids: Sequence[UUID]) -> None:
        if not worker_ids:
            return
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "DELETE FROM personal_data_keys WHERE worker_id = ANY(%s)", (list(worker_ids),)
            )


async def destroy_keys(conn: asyncpg.Connection, worker_ids: Sequence[UUID]) -> None:
    """`KeyStore.destroy_all` on the read side's connection (the workers projection)."""
    await conn.execute("DELETE FROM personal_data_keys WHERE worker_id = ANY($1)", list(worker_ids))


@dataclass(frozen=True)
class KeysByWorker:
    """The read side's access to worker keys, a loader batch (`Context.loader`)."""

    kek: Kek

    async def __call__(
        self, pool: asyncpg.Pool, ids: Sequence[UUID], moment: object = None
    ) -> list[bytes | None]:
        """Keys in the order of `ids` (None where erased or unknown), in one query. Keys have
        no history: once erased, a worker's personal data is gone at every moment."""
        rows = await pool.fetch(
            "SELECT worker_id, key, kek_id FROM personal_data_keys WHERE worker_id = ANY($1)",
            list(ids),
        )
        found = {
            r["worker_id"]: self.kek.unwrap(r["worker_id"], r["key"], r["kek_id"]) for r in rows
        }
        return [found.get(i) for i in ids]


async def check_and_upgrade(url: str, kek: Kek) -> None:
    """At start: refuse a KEK other than the stored keys'; wrap keys stored raw (before
    migration 011); re-key the bare SHA-256 fingerprints of idempotency claims made before it.

    All in one transaction. The claims are the event store's rows: only their `fingerprint`
    changes, to what `Kek.fingerprint` makes of it, so a retry of such a request still replays.
    """
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            other = await conn.fetchval(
                "SELECT kek_id FROM personal_data_keys WHERE kek_id <> $1 LIMIT 1",
                kek.id,
            )
            if other is not None:
                raise PersonalDataKeyError(_mismatch(kek, other))
            raw = await conn.fetch(
                "SELECT worker_id, key FROM personal_data_keys WHERE kek_id IS NULL"
            )
            await conn.executemany(
                "UPDATE personal_data_keys SET key = $2, kek_id = $3"
                " WHERE worker_id = $1 AND kek_id IS NULL",
                [(r["worker_id"], kek.wrap(r["worker_id"], r["key"]), kek.id) for r in raw],
            )
            if raw:
                log.info("wrapped %d worker keys stored raw", len(raw))
            await _rekey_claims(conn, kek)
        await backfill_index(conn, kek)
    finally:
        await conn.close()


BACKFILL_BATCH = 1000
"""Workers given their digests per transaction at start (`backfill_index`)."""


async def backfill_index(conn: asyncpg.Connection, kek: Kek) -> int:
    """Give the blind index's digests to the workers that have none though they are not
    erased and their key is stored (those stored before the index): from their current sealed
    values as the workers view shows them, `BACKFILL_BATCH` workers per transaction, in
    registration order. Idempotent, and safe beside another hub doing the same or a command
    saving digests meanwhile (what is stored wins). Returns how many workers it indexed."""
    missing = (
        "FROM workers w JOIN personal_data_keys k ON k.worker_id = w.id"
        f" WHERE {visible(None, None, 'w')} AND NOT w.erased"
        " AND NOT EXISTS (SELECT 1 FROM personal_data_index i WHERE i.worker_id = w.id)"
    )

    async def after(seq: int) -> list[asyncpg.Record]:
        return await conn.fetch(
            "SELECT w.id, w.seq, w.name_sealed, w.id_number_sealed, k.key, k.kek_id"
            f" {missing} AND w.seq > $1 ORDER BY w.seq LIMIT $2",
            seq,
            BACKFILL_BATCH,
        )

    rows = await after(-1)
    if not rows:
        return 0  # as at every start once done: one query
    total = await conn.fetchval(f"SELECT count(*) {missing}")
    done = 0
    with meter("indexing workers' names and ID numbers", total, unit="workers", say=log.info) as m:
        while rows:
            found = []
            for r in rows:
                key = kek.unwrap(r["id"], r["key"], r["kek_id"])
                sealed = {"name": r["name_sealed"], "id_number": r["id_number_sealed"]}
                digests = digests_of(
                    sealed, lambda token, w=r["id"], k=key: unseal(k, w, token), kek.index_digest
                )
                if digests:
                    found.append((r["id"], *(digests.get(f) for f in FIELDS)))
            if found:
                await conn.execute(
                    "INSERT INTO personal_data_index (worker_id, name, id_number)"
                    " SELECT t.* FROM unnest($1::uuid[], $2::bytea[], $3::bytea[]) AS t (w, n, i)"
                    " JOIN personal_data_keys k ON k.worker_id = t.w ON CONFLICT DO NOTHING",
                    *(list(column) for column in zip(*found, strict=True)),
                )
            done += len(rows)
            m.advance(len(rows))
            rows = await after(rows[-1]["seq"])
    return done


async def _rekey_claims(conn: asyncpg.Connection, kek: Kek) -> None:
    if not await conn.fetchval("SELECT EXISTS (SELECT FROM unkeyed_fingerprints)"):
        return  # as in every database made since (whose store may not exist yet)
    store = EventStoreReads(conn)
    claims = await store.unkeyed_claims()
    rekeyed = []
    for claim in claims:
        state = json.loads(claim["state"])
        if str(state.get("key", "")).startswith("idempotency:") and state.get("fingerprint"):
            state["fingerprint"] = kek.fingerprint(state["fingerprint"])
            rekeyed.append(
                (
                    claim["notification_id"],
                    json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode(),
                )
            )
    await store.replace_states(rekeyed)
    await conn.execute(
        "DELETE FROM unkeyed_fingerprints WHERE notification_id = ANY($1::bigint[])",
        [c["notification_id"] for c in claims],
    )
    if rekeyed:
        log.info("re-keyed %d idempotency fingerprints stored bare", len(rekeyed))
