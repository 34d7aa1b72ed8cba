"""Stations and posts: every command, its rules, and who may issue it."""

from __future__ import annotations

from typing import Any

import pytest

from hub.tools.reference_import import import_sample
from tests.agency_api import AUDITOR, MUNICIPAL, refused, register, send
from tests.conftest import Client, token
from tests.worker_api import register_worker

STATION_FIELDS = """id version status name district { code } community { code urban }
  operator { id } operatorContract { from to } assessment { hardware performance assessedOn }
  demonstration { programme year } staff { fullTime since worker { id } } posts { id }"""
POST_FIELDS = "id version status sector field origin district { code } station { id } holder { id }"


def _mutation(name: str, input_type: str, record: str, fields: str) -> str:
    return (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {record} {{ {fields} }}"
        " position errors { code field message } } }"
    )


ESTABLISH = _mutation("establishStation", "EstablishStationInput", "station", STATION_FIELDS)
CONTRACT = _mutation(
    "contractStationOperator", "ContractStationOperatorInput", "station", STATION_FIELDS
)
ASSIGN = _mutation("assignStationStaff", "AssignStationStaffInput", "station", STATION_FIELDS)
RELEASE = _mutation("releaseStationStaff", "ReleaseStationStaffInput", "station", STATION_FIELDS)
ASSESS = _mutation("assessStation", "AssessStationInput", "station", STATION_FIELDS)
DESIGNATE = _mutation(
    "designateDemonstrationStation", "DesignateDemonstrationStationInput", "station", STATION_FIELDS
)
CLOSE = _mutation("closeStation", "CloseStationInput", "station", STATION_FIELDS)
CREATE_POST = _mutation("createPost", "CreatePostInput", "post", POST_FIELDS)
FILL = _mutation("fillPost", "FillPostInput", "post", POST_FIELDS)
VACATE = _mutation("vacatePost", "PostLifecycleInput", "post", POST_FIELDS)
ABOLISH = _mutation("abolishPost", "PostLifecycleInput", "post", POST_FIELDS)

SCORES = {
    "hardware": 80,
    "duties": 75,
    "mechanism": 90,
    "funding": 60,
    "serviceStandards": 85,
    "performance": 70,
}


@pytest.fixture(scope="module")
async def communities(client: Client) -> list[dict[str, Any]]:
    await import_sample(client.hub)
    data = await client.run(
        '{ communities(first: 500, filter: {district: "500103"}) { edges { node { code } } } }',
        auth=AUDITOR,
    )
    return [e["node"] for e in data["communities"]["edges"]]


_used: set[str] = set()


async def station(client: Client, communities: list[dict], auth: str = MUNICIPAL) -> dict:
    code = next(c["code"] for c in communities if c["code"] not in _used)
    _used.add(code)
    payload = await send(
        client, ESTABLISH, auth=auth, community=code, name=f"{code}社工站", effectiveOn="2017-01-01"
    )
    assert payload["errors"] == [], payload
    return payload["station"]


async def test_a_station_through_its_life(client: Client, communities: list[dict]) -> None:
    made = await station(client, communities)
    assert (made["status"], made["district"]["code"]) == ("OPEN", "500103")
    agency = (await register(client))["agency"]["id"]
    contracted = await send(
        client, CONTRACT, id=made["id"], agency=agency, **{"from": "2018-01-01", "to": "2020-12-31"}
    )
    assert contracted["station"]["operator"] == {"id": agency}
    assert contracted["station"]["operatorContract"] == {"from": "2018-01-01", "to": "2020-12-31"}
    worker = await register_worker(client)
    staffed = await send(
        client, ASSIGN, id=made["id"], worker=worker["id"], fullTime=True, effectiveOn="2018-04-01"
    )
    assert staffed["station"]["staff"] == [
        {"fullTime": True, "since": "2018-04-01", "worker": {"id": worker["id"]}}
    ]
    assessed = await send(client, ASSESS, id=made["id"], **SCORES)
    assert assessed["station"]["assessment"]["hardware"] == 80
    designated = await send(client, DESIGNATE, id=made["id"], programme="示范社区", year=2018)
    assert designated["station"]["demonstration"] == {"programme": "示范社区", "year": 2018}
    released = await send(client, RELEASE, id=made["id"], worker=worker["id"])
    assert released["station"]["staff"] == []
    await send(client, ASSIGN, id=made["id"], worker=worker["id"], fullTime=False)
    closed = await send(client, CLOSE, id=made["id"], reason="社区合并")
    assert (closed["station"]["status"], closed["station"]["staff"]) == ("CLOSED", [])
    await refused(
        client, ASSIGN, "INVALID_STATE", None, "needs it OPEN", id=made["id"], worker=worker["id"]
    )


