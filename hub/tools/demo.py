"""Demo records of every type across several districts, made through the same commands a user
would send, and tokens to try the roles."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from hub.commands import Command, request_for
from hub.commands import agency as agency_commands
from hub.commands import course as course_commands
from hub.commands import post as post_commands
from hub.commands import project as project_commands
from hub.commands import station as station_commands
from hub.commands import worker as worker_commands
from hub.domain.envelope import Actor, Role
from hub.domain.identifiers import make_credit_code, make_id_number
from hub.projections.agencies import agency_page
from hub.projections.workers import worker_page
from hub.service.auth import issue_token
from hub.service.runtime import Hub
from hub.tools.reference_import import SAMPLE, import_sample, read_csv

MUNICIPAL = Actor("demo-municipal", Role.MUNICIPAL)

AGENCIES = [
    (
        "重庆市渝中区社工服务中心",
        "500103",
        "COMPREHENSIVE",
        ["SOCIAL_WELFARE", "COMMUNITY_BUILDING"],
    ),
    ("重庆市江北区阳光社会工作服务社", "500105", "SPECIALIZED", ["MENTAL_HEALTH"]),
    ("重庆市沙坪坝区启航青少年社工中心", "500106", "SPECIALIZED", ["EDUCATION_COUNSELLING"]),
    (
        "重庆市九龙坡区和谐家庭社会工作服务中心",
        "500107",
        "COMPREHENSIVE",
        ["MARRIAGE_FAMILY", "SOCIAL_ASSISTANCE"],
    ),
    (
        "重庆市南岸区新起点矫治帮教社工站",
        "500108",
        "SPECIALIZED",
        ["CORRECTION_REHABILITATION", "DRUG_REHABILITATION"],
    ),
    ("重庆市万州区三峡社会工作服务中心", "500101", "COMPREHENSIVE", ["POVERTY_RELIEF", "CHARITY"]),
    ("城口县山区留守关爱社工服务社", "500229", "SPECIALIZED", ["SOCIAL_ASSISTANCE"]),
    (
        "彭水县民族地区社会工作服务中心",
        "500243",
        "COMPREHENSIVE",
        ["COMMUNITY_BUILDING", "DISASTER_RELIEF"],
    ),
]


class _Seeder:
    """Runs demo commands through the hub and counts those that wrote."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.today = hub.settings.today()
        self.written = 0

    async def __call__(
        self,
        run: Command,
        actor: Actor,
        on: date,
        key: str,
        record: UUID | None = None,
        reason: str | None = None,
        **inputs: object,
    ) -> UUID:
        # The idempotency key makes seeding again (or after a crash) a no-op.
        request = request_for(
            run,
            actor,
            today=self.today,
            on=on,
            record=record,
            reason=reason,
            key=f"demo:{key}",
            **inputs,
        )
        outcome = await self.hub.command(run, request)
        self.written += not outcome.replayed
        return outcome.record_id


async def seed(hub: Hub) -> int:
    """Make the demo records that are not there yet; return how many commands wrote."""
    step = _Seeder(hub)
    await import_sample(hub)
    agencies = []
    for n, (name, district, kind, fields) in enumerate(AGENCIES):
        actor = Actor(f"demo-district-{district}", Role.DISTRICT, district=district)
        agencies.append(
            await step(
                agency_commands.register_agency,
                actor,
                date(2015 + n % 3, 3, 1 + n),
                f"agency-{n}",
                name=name,
                credit_code=make_credit_code("52", district, f"MJ{n:07d}"),
                district=district,
                kind=kind,
                fields=fields,
            )
        )
    await step(
        agency_commands.incubate_agency,
        MUNICIPAL,
        date(2017, 5, 1),
        "incubate",
        agencies[2],
        incubator="重庆市社会组织孵化基地",
        start=date(2017, 5, 1),
        end=date(2019, 4, 30),
    )
    await step(
        agency_commands.designate_demonstration_agency,
        MUNICIPAL,
        date(2017, 9, 1),
        "designate",
        agencies[0],
        programme="411",
        year=2017,
    )
    await step(
        agency_commands.suspend_agency,
        MUNICIPAL,
        date(2018, 1, 15),
        "suspend",
        agencies[5],
        reason="annual inspection overdue (年检逾期)",
    )
    operators = {"500103": agencies[0], "500105": agencies[1], "500229": agencies[6]}
    communities = _sample_communities()
    for district, operator in operators.items():
        await _seed_district(step, district, operator, communities[district])
    await _seed_training(step, agencies[0])
    await _seed_projects(step, operators)
    return step.written


