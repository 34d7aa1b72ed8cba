"""`auditTrail`: the log of who did what, filtered, paged and narrowed to the caller's scope."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.agency_api import AUDITOR, REGISTER, SUSPEND, registration, send
from tests.conftest import Client, running, token
from tests.worker_api import REGISTER_WORKER, worker_input

TRAIL = """query($first: Int, $after: String, $filter: AuditFilter) {
  auditTrail(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { position type entityId recordedAt effectiveOn reason data
      actor { sub party role jurisdiction } } } } }"""


async def trail(client: Client, auth: str = AUDITOR, **variables: Any) -> dict:
    return (await client.run(TRAIL, variables, auth=auth))["auditTrail"]


def types(page: dict) -> list[str]:
    return [e["node"]["type"] for e in page["edges"]]


async def test_filters_paging_and_scope(database: str) -> None:
    async with running(database) as client:
        m1 = token("MUNICIPAL", sub="m1")
        a = (
            await send(
                client,
                REGISTER,
                auth=m1,
                **registration(district="500103", effectiveOn="2017-01-01"),
            )
        )["agency"]["id"]
        await send(
            client,
            REGISTER,
            auth=token("DISTRICT", district="500105", sub="d5"),
            **registration(district="500105", effectiveOn="2018-01-01"),
        )
        worker = await send(
            client,
            REGISTER_WORKER,
            auth=m1,
            **worker_input(district="500103", employer=a, name="审计对象"),
        )
        assert worker["errors"] == [], worker
        suspended = await send(
            client, SUSPEND, auth=m1, id=a, reason="年检逾期", effectiveOn="2018-06-01"
        )

        everything = await trail(client)
        assert everything["totalCount"] == 4
        assert types(everything) == [
            "AgencyRegistered",
            "AgencyRegistered",
            "WorkerRegistered",
            "AgencySuspended",
        ]
        positions = [e["node"]["position"] for e in everything["edges"]]
        assert positions == sorted(positions)
        third = everything["edges"][3]["node"]
        assert third["reason"] == "年检逾期" and third["position"] == suspended["position"]
        assert third["actor"] == {
            "sub": "m1",
            "party": "MUNICIPAL",
            "role": "MUNICIPAL",
            "jurisdiction": "CITY",
        }

        async def only(**filter: Any) -> list[str]:
            return types(await trail(client, filter=filter))

        assert await only(actor="d5") == ["AgencyRegistered"]
        assert await only(party="DISTRICT") == ["AgencyRegistered"]
        assert await only(district="500103") == [
            "AgencyRegistered",
            "WorkerRegistered",
            "AgencySuspended",
        ]
        assert await only(type="AgencySuspended") == ["AgencySuspended"]
        assert await only(entityTypes=["WORKER"]) == ["WorkerRegistered"]
        assert await only(entityId=a) == ["AgencyRegistered", "AgencySuspended"]
        assert await only(effectiveTo="2017-12-31") == ["AgencyRegistered"]
        assert await only(effectiveFrom="2018-02-01", effectiveTo="2018-05-31") == [
            "WorkerRegistered"
        ]
        suspended_at = third["recordedAt"]
        assert await only(recordedFrom=suspended_at) == ["AgencySuspended"]
        assert await only(recordedTo=suspended_at, party="MUNICIPAL") == [
            "AgencyRegistered",
            "WorkerRegistered",
            "AgencySuspended",
        ]

        # a time without a zone is read in HUB_TIMEZONE, as asOf.recorded is, even beside one
        # with a zone
        local = datetime.fromisoformat(suspended_at).astimezone(ZoneInfo("Asia/Shanghai"))
        naive = local.replace(tzinfo=None).isoformat()
        assert await only(recordedFrom=naive, recordedTo=suspended_at) == ["AgencySuspended"]
        assert await only(recordedFrom=suspended_at, recordedTo=naive) == ["AgencySuspended"]

        first = await trail(client, first=3)
        assert first["pageInfo"]["hasNextPage"] is True and len(first["edges"]) == 3
        rest = await trail(client, first=3, after=first["pageInfo"]["endCursor"])
        assert types(rest) == ["AgencySuspended"] and rest["pageInfo"]["hasNextPage"] is False

        jiangbei = await trail(client, auth=token("DISTRICT", district="500105"))
        assert (jiangbei["totalCount"], types(jiangbei)) == (1, ["AgencyRegistered"])
        contractor = await trail(client, auth=token("CONTRACTOR", agency=a))
        assert types(contractor) == ["AgencyRegistered", "WorkerRegistered", "AgencySuspended"]
        partner = await trail(client, auth=token("PARTNER"), filter={"entityTypes": ["WORKER"]})
        assert partner["edges"][0]["node"]["data"]["name"] is None
        assert everything["edges"][2]["node"]["data"]["name"] == "审计对象"


async def test_bad_filters_are_refused(client: Client) -> None:
    body = await client.post(
        TRAIL,
        {"filter": {"effectiveFrom": "2018-02-01", "effectiveTo": "2018-01-01"}},
        auth=AUDITOR,
    )
    assert body["errors"][0]["extensions"] == {"code": "VALIDATION", "field": "effectiveTo"}
    body = await client.post(
        TRAIL, {"filter": {"district": "500103"}}, auth=token("DISTRICT", district="500105")
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await client.post(TRAIL, {"after": "nonsense"}, auth=AUDITOR)
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"


async def test_filter_values_outside_the_vocabulary_are_refused_naming_the_field(
    client: Client,
) -> None:
    sub = "vocabulary-check"
    made = await send(
        client, REGISTER, auth=token("MUNICIPAL", sub=sub), **registration(district="500103")
    )
    for bad, field in [
        ({"party": "NOPE"}, "party"),
        ({"party": "AUDITOR"}, "party"),
        ({"type": "AgencyRegisterd"}, "type"),
        ({"district": "999999"}, "district"),
    ]:
        body = await client.post(TRAIL, {"filter": {"actor": sub, **bad}}, auth=AUDITOR)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "VALIDATION", (bad, error)
        assert field in error["message"], (bad, error)
        assert body.get("data") is None, (bad, body)
    # record types are the EntityType enum: GraphQL itself refuses an unknown one
    body = await client.post(TRAIL, {"filter": {"entityTypes": ["NOPE"]}}, auth=AUDITOR)
    assert "entityTypes" in body["errors"][0]["message"]
    assert body.get("data") is None

    for good in [
        {"party": "MUNICIPAL"},
        {"type": "AgencyRegistered"},
        {"district": "500103"},
        {"entityTypes": ["AGENCY"]},
    ]:
        page = await trail(client, filter={"actor": sub, **good})
        assert [e["node"]["entityId"] for e in page["edges"]] == [made["agency"]["id"]], good
    for other in [
        {"party": "CONTRACTOR"},
        {"type": "AgencySuspended"},
        {"district": "500105"},
        {"entityTypes": ["WORKER"]},
    ]:
        assert (await trail(client, filter={"actor": sub, **other}))["edges"] == [], other
