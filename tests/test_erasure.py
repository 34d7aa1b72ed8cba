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
from uuid import UUID

import asyncpg
import pytest

from hub.domain.identifiers import make_id_number
from hub.personal_data import KEY_FILE, Kek, PersonalDataKeyError, unseal
from tests.agency_api import AUDITOR, MUNICIPAL, send
from tests.conftest import PERSONAL_DATA_KEY, ROOT, SECRET, running
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
    number, the worker's raw key or the KEK.

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
        needles = {
            "name": name.encode(),
            "ID number": id_number.encode(),
            "raw key": key,
            "raw key (hex)": key.hex().encode(),
            "raw key (base64)": base64.b64encode(key),
            "KEK": KEK_SECRET,
            "KEK (base64)": PERSONAL_DATA_KEY.encode(),
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


async def test_keys_stored_raw_before_are_wrapped_at_start(database: str) -> None:
    """A database as it was before migration 011 (raw keys) is upgraded when the hub starts:
    keys wrapped, names still shown."""
    input = registration("旧库社工", make_id_number("500103", date(1985, 6, 7), 8), "legacy-1")
    async with running(database) as client:
        registered = await send(client, REGISTER_WORKER, **input)
        assert registered["errors"] == []
        worker_id = registered["worker"]["id"]
        before = await client.events()
    conn = await asyncpg.connect(database)
    try:
        key = await raw_key(conn, worker_id)
        async with conn.transaction():  # back to what the code before 011 stored
            await conn.execute(
                "ALTER TABLE personal_data_keys DROP COLUMN kek_id;"
                " DELETE FROM schema_migrations WHERE name = '011_wrapped_keys.sql'"
            )
            await conn.execute(
                "UPDATE personal_data_keys SET key = $2 WHERE worker_id = $1", UUID(worker_id), key
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
        replayed = await send(client, REGISTER_WORKER, **input)
        assert replayed["errors"] == [] and replayed["worker"]["id"] == worker_id
        assert await client.events() == before
