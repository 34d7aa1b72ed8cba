"""asOf, corrections and history on hand-built histories (docs/domain.md, "The two times"):
every combination of effective date and recorded time against a table of expected states."""

from __future__ import annotations

from typing import Any

import pytest

from hub.tools.reference_import import import_sample
from tests.agency_api import AUDITOR, MUNICIPAL, UPDATE, register, send
from tests.conftest import Client, token
from tests.project_api import approve
from tests.test_stations_posts import (  # noqa: F401
    ASSIGN,
    CONTRACT,
    CREATE_POST,
    FILL,
    RELEASE,
    communities,
    station,
)
from tests.worker_api import ERASE, register_worker

AGENCY_AT = """query($id: ID!, $asOf: AsOf) {
  agency(id: $id, asOf: $asOf) { name version }
  agencies(first: 500, asOf: $asOf, filter: {district: "500103"}) {
    totalCount edges { node { id name } } } }"""
RETRACT = """mutation($input: RetractEventsInput!) { retractEvents(input: $input) {
  events { position type retracts reason entityId } position errors { code field message } } }"""
HISTORY = """query($id: ID!) { history(id: $id) {
  position type effectiveOn retracts changes { field before after } } }"""


async def _history(client: Client, id: str) -> list[dict[str, Any]]:
    return (await client.run(HISTORY, {"id": id}, auth=AUDITOR))["history"]


async def _name_at(client: Client, id: str, as_of: dict[str, str] | None) -> str | None:
    data = await client.run(AGENCY_AT, {"id": id, "asOf": as_of}, auth=AUDITOR)
    listed = {e["node"]["id"]: e["node"]["name"] for e in data["agencies"]["edges"]}
    single = data["agency"]["name"] if data["agency"] else None
    assert listed.get(id) == single, (as_of, listed.get(id), single)  # list and single agree
    return single


async def test_every_combination_of_as_of_follows_the_four_steps(client: Client) -> None:
    made = await register(client, name="甲", effectiveOn="2018-01-10")
    id = made["agency"]["id"]
    renamed = await send(client, UPDATE, id=id, name="乙", effectiveOn="2018-03-01")
    late = await send(
        client, UPDATE, id=id, name="丙", effectiveOn="2018-02-01", reason="late report"
    )
    assert late["agency"]["name"] == "乙"  # now: the later effective name still holds
    corrected = await send(
        client,
        UPDATE,
        id=id,
        name="丁",
        effectiveOn="2018-03-01",
        corrects=[renamed["position"]],
        reason="乙 was a typing error",
    )
    assert corrected["errors"] == [] and corrected["agency"]["name"] == "丁"
    events = await _history(client, id)
    assert [e["position"] for e in events] == [
        made["position"],
        renamed["position"],
        late["position"],
        corrected["position"],
    ]
    recorded = dict(
        zip(
            ("T1", "T2", "T3", "T4"),
            [
                e["recordedAt"]
                for e in (
                    await client.run(
                        "query($id: ID!) { history(id: $id) { recordedAt } }",
                        {"id": id},
                        auth=AUDITOR,
                    )
                )["history"]
            ],
            strict=True,
        )
    )
    expected = {
        # effective date: names at recorded T1, T2, T3, T4 and now
        "2018-01-01": (None, None, None, None, None),
        "2018-01-15": ("甲", "甲", "甲", "甲", "甲"),
        "2018-02-15": ("甲", "甲", "丙", "丙", "丙"),
        "2018-03-15": ("甲", "乙", "乙", "丁", "丁"),
    }
    for effective, names in expected.items():
        for moment, name in zip(("T1", "T2", "T3", "T4", None), names, strict=True):
            as_of = {"effective": effective}
            if moment:
                as_of["recorded"] = recorded[moment]
            assert await _name_at(client, id, as_of) == name, (effective, moment)
    # recorded only: effective today; effective absent and recorded absent: now
    assert await _name_at(client, id, {"recorded": recorded["T2"]}) == "乙"
    assert await _name_at(client, id, {"recorded": recorded["T3"]}) == "乙"
    assert await _name_at(client, id, {"recorded": recorded["T4"]}) == "丁"
    assert await _name_at(client, id, None) == "丁"
    assert await _name_at(client, id, {"recorded": "2000-01-01T00:00:00Z"}) is None

    # retracting the correction restores what it retracted, for questions recorded after
    undone = await client.run(
        RETRACT,
        {"input": {"positions": [corrected["position"]], "reason": "the correction was wrong"}},
        auth=MUNICIPAL,
    )
    payload = undone["retractEvents"]
    assert payload["errors"] == []
    assert [(e["type"], e["retracts"]) for e in payload["events"]] == [
        ("AgencyRetracted", [corrected["position"]])
    ]
    assert await _name_at(client, id, {"effective": "2018-03-15"}) == "乙"
    assert await _name_at(client, id, {"effective": "2018-02-15"}) == "丙"
    as_t4 = {"effective": "2018-03-15", "recorded": recorded["T4"]}
    assert await _name_at(client, id, as_t4) == "丁"
    # retracting that retraction brings the correction back
    again = await client.run(
        RETRACT,
        {"input": {"positions": [payload["position"]], "reason": "it was right after all"}},
        auth=MUNICIPAL,
    )
    assert again["retractEvents"]["errors"] == []
    assert await _name_at(client, id, None) == "丁"