async def test_station_rules(client: Client, communities: list[dict]) -> None:
    made = await station(client, communities)
    await refused(
        client,
        ESTABLISH,
        "VALIDATION",
        "community",
        "already has station",
        community=made["community"]["code"],
        name="again",
    )
    await refused(
        client,
        ESTABLISH,
        "NOT_FOUND",
        "community",
        "no community",
        community="500103999999",
        name="nowhere",
    )
    bad = dict(SCORES, funding=101)
    await refused(
        client, ASSESS, "VALIDATION", "funding", "between 0 and 100", id=made["id"], **bad
    )
    worker = await register_worker(client)
    await send(client, ASSIGN, id=made["id"], worker=worker["id"])
    await refused(
        client,
        ASSIGN,
        "VALIDATION",
        "worker",
        "already on the staff",
        id=made["id"],
        worker=worker["id"],
    )
    other = await register_worker(client)
    await refused(
        client,
        RELEASE,
        "VALIDATION",
        "worker",
        "not on the staff",
        id=made["id"],
        worker=other["id"],
    )
    await refused(client, CLOSE, "VALIDATION", "reason", "requires a reason", id=made["id"])


async def test_who_may_act_on_stations(client: Client, communities: list[dict]) -> None:
    yuzhong = token("DISTRICT", district="500103")
    jiangbei = token("DISTRICT", district="500105")
    made = await station(client, communities, auth=yuzhong)
    operator = (await register(client))["agency"]["id"]
    other_agency = (await register(client))["agency"]["id"]
    await send(
        client,
        CONTRACT,
        auth=yuzhong,
        id=made["id"],
        agency=operator,
        **{"from": "2018-01-01", "to": "2019-12-31"},
    )
    worker = await register_worker(client)
    assert (
        await send(
            client,
            ASSIGN,
            auth=token("CONTRACTOR", agency=operator),
            id=made["id"],
            worker=worker["id"],
        )
    )["errors"] == []
    await refused(
        client,
        RELEASE,
        "FORBIDDEN",
        None,
        "releaseStationStaff only",
        auth=token("CONTRACTOR", agency=other_agency),
        id=made["id"],
        worker=worker["id"],
    )
    await refused(
        client,
        ASSESS,
        "FORBIDDEN",
        None,
        "in its own district",
        auth=jiangbei,
        id=made["id"],
        **SCORES,
    )
    await refused(
        client,
        DESIGNATE,
        "FORBIDDEN",
        None,
        "DISTRICT may not",
        auth=yuzhong,
        id=made["id"],
        programme="x",
        year=2018,
    )
    await refused(
        client,
        CLOSE,
        "FORBIDDEN",
        None,
        "CONTRACTOR may not closeStation",
        auth=token("CONTRACTOR", agency=operator),
        id=made["id"],
        reason="r",
    )
    await refused(
        client, CLOSE, "FORBIDDEN", None, "AUDITOR may not", auth=AUDITOR, id=made["id"], reason="r"
    )


async def test_a_post_has_one_holder_and_a_worker_one_post(
    client: Client, communities: list[dict]
) -> None:
    made = await station(client, communities)
    create = dict(
        sector="COMMUNITY",
        field="COMMUNITY_BUILDING",
        district="500103",
        hostOrganization="社区居委会",
        origin="CONVERTED",
        station=made["id"],
        community=made["community"]["code"],
    )
    post = (await send(client, CREATE_POST, **create))["post"]
    other = (await send(client, CREATE_POST, **create))["post"]
    assert (post["status"], post["station"]) == ("VACANT", {"id": made["id"]})
    first, second = await register_worker(client), await register_worker(client)
    filled = await send(client, FILL, id=post["id"], worker=first["id"])
    assert (filled["post"]["status"], filled["post"]["holder"]) == ("FILLED", {"id": first["id"]})
    await refused(
        client,
        FILL,
        "INVALID_STATE",
        None,
        "only a VACANT post",
        id=post["id"],
        worker=second["id"],
    )
    await refused(
        client,
        FILL,
        "INVALID_STATE",
        "worker",
        "already holds post",
        id=other["id"],
        worker=first["id"],
    )
    await refused(
        client, ABOLISH, "INVALID_STATE", None, "vacate it first", id=post["id"], reason="r"
    )
    held = await client.run(
        "query($id: ID!) { worker(id: $id) { posts { id } } }", {"id": first["id"]}, auth=AUDITOR
    )
    assert held["worker"]["posts"] == [{"id": post["id"]}]
    vacated = await send(client, VACATE, id=post["id"])
    assert (vacated["post"]["status"], vacated["post"]["holder"]) == ("VACANT", None)
    assert (await send(client, FILL, id=other["id"], worker=first["id"]))["errors"] == []
    abolished = await send(client, ABOLISH, id=post["id"], reason="编制调整")
    assert abolished["post"]["status"] == "ABOLISHED"
    history = await client.run(
        "query($id: ID!) { history(id: $id) { type } }", {"id": first["id"]}, auth=AUDITOR
    )
    assert [e["type"] for e in history["history"]] == [
        "WorkerRegistered",
        "WorkerPostTaken",
        "WorkerPostLeft",
        "WorkerPostTaken",
    ]


