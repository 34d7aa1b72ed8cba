"""Erasure that cannot be undone from the database: keys stored only wrapped by a KEK kept
outside it, idempotency fingerprints keyed by it, a wrong KEK refused, old rows upgraded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from hub.domain.envelope import Actor, Role
from hub.domain.identifiers import make_id_number
from hub.registry.application import Request
from hub.registry.personal_data import KEY_FILE, Kek, PersonalDataKeyError, unseal
from tests.agency_api import AUDITOR, MUNICIPAL, send
from tests.conftest import PERSONAL_DATA_KEY, ROOT, SECRET, Client, running
from tests.worker_api import ERASE, REGISTER_WORKER, WORKER

KEK_SECRET = base64.b64decode(PERSONAL_DATA_KEY)
KEK = Kek(KEK_SECRET)
OTHER_KEY = base64.b64encode(hashlib.sha256(b"another personal-data key").digest()).decode()


def registration(name: str, id_number: str, key: str) -> dict[str, Any]:
    return {
        "name": name,
        "idNumber": id_number,
        "district": "500103",
        "education": "BACHELOR",
        "effectiveOn": "2018-03-01",
        "idempotencyKey": key,
    }


def digest_of(input: dict[str, Any]) -> str:
    """The bare SHA-256 that claims used to hold for this registerWorker `input`."""
    return Request(
        command="registerWorker",
        actor=Actor("test-municipal", Role.MUNICIPAL),
        correlation_id="",
        today=date.today(),
        inputs={
            "name": input["name"],
            "id_number": input["idNumber"],
            "district": input["district"],
            "education": input["education"],
            "employer": None,
        },
        effective_on=date.fromisoformat(input["effectiveOn"]),
        idempotency_key=input["idempotencyKey"],
    ).digest()


async def stored_fingerprint(client: Client, key: str) -> str:
    claim = await asyncio.to_thread(
        client.hub.registry.claim_holder, f"idempotency:test-municipal:{key}"
    )
    assert claim is not None
    return claim.fingerprint


async def raw_key(conn: Any, worker_id: str) -> bytes:
    """The worker's own key, unwrapped with the test KEK as only its holder could."""
    row = await conn.fetchrow(
        "SELECT key, kek_id FROM personal_data_keys WHERE worker_id = $1", UUID(worker_id)
    )
    return KEK.unwrap(UUID(worker_id), row["key"], row["kek_id"])