async def test_history_shows_what_each_event_changed(client: Client) -> None:
    made = await register(client, name="旧名", effectiveOn="2018-01-10")
    id = made["agency"]["id"]
    await send(client, UPDATE, id=id, name="新名", kind="SPECIALIZED", effectiveOn="2018-02-01")
    events = await _history(client, id)
    created, updated = events
    assert {"field": "name", "before": None, "after": "旧名"} in created["changes"]
    assert sorted((c["field"], c["before"], c["after"]) for c in updated["changes"]) == [
        ("kind", "COMPREHENSIVE", "SPECIALIZED"),
        ("name", "旧名", "新名"),
    ]


async def test_a_correction_is_refused_clearly_and_writes_nothing(client: Client) -> None:
    id = (await register(client, effectiveOn="2018-01-10"))["agency"]["id"]
    other = (await register(client, effectiveOn="2018-01-10"))["agency"]["id"]
    renamed = await send(client, UPDATE, id=other, name="别的", effectiveOn="2018-02-01")
    cases = [
        ({"corrects": [renamed["position"]]}, "VALIDATION", "reason", "requires a reason"),
        (
            {"corrects": [renamed["position"]], "reason": "r"},
            "VALIDATION",
            "corrects",
            "other records",
        ),
        ({"corrects": [10**9], "reason": "r"}, "NOT_FOUND", "positions", "no event"),
    ]
    for extra, code, field, words in cases:
        before = await client.events()
        payload = await send(client, UPDATE, id=id, name="x", **extra)
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)], payload
        assert words in payload["errors"][0]["message"]
        assert await client.events() == before
    creation = (await _history(client, id))[0]["position"]
    erasure = await send(client, ERASE, id=(await register_worker(client))["id"], reason="r")
    refusals = [
        ({"positions": [creation], "reason": "r"}, MUNICIPAL, "INVALID_STATE", "creation"),
        (
            {"positions": [erasure["position"]], "reason": "r"},
            MUNICIPAL,
            "INVALID_STATE",
            "an erasure cannot be undone",
        ),
        ({"positions": [renamed["position"]]}, MUNICIPAL, "VALIDATION", "reason"),
        ({"positions": []}, MUNICIPAL, "VALIDATION", "at least one"),
        (
            {"positions": [renamed["position"]], "reason": "r"},
            token("DISTRICT", district="500105"),
            "FORBIDDEN",
            "updateAgencyProfile",
        ),
        (
            {"positions": [renamed["position"]], "reason": "r"},
            token("CONTRACTOR", agency=id),
            "FORBIDDEN",
            "updateAgencyProfile",
        ),
    ]
    for input, auth, code, words in refusals:
        before = await client.events()
        data = await client.run(RETRACT, {"input": input}, auth=auth)
        errors = data["retractEvents"]["errors"]
        assert [e["code"] for e in errors] == [code], (input, errors)
        assert words in errors[0]["message"], errors
        assert await client.events() == before
    # the contractor that could have issued the update may retract it
    own = token("CONTRACTOR", agency=other)
    done = await client.run(
        RETRACT, {"input": {"positions": [renamed["position"]], "reason": "r"}}, auth=own
    )
    assert done["retractEvents"]["errors"] == []
    again = await client.run(
        RETRACT, {"input": {"positions": [renamed["position"]], "reason": "r"}}, auth=own
    )
    assert "already retracted" in again["retractEvents"]["errors"][0]["message"]


STATION_AT = """query($id: ID!, $asOf: AsOf) { station(id: $id, asOf: $asOf) {
  name staff { since worker { id district { code } } } } }"""


@pytest.mark.usefixtures("communities")
async def test_a_station_as_of_a_date_shows_its_staff_as_of_that_date(
    client: Client,
    communities: list[dict],  # noqa: F811
) -> None:
    await import_sample(client.hub)
    made = await station(client, communities)
    worker = await register_worker(client, effectiveOn="2017-06-01")
    await send(
        client, ASSIGN, id=made["id"], worker=worker["id"], fullTime=True, effectiveOn="2018-02-01"
    )
    await send(client, RELEASE, id=made["id"], worker=worker["id"], effectiveOn="2018-04-01")

    async def staff(effective: str) -> list[str] | None:
        data = await client.run(
            STATION_AT, {"id": made["id"], "asOf": {"effective": effective}}, auth=AUDITOR
        )
        found = data["station"]
        return None if found is None else [s["worker"]["id"] for s in found["staff"]]

    assert await staff("2016-12-31") is None  # before it was established
    assert await staff("2018-01-31") == []
    assert await staff("2018-03-01") == [worker["id"]]
    assert await staff("2018-04-01") == []


