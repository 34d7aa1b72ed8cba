"""Every command against every role: the allowed calls succeed, the rest are FORBIDDEN and
write nothing.

The expected matrix below is written out on its own from the accountability table (docs/domain.md,
"Who may do what"), not derived from hub/domain/rules.py, so that the two are checked against
each other.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import GraphQLNonNull

from hub.schema.root import schema
from hub.tools.reference_import import import_communities, parse_csv
from tests.agency_api import register, registration, send
from tests.conftest import Client, token
from tests.worker_api import register_worker, worker_input

M, DIN, DOUT, COWN, COTHER, AUD, PAR = (
    "MUNICIPAL",
    "DISTRICT in",
    "DISTRICT out",
    "CONTRACTOR own",
    "CONTRACTOR other",
    "AUDITOR",
    "PARTNER",
)
ROLES = (M, DIN, DOUT, COWN, COTHER, AUD, PAR)
HOME, AWAY = "500103", "500105"

# (command, variant): the roles that may issue it; everyone else is refused.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("registerAgency", ""): {M, DIN},
    ("suspendAgency", ""): {M, DIN},
    ("reinstateAgency", ""): {M, DIN},
    ("deregisterAgency", ""): {M, DIN},
    ("incubateAgency", ""): {M, DIN},
    ("updateAgencyProfile", ""): {M, DIN, COWN},
    ("designateDemonstrationAgency", ""): {M},
    ("establishStation", ""): {M, DIN},
    ("contractStationOperator", ""): {M, DIN},
    ("assessStation", ""): {M, DIN},
    ("closeStation", ""): {M, DIN},
    ("designateDemonstrationStation", ""): {M},
    ("assignStationStaff", ""): {M, DIN, COWN},
    ("releaseStationStaff", ""): {M, DIN, COWN},
    ("createPost", ""): {M, DIN},
    ("abolishPost", ""): {M, DIN},
    ("fillPost", ""): {M, DIN, COWN},
    ("vacatePost", ""): {M, DIN, COWN},
    ("registerWorker", ""): {M, DIN, COWN},
    ("updateWorker", ""): {M, DIN, COWN},
    ("awardCertificate", ""): {M},
    ("revokeCertificate", ""): {M},
    ("eraseWorkerPersonalData", ""): {M},
    ("scheduleCourse", "district level"): {DIN, COWN},
    ("scheduleCourse", "municipal level"): {M, COWN},
    ("recordAttendance", "district level"): {DIN, COWN},
    ("recordAttendance", "municipal level"): {M, COWN},
    ("completeCourse", "district level"): {DIN, COWN},
    ("cancelCourse", "district level"): {DIN, COWN},
    ("approveProject", "district funded"): {DIN},
    ("approveProject", "municipal funded"): {M},
    ("disburseFunds", "district funded"): {DIN},
    ("disburseFunds", "municipal funded"): {M},
    ("reportProjectProgress", ""): {COWN},
    ("commissionEvaluation", ""): {DIN},
    ("concludeEvaluation", ""): {DIN},
    ("closeProject", ""): {DIN},
}

MUNICIPAL = token("MUNICIPAL", sub="matrix-setup")
HOME_DISTRICT = token("DISTRICT", district=HOME, sub="matrix-setup-district")


@dataclass
class Case:
    """A fresh target for one call: the command's input and the agency answerable for it."""

    input: dict[str, Any]
    agency: str


Setup = Callable[["World"], Awaitable[Case]]
_serial = itertools.count(1)


