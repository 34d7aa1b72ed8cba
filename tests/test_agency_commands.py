"""Every agency mutation succeeds for an allowed caller, and its payload shows the change."""

from __future__ import annotations

from tests.agency_api import (
    AGENCY,
    AUDITOR,
    DEREGISTER,
    DESIGNATE,
    HISTORY,
    INCUBATE,
    REINSTATE,
    SUSPEND,
    UPDATE,
    register,
    send,
)
from tests.conftest import Client, credit_code, token


async def test_register_shows_the_new_agency(client: Client) -> None:
    code = credit_code("500105")
    payload = await register(
        client,
        creditCode=code,
        district="500105",
        kind="SPECIALIZED",
        fields=["MENTAL_HEALTH"],
        name="  阳光社工  ",
    )
    agency = payload["agency"]
    assert agency["name"] == "阳光社工"
    assert agency["creditCode"] == code
    assert agency["district"] == {"code": "500105", "name": "江北区"}
    assert (agency["kind"], agency["fields"]) == ("SPECIALIZED", ["MENTAL_HEALTH"])
    assert (agency["status"], agency["version"]) == ("ACTIVE", 1)
    assert agency["registeredOn"] == "2018-03-01"
    assert payload["position"] > 0
    again = await client.run(AGENCY, {"id": agency["id"]}, auth=AUDITOR)
    assert again["agency"] == agency


async def test_each_lifecycle_command_changes_the_agency(client: Client) -> None:
    agency = (await register(client))["agency"]
    id = agency["id"]

    updated = await send(client, UPDATE, id=id, name="新名称", fields=["CHARITY"])
    assert updated["errors"] == []
    assert (updated["agency"]["name"], updated["agency"]["fields"]) == ("新名称", ["CHARITY"])
    assert updated["agency"]["kind"] == "COMPREHENSIVE"

    incubated = await send(
        client, INCUBATE, id=id, incubator="孵化基地", **{"from": "2018-04-01", "to": "2019-03-31"}
    )
    assert incubated["agency"]["incubation"] == {
        "incubator": "孵化基地",
        "from": "2018-04-01",
        "to": "2019-03-31",
    }

    designated = await send(client, DESIGNATE, id=id, programme="411", year=2018)
    assert designated["agency"]["demonstration"] == {"programme": "411", "year": 2018}

    suspended = await send(client, SUSPEND, id=id, reason="年检逾期")
    assert suspended["agency"]["status"] == "SUSPENDED"
    reinstated = await send(client, REINSTATE, id=id, reason="年检完成")
    assert reinstated["agency"]["status"] == "ACTIVE"
    deregistered = await send(client, DEREGISTER, id=id, reason="自行注销", expectedVersion=6)
    assert deregistered["errors"] == []
    assert (deregistered["agency"]["status"], deregistered["agency"]["version"]) == (
        "DEREGISTERED",
        7,
    )
    positions = [
        p["position"] for p in (updated, incubated, designated, suspended, reinstated, deregistered)
    ]
    assert positions == sorted(positions)


async def test_history_carries_the_envelope(client: Client) -> None:
    agency = (await register(client, effectiveOn="2017-06-30"))["agency"]
    await send(client, SUSPEND, id=agency["id"], reason="违规", effectiveOn="2018-01-02")
    history = (await client.run(HISTORY, {"id": agency["id"]}, auth=AUDITOR))["history"]
    assert [e["type"] for e in history] == ["AgencyRegistered", "AgencySuspended"]
    registered, suspended = history
    assert registered["entityType"] == "AGENCY"
    assert registered["effectiveOn"] == "2017-06-30"
    assert registered["data"]["creditCode"] == agency["creditCode"]
    assert registered["actor"] == {
        "sub": "test-municipal",
        "party": "MUNICIPAL",
        "role": "MUNICIPAL",
        "jurisdiction": "CITY",
    }
    assert suspended["reason"] == "违规"
    assert suspended["effectiveOn"] == "2018-01-02"
    assert suspended["version"] == 2
    assert suspended["position"] > registered["position"]
    assert suspended["correlationId"] != registered["correlationId"]


async def test_list_filters_and_pages(client: Client) -> None:
    district = "500236"
    made = [
        (await register(client, district=district, kind=kind, fields=fields))["agency"]["id"]
        for kind, fields in [
            ("SPECIALIZED", ["DRUG_REHABILITATION"]),
            ("COMPREHENSIVE", ["DRUG_REHABILITATION", "CHARITY"]),
            ("COMPREHENSIVE", ["CHARITY"]),
        ]
    ]
    await send(client, SUSPEND, id=made[2], reason="test")
    query = """query($first: Int, $after: String, $filter: AgencyFilter) {
      agencies(first: $first, after: $after, filter: $filter) {
        totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"""

    async def ids(**filter: str) -> list[str]:
        data = await client.run(query, {"filter": {"district": district, **filter}}, auth=AUDITOR)
        return [e["node"]["id"] for e in data["agencies"]["edges"]]

    assert await ids() == made
    assert await ids(kind="COMPREHENSIVE") == made[1:]
    assert await ids(field="DRUG_REHABILITATION") == made[:2]
    assert await ids(status="SUSPENDED") == made[2:]

    first = (await client.run(query, {"first": 2, "filter": {"district": district}}, auth=AUDITOR))[
        "agencies"
    ]
    assert first["totalCount"] == 3
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await client.run(
        query,
        {"first": 2, "after": first["pageInfo"]["endCursor"], "filter": {"district": district}},
        auth=AUDITOR,
    )
    assert [e["node"]["id"] for e in rest["agencies"]["edges"]] == made[2:]
    assert rest["agencies"]["pageInfo"]["hasNextPage"] is False


async def test_page_size_and_cursor_are_checked(client: Client) -> None:
    body = await client.post("{ agencies(first: 501) { totalCount } }", auth=AUDITOR)
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert "500" in body["errors"][0]["message"]
    body = await client.post('{ agencies(after: "bogus") { totalCount } }', auth=AUDITOR)
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"


async def test_districts_and_me(client: Client) -> None:
    data = await client.run(
        "{ districts { code name county } me { sub role party jurisdiction district { code } } }",
        auth=token("DISTRICT", district="500103"),
    )
    assert len(data["districts"]) == 38
    assert {"code": "500103", "name": "渝中区", "county": False} in data["districts"]
    assert sum(d["county"] for d in data["districts"]) == 12
    assert data["me"] == {
        "sub": "test-district",
        "role": "DISTRICT",
        "party": "DISTRICT",
        "jurisdiction": "500103",
        "district": {"code": "500103"},
    }