async def test_correcting_the_latest_event_restates_the_fact(client: Client) -> None:
    made = await register(client, name="原名", effectiveOn="2018-01-10")
    id = made["agency"]["id"]
    wrong = await send(client, UPDATE, id=id, name="错名", effectiveOn="2018-02-01")
    fixed = await send(
        client,
        UPDATE,
        id=id,
        name="原名",
        effectiveOn="2018-02-01",
        corrects=[wrong["position"]],
        reason="typing error",
        expectedVersion=wrong["agency"]["version"],
    )
    assert fixed["errors"] == []
    assert (fixed["agency"]["name"], fixed["agency"]["version"]) == ("原名", 3)
    assert await _name_at(client, id, {"effective": "2018-02-15"}) == "原名"
    events = await _history(client, id)
    assert events[-1]["retracts"] == [wrong["position"]]


POST_AND_HOLDER = """query($post: ID!, $worker: ID!) {
  post(id: $post) { status holder { id } } worker(id: $worker) { posts { id } } }"""


async def test_retracting_a_fill_takes_the_workers_side_along_and_can_be_undone(
    client: Client,
    communities: list[dict],  # noqa: F811
) -> None:
    made = await station(client, communities)
    post = await send(
        client,
        CREATE_POST,
        sector="COMMUNITY",
        field="COMMUNITY_BUILDING",
        district="500103",
        hostOrganization="社区居委会",
        origin="NEW",
        station=made["id"],
        community=made["community"]["code"],
        effectiveOn="2018-01-02",
    )
    worker = await register_worker(client, effectiveOn="2017-06-01")
    filled = await send(client, FILL, id=post["post"]["id"], worker=worker["id"])
    ids = {"post": post["post"]["id"], "worker": worker["id"]}

    async def state() -> tuple[str, list[dict]]:
        data = await client.run(POST_AND_HOLDER, ids, auth=AUDITOR)
        return data["post"]["status"], data["worker"]["posts"]

    assert await state() == ("FILLED", [{"id": ids["post"]}])
    undo = {"positions": [filled["position"]], "reason": "wrong worker", "idempotencyKey": "u1"}
    undone = await client.run(RETRACT, {"input": undo}, auth=MUNICIPAL)
    retractions = undone["retractEvents"]["events"]
    assert sorted(e["type"] for e in retractions) == ["PostRetracted", "WorkerRetracted"]
    assert await state() == ("VACANT", [])
    replayed = await client.run(RETRACT, {"input": undo}, auth=MUNICIPAL)
    assert replayed == undone  # the same key answers as the first time, writing nothing
    again = await client.run(RETRACT, {"input": {**undo, "idempotencyKey": None}}, auth=MUNICIPAL)
    assert "already retracted" in again["retractEvents"]["errors"][0]["message"]
    # the post can be filled again now: the commands see the retraction too
    restored = await client.run(
        RETRACT,
        {"input": {"positions": [retractions[0]["position"]], "reason": "it was right"}},
        auth=MUNICIPAL,
    )
    assert len(restored["retractEvents"]["events"]) == 2
    assert await state() == ("FILLED", [{"id": ids["post"]}])


async def test_a_reference_back_dated_before_its_record_shows_the_record_as_now(
    client: Client,
) -> None:
    agency = (await register(client, name="后登记机构", effectiveOn="2018-03-01"))["agency"]
    project = await approve(
        client, agency=agency["id"], effectiveOn="2018-01-15", startsOn="2018-02-01"
    )
    data = await client.run(
        """query($id: ID!, $asOf: AsOf) { project(id: $id, asOf: $asOf) {
          status contractor { id name } } }""",
        {"id": project["id"], "asOf": {"effective": "2018-02-01"}},
        auth=AUDITOR,
    )
    assert data["project"] == {
        "status": "APPROVED",
        "contractor": {"id": agency["id"], "name": "后登记机构"},
    }


async def test_the_operator_that_filled_a_post_may_retract_the_fill(
    client: Client,
    communities: list[dict],  # noqa: F811
) -> None:
    made = await station(client, communities)
    operator = (await register(client, effectiveOn="2016-01-01"))["agency"]["id"]
    other = (await register(client, effectiveOn="2016-01-01"))["agency"]["id"]
    contract = {"from": "2018-01-01", "to": "2020-12-31"}
    await send(client, CONTRACT, id=made["id"], agency=operator, **contract)
    post = await send(
        client,
        CREATE_POST,
        sector="COMMUNITY",
        field="COMMUNITY_BUILDING",
        district="500103",
        hostOrganization="社区居委会",
        origin="NEW",
        station=made["id"],
        community=made["community"]["code"],
    )
    worker = await register_worker(client, effectiveOn="2017-06-01")
    running = token("CONTRACTOR", agency=operator)
    filled = await send(client, FILL, auth=running, id=post["post"]["id"], worker=worker["id"])
    assert filled["errors"] == []
    undo = {"positions": [filled["position"]], "reason": "wrong worker"}
    before = await client.events()
    refused = await client.run(RETRACT, {"input": undo}, auth=token("CONTRACTOR", agency=other))
    assert [e["code"] for e in refused["retractEvents"]["errors"]] == ["FORBIDDEN"]
    assert await client.events() == before
    done = await client.run(RETRACT, {"input": undo}, auth=running)
    assert done["retractEvents"]["errors"] == []