@dataclass
class World:
    client: Client
    other_agency: str
    communities: list[str]

    async def agency(self) -> str:
        return (await register(self.client, auth=MUNICIPAL, district=HOME))["agency"]["id"]

    async def call(self, command: str, auth: str = MUNICIPAL, **input: Any) -> dict[str, Any]:
        payload = await send(self.client, document(command), auth=auth, **input)
        assert payload["errors"] == [], (command, payload["errors"])
        return next(v for k, v in payload.items() if k not in ("position", "errors"))

    async def station(self, operator: str | None = None) -> str:
        made = await self.call(
            "establishStation",
            community=self.communities.pop(),
            name="矩阵测试站",
            effectiveOn="2017-01-01",
        )
        if operator:
            await self.call(
                "contractStationOperator",
                id=made["id"],
                agency=operator,
                **{"from": "2017-01-01", "to": "2020-12-31"},
            )
        return made["id"]

    async def worker(self, employer: str | None = None) -> str:
        return (
            await register_worker(
                self.client, auth=MUNICIPAL, employer=employer, effectiveOn="2017-01-01"
            )
        )["id"]

    async def post(self, station: str | None = None) -> str:
        return (
            await self.call(
                "createPost",
                sector="COMMUNITY",
                field="CHARITY",
                district=HOME,
                hostOrganization="居委会",
                origin="NEW",
                station=station,
                effectiveOn="2017-01-01",
            )
        )["id"]

    async def course(self, level: str, agency: str) -> str:
        auth = MUNICIPAL if level == "MUNICIPAL" else HOME_DISTRICT
        return (
            await self.call(
                "scheduleCourse",
                auth=auth,
                title="矩阵培训",
                category="KEY_TALENT",
                level=level,
                district=HOME if level != "MUNICIPAL" else None,
                deliveredBy=agency,
                startsOn="2018-03-01",
                endsOn="2018-03-03",
                hours="12",
                effectiveOn="2018-02-01",
            )
        )["id"]

    async def project(self, funder: str, agency: str) -> str:
        auth = MUNICIPAL if funder == "MUNICIPAL" else HOME_DISTRICT
        return (await self.call("approveProject", auth=auth, **project_input(funder, agency)))["id"]


def project_input(funder: str, agency: str) -> dict[str, Any]:
    return dict(
        title="三区计划项目",
        field="POVERTY_RELIEF",
        district=HOME,
        funder=funder,
        budget="100000.00",
        programme="三区计划",
        contractor=agency,
        startsOn="2018-01-01",
        endsOn="2018-12-31",
        effectiveOn="2018-01-01",
    )


async def _agency_case(w: World, **input: Any) -> Case:
    agency = await w.agency()
    return Case({"id": agency, **input}, agency)


async def _suspended(w: World) -> Case:
    case = await _agency_case(w, reason="整改完成")
    await w.call("suspendAgency", id=case.agency, reason="年检")
    return case


async def _station_case(w: World, **input: Any) -> Case:
    agency = await w.agency()
    return Case({"id": await w.station(operator=agency), **input}, agency)


async def _staffed(w: World) -> Case:
    case = await _station_case(w)
    worker = await w.worker()
    await w.call("assignStationStaff", id=case.input["id"], worker=worker)
    return Case({"id": case.input["id"], "worker": worker}, case.agency)


async def _post_at_operated_station(w: World, filled: bool) -> Case:
    agency = await w.agency()
    post = await w.post(await w.station(operator=agency))
    worker = await w.worker()
    if filled:
        await w.call("fillPost", id=post, worker=worker)
        return Case({"id": post}, agency)
    return Case({"id": post, "worker": worker}, agency)


async def _worker_case(w: World, **input: Any) -> Case:
    agency = await w.agency()
    return Case({"id": await w.worker(employer=agency), **input}, agency)


async def _certified(w: World) -> Case:
    case = await _worker_case(w)
    number = f"MATRIX-R-{next(_serial)}"
    await w.call("awardCertificate", id=case.input["id"], level="SOCIAL_WORKER", number=number)
    return Case({"id": case.input["id"], "number": number, "reason": "撤销"}, case.agency)


async def _course_case(w: World, level: str, **input: Any) -> Case:
    agency = await w.agency()
    return Case({"id": await w.course(level, agency), **input}, agency)


async def _attendance(w: World, level: str) -> Case:
    return await _course_case(
        w, level, worker=await w.worker(), hours="6", passed=True, effectiveOn="2018-03-02"
    )


async def _project_case(w: World, funder: str, **input: Any) -> Case:
    agency = await w.agency()
    return Case({"id": await w.project(funder, agency), **input}, agency)