def _sample_communities() -> dict[str, list[tuple[str, str]]]:
    """(code, name) of the sample communities, by district."""
    by_district: dict[str, list[tuple[str, str]]] = {}
    for row in read_csv(SAMPLE):
        by_district.setdefault(row.district, []).append((row.code, row.name))
    return by_district


PEOPLE = [
    "张伟",
    "王芳",
    "李娜",
    "刘洋",
    "陈静",
    "杨磊",
    "赵敏",
    "黄丽",
    "周杰",
    "吴婷",
    "徐强",
    "孙燕",
]


async def _seed_district(
    step: _Seeder, district: str, operator: UUID, communities: list[tuple[str, str]]
) -> None:
    """Two stations (one run by `operator`), workers on their staff, posts, certificates."""
    bureau = Actor(f"demo-district-{district}", Role.DISTRICT, district=district)
    stations = []
    for n, (code, community) in enumerate(communities[:2]):
        stations.append(
            await step(
                station_commands.establish_station,
                bureau,
                date(2016, 4, 1 + n),
                f"station-{code}",
                community=code,
                name=f"{community}社会工作室",
            )
        )
    await step(
        station_commands.contract_station_operator,
        bureau,
        date(2017, 1, 1),
        f"operator-{district}",
        stations[0],
        agency=str(operator),
        start=date(2017, 1, 1),
        end=date(2019, 12, 31),
    )
    await step(
        station_commands.assess_station,
        bureau,
        date(2017, 12, 1),
        f"assess-{district}",
        stations[0],
        hardware=85,
        duties=80,
        mechanism=78,
        funding=70,
        service_standards=82,
        performance=88,
    )
    workers = []
    for n in range(4):
        born = date(1980 + 3 * n, 1 + n, 10 + n)
        workers.append(
            await step(
                worker_commands.register_worker,
                bureau,
                date(2016, 6, 1),
                f"worker-{district}-{n}",
                name=PEOPLE[(int(district[-3:]) + n) % len(PEOPLE)],
                id_number=make_id_number(district, born, 100 + n),
                district=district,
                education=["BACHELOR", "MASTER", "VOCATIONAL", "BACHELOR"][n],
                employer=str(operator) if n < 2 else None,
            )
        )
    levels = ["SOCIAL_WORKER", "ASSISTANT_SOCIAL_WORKER", "SOCIAL_WORK_ASSISTANT"]
    for n, worker in enumerate(workers[:3]):
        await step(
            worker_commands.award_certificate,
            MUNICIPAL,
            date(2017, 6, 20),
            f"certificate-{district}-{n}",
            worker,
            level=levels[n],
            number=f"CQ{district}{2017}{n:04d}",
        )
    for n, worker in enumerate(workers[:2]):
        await step(
            station_commands.assign_station_staff,
            bureau,
            date(2017, 2, 1),
            f"staff-{district}-{n}",
            stations[0],
            worker=str(worker),
            full_time=True,
        )
    post = await step(
        post_commands.create_post,
        bureau,
        date(2016, 7, 1),
        f"post-{district}",
        sector="COMMUNITY",
        field="COMMUNITY_BUILDING",
        district=district,
        host_organization="社区居民委员会",
        community=communities[0][0],
        station=str(stations[0]),
        origin="CONVERTED",
    )
    await step(
        post_commands.fill_post,
        bureau,
        date(2017, 2, 1),
        f"fill-{district}",
        post,
        worker=str(workers[0]),
    )
    await step(
        post_commands.create_post,
        bureau,
        date(2016, 7, 1),
        f"judicial-{district}",
        sector="JUDICIAL",
        field="CORRECTION_REHABILITATION",
        district=district,
        host_organization="司法所",
        community=None,
        station=None,
        origin="NEW",
    )


