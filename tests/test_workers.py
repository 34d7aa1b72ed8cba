"""Workers: commands, certificates, and personal data that is sealed, shown by role, erased."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

import pytest

from tests.agency_api import AUDITOR, refused, register, send
from tests.conftest import Client, token
from tests.worker_api import (
    AWARD,
    ERASE,
    REGISTER_WORKER,
    REVOKE,
    UPDATE_WORKER,
    WORKER,
    id_number,
    register_worker,
    worker_input,
)

HISTORY = """query($id: ID!) { history(id: $id) { type data } }"""


async def test_register_update_and_certificates(client: Client) -> None:
    agency = (await register(client))["agency"]["id"]
    number = id_number()
    worker = await register_worker(client, name="李明", idNumber=number, employer=agency)
    assert (worker["name"], worker["idNumber"]) == ("李明", number)
    assert worker["employer"] == {"id": agency}
    assert (worker["version"], worker["personalDataErased"]) == (1, False)

    updated = await send(client, UPDATE_WORKER, id=worker["id"], name="李明明", education="MASTER")
    assert (updated["worker"]["name"], updated["worker"]["education"]) == ("李明明", "MASTER")

    awarded = await send(
        client,
        AWARD,
        id=worker["id"],
        level="SOCIAL_WORKER",
        number="SW-001",
        effectiveOn="2018-06-01",
    )
    assert awarded["worker"]["certificates"] == [
        {"level": "SOCIAL_WORKER", "number": "SW-001", "awardedOn": "2018-06-01", "revoked": False}
    ]
    revoked = await send(client, REVOKE, id=worker["id"], number="SW-001", reason="舞弊")
    assert revoked["worker"]["certificates"][0]["revoked"] is True


async def test_certificate_numbers_are_unique_per_level(client: Client) -> None:
    first = await register_worker(client)
    second = await register_worker(client)
    assert (
        await send(client, AWARD, id=first["id"], level="SOCIAL_WORK_ASSISTANT", number="CQ-2018-7")
    )["errors"] == []
    await refused(
        client,
        AWARD,
        "VALIDATION",
        "number",
        "already awarded to worker",
        id=second["id"],
        level="SOCIAL_WORK_ASSISTANT",
        number="CQ-2018-7",
    )
    other_level = await send(
        client, AWARD, id=second["id"], level="SOCIAL_WORKER", number="CQ-2018-7"
    )
    assert other_level["errors"] == []
    await refused(
        client,
        AWARD,
        "INVALID_STATE",
        None,
        "already holds",
        id=second["id"],
        level="SOCIAL_WORKER",
        number="CQ-2018-8",
    )


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"idNumber": "50010319900517"}, "idNumber", "18 characters"),
        ({"idNumber": "50010319900517123Z"}, "idNumber", "digit or X"),
        ({"idNumber": "500103199002301234"}, "idNumber", "not a date"),
        ({"idNumber": "500103199005171230"}, "idNumber", "check digit"),
        ({"district": "999999"}, "district", "unknown district"),
        ({"name": ""}, "name", "must not be empty"),
        ({"employer": "not-an-id"}, "employer", "not a record id"),
        (
            {"effectiveOn": (date.today() + timedelta(days=2)).isoformat()},
            "effectiveOn",
            "in the future",
        ),
    ],
)
async def test_registration_is_checked(
    client: Client, overrides: dict, field: str, words: str
) -> None:
    if overrides.get("idNumber", "").endswith("1230"):
        good = id_number()
        overrides = {"idNumber": good[:17] + ("0" if good[17] != "0" else "1")}
    await refused(client, REGISTER_WORKER, "VALIDATION", field, words, **worker_input(**overrides))


async def test_an_unknown_employer_is_not_found(client: Client) -> None:
    await refused(
        client,
        REGISTER_WORKER,
        "NOT_FOUND",
        "employer",
        "no agency",
        **worker_input(employer="00000000-0000-0000-0000-000000000001"),
    )


async def test_who_may_write_workers(client: Client) -> None:
    own = (await register(client))["agency"]["id"]
    other = (await register(client))["agency"]["id"]
    contractor = token("CONTRACTOR", agency=own)
    employed = await register_worker(client, auth=contractor, employer=own)
    changed = await send(
        client, UPDATE_WORKER, auth=contractor, id=employed["id"], education="MASTER"
    )
    assert changed["errors"] == []
    await refused(
        client,
        REGISTER_WORKER,
        "FORBIDDEN",
        None,
        "registerWorker only",
        auth=contractor,
        **worker_input(employer=other),
    )
    await refused(
        client,
        UPDATE_WORKER,
        "FORBIDDEN",
        None,
        "updateWorker only",
        auth=contractor,
        id=employed["id"],
        employer=other,
    )
    jiangbei = token("DISTRICT", district="500105")
    await refused(
        client,
        REGISTER_WORKER,
        "FORBIDDEN",
        None,
        "in its own district",
        auth=jiangbei,
        **worker_input(district="500103"),
    )
    await refused(
        client,
        AWARD,
        "FORBIDDEN",
        None,
        "DISTRICT may not awardCertificate",
        auth=token("DISTRICT", district="500103"),
        id=employed["id"],
        level="SOCIAL_WORKER",
        number="X-1",
    )
    await refused(
        client,
        ERASE,
        "FORBIDDEN",
        None,
        "may not eraseWorkerPersonalData",
        auth=AUDITOR,
        id=employed["id"],
        reason="r",
    )


async def test_personal_data_is_sealed_in_the_store(client: Client) -> None:
    worker = await register_worker(client, name="王秘密")
    states = await client.hub.pool.fetch(
        "SELECT state FROM registry_events WHERE originator_id = $1", UUID(worker["id"])
    )
    assert states and all("王秘密".encode() not in bytes(s["state"]) for s in states)
    assert all(worker["idNumber"].encode() not in bytes(s["state"]) for s in states)


async def test_who_sees_personal_data(client: Client) -> None:
    own = (await register(client))["agency"]["id"]
    worker = await register_worker(client, employer=own, district="500103")

    async def seen(auth: str) -> tuple:
        shown = (await client.run(WORKER, {"id": worker["id"]}, auth=auth))["worker"]
        history = (await client.run(HISTORY, {"id": worker["id"]}, auth=auth))["history"]
        return shown["name"], shown["idNumber"], history[0]["data"]["name"]

    full = (worker["name"], worker["idNumber"], worker["name"])
    assert await seen(AUDITOR) == full
    assert await seen(token("DISTRICT", district="500103")) == full
    assert await seen(token("CONTRACTOR", agency=own)) == full
    for hidden in (
        token("PARTNER"),
        token("DISTRICT", district="500105"),
        token("CONTRACTOR", agency="00000000-0000-0000-0000-000000000009"),
    ):
        assert await seen(hidden) == (None, None, None)
    partner = (await client.run(HISTORY, {"id": worker["id"]}, auth=token("PARTNER")))["history"]
    assert partner[0]["data"]["personalDataRedacted"] is True
    assert partner[0]["data"]["district"] == "500103"


async def test_erasure_is_for_good_and_keeps_the_rest(client: Client) -> None:
    worker = await register_worker(client, name="将被删除")
    await send(client, AWARD, id=worker["id"], level="SOCIAL_WORKER", number="ERASE-1")
    await refused(client, ERASE, "VALIDATION", "reason", "requires a reason", id=worker["id"])
    erased = await send(client, ERASE, id=worker["id"], reason="本人申请")
    assert erased["errors"] == []
    shown = erased["worker"]
    assert (shown["name"], shown["idNumber"], shown["personalDataErased"]) == (None, None, True)
    assert shown["certificates"][0]["number"] == "ERASE-1"
    history = (await client.run(HISTORY, {"id": worker["id"]}, auth=AUDITOR))["history"]
    assert [e["type"] for e in history] == [
        "WorkerRegistered",
        "WorkerCertificateAwarded",
        "WorkerPersonalDataErased",
    ]
    assert history[0]["data"]["name"] is None and history[0]["data"]["idNumber"] is None
    assert history[0]["data"]["personalDataErased"] is True
    assert history[0]["data"]["education"] == "BACHELOR"
    await refused(
        client, UPDATE_WORKER, "INVALID_STATE", None, "erased", id=worker["id"], name="again"
    )
    await refused(
        client, ERASE, "INVALID_STATE", None, "already erased", id=worker["id"], reason="again"
    )

    hub = client.hub
    await hub.projector.rewind([p.name for p in hub.projector.projections])
    await hub.projector.catch_up()
    again = (await client.run(WORKER, {"id": worker["id"]}, auth=AUDITOR))["worker"]
    assert again == {**shown, "version": shown["version"]}