async def _commissioned(w: World, **input: Any) -> Case:
    case = await _project_case(w, HOME)
    await w.call(
        "commissionEvaluation", auth=HOME_DISTRICT, id=case.input["id"], evaluator="第三方评估机构"
    )
    return Case({**case.input, **input}, case.agency)


async def _concluded(w: World) -> Case:
    case = await _commissioned(w)
    await w.call(
        "concludeEvaluation", auth=HOME_DISTRICT, id=case.input["id"], score=88, grade="GOOD"
    )
    return case


SETUPS: dict[tuple[str, str], Setup] = {
    ("registerAgency", ""): lambda w: _fresh(Case(registration(district=HOME), w.other_agency)),
    ("suspendAgency", ""): lambda w: _agency_case(w, reason="年检逾期"),
    ("reinstateAgency", ""): _suspended,
    ("deregisterAgency", ""): lambda w: _agency_case(w, reason="注销"),
    ("incubateAgency", ""): lambda w: _agency_case(
        w, incubator="孵化基地", **{"from": "2018-04-01", "to": "2019-03-31"}
    ),
    ("updateAgencyProfile", ""): lambda w: _agency_case(w, name=f"新名称{next(_serial)}"),
    ("designateDemonstrationAgency", ""): lambda w: _agency_case(w, programme="411", year=2018),
    ("establishStation", ""): lambda w: _fresh(
        Case({"community": w.communities.pop(), "name": "新站"}, w.other_agency)
    ),
    ("contractStationOperator", ""): lambda w: _contract(w),
    ("assessStation", ""): lambda w: _station_case(
        w, hardware=80, duties=80, mechanism=80, funding=80, serviceStandards=80, performance=80
    ),
    ("closeStation", ""): lambda w: _station_case(w, reason="撤并"),
    ("designateDemonstrationStation", ""): lambda w: _station_case(w, programme="示范", year=2018),
    ("assignStationStaff", ""): lambda w: _assign(w),
    ("releaseStationStaff", ""): _staffed,
    ("createPost", ""): lambda w: _fresh(
        Case(
            dict(
                sector="JUDICIAL",
                field="CORRECTION_REHABILITATION",
                district=HOME,
                hostOrganization="司法所",
                origin="NEW",
            ),
            w.other_agency,
        )
    ),
    ("abolishPost", ""): lambda w: _abolish(w),
    ("fillPost", ""): lambda w: _post_at_operated_station(w, filled=False),
    ("vacatePost", ""): lambda w: _post_at_operated_station(w, filled=True),
    ("registerWorker", ""): lambda w: _register_worker(w),
    ("updateWorker", ""): lambda w: _worker_case(w, education="MASTER"),
    ("awardCertificate", ""): lambda w: _worker_case(
        w, level="SOCIAL_WORKER", number=f"MATRIX-A-{next(_serial)}"
    ),
    ("revokeCertificate", ""): _certified,
    ("eraseWorkerPersonalData", ""): lambda w: _worker_case(w, reason="本人申请"),
    ("scheduleCourse", "district level"): lambda w: _schedule(w, "DISTRICT"),
    ("scheduleCourse", "municipal level"): lambda w: _schedule(w, "MUNICIPAL"),
    ("recordAttendance", "district level"): lambda w: _attendance(w, "DISTRICT"),
    ("recordAttendance", "municipal level"): lambda w: _attendance(w, "MUNICIPAL"),
    ("completeCourse", "district level"): lambda w: _course_case(
        w, "DISTRICT", effectiveOn="2018-03-03"
    ),
    ("cancelCourse", "district level"): lambda w: _course_case(w, "DISTRICT", reason="取消"),
    ("approveProject", "district funded"): lambda w: _approve(w, HOME),
    ("approveProject", "municipal funded"): lambda w: _approve(w, "MUNICIPAL"),
    ("disburseFunds", "district funded"): lambda w: _project_case(w, HOME, amount="1000.00"),
    ("disburseFunds", "municipal funded"): lambda w: _project_case(
        w, "MUNICIPAL", amount="1000.00"
    ),
    ("reportProjectProgress", ""): lambda w: _project_case(
        w, HOME, summary="进展顺利", percentComplete=50
    ),
    ("commissionEvaluation", ""): lambda w: _project_case(w, HOME, evaluator="第三方评估机构"),
    ("concludeEvaluation", ""): lambda w: _commissioned(w, score=90, grade="EXCELLENT"),
    ("closeProject", ""): _concluded,
}


