"""The read planner answers as the resolvers do: the same queries, sent to an app with the
planner on and to one with it off over the same database, answer the same JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.domain.envelope import Role
from hub.tools import demo
from tests.conftest import Client, fresh_database, running, token

MUNICIPAL = token(Role.MUNICIPAL)
AUDITOR = token(Role.AUDITOR)
PARTNER = token(Role.PARTNER)
DISTRICT = token(Role.DISTRICT, district="500103")
OTHER_DISTRICT = token(Role.DISTRICT, district="500105")

WORKER_FIELDS = """id version status district { code name nameEn county } education
  registeredOn updatedAt personalDataErased name idNumber
  employer { id name status } certificates { level number awardedOn revoked }"""
AGENCY_FIELDS = """id version status name creditCode district { code name } kind fields
  registeredOn incubation { incubator from to } demonstration { programme year } updatedAt"""
STATION_FIELDS = f"""id version status name district {{ code }} establishedOn updatedAt
  assessment {{ assessedOn hardware duties mechanism funding serviceStandards performance }}
  demonstration {{ programme year }}
  community {{ id code name urban district {{ name }} updatedAt version }}
  operator {{ id name }} operatorContract {{ agency {{ id creditCode }} from to }}
  staff {{ fullTime since worker {{ {WORKER_FIELDS} }} }}"""

POST_FIELDS = """id version status sector field district { code } hostOrganization origin
  createdOn updatedAt community { code name } station { id name } holder { id name }"""
COURSE_FIELDS = """id version status title category level district { code name } startsOn
  endsOn hours attendanceCount scheduledOn completedOn cancelledOn updatedAt
  deliveredBy { id name }"""

PROJECT_FIELDS = """id version status title field district { code } funder budget programme
  startsOn endsOn approvedOn disbursed progress { percentComplete summary reportedOn }
  evaluation { evaluator commissionedOn score grade concludedOn } updatedAt
  contractor { id name } disbursements { amount effectiveOn position recordedAt }"""

QUERIES: list[tuple[str, dict[str, Any]]] = [
    (  # an empty page whose every aggregate is skipped is still an object
        'query($skip: Boolean!) { stations(first: 5, after: "c3RhdGlvbjo5OTk5OTk=") {'
        " pageInfo { hasNextPage @skip(if: true) } totalCount @skip(if: $skip) } }",
        {"skip": True},
    ),
    (
        f"{{ projects(first: 50) {{ totalCount edges {{ cursor node {{ {PROJECT_FIELDS} }} }}"
        " } }",
        {},
    ),
    (
        "query($f: ProjectFilter, $asOf: AsOf) { projects(filter: $f, asOf: $asOf) {"
        f" totalCount edges {{ node {{ {PROJECT_FIELDS} }} }} }} }}",
        {"f": {"funder": "MUNICIPAL"}, "asOf": {"effective": "2018-01-01"}},
    ),
    (
        f"{{ posts(first: 100) {{ totalCount edges {{ cursor node {{ {POST_FIELDS} }} }} }}"
        f" stations(first: 5) {{ edges {{ node {{ id posts {{ {POST_FIELDS} }} }} }} }}"
        f" workers(first: 50) {{ edges {{ node {{ id posts {{ id sector }} attendances {{"
        f" workerId hours passed effectiveOn course {{ {COURSE_FIELDS} }} }} }} }} }} }}",
        {},
    ),
    (
        f"{{ courses(first: 20) {{ totalCount edges {{ cursor node {{ {COURSE_FIELDS}"
        " attendances { workerId hours passed effectiveOn worker { id name employer { name } }"
        " course { id } } } } pageInfo { hasNextPage endCursor } } }",
        {},
    ),
    (
        "query($s: CourseStatus, $asOf: AsOf) { courses(filter: {status: $s}, asOf: $asOf) {"
        " totalCount edges { node { id status startsOn endsOn } } } }",
        {"s": "RUNNING", "asOf": {"effective": "2017-09-02"}},
    ),
    (
        "query($s: CourseStatus) { courses(filter: {status: $s}) { totalCount edges { node {"
        " id status } } } }",
        {"s": "SCHEDULED"},
    ),
    (
        "query($s: CourseStatus) { courses(filter: {status: $s, level: MUNICIPAL}) { totalCount"
        " edges { node { id status } } } }",
        {"s": "COMPLETED"},
    ),
    (
        "query($f: PostFilter, $asOf: AsOf) { posts(filter: $f, asOf: $asOf) { totalCount"
        f" edges {{ node {{ {POST_FIELDS} }} }} }} }}",
        {"f": {"status": "FILLED"}, "asOf": {"effective": "2017-03-01"}},
    ),
    (
        "query($f: PostFilter) { posts(filter: $f) { totalCount edges { node { id } } } }",
        {"f": {"sector": "COMMUNITY", "district": "500103"}},
    ),
    (
        f"{{ workers(first: 100) {{ totalCount edges {{ cursor node {{ {WORKER_FIELDS} }} }}"
        " pageInfo { hasNextPage endCursor } } }",
        {},
    ),
    (
        "{ workers(first: 100) { edges { node { id status district { code } education"
        " registeredOn updatedAt } } } }",
        {},
    ),
    (f"{{ stations(first: 50) {{ totalCount edges {{ node {{ {STATION_FIELDS} }} }} }} }}", {}),
    (
        f"{{ agencies(first: 3) {{ edges {{ cursor node {{ {AGENCY_FIELDS} }} }}"
        " pageInfo { endCursor hasNextPage } __typename } }",
        {},
    ),
    (
        f"query($f: AgencyFilter) {{ agencies(filter: $f) {{ totalCount edges {{ node"
        f" {{ {AGENCY_FIELDS} }} }} }} }}",
        {"f": {"district": "500103", "status": "ACTIVE"}},
    ),
    (
        "query($f: AgencyFilter) { agencies(filter: $f) { totalCount } }",
        {"f": {"field": "SOCIAL_WELFARE"}},
    ),
    (
        "query($f: WorkerFilter, $n: Int!) { workers(first: $n, filter: $f) { totalCount"
        " edges { node { id name } } } }",
        {"f": {"level": "SOCIAL_WORKER"}, "n": 5},
    ),
    (
        "query($f: WorkerFilter) { workers(filter: $f) { totalCount edges { node { id } } } }",
        {"f": {"district": "500105", "status": "ACTIVE", "education": "BACHELOR"}},
    ),
    (
        "query($f: StationFilter) { stations(filter: $f) { totalCount edges { node { id name"
        " operator { name } } } } }",
        {"f": {"district": "500229"}},
    ),
    (
        "{ communities(first: 4, filter: {urban: true}) { totalCount edges { cursor node { id code"
        " name district { code name } urban version updatedAt } } pageInfo { hasNextPage } } }",
        {},
    ),
    ('{ communities(filter: {nameContains: "社区"}) { totalCount } }', {}),
    (
        "query($asOf: AsOf) { position communities(first: 100, asOf: $asOf) { totalCount edges {"
        " cursor node { id code name version updatedAt } } } }",
        {"asOf": {"effective": "2010-01-01", "recorded": "2010-01-01T00:00:00"}},
    ),
    (
        "{ me { sub role party district { code name } agency jurisdiction }"
        " districts { code name nameEn county } }",
        {},
    ),
    (
        "query($asOf: AsOf) { workers(first: 100, asOf: $asOf) { totalCount edges { node {"
        f" {WORKER_FIELDS} }} }} }} stations(first: 10, asOf: $asOf) {{ edges {{ node"
        f" {{ {STATION_FIELDS} }} }} }} }}",
        {"asOf": {"effective": "2018-06-01"}},
    ),
    (
        "query($asOf: AsOf) { agencies(asOf: $asOf) { totalCount edges { node {"
        f" {AGENCY_FIELDS} }} }} }} }}",
        {"asOf": {"effective": "2017-06-01"}},
    ),
    (
        "query($asOf: AsOf) { agencies(asOf: $asOf) { totalCount edges { node { id version } } } }",
        {"asOf": {"recorded": "2000-01-01T00:00:00"}},
    ),
    (
        "query($on: Boolean!) { a: workers(first: 2) { ...W } b: workers(first: 1) {"
        " edges { node { ... on Worker { id @include(if: $on) status } } } } }"
        " fragment W on WorkerConnection { __typename edges { __typename node {"
        " __typename id } } }",
        {"on": True},
    ),
    (
        "query($on: Boolean!) { workers(first: 1) { edges { node { id @include(if: $on) status"
        " } } } }",
        {"on": False},
    ),
]


async def both(on: Client, off: Client, query: str, variables: dict[str, Any], auth: str) -> Any:
    """The body the planner answers, after checking the resolvers answer the same."""
    planned = await on.http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {auth}"},
    )
    resolved = await off.post(query, variables, auth=auth)
    body = planned.json()
    assert body == resolved, (query, variables, difference(body, resolved))
    return planned


def difference(planned: Any, resolved: Any, path: str = "") -> str | None:
    """Where two answers first differ, and how."""
    if isinstance(planned, dict) and isinstance(resolved, dict):
        for key in planned.keys() | resolved.keys():
            found = difference(planned.get(key), resolved.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(planned, list) and isinstance(resolved, list) and len(planned) == len(resolved):
        for n, (a, b) in enumerate(zip(planned, resolved, strict=True)):
            found = difference(a, b, f"{path}[{n}]")
            if found:
                return found
        return None
    return None if planned == resolved else f"{path}: planned {planned!r}, resolved {resolved!r}"


@pytest.fixture(scope="module")
async def apps(server_url: str) -> AsyncIterator[tuple[Client, Client, str]]:
    """An app with the planner and one without, over one database with the demo records
    (one worker's personal data erased)."""
    url = await fresh_database(server_url)
    async with running(url) as on:
        await demo.seed(on.hub)
        async with running(url, read_planner=False, run_projections=False) as off:
            data = await on.run(
                "{ workers(first: 1) { edges { node { id } } } agencies(first: 1) { edges { node"
                " { id } } } }",
                auth=MUNICIPAL,
            )
            erased = data["workers"]["edges"][0]["node"]["id"]
            agency = data["agencies"]["edges"][0]["node"]["id"]
            said = await on.run(
                "mutation($input: EraseWorkerPersonalDataInput!) { eraseWorkerPersonalData("
                "input: $input) { errors { code } } }",
                {
                    "input": {
                        "id": erased,
                        "reason": "the worker asked",
                        "effectiveOn": "2018-07-01",
                    }
                },
                auth=MUNICIPAL,
            )
            assert said["eraseWorkerPersonalData"]["errors"] == []
            yield on, off, agency


ROLES = ["MUNICIPAL", "AUDITOR", "PARTNER", "DISTRICT", "OTHER_DISTRICT", "CONTRACTOR"]


def auth_of(role: str, agency: str) -> str:
    if role == "CONTRACTOR":
        return token(Role.CONTRACTOR, agency=agency)
    return globals()[role]


@pytest.mark.parametrize("role", ROLES)
async def test_planned_answers_as_the_resolvers(
    apps: tuple[Client, Client, str], role: str
) -> None:
    on, off, agency = apps
    before = (await on.http.get("/readyz")).json()["reads"]
    for query, variables in QUERIES:
        response = await both(on, off, query, variables, auth_of(role, agency))
        assert "errors" not in response.json(), (query, response.json())
    after = (await on.http.get("/readyz")).json()["reads"]
    assert after["planned"] - before["planned"] == len(QUERIES)
    assert after["fellBack"] == before["fellBack"]
    [(query, variables)] = [(q, v) for q, v in QUERIES if v.get("s") == "RUNNING"]
    running = await on.run(query, variables, auth=MUNICIPAL)
    assert running["courses"]["totalCount"] == 1  # the demo's course, between its dates


async def test_single_record_forms_and_paging(apps: tuple[Client, Client, str]) -> None:
    on, off, agency = apps
    page = (
        await both(
            on,
            off,
            "{ workers(first: 2) { edges { cursor node { id } } pageInfo { endCursor } }"
            " stations(first: 1) { edges { node { id community { code } } } } }",
            {},
            MUNICIPAL,
        )
    ).json()["data"]
    worker = page["workers"]["edges"][0]["node"]["id"]
    station = page["stations"]["edges"][0]["node"]["id"]
    code = page["stations"]["edges"][0]["node"]["community"]["code"]
    after = page["workers"]["pageInfo"]["endCursor"]
    single = (
        f"query($w: ID!, $a: ID!, $s: ID!, $c: String!, $after: String, $asOf: AsOf) {{"
        f" worker(id: $w, asOf: $asOf) {{ {WORKER_FIELDS} }} agency(id: $a, asOf: $asOf)"
        f" {{ {AGENCY_FIELDS} }} station(id: $s, asOf: $asOf) {{ {STATION_FIELDS} }}"
        " community(code: $c, asOf: $asOf) { id name }"
        " workers(first: 3, after: $after) { edges { cursor node { id } } } }"
    )
    for as_of in (None, {"effective": "2016-01-01"}, {"effective": "2019-01-01"}):
        variables = {"w": worker, "a": agency, "s": station, "c": f" {code} ", "after": after}
        for role in ROLES:
            await both(on, off, single, {**variables, "asOf": as_of}, auth_of(role, agency))
    missing = await both(
        on,
        off,
        "query($id: ID!) { worker(id: $id) { id } }",
        {"id": "00000000-0000-0000-0000-000000000000"},
        MUNICIPAL,
    )
    assert missing.json() == {"data": {"worker": None}}


async def test_what_is_not_covered_falls_back_whole(apps: tuple[Client, Client, str]) -> None:
    on, off, _ = apps
    before = (await on.http.get("/readyz")).json()["reads"]
    await both(
        on,
        off,
        "{ workers(first: 2) { edges { node { id } } } indicators { workers agencies } }",
        {},
        MUNICIPAL,
    )
    after = (await on.http.get("/readyz")).json()["reads"]
    assert after["fellBack"] == before["fellBack"] + 1
    assert after["planned"] == before["planned"]
    metrics = (await on.http.get("/metrics")).text
    assert 'hub_read_operations_total{path="fallback"}' in metrics
    assert 'hub_read_operations_total{path="planned"}' in metrics


async def test_plans_are_cached_per_caller_shape(apps: tuple[Client, Client, str]) -> None:
    on, off, _ = apps
    query = "query($n: Int!) { workers(first: $n) { edges { node { id name } } } }"
    before = (await on.http.get("/readyz")).json()["reads"]
    for n in (1, 2, 3):
        await both(on, off, query, {"n": n}, MUNICIPAL)
    await both(on, off, query, {"n": 1}, PARTNER)
    after = (await on.http.get("/readyz")).json()["reads"]
    assert after["planCacheMisses"] - before["planCacheMisses"] == 2
    assert after["planCacheHits"] - before["planCacheHits"] == 2


async def test_personal_data_only_for_who_may_see_it(apps: tuple[Client, Client, str]) -> None:
    on, off, agency = apps
    query = (
        "{ workers(first: 100) { edges { node { id name idNumber district { code }"
        " employer { id } personalDataErased } } } }"
    )

    async def names(auth: str) -> list[dict[str, Any]]:
        response = await both(on, off, query, {}, auth)
        return [e["node"] for e in response.json()["data"]["workers"]["edges"]]

    everyone = await names(MUNICIPAL)
    assert any(w["personalDataErased"] and w["name"] is None for w in everyone)
    assert any(w["name"] for w in everyone)
    assert all(w["name"] is None and w["idNumber"] is None for w in await names(PARTNER))
    for w in await names(DISTRICT):
        shown = w["district"]["code"] == "500103" and not w["personalDataErased"]
        assert (w["name"] is not None) == shown, w
    for w in await names(auth_of("CONTRACTOR", agency)):
        shown = (w["employer"] or {}).get("id") == agency and not w["personalDataErased"]
        assert (w["name"] is not None) == shown, w


async def test_body_is_utf8_text(apps: tuple[Client, Client, str]) -> None:
    on, off, _ = apps
    response = await both(
        on, off, "{ agencies(first: 3) { edges { node { name } } } }", {}, PARTNER
    )
    assert response.headers["content-type"].startswith("application/json")
    text = response.content.decode("utf-8")
    assert "\\u" not in text
    assert "社" in text
    assert json.loads(text)["data"]["agencies"]["edges"]
    before = (await on.http.get("/readyz")).json()["reads"]["fellBack"]
    fallen = await on.http.post(  # the resolvers answer `targets`: UTF-8 there too
        "/graphql",
        json={"query": "{ targets { source } }"},
        headers={"Authorization": f"Bearer {PARTNER}"},
    )
    assert (await on.http.get("/readyz")).json()["reads"]["fellBack"] == before + 1
    text = fallen.content.decode("utf-8")
    assert "\\u" not in text and "社会工作" in text, text


@pytest.mark.parametrize(
    ("arguments", "field"),
    [('after: "not-a-cursor"', "after"), ("first: 501", "first"), ("first: -1", "first")],
)
@pytest.mark.parametrize("selected", ["edges { node { id } }", "totalCount"])
async def test_bad_paging_is_refused_as_before(
    apps: tuple[Client, Client, str], arguments: str, field: str, selected: str
) -> None:
    on, off, _ = apps
    response = await both(on, off, f"{{ workers({arguments}) {{ {selected} }} }}", {}, MUNICIPAL)
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == "VALIDATION"
    assert errors[0]["extensions"]["field"] == field


async def test_unauthenticated_is_refused_as_before(apps: tuple[Client, Client, str]) -> None:
    on, off, _ = apps
    response = await on.http.post("/graphql", json={"query": "{ workers { totalCount } }"})
    resolved = await off.post("{ workers { totalCount } }", auth=None)
    assert response.json() == resolved
    assert resolved["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_query_sent_with_get_is_planned_too(apps: tuple[Client, Client, str]) -> None:
    on, off, _ = apps
    query = "{ districts { code name } agencies(first: 2) { edges { node { id name } } } }"
    before = (await on.http.get("/readyz")).json()["reads"]
    response = await on.http.get(
        "/graphql", params={"query": query}, headers={"Authorization": f"Bearer {AUDITOR}"}
    )
    assert response.json() == await off.post(query, auth=AUDITOR)
    after = (await on.http.get("/readyz")).json()["reads"]
    assert after["planned"] == before["planned"] + 1


HISTORY = """query($id: ID!) { history(id: $id) { __typename position entityId entityType type
  version recordedAt effectiveOn actor { sub party role jurisdiction } reason retracts
  correlationId data schemaVersion requestId } }"""


async def test_history_is_planned_with_personal_data_as_the_caller_may_see_it(
    apps: tuple[Client, Client, str],
) -> None:
    """A worker's events carry sealed personal data: shown, redacted or erased for each
    role as the resolvers show it (one of the demo's workers is erased)."""
    on, off, agency = apps
    data = await on.run(
        "{ stations(first: 1) { edges { node { id } } } projects(first: 1) { edges { node { id"
        " } } } workers(first: 1) { edges { node { id } } } }",
        auth=MUNICIPAL,
    )
    ids = {k: v["edges"][0]["node"]["id"] for k, v in data.items()}
    workers = await on.run("{ workers(first: 100) { edges { node { id } } } }", auth=MUNICIPAL)
    every = [e["node"]["id"] for e in workers["workers"]["edges"]]
    for role in ROLES:
        before = (await on.http.get("/readyz")).json()["reads"]
        for id in (agency, ids["stations"], ids["projects"], *every):
            answered = (await both(on, off, HISTORY, {"id": id}, auth_of(role, agency))).json()
            assert answered["data"]["history"], id
        after = (await on.http.get("/readyz")).json()["reads"]
        assert after["planned"] - before["planned"] == 3 + len(every)
        assert after["fellBack"] == before["fellBack"]
    unknown = {"id": "00000000-0000-0000-0000-000000000000"}
    assert (await both(on, off, HISTORY, unknown, MUNICIPAL)).json() == {"data": {"history": []}}


AUDIT = """query($first: Int!, $after: String, $filter: AuditFilter) {
  auditTrail(first: $first, after: $after, filter: $filter) { totalCount
    edges { cursor node { position entityType type actor { sub role } data } }
    pageInfo { hasNextPage endCursor } } }"""


async def test_the_audit_trail_is_planned_in_each_role_s_scope(
    apps: tuple[Client, Client, str],
) -> None:
    on, off, agency = apps
    others = ["AGENCY", "STATION", "POST", "COURSE", "PROJECT", "COMMUNITY"]
    filters: list[dict[str, Any]] = [
        {"entityTypes": others},
        {"entityTypes": others, "district": "500103"},
        {"entityTypes": ["AGENCY"], "party": "MUNICIPAL"},
        {"entityTypes": others, "effectiveFrom": "2017-01-01", "effectiveTo": "2017-12-31"},
        {"entityTypes": others, "recordedFrom": "2000-01-01T00:00:00"},
        {"entityTypes": ["PROJECT"], "type": "ProjectFundsDisbursed"},
    ]
    for role in ROLES:
        auth = auth_of(role, agency)
        before = (await on.http.get("/readyz")).json()["reads"]
        answered = 0
        for chosen in filters:
            variables = {"first": 5, "filter": chosen}
            page = (await both(on, off, AUDIT, variables, auth)).json()
            if "errors" in page:  # another district's: FORBIDDEN, from the resolvers
                assert role == "OTHER_DISTRICT" and chosen.get("district"), page
                continue
            end = page["data"]["auditTrail"]["pageInfo"]["endCursor"]
            await both(on, off, AUDIT, {**variables, "after": end}, auth)
            answered += 2
        after = (await on.http.get("/readyz")).json()["reads"]
        assert after["planned"] - before["planned"] == answered, role
    for role in ROLES:
        everything = (await both(on, off, AUDIT, {"first": 200}, auth_of(role, agency))).json()
        assert everything["data"]["auditTrail"]["edges"], role
    refused = (
        await both(on, off, AUDIT, {"first": 5, "filter": {"district": "500105"}}, DISTRICT)
    ).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