def found_in(pgdata: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    """Which needles occur in which files under `pgdata` (WAL, heap, logs: every file)."""
    hits: dict[str, list[str]] = {}
    files = [p for p in pgdata.rglob("*") if p.is_file() and not p.is_symlink()]
    assert len(files) > 100 and any("pg_wal" in p.parts for p in files)
    for path in files:
        try:
            content = path.read_bytes()
        except (FileNotFoundError, PermissionError):
            continue  # a server file that came and went while the server runs
        for what, needle in needles.items():
            if needle in content:
                hits.setdefault(what, []).append(str(path.relative_to(pgdata)))
    return hits


async def test_an_erased_worker_leaves_nothing_readable_in_any_database_file(
    tmp_path: Path,
) -> None:
    """After erasure no file of the database (heap, indexes, WAL, logs) holds the name, the ID
    number, the worker's raw key, the KEK, or the bare SHA-256 of the registration.

    That no 32-byte window of any file opens the sealed name token follows from the raw key's
    absence: AES-GCM opens a token under its own key only (one forgery in 2^128 otherwise), so
    checking every window would find the key itself, which the scan shows is in no file.
    """
    home = tmp_path / "h"
    name = "隐私测试员甄十一"
    id_number = make_id_number("500103", date(1987, 11, 23), 731)
    input = registration(name, id_number, "erasure-scan-1")
    async with running(None, home=home) as client:  # its own embedded server
        registered = await send(client, REGISTER_WORKER, **input)
        assert registered["errors"] == []
        worker_id = registered["worker"]["id"]
        shown = (await client.run(WORKER, {"id": worker_id}, auth=MUNICIPAL))["worker"]
        assert (shown["name"], shown["idNumber"]) == (name, id_number)
        replayed = await send(client, REGISTER_WORKER, **input)
        assert replayed["worker"]["id"] == worker_id

        key = await raw_key(client.hub.pool, worker_id)
        state = await client.hub.pool.fetchval(
            "SELECT state FROM registry_events WHERE originator_id = $1 AND originator_version = 1",
            UUID(worker_id),
        )
        token = json.loads(state)["name"]
        assert unseal(key, UUID(worker_id), token) == name  # the key the scan looks for
        digest = digest_of(input)
        assert await stored_fingerprint(client, input["idempotencyKey"]) == KEK.fingerprint(digest)
        needles = {
            "name": name.encode(),
            "ID number": id_number.encode(),
            "raw key": key,
            "raw key (hex)": key.hex().encode(),
            "raw key (base64)": base64.b64encode(key),
            "KEK": KEK_SECRET,
            "KEK (base64)": PERSONAL_DATA_KEY.encode(),
            "bare SHA-256 of the request": digest.encode(),
            "bare SHA-256 of the request (bytes)": bytes.fromhex(digest),
        }
        pgdata = home / "pgdata"
        await client.hub.pool.execute("CHECKPOINT")
        assert found_in(pgdata, needles) == {}  # keys are wrapped from the start

        erased = await send(client, ERASE, id=worker_id, reason="本人申请")
        assert erased["errors"] == []
        assert erased["worker"]["personalDataErased"] is True
        assert await client.hub.pool.fetchval("SELECT count(*) FROM personal_data_keys") == 0
        await client.hub.pool.execute("CHECKPOINT")
        await client.hub.pool.execute("SELECT pg_switch_wal()")
    assert not (pgdata / "postmaster.pid").exists(), "the server still runs"
    assert found_in(pgdata, needles) == {}


async def test_a_hub_with_another_personal_data_key_refuses_to_start(database: str) -> None:
    async with running(database) as client:
        worker = await send(
            client,
            REGISTER_WORKER,
            **registration("钥匙不对", make_id_number("500103", date(1990, 1, 2), 5), "kek-1"),
        )
        assert worker["errors"] == []
    with pytest.raises(PersonalDataKeyError, match="the personal-data key does not match"):
        async with running(database, personal_data_key=OTHER_KEY):
            pass
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hub", "migrate"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "HUB_JWT_SECRET": SECRET,
            "HUB_DATABASE_URL": database,
            "HUB_PERSONAL_DATA_KEY": OTHER_KEY,
        },
        cwd=ROOT,
        check=False,
    )
    assert done.returncode != 0
    assert "hub migrate: the personal-data key does not match" in done.stderr
    assert "Traceback" not in done.stderr
    async with running(database) as client:  # the right key still opens everything
        shown = (await client.run(WORKER, {"id": worker["worker"]["id"]}, auth=AUDITOR))["worker"]
        assert shown["name"] == "钥匙不对"


