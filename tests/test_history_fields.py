"""`history(id).changes` names what each event changed as the API names it: the record's
fields in camelCase, dotted paths into nested objects, and related rows by list field and key."""

from __future__ import annotations

import uuid
from typing import Any

from hub.tools.reference_import import import_communities, parse_csv
from tests.agency_api import AUDITOR, INCUBATE, register, send
from tests.conftest import Client
from tests.test_stations_posts import ASSESS, ASSIGN, CONTRACT, ESTABLISH, RELEASE, SCORES
from tests.worker_api import AWARD, REVOKE, register_worker

HISTORY = "query($id: ID!) { history(id: $id) { type changes { field before after } } }"


async def changes(client: Client, id: str) -> list[tuple[str, dict[str, tuple[Any, Any]]]]:
    """Each event's type and what it changed: field → (before, after)."""
    data = await client.run(HISTORY, {"id": id}, auth=AUDITOR)
    return [
        (e["type"], {c["field"]: (c["before"], c["after"]) for c in e["changes"]})
        for e in data["history"]
    ]


async def test_a_stations_history_names_its_fields_and_staff_as_the_api_does(
    client: Client,
) -> None:
    code = "500106009101"
    await import_communities(
        client.hub, parse_csv(f"code,name,district,urban\n{code},历史社区,500106,true\n")
    )
    made = (
        await send(client, ESTABLISH, community=code, name="历史社工站", effectiveOn="2017-01-01")
    )["station"]
    agency = (await register(client))["agency"]["id"]
    term = {"from": "2018-01-01", "to": "2020-12-31"}
    await send(client, CONTRACT, id=made["id"], agency=agency, effectiveOn="2018-01-01", **term)
    worker = (await register_worker(client))["id"]
    await send(
        client, ASSIGN, id=made["id"], worker=worker, fullTime=True, effectiveOn="2018-04-01"
    )
    await send(client, ASSESS, id=made["id"], effectiveOn="2018-05-01", **SCORES)
    await send(client, RELEASE, id=made["id"], worker=worker, effectiveOn="2018-06-01")

    established, contracted, assigned, assessed, released = await changes(client, made["id"])
    assert established[0] == "StationEstablished"
    assert established[1]["establishedOn"] == (None, "2017-01-01")
    assert established[1]["community"] == (None, code)
    assert contracted == (
        "StationOperatorContracted",
        {
            "operator": (None, agency),
            "operatorContract.from": (None, "2018-01-01"),
            "operatorContract.to": (None, "2020-12-31"),
        },
    )
    staff = {"fullTime": True, "since": "2018-04-01"}
    assert assigned == ("StationStaffAssigned", {f"staff/{worker}": (None, staff)})
    assert assessed == (
        "StationAssessed",
        {
            "assessment.assessedOn": (None, "2018-05-01"),
            **{f"assessment.{name}": (None, score) for name, score in SCORES.items()},
        },
    )
    assert released == ("StationStaffReleased", {f"staff/{worker}": (staff, None)})


async def test_nested_objects_and_related_rows_of_agencies_and_workers(client: Client) -> None:
    agency = (await register(client, effectiveOn="2018-01-10"))["agency"]["id"]
    term = {"from": "2018-04-01", "to": "2019-03-31"}
    await send(client, INCUBATE, id=agency, incubator="孵化基地", effectiveOn="2018-04-01", **term)
    _, incubated = (await changes(client, agency))[1]
    assert incubated == {
        "incubation.incubator": (None, "孵化基地"),
        "incubation.from": (None, "2018-04-01"),
        "incubation.to": (None, "2019-03-31"),
    }

    worker = (await register_worker(client, effectiveOn="2018-01-10"))["id"]
    number = f"SW-{uuid.uuid4().hex[:8]}"
    await send(
        client, AWARD, id=worker, level="SOCIAL_WORKER", number=number, effectiveOn="2018-06-01"
    )
    await send(client, REVOKE, id=worker, number=number, reason="舞弊", effectiveOn="2018-07-01")
    registered, awarded, revoked = await changes(client, worker)
    assert registered[1]["registeredOn"] == (None, "2018-01-10")
    assert registered[1]["personalDataErased"] == (None, False)
    assert not {"name_sealed", "nameSealed", "registered_on"} & registered[1].keys()
    certificate = f"certificates/SOCIAL_WORKER/{number}"
    held = {"awardedOn": "2018-06-01", "revoked": False}
    assert awarded == ("WorkerCertificateAwarded", {certificate: (None, held)})
    assert revoked == (
        "WorkerCertificateRevoked",
        {certificate: (held, {**held, "revoked": True})},
    )
