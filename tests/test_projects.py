"""Service projects through the real app: each command, each rule's refusal, exact money."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import pytest

from hub.projections.runner import Projector
from hub.service.runtime import projections
from tests.agency_api import REGISTER, SUSPEND, refused, registration, unseen
from tests.agency_api import send as send_agency
from tests.conftest import Client, running, token
from tests.project_api import (
    APPROVE,
    AUDITOR,
    CLOSE,
    COMMISSION,
    CONCLUDE,
    DISBURSE,
    JIANGBEI,
    MUNICIPAL,
    PARTNER,
    PROJECT,
    REPORT,
    YUZHONG,
    accepted,
    approval,
    approve,
    contractor,
    evaluated,
    send,
)

TOMORROW = (date.today() + timedelta(days=2)).isoformat()
NOBODY = "00000000-0000-0000-0000-000000000000"


async def test_approve_shows_the_new_project(client: Client) -> None:
    agency = await contractor(client)
    payload = await send(client, APPROVE, **approval(agency, title="  困境儿童服务  "))
    assert payload["errors"] == []
    project = payload["project"]
    assert project["title"] == "困境儿童服务"
    assert (project["status"], project["version"]) == ("APPROVED", 1)
    assert (project["field"], project["funder"], project["programme"]) == (
        "SOCIAL_ASSISTANCE",
        "MUNICIPAL",
        "三区计划",
    )
    assert project["district"] == {"code": "500103", "name": "渝中区"}
    assert (project["budget"], project["disbursed"]) == ("100000.10", "0.00")
    assert (project["startsOn"], project["endsOn"], project["approvedOn"]) == (
        "2018-04-01",
        "2019-03-31",
        "2018-03-15",
    )
    assert project["contractor"]["id"] == agency
    assert project["contractor"]["status"] == "ACTIVE"
    assert project["disbursements"] == []
    assert project["progress"] is None and project["evaluation"] is None
    assert payload["position"] > 0
    again = await client.run(PROJECT, {"id": project["id"]}, auth=AUDITOR)
    assert again["project"] == project


async def test_a_district_approves_and_disburses_what_it_funds(client: Client) -> None:
    project = await approve(client, auth=YUZHONG, funder="500103", budget="5000", programme=None)
    assert (project["funder"], project["budget"], project["programme"]) == (
        "500103",
        "5000.00",
        None,
    )
    paid = await accepted(client, DISBURSE, auth=YUZHONG, id=project["id"], amount="2500.5")
    assert paid["disbursed"] == "2500.50"


async def test_the_whole_life_of_a_project(client: Client) -> None:
    agency = await contractor(client)
    project = await approve(client, agency)
    id = project["id"]
    delivering = token("CONTRACTOR", agency=agency, sub="agency-staff")

    paid = await send(client, DISBURSE, id=id, amount="40000.00", effectiveOn="2018-04-02")
    assert paid["errors"] == []
    assert paid["project"]["disbursed"] == "40000.00"
    assert paid["project"]["disbursements"] == [
        {"amount": "40000.00", "effectiveOn": "2018-04-02", "position": paid["position"]}
    ]

    reported = await accepted(
        client, REPORT, auth=delivering, id=id, summary="完成入户走访 120 户", percentComplete=30
    )
    assert reported["progress"] == {
        "percentComplete": 30,
        "summary": "完成入户走访 120 户",
        "reportedOn": client.hub.settings.today().isoformat(),
    }
    again = await accepted(
        client, REPORT, auth=delivering, id=id, summary="小组活动结束", percentComplete=100
    )
    assert again["progress"]["percentComplete"] == 100

    commissioned = await accepted(
        client, COMMISSION, auth=YUZHONG, id=id, evaluator="  重庆第三方评估中心 "
    )
    assert commissioned["status"] == "EVALUATION_COMMISSIONED"
    assert commissioned["evaluation"] == {
        "evaluator": "重庆第三方评估中心",
        "commissionedOn": client.hub.settings.today().isoformat(),
        "score": None,
        "grade": None,
        "concludedOn": None,
    }
    concluded = await accepted(
        client, CONCLUDE, auth=YUZHONG, id=id, score=91, grade="EXCELLENT", expectedVersion=5
    )
    assert concluded["status"] == "EVALUATED"
    assert (concluded["evaluation"]["score"], concluded["evaluation"]["grade"]) == (91, "EXCELLENT")
    assert concluded["evaluation"]["concludedOn"] == client.hub.settings.today().isoformat()

    closed = await send(client, CLOSE, auth=YUZHONG, id=id)
    assert closed["errors"] == []
    assert (closed["project"]["status"], closed["project"]["version"]) == ("CLOSED", 7)
    assert closed["project"]["disbursed"] == "40000.00"

    history = (
        await client.run(
            "query($id: ID!) { history(id: $id) { type entityType data actor { role } } }",
            {"id": id},
            auth=AUDITOR,
        )
    )["history"]
    assert [e["type"] for e in history] == [
        "ProjectApproved",
        "ProjectFundsDisbursed",
        "ProjectProgressReported",
        "ProjectProgressReported",
        "ProjectEvaluationCommissioned",
        "ProjectEvaluationConcluded",
        "ProjectClosed",
    ]
    assert {e["entityType"] for e in history} == {"PROJECT"}
    assert history[0]["data"]["budget"] == "100000.10"
    assert history[0]["data"]["contractor"] == agency
    assert history[1]["data"] == {"amount": "40000.00"}
    assert [e["actor"]["role"] for e in history[2:4]] == ["CONTRACTOR", "CONTRACTOR"]
    districts = await client.hub.pool.fetch(
        "SELECT DISTINCT district FROM event_log WHERE entity_id = $1::text::uuid", id
    )
    assert [r["district"] for r in districts] == ["500103"]


async def test_money_is_exact_and_never_exceeds_the_budget(client: Client) -> None:
    id = (await approve(client, budget="100000.10"))["id"]
    for total in ("33333.37", "66666.74"):
        paid = await accepted(client, DISBURSE, id=id, amount="33333.37")
        assert paid["disbursed"] == total
    error = await refused(
        client, DISBURSE, "VALIDATION", "amount", "over the budget", id=id, amount="33333.37"
    )
    for amount in ("33333.37", "100000.11", "100000.10", "66666.74", "33333.36"):
        assert amount in error["message"], error["message"]
    last = await accepted(client, DISBURSE, id=id, amount="33333.36")
    assert last["disbursed"] == last["budget"] == "100000.10"
    assert [d["amount"] for d in last["disbursements"]] == ["33333.37", "33333.37", "33333.36"]
    positions = [d["position"] for d in last["disbursements"]]
    assert positions == sorted(positions)
    await refused(client, DISBURSE, "VALIDATION", "amount", "over the budget", id=id, amount="0.01")


async def test_cents_add_up_without_float_error(client: Client) -> None:
    id = (await approve(client, budget="0.30"))["id"]
    await accepted(client, DISBURSE, id=id, amount="0.10")
    paid = await accepted(client, DISBURSE, id=id, amount="0.2")
    assert (paid["disbursed"], paid["budget"]) == ("0.30", "0.30")


async def test_a_repeated_disbursement_is_paid_once(client: Client) -> None:
    id = (await approve(client))["id"]
    first = await send(client, DISBURSE, id=id, amount="100.00", idempotencyKey="pay-1")
    before = await client.events()
    again = await send(client, DISBURSE, id=id, amount="100.00", idempotencyKey="pay-1")
    assert again["position"] == first["position"]
    assert again["project"]["disbursed"] == "100.00"
    assert await client.events() == before


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"title": "  "}, "title", "title must not be empty"),
        ({"district": "500199"}, "district", "unknown district code '500199'"),
        ({"funder": "FINANCE"}, "funder", "neither MUNICIPAL nor a district code"),
        ({"funder": "500105"}, "funder", "not the project's district 500103"),
        ({"budget": "0"}, "budget", "more than 0"),
        ({"budget": "-5.00"}, "budget", "more than 0"),
        ({"budget": "100.005"}, "budget", "more than 2 decimal places"),
        ({"budget": "NaN"}, "budget", "not an amount"),
        ({"budget": "1000000000000"}, "budget", "over the limit"),
        ({"programme": " "}, "programme", "programme must not be empty"),
        ({"endsOn": "2018-03-31"}, "endsOn", "endsOn 2018-03-31 is before startsOn 2018-04-01"),
        ({"effectiveOn": TOMORROW}, "effectiveOn", "in the future"),
        ({"contractor": NOBODY}, "contractor", "no agency with id"),
        ({"contractor": "42"}, "contractor", "not a record id"),
    ],
)
async def test_approval_is_checked(client: Client, overrides: dict, field: str, words: str) -> None:
    agency = await contractor(client)
    code = "NOT_FOUND" if overrides.get("contractor") == NOBODY else "VALIDATION"
    await refused(client, APPROVE, code, field, words, **approval(agency, **overrides))


async def test_a_malformed_amount_is_a_graphql_error_and_writes_nothing(client: Client) -> None:
    agency = await contractor(client)
    before = await client.events()
    body = await client.post(APPROVE, {"input": approval(agency, budget="1,000")}, auth=MUNICIPAL)
    assert body.get("data") is None
    assert "Decimal" in body["errors"][0]["message"]
    assert await client.events() == before


async def test_only_an_active_agency_is_contracted(client: Client) -> None:
    agency = await contractor(client)
    suspended = await send_agency(client, SUSPEND, id=agency, reason="年检逾期")
    assert suspended["errors"] == []
    await refused(
        client,
        APPROVE,
        "INVALID_STATE",
        "contractor",
        "is SUSPENDED: only an ACTIVE agency",
        **approval(agency),
    )


async def test_disbursements_are_checked(client: Client) -> None:
    id = (await approve(client, effectiveOn="2018-03-15"))["id"]
    await refused(client, DISBURSE, "VALIDATION", "amount", "more than 0", id=id, amount="0.00")
    await refused(
        client,
        DISBURSE,
        "VALIDATION",
        "amount",
        "more than 2 decimal places",
        id=id,
        amount="1.001",
    )
    await refused(
        client,
        DISBURSE,
        "VALIDATION",
        "effectiveOn",
        "before the record was created",
        id=id,
        amount="1.00",
        effectiveOn="2018-03-14",
    )
    await refused(
        client,
        DISBURSE,
        "CONFLICT",
        "expectedVersion",
        "not the expected 3",
        id=id,
        amount="1.00",
        expectedVersion=3,
    )
    await refused(client, DISBURSE, "NOT_FOUND", "id", "no project with id", id=NOBODY, amount="1")
    await refused(client, DISBURSE, "VALIDATION", "id", "not a record id", id="42", amount="1")


async def test_progress_reports_are_checked(client: Client) -> None:
    agency = await contractor(client)
    id = (await approve(client, agency))["id"]
    delivering = token("CONTRACTOR", agency=agency)
    await accepted(client, REPORT, auth=delivering, id=id, summary="过半", percentComplete=60)
    for percent, words in [(101, "between 0 and 100"), (-1, "between 0 and 100")]:
        await refused(
            client,
            REPORT,
            "VALIDATION",
            "percentComplete",
            words,
            auth=delivering,
            id=id,
            summary="x",
            percentComplete=percent,
        )
    await refused(
        client,
        REPORT,
        "VALIDATION",
        "percentComplete",
        "lower than the last report's 60",
        auth=delivering,
        id=id,
        summary="回退",
        percentComplete=59,
    )
    await refused(
        client,
        REPORT,
        "VALIDATION",
        "summary",
        "summary must not be empty",
        auth=delivering,
        id=id,
        summary=" ",
        percentComplete=70,
    )
    same = await accepted(
        client, REPORT, auth=delivering, id=id, summary="持平", percentComplete=60
    )
    assert same["progress"]["summary"] == "持平"


async def test_the_evaluation_comes_in_order(client: Client) -> None:
    id = (await approve(client, effectiveOn="2018-03-15"))["id"]
    await refused(
        client,
        CONCLUDE,
        "INVALID_STATE",
        None,
        "no evaluation to conclude",
        auth=YUZHONG,
        id=id,
        score=80,
        grade="GOOD",
    )
    await refused(
        client,
        CLOSE,
        "INVALID_STATE",
        None,
        "is APPROVED: it closes only after",
        auth=YUZHONG,
        id=id,
    )
    await refused(
        client,
        COMMISSION,
        "VALIDATION",
        "evaluator",
        "evaluator must not be empty",
        auth=YUZHONG,
        id=id,
        evaluator="",
    )
    await accepted(
        client, COMMISSION, auth=YUZHONG, id=id, evaluator="评估所", effectiveOn="2019-04-10"
    )
    await refused(
        client,
        COMMISSION,
        "INVALID_STATE",
        None,
        "already commissioned from 评估所 on 2019-04-10",
        auth=YUZHONG,
        id=id,
        evaluator="另一家",
    )
    await refused(
        client,
        CLOSE,
        "INVALID_STATE",
        None,
        "is EVALUATION_COMMISSIONED: it closes only after",
        auth=YUZHONG,
        id=id,
    )
    for score in (-1, 101):
        await refused(
            client,
            CONCLUDE,
            "VALIDATION",
            "score",
            "between 0 and 100",
            auth=YUZHONG,
            id=id,
            score=score,
            grade="PASS",
        )
    await refused(
        client,
        CONCLUDE,
        "VALIDATION",
        "effectiveOn",
        "before it was commissioned (2019-04-10)",
        auth=YUZHONG,
        id=id,
        score=70,
        grade="PASS",
        effectiveOn="2019-04-09",
    )
    await accepted(
        client, CONCLUDE, auth=YUZHONG, id=id, score=55, grade="FAIL", effectiveOn="2019-05-20"
    )
    await refused(
        client,
        CONCLUDE,
        "INVALID_STATE",
        None,
        "already concluded on 2019-05-20",
        auth=YUZHONG,
        id=id,
        score=90,
        grade="GOOD",
    )
    await refused(
        client,
        CLOSE,
        "VALIDATION",
        "effectiveOn",
        "before its evaluation was concluded (2019-05-20)",
        auth=YUZHONG,
        id=id,
        effectiveOn="2019-05-19",
    )
    closed = await accepted(client, CLOSE, auth=YUZHONG, id=id, effectiveOn="2019-05-21")
    assert (closed["status"], closed["evaluation"]["grade"]) == ("CLOSED", "FAIL")


async def test_a_closed_project_takes_no_more_money_or_reports(client: Client) -> None:
    agency = await contractor(client)
    id = (await evaluated(client, agency=agency))["id"]
    await accepted(client, DISBURSE, id=id, amount="10.00")
    await accepted(client, CLOSE, auth=YUZHONG, id=id)
    await refused(client, DISBURSE, "INVALID_STATE", None, "is CLOSED", id=id, amount="1.00")
    await refused(
        client,
        REPORT,
        "INVALID_STATE",
        None,
        "is CLOSED",
        auth=token("CONTRACTOR", agency=agency),
        id=id,
        summary="迟到的报告",
        percentComplete=100,
    )
    await refused(client, CLOSE, "INVALID_STATE", None, "is CLOSED", auth=YUZHONG, id=id)


async def forbidden(
    client: Client, document: str, auth: str, words: str, /, **input: object
) -> None:
    await refused(client, document, "FORBIDDEN", None, words, auth=auth, **input)


async def test_the_funder_approves_and_disburses(client: Client) -> None:
    agency = await contractor(client)
    district_funded = approval(agency, funder="500103")
    await forbidden(
        client, APPROVE, MUNICIPAL, "only on projects the municipal bureau funds", **district_funded
    )
    await forbidden(
        client,
        APPROVE,
        JIANGBEI,
        "only on projects it funds in its own district",
        **district_funded,
    )
    await forbidden(
        client,
        APPROVE,
        YUZHONG,
        "only on projects it funds in its own district",
        **approval(agency),
    )
    await forbidden(
        client,
        APPROVE,
        token("CONTRACTOR", agency=agency),
        "CONTRACTOR may not approveProject",
        **approval(agency),
    )
    by_district = (await approve(client, agency, auth=YUZHONG, funder="500103"))["id"]
    by_city = (await approve(client, agency))["id"]
    await forbidden(
        client, DISBURSE, MUNICIPAL, "municipal bureau funds", id=by_district, amount="1.00"
    )
    await forbidden(client, DISBURSE, JIANGBEI, "own district", id=by_district, amount="1.00")
    await forbidden(client, DISBURSE, YUZHONG, "own district", id=by_city, amount="1.00")
    await forbidden(
        client,
        DISBURSE,
        token("CONTRACTOR", agency=agency),
        "CONTRACTOR may not disburseFunds",
        id=by_city,
        amount="1.00",
    )


async def test_only_the_delivering_agency_reports_progress(client: Client) -> None:
    agency = await contractor(client)
    other = await contractor(client)
    id = (await approve(client, agency))["id"]
    report = {"id": id, "summary": "进展", "percentComplete": 10}
    await forbidden(
        client,
        REPORT,
        token("CONTRACTOR", agency=other),
        "only on records its agency is answerable for",
        **report,
    )
    await forbidden(client, REPORT, MUNICIPAL, "MUNICIPAL may not reportProjectProgress", **report)
    await forbidden(client, REPORT, YUZHONG, "DISTRICT may not reportProjectProgress", **report)
    await accepted(client, REPORT, auth=token("CONTRACTOR", agency=agency), **report)


async def test_only_the_district_where_it_runs_evaluates_and_closes(client: Client) -> None:
    agency = await contractor(client)
    id = (await approve(client, agency))["id"]
    commission = {"id": id, "evaluator": "评估所"}
    await forbidden(
        client, COMMISSION, MUNICIPAL, "MUNICIPAL may not commissionEvaluation", **commission
    )
    await forbidden(
        client,
        COMMISSION,
        token("CONTRACTOR", agency=agency),
        "CONTRACTOR may not commissionEvaluation",
        **commission,
    )
    await forbidden(client, COMMISSION, JIANGBEI, "only in its own district", **commission)
    await accepted(client, COMMISSION, auth=YUZHONG, **commission)
    conclusion = {"id": id, "score": 75, "grade": "PASS"}
    await forbidden(
        client, CONCLUDE, MUNICIPAL, "MUNICIPAL may not concludeEvaluation", **conclusion
    )
    await forbidden(client, CONCLUDE, JIANGBEI, "only in its own district", **conclusion)
    await accepted(client, CONCLUDE, auth=YUZHONG, **conclusion)
    await forbidden(client, CLOSE, MUNICIPAL, "MUNICIPAL may not closeProject", id=id)
    await forbidden(client, CLOSE, JIANGBEI, "only in its own district", id=id)


@pytest.mark.parametrize("reader", ["AUDITOR", "PARTNER"])
async def test_readers_never_write(client: Client, reader: str) -> None:
    auth = {"AUDITOR": AUDITOR, "PARTNER": PARTNER}[reader]
    agency = await contractor(client)
    id = (await approve(client, agency))["id"]
    words = f"{reader} may not"
    await forbidden(client, APPROVE, auth, words, **approval(agency))
    await forbidden(client, DISBURSE, auth, words, id=id, amount="1.00")
    await forbidden(client, REPORT, auth, words, id=id, summary="x", percentComplete=1)
    await forbidden(client, COMMISSION, auth, words, id=id, evaluator="x")
    await forbidden(client, CONCLUDE, auth, words, id=id, score=1, grade="PASS")
    await forbidden(client, CLOSE, auth, words, id=id)


PROJECTS = """query($first: Int, $after: String, $filter: ProjectFilter) {
  projects(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id title budget disbursed
      contractor { id name district { code } }
      disbursements { amount effectiveOn } } } } }"""


async def test_projects_list_with_contractors_and_disbursements(client: Client) -> None:
    district = "500236"
    first_agency = await contractor(client, district)
    second_agency = await contractor(client, district)
    made = []
    for agency, field, funder in [
        (first_agency, "POVERTY_RELIEF", "MUNICIPAL"),
        (second_agency, "MENTAL_HEALTH", district),
        (first_agency, "MENTAL_HEALTH", "MUNICIPAL"),
    ]:
        auth = MUNICIPAL if funder == "MUNICIPAL" else token("DISTRICT", district=district)
        project = await approve(
            client, agency, auth, district=district, field=field, funder=funder, budget="900.00"
        )
        made.append(project["id"])
    await accepted(client, DISBURSE, id=made[0], amount="100.01")
    await accepted(client, DISBURSE, id=made[0], amount="200.02")
    await accepted(
        client,
        DISBURSE,
        auth=token("DISTRICT", district=district),
        id=made[1],
        amount="300.03",
        effectiveOn="2018-06-30",
    )

    data = await client.run(PROJECTS, {"filter": {"district": district}}, auth=AUDITOR)
    page = data["projects"]
    assert page["totalCount"] == 3
    nodes = [e["node"] for e in page["edges"]]
    assert [n["id"] for n in nodes] == made
    assert [n["contractor"]["id"] for n in nodes] == [first_agency, second_agency, first_agency]
    assert {n["contractor"]["district"]["code"] for n in nodes} == {district}
    assert [[d["amount"] for d in n["disbursements"]] for n in nodes] == [
        ["100.01", "200.02"],
        ["300.03"],
        [],
    ]
    assert nodes[1]["disbursements"][0]["effectiveOn"] == "2018-06-30"
    assert [n["disbursed"] for n in nodes] == ["300.03", "300.03", "0.00"]

    async def ids(**filter: str) -> list[str]:
        data = await client.run(
            PROJECTS, {"filter": {"district": district, **filter}}, auth=AUDITOR
        )
        return [e["node"]["id"] for e in data["projects"]["edges"]]

    assert await ids(field="MENTAL_HEALTH") == made[1:]
    assert await ids(funder=district) == made[1:2]
    assert await ids(funder="MUNICIPAL") == [made[0], made[2]]
    assert await ids(contractor=first_agency) == [made[0], made[2]]
    assert await ids(status="APPROVED") == made
    assert await ids(status="CLOSED") == []

    first = (
        await client.run(PROJECTS, {"first": 2, "filter": {"district": district}}, auth=AUDITOR)
    )["projects"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await client.run(
        PROJECTS,
        {"first": 2, "after": first["pageInfo"]["endCursor"], "filter": {"district": district}},
        auth=AUDITOR,
    )
    assert [e["node"]["id"] for e in rest["projects"]["edges"]] == made[2:]
    assert rest["projects"]["pageInfo"]["hasNextPage"] is False


async def test_list_arguments_are_checked(client: Client) -> None:
    body = await client.post(
        '{ projects(filter: {contractor: "42"}) { totalCount } }', auth=AUDITOR
    )
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    body = await client.post('{ projects(after: "bogus") { totalCount } }', auth=AUDITOR)
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    none = await client.run(PROJECT, {"id": NOBODY}, auth=AUDITOR)
    assert none["project"] is None


async def _read_model(pool: asyncpg.Pool) -> dict[str, list[tuple]]:
    return {
        "projects": sorted(
            (tuple(r) for r in await pool.fetch("SELECT * FROM projects")), key=repr
        ),
        "disbursements": [
            tuple(r)
            for r in await pool.fetch(
                "SELECT * FROM project_disbursements ORDER BY position, recorded_from"
            )
        ],
    }


async def test_one_batch_or_one_event_per_batch_give_the_same_rows(database: str) -> None:
    """The projection folds several events of one project within a batch as across batches."""
    async with running(database, run_projections=False, read_your_writes_timeout=0.01) as client:
        hub = client.hub

        async def ids(topic: str) -> list[str]:
            rows = await hub.pool.fetch(
                "SELECT originator_id FROM registry_events WHERE topic LIKE $1"
                " ORDER BY notification_id",
                f"%{topic}",
            )
            return [str(r["originator_id"]) for r in rows]

        await send_agency(client, REGISTER, **registration())
        (agency,) = await ids("Agency.Registered")
        for budget in ("500.00", "700.70"):
            assert unseen(await send(client, APPROVE, **approval(agency, budget=budget)))
        first, second = await ids("Project.Approved")
        for id, amount in [(first, "100.10"), (second, "0.70"), (first, "399.90")]:
            assert unseen(await send(client, DISBURSE, id=id, amount=amount))
        delivering = token("CONTRACTOR", agency=agency)
        for percent in (20, 80):
            report = {"id": first, "summary": f"{percent}%", "percentComplete": percent}
            assert unseen(await send(client, REPORT, auth=delivering, **report))
        for document, input in [
            (COMMISSION, {"evaluator": "评估所"}),
            (CONCLUDE, {"score": 66, "grade": "PASS"}),
            (CLOSE, {}),
        ]:
            assert unseen(await send(client, document, auth=YUZHONG, id=first, **input))

        together = Projector(
            hub.pool, hub.registry.mapper, projections(), wake=asyncio.Event(), batch_size=500
        )
        assert await together.catch_up() == await client.events()
        in_one_batch = await _read_model(hub.pool)
        rows = {
            str(r[0]): r
            for r in await hub.pool.fetch(
                "SELECT * FROM projects WHERE effective_to IS NULL AND recorded_to IS NULL"
            )
        }
        assert (rows[first]["disbursed"], rows[first]["status"]) == (Decimal("500.00"), "CLOSED")
        assert (rows[first]["percent_complete"], rows[first]["version"]) == (80, 8)
        assert (rows[second]["disbursed"], rows[second]["status"]) == (Decimal("0.70"), "APPROVED")
        assert len(in_one_batch["disbursements"]) == 3

        apart = Projector(
            hub.pool, hub.registry.mapper, projections(), wake=asyncio.Event(), batch_size=1
        )
        await apart.rewind(["projects"])
        assert await hub.pool.fetchval("SELECT count(*) FROM projects") == 0
        await apart.catch_up()
        assert await _read_model(hub.pool) == in_one_batch
