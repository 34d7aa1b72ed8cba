"""The partners' event reference: published schemas are pinned, and real payloads fit them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from hub.domain import records
from hub.tools.event_reference import POLICY, differences, event_types, export
from hub.tools.reference_import import import_communities, import_sample, parse_csv
from tests.agency_api import AUDITOR, MUNICIPAL, register
from tests.conftest import ROOT, Client, running, token
from tests.project_api import YUZHONG, approval
from tests.worker_api import register_worker

DOCS = ROOT / "docs"
PARTNER = token("PARTNER")
HISTORY = "query($id: ID!) { history(id: $id) { type data } }"


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_published_reference_is_what_the_code_says() -> None:
    found = differences(DOCS)
    assert not found, (
        "The published event reference (docs/events/, docs/events.md) differs from the code. "
        "Changing a payload means a new version, never a silent change: add a new version file "
        "(raise the type's version in SCHEMA_VERSIONS, hub/domain/records.py, and run "
        "`hub export-event-reference`) rather than editing a published one.\n" + "\n".join(found)
    )


def test_every_schema_is_valid_and_its_sample_fits_it() -> None:
    types = event_types()
    assert len({t.name for t in types}) == len(types)
    for t in types:
        Draft202012Validator.check_schema(t.schema)
        errors = [e.message for e in validator(t.schema).iter_errors(t.sample)]
        assert not errors, (t.name, errors)


def test_a_changed_payload_is_refused_until_it_gets_a_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written, refused = export(tmp_path)
    assert refused == [] and "events.md" in written and differences(tmp_path) == []
    published = tmp_path / "events" / "AgencyIncubated.v1.json"

    prose = json.loads(published.read_text(encoding="utf-8"))
    prose["description"] = "older wording"
    published.write_text(json.dumps(prose), encoding="utf-8")
    assert differences(tmp_path) == [
        "events/AgencyIncubated.v1.json: out of date (run `hub export-event-reference`)"
    ]
    assert export(tmp_path)[0] == ["events/AgencyIncubated.v1.json"]

    # as if the code had added a field to AgencyIncubated without a new version
    old = json.loads(published.read_text(encoding="utf-8"))
    old["required"].remove("end")
    published.write_text(json.dumps(old), encoding="utf-8")
    found = differences(tmp_path)
    assert found == [
        f"events/AgencyIncubated.v1.json: the payload changed but the version did not. {POLICY}"
    ]
    assert export(tmp_path) == ([], found)
    assert json.loads(published.read_text(encoding="utf-8")) == old

    monkeypatch.setitem(records.SCHEMA_VERSIONS, "AgencyIncubated", 2)
    assert export(tmp_path) == (["events/AgencyIncubated.v2.json", "events.md"], [])
    assert json.loads(published.read_text(encoding="utf-8")) == old
    assert differences(tmp_path) == []
    published.unlink()
    assert differences(tmp_path) == [
        f"events/AgencyIncubated.v1.json: a published version is gone; restore it. {POLICY}"
    ]


async def test_real_payloads_fit_their_schemas(database: str) -> None:
    """Every event type, made through the API, as an auditor and as a partner sees it."""
    async with running(database) as client:
        await _every_kind_of_event(client)
        ids = await client.hub.pool.fetch("SELECT DISTINCT entity_id FROM event_log")
        schemas = {t.name: validator(t.schema) for t in event_types()}
        seen: set[str] = set()
        flags: set[str] = set()
        for row in ids:
            for auth in (AUDITOR, PARTNER):
                history = await client.run(HISTORY, {"id": str(row["entity_id"])}, auth=auth)
                for entry in history["history"]:
                    assert entry["type"] in schemas, f"{entry['type']} has no published schema"
                    errors = [e.message for e in schemas[entry["type"]].iter_errors(entry["data"])]
                    assert not errors, (entry["type"], entry["data"], errors)
                    seen.add(entry["type"])
                    flags |= {k for k in entry["data"] if k.startswith("personalData")}
        assert seen == set(schemas), f"no payload checked for {sorted(set(schemas) - seen)}"
        assert flags == {"personalDataErased", "personalDataRedacted"}


async def _every_kind_of_event(client: Client) -> None:
    """At least one event of each type, through the same mutations a front end sends."""

    async def ok(
        record: str, mutation: str, input_type: str, auth: str = MUNICIPAL, /, **input: Any
    ) -> str:
        """Send a mutation that must be accepted; return the id of the record it shows."""
        document = (
            f"mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ {record} {{ id }} "
            "errors { code field message } } }"
        )
        payload = (await client.run(document, {"input": input}, auth=auth))[mutation]
        assert payload["errors"] == [], (mutation, payload["errors"])
        return payload[record]["id"]

    await import_sample(client.hub)
    code = "500103001001"
    csv = f"code,name,district,urban\n{code},渝中区七星岗街道改名社区,500103,true\n"
    assert (await import_communities(client.hub, parse_csv(csv))).amended == 1

    agency = (await register(client))["agency"]["id"]
    await ok(
        "agency", "updateAgencyProfile", "UpdateAgencyProfileInput", id=agency, kind="SPECIALIZED"
    )
    await ok(
        "agency",
        "incubateAgency",
        "IncubateAgencyInput",
        id=agency,
        incubator="孵化基地",
        **_period(),
    )
    await ok(
        "agency",
        "designateDemonstrationAgency",
        "DesignateDemonstrationAgencyInput",
        id=agency,
        programme="411",
        year=2018,
    )
    await ok("agency", "suspendAgency", "AgencyLifecycleInput", id=agency, reason="年检逾期")
    await ok("agency", "reinstateAgency", "AgencyLifecycleInput", id=agency, reason="年检完成")
    gone = (await register(client))["agency"]["id"]
    await ok("agency", "deregisterAgency", "AgencyLifecycleInput", id=gone, reason="注销")

    worker = (await register_worker(client, employer=agency))["id"]
    erased = (await register_worker(client))["id"]
    await ok(
        "worker",
        "updateWorker",
        "UpdateWorkerInput",
        id=worker,
        name="改名社工",
        education="MASTER",
    )
    await ok("worker", "updateWorker", "UpdateWorkerInput", id=erased, employer=agency)
    await ok(
        "worker",
        "awardCertificate",
        "AwardCertificateInput",
        id=worker,
        level="SOCIAL_WORKER",
        number="CQ-REF-1",
    )
    await ok(
        "worker",
        "revokeCertificate",
        "RevokeCertificateInput",
        id=worker,
        number="CQ-REF-1",
        reason="证书作废",
    )
    await ok(
        "worker",
        "eraseWorkerPersonalData",
        "EraseWorkerPersonalDataInput",
        id=erased,
        reason="本人申请",
    )

    station = await ok(
        "station", "establishStation", "EstablishStationInput", community=code, name="工作室"
    )
    await ok(
        "station",
        "contractStationOperator",
        "ContractStationOperatorInput",
        id=station,
        agency=agency,
        **_period(),
    )
    await ok("station", "assignStationStaff", "AssignStationStaffInput", id=station, worker=worker)
    await ok(
        "station", "releaseStationStaff", "ReleaseStationStaffInput", id=station, worker=worker
    )
    scores = dict(
        hardware=80, duties=75, mechanism=90, funding=60, serviceStandards=85, performance=70
    )
    await ok("station", "assessStation", "AssessStationInput", id=station, **scores)
    await ok(
        "station",
        "designateDemonstrationStation",
        "DesignateDemonstrationStationInput",
        id=station,
        programme="示范社区",
        year=2018,
    )

    post = await ok(
        "post",
        "createPost",
        "CreatePostInput",
        sector="COMMUNITY",
        field="CHARITY",
        district="500103",
        hostOrganization="居委会",
        origin="NEW",
        community=code,
        station=station,
    )
    await ok("post", "fillPost", "FillPostInput", id=post, worker=worker)
    await ok("post", "vacatePost", "PostLifecycleInput", id=post)
    await ok("post", "abolishPost", "PostLifecycleInput", id=post, reason="岗位撤销")
    await ok("station", "closeStation", "CloseStationInput", id=station, reason="社区合并")

    course = dict(
        title="骨干人才培训",
        category="KEY_TALENT",
        level="MUNICIPAL",
        startsOn="2018-05-07",
        endsOn="2018-05-09",
        hours="24",
        effectiveOn="2018-04-20",
    )
    held = await ok("course", "scheduleCourse", "ScheduleCourseInput", **course, deliveredBy=agency)
    await ok(
        "course",
        "recordAttendance",
        "RecordAttendanceInput",
        id=held,
        worker=worker,
        hours="23.5",
        passed=None,
    )
    await ok("course", "completeCourse", "CourseLifecycleInput", id=held)
    dropped = await ok("course", "scheduleCourse", "ScheduleCourseInput", **course)
    await ok("course", "cancelCourse", "CourseLifecycleInput", id=dropped, reason="报名不足")

    project = await ok("project", "approveProject", "ApproveProjectInput", **approval(agency))
    await ok("project", "disburseFunds", "DisburseFundsInput", id=project, amount="2500.50")
    await ok(
        "project",
        "reportProjectProgress",
        "ReportProjectProgressInput",
        token("CONTRACTOR", agency=agency),
        id=project,
        summary="入户走访",
        percentComplete=40,
    )
    await ok(
        "project",
        "commissionEvaluation",
        "CommissionEvaluationInput",
        YUZHONG,
        id=project,
        evaluator="第三方评估所",
    )
    await ok(
        "project",
        "concludeEvaluation",
        "ConcludeEvaluationInput",
        YUZHONG,
        id=project,
        score=88,
        grade="GOOD",
    )
    await ok("project", "closeProject", "CloseProjectInput", YUZHONG, id=project)

    retractable = [
        (agency, "AgencyReinstated"),
        (worker, "WorkerCertificateRevoked"),
        (station, "StationAssessed"),
        (post, "PostAbolished"),
        (held, "CourseCompleted"),
        (project, "ProjectFundsDisbursed"),
    ]
    community = await client.hub.pool.fetchval(
        "SELECT entity_id FROM event_log WHERE type = 'CommunityAmended'"
    )
    retractable.append((str(community), "CommunityAmended"))
    positions = []
    for id, type in retractable:
        history = await client.run(
            "query($id: ID!) { history(id: $id) { position type } }", {"id": id}, auth=MUNICIPAL
        )
        positions += [e["position"] for e in history["history"] if e["type"] == type]
    retracted = await client.run(
        "mutation($input: RetractEventsInput!) { retractEvents(input: $input) {"
        " events { type } errors { message } } }",
        {"input": {"positions": positions, "reason": "entered in error"}},
        auth=MUNICIPAL,
    )
    assert retracted["retractEvents"]["errors"] == []
    assert len(retracted["retractEvents"]["events"]) == len(retractable)


def _period() -> dict[str, str]:
    return {"from": "2018-04-01", "to": "2020-03-31"}