async def _fresh(case: Case) -> Case:
    return case


async def _contract(w: World) -> Case:
    agency = await w.agency()
    return Case(
        {"id": await w.station(), "agency": agency, "from": "2018-01-01", "to": "2019-12-31"},
        agency,
    )


async def _assign(w: World) -> Case:
    case = await _station_case(w)
    return Case({**case.input, "worker": await w.worker(), "fullTime": True}, case.agency)


async def _abolish(w: World) -> Case:
    return Case({"id": await w.post(), "reason": "编制调整"}, await w.agency())


async def _register_worker(w: World) -> Case:
    agency = await w.agency()
    return Case(worker_input(employer=agency, district=HOME), agency)


async def _schedule(w: World, level: str) -> Case:
    agency = await w.agency()
    return Case(
        dict(
            title="培训",
            category="GENERAL_AWARENESS",
            level=level,
            district=HOME if level != "MUNICIPAL" else None,
            deliveredBy=agency,
            startsOn="2018-03-01",
            endsOn="2018-03-03",
            hours="8",
            effectiveOn="2018-02-01",
        ),
        agency,
    )


async def _approve(w: World, funder: str) -> Case:
    agency = await w.agency()
    return Case(project_input(funder, agency), agency)


def document(command: str) -> str:
    """The mutation `command`, asking for its record's id, position and errors."""
    field = schema._schema.mutation_type.fields[command]
    input_type = field.args["input"].type
    assert isinstance(input_type, GraphQLNonNull)
    payload = field.type.of_type
    record = next(name for name in payload.fields if name not in ("position", "errors"))
    return (
        f"mutation($input: {input_type.of_type.name}!) {{ {command}(input: $input)"
        f" {{ {record} {{ id }} position errors {{ code field message }} }} }}"
    )


def actor(role: str, case: Case, world: World) -> str:
    return {
        M: token("MUNICIPAL"),
        DIN: token("DISTRICT", district=HOME),
        DOUT: token("DISTRICT", district=AWAY),
        COWN: token("CONTRACTOR", agency=case.agency),
        COTHER: token("CONTRACTOR", agency=world.other_agency),
        AUD: token("AUDITOR"),
        PAR: token("PARTNER"),
    }[role]


def test_every_command_of_the_rule_table_is_in_the_matrix() -> None:
    from hub.domain.rules import RULES

    mutations = set(schema._schema.mutation_type.fields)
    covered = {command for command, _ in EXPECTED}
    assert covered == set(RULES) - {"importReference"}
    assert covered <= mutations
    assert set(SETUPS) == set(EXPECTED)


@pytest.fixture(scope="module")
async def world(client: Client) -> World:
    rows = "code,name,district,urban\n" + "".join(
        f"{HOME}8{n:02d}{m:03d},矩阵社区{n}-{m},{HOME},true\n"
        for n in range(1, 3)
        for m in range(1, 51)
    )
    await import_communities(client.hub, parse_csv(rows), sub="matrix-setup")
    other = (await register(client, district=AWAY))["agency"]["id"]
    codes = [f"{HOME}8{n:02d}{m:03d}" for n in range(1, 3) for m in range(1, 51)]
    return World(client, other, codes)


@pytest.mark.parametrize(("command", "variant"), list(EXPECTED))
@pytest.mark.parametrize("role", ROLES)
async def test_the_rule_table(world: World, command: str, variant: str, role: str) -> None:
    case = await SETUPS[command, variant](world)
    before = await world.client.events()
    payload = await send(
        world.client, document(command), auth=actor(role, case, world), **case.input
    )
    if role in EXPECTED[command, variant]:
        assert payload["errors"] == [], (command, variant, role, payload["errors"])
        assert await world.client.events() > before
    else:
        assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"], (
            command,
            variant,
            role,
            payload["errors"],
        )
        assert await world.client.events() == before