async def _seed_training(step: _Seeder, agency: UUID) -> None:
    course = await step(
        course_commands.schedule_course,
        MUNICIPAL,
        date(2017, 8, 1),
        "course-exam",
        title="社会工作者职业水平考试考前公益培训",
        category="EXAM_PREPARATION",
        level="MUNICIPAL",
        district=None,
        delivered_by=str(agency),
        starts_on=date(2017, 9, 1),
        ends_on=date(2017, 9, 3),
        hours=Decimal("18"),
    )
    rows, _, _ = await worker_page(step.hub.pool, first=6, after_seq=0)
    workers = [r["id"] for r in rows]
    for n, worker in enumerate(workers[:6]):
        await step(
            course_commands.record_attendance,
            MUNICIPAL,
            date(2017, 9, 3),
            f"attend-{n}",
            course,
            worker=str(worker),
            hours=Decimal("18"),
            passed=n != 5,
        )
    await step(course_commands.complete_course, MUNICIPAL, date(2017, 9, 3), "course-done", course)


async def _seed_projects(step: _Seeder, operators: dict[str, UUID]) -> None:
    for n, (district, operator) in enumerate(operators.items()):
        bureau = Actor(f"demo-district-{district}", Role.DISTRICT, district=district)
        funder, actor = ("MUNICIPAL", MUNICIPAL) if n == 0 else (district, bureau)
        project = await step(
            project_commands.approve_project,
            actor,
            date(2017, 3, 1),
            f"project-{district}",
            title=["三区计划社区服务项目", "精神健康社工服务项目", "留守儿童关爱项目"][n],
            field=["COMMUNITY_BUILDING", "MENTAL_HEALTH", "SOCIAL_ASSISTANCE"][n],
            district=district,
            funder=funder,
            budget=Decimal("300000.00"),
            programme="三区计划" if n != 1 else None,
            contractor=str(operator),
            starts_on=date(2017, 3, 1),
            ends_on=date(2018, 2, 28),
        )
        await step(
            project_commands.disburse_funds,
            actor,
            date(2017, 3, 15),
            f"disburse-{district}-1",
            project,
            amount=Decimal("150000.00"),
        )
        contractor = Actor("demo-contractor", Role.CONTRACTOR, agency=str(operator))
        await step(
            project_commands.report_project_progress,
            contractor,
            date(2017, 9, 30),
            f"progress-{district}",
            project,
            summary="完成个案服务 120 例，小组活动 16 次",
            percent_complete=60,
        )
        if n == 2:
            await step(
                project_commands.commission_evaluation,
                bureau,
                date(2018, 3, 10),
                f"evaluate-{district}",
                project,
                evaluator="重庆市社会工作评估中心",
            )
            await step(
                project_commands.conclude_evaluation,
                bureau,
                date(2018, 4, 20),
                f"concluded-{district}",
                project,
                score=86,
                grade="GOOD",
            )


def demo_tokens(hub: Hub, agency_id: str | None) -> dict[str, str]:
    secret = hub.settings.jwt_secret
    tokens = {
        "MUNICIPAL": issue_token(secret, Role.MUNICIPAL, sub="demo-municipal"),
        "DISTRICT 500103 (渝中区)": issue_token(
            secret, Role.DISTRICT, sub="demo-yuzhong", district="500103"
        ),
        "AUDITOR": issue_token(secret, Role.AUDITOR, sub="demo-auditor"),
        "PARTNER": issue_token(secret, Role.PARTNER, sub="demo-partner"),
    }
    if agency_id:
        tokens[f"CONTRACTOR {agency_id}"] = issue_token(
            secret, Role.CONTRACTOR, sub="demo-contractor", agency=agency_id
        )
    return tokens


async def show(hub: Hub) -> None:
    """Seed the demo records if the registry is empty, then print where to look and the
    tokens to look with (`hub serve --demo`)."""
    made = await seed(hub)
    agencies, _, _ = await agency_page(hub.pool, first=1, after_seq=0)
    first = str(agencies[0]["id"]) if agencies else None
    settings = hub.settings
    lines = [
        f"demo: {made} commands recorded the demo records"
        if made
        else "demo: the demo records are there already",
        f"GraphiQL: http://{settings.host}:{settings.port}/graphql (set the Authorization "
        "header to one of these)",
    ]
    for role, token in demo_tokens(hub, first).items():
        lines.append(f"  {role}: Bearer {token}")
    print("\n".join(lines), flush=True)