async def test_post_rules(client: Client, communities: list[dict]) -> None:
    made = await station(client, communities)
    base = dict(
        sector="JUDICIAL",
        field="CORRECTION_REHABILITATION",
        district="500105",
        hostOrganization="司法所",
        origin="NEW",
    )
    await refused(
        client,
        CREATE_POST,
        "VALIDATION",
        "station",
        "is in district 500103",
        station=made["id"],
        **base,
    )
    await refused(
        client,
        CREATE_POST,
        "VALIDATION",
        "community",
        "is in district 500103",
        community=made["community"]["code"],
        **base,
    )
    await refused(
        client,
        CREATE_POST,
        "VALIDATION",
        "hostOrganization",
        "must not be empty",
        **{**base, "hostOrganization": " "},
    )
    await refused(
        client,
        CREATE_POST,
        "FORBIDDEN",
        None,
        "in its own district",
        auth=token("DISTRICT", district="500103"),
        **base,
    )
    await refused(
        client,
        CREATE_POST,
        "FORBIDDEN",
        None,
        "CONTRACTOR may not createPost",
        auth=token("CONTRACTOR", agency=made["id"]),
        **base,
    )
    post = (await send(client, CREATE_POST, **base))["post"]
    await refused(client, VACATE, "INVALID_STATE", None, "only a FILLED post", id=post["id"])
    await send(client, CLOSE, id=made["id"], reason="closed")
    await refused(
        client,
        CREATE_POST,
        "INVALID_STATE",
        "station",
        "CLOSED",
        station=made["id"],
        **{**base, "district": "500103"},
    )


async def test_contractors_fill_posts_at_stations_they_operate(
    client: Client, communities: list[dict]
) -> None:
    made = await station(client, communities)
    operator = (await register(client))["agency"]["id"]
    await send(
        client,
        CONTRACT,
        id=made["id"],
        agency=operator,
        **{"from": "2018-01-01", "to": "2019-12-31"},
    )
    at_station = (
        await send(
            client,
            CREATE_POST,
            sector="COMMUNITY",
            field="CHARITY",
            district="500103",
            hostOrganization="社工站",
            origin="NEW",
            station=made["id"],
        )
    )["post"]
    elsewhere = (
        await send(
            client,
            CREATE_POST,
            sector="HEALTH",
            field="MENTAL_HEALTH",
            district="500103",
            hostOrganization="医院",
            origin="NEW",
        )
    )["post"]
    contractor = token("CONTRACTOR", agency=operator)
    trail = await client.run(
        "query($id: ID!) { auditTrail(filter: {entityId: $id}) { totalCount } }",
        {"id": at_station["id"]},
        auth=contractor,
    )
    assert trail["auditTrail"]["totalCount"] == 1  # a post answers to its station's operator
    other = await client.run(
        "query($id: ID!) { auditTrail(filter: {entityId: $id}) { totalCount } }",
        {"id": elsewhere["id"]},
        auth=contractor,
    )
    assert other["auditTrail"]["totalCount"] == 0
    worker = await register_worker(client)
    assert (await send(client, FILL, auth=contractor, id=at_station["id"], worker=worker["id"]))[
        "errors"
    ] == []
    await refused(
        client,
        FILL,
        "FORBIDDEN",
        None,
        "fillPost only",
        auth=contractor,
        id=elsewhere["id"],
        worker=(await register_worker(client))["id"],
    )