async def test_the_key_file_is_made_private_and_refused_when_it_is_not(
    database: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    async with running(database, personal_data_key=None, home=home) as client:
        worker = await send(
            client,
            REGISTER_WORKER,
            **registration("钥匙文件", make_id_number("500103", date(1991, 3, 4), 6), "file-1"),
        )
        assert worker["errors"] == []
    path = home / KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(base64.b64decode(path.read_text().strip(), validate=True)) == 32
    async with running(database, personal_data_key=None, home=home) as client:
        shown = (await client.run(WORKER, {"id": worker["worker"]["id"]}, auth=AUDITOR))["worker"]
        assert shown["name"] == "钥匙文件"  # the same key, read back from the file

    path.chmod(0o644)
    with pytest.raises(PersonalDataKeyError, match=r"mode 0644.*chmod 600"):
        async with running(database, personal_data_key=None, home=home):
            pass
    path.chmod(0o600)
    path.write_text(base64.b64encode(b"too short").decode())
    with pytest.raises(PersonalDataKeyError, match="must be base64 of 32 bytes, got 9 bytes"):
        async with running(database, personal_data_key=None, home=home):
            pass
    with pytest.raises(PersonalDataKeyError, match="HUB_PERSONAL_DATA_KEY is not base64"):
        async with running(database, personal_data_key="not base64!"):
            pass


async def test_keys_and_fingerprints_stored_before_are_upgraded_at_start(database: str) -> None:
    """A database as it was before migration 011 (raw keys, bare SHA-256 fingerprints) is
    upgraded when the hub starts: keys wrapped, fingerprints keyed, retries still replayed."""
    input = registration("旧库社工", make_id_number("500103", date(1985, 6, 7), 8), "legacy-1")
    async with running(database) as client:
        registered = await send(client, REGISTER_WORKER, **input)
        assert registered["errors"] == []
        worker_id = registered["worker"]["id"]
        before = await client.events()
    digest = digest_of(input)
    conn = await asyncpg.connect(database)
    try:
        key = await raw_key(conn, worker_id)
        claim = await conn.fetchrow(
            "SELECT notification_id, state FROM registry_events WHERE state LIKE $1",
            f"%{KEK.fingerprint(digest)}%".encode(),
        )
        async with conn.transaction():  # back to what the code before 011 stored
            await conn.execute(
                "ALTER TABLE personal_data_keys DROP COLUMN kek_id;"
                " DROP TABLE unkeyed_fingerprints;"
                " DELETE FROM schema_migrations WHERE name = '011_wrapped_keys.sql'"
            )
            await conn.execute(
                "UPDATE personal_data_keys SET key = $2 WHERE worker_id = $1", UUID(worker_id), key
            )
            await conn.execute(
                "UPDATE registry_events SET state = $2 WHERE notification_id = $1",
                claim["notification_id"],
                claim["state"].replace(KEK.fingerprint(digest).encode(), digest.encode()),
            )
    finally:
        await conn.close()

    async with running(database) as client:
        row = await client.hub.pool.fetchrow(
            "SELECT key, kek_id FROM personal_data_keys WHERE worker_id = $1", UUID(worker_id)
        )
        assert row["kek_id"] == KEK.id and row["key"] != key
        assert KEK.unwrap(UUID(worker_id), row["key"], row["kek_id"]) == key
        shown = (await client.run(WORKER, {"id": worker_id}, auth=MUNICIPAL))["worker"]
        assert shown["name"] == "旧库社工"
        state = await client.hub.pool.fetchval(
            "SELECT state FROM registry_events WHERE notification_id = $1",
            claim["notification_id"],
        )
        assert digest.encode() not in state
        assert await stored_fingerprint(client, "legacy-1") == KEK.fingerprint(digest)
        replayed = await send(client, REGISTER_WORKER, **input)
        assert replayed["errors"] == [] and replayed["worker"]["id"] == worker_id
        assert await client.events() == before
        other = await send(client, REGISTER_WORKER, **{**input, "name": "别人"})
        assert [e["code"] for e in other["errors"]] == ["CONFLICT"]


async def test_a_key_stored_by_a_command_is_not_answered_from_memory_once_it_ended(
    client: Client,
) -> None:
    """A registration's key is answered without a query only within its own command: a
    later command in the same thread, after the worker was erased, sees no key (else it would
    seal new personal data with a key the database no longer holds)."""
    keys = client.hub.registry.keys
    worker_id = uuid4()

    def registered_then_erased() -> bytes | None:
        with keys.command():
            keys.create(worker_id)
        keys.destroy(worker_id)
        with keys.command():
            return keys.get(worker_id)

    assert await asyncio.to_thread(registered_then_erased) is None
