"""Agencies: registered (by the municipal or a district bureau), incubated, designated for the
"411" programme; in 2018, profiles updated by the agencies themselves and a few suspensions,
some lifted."""

from __future__ import annotations

from datetime import date

from hub.commands import agency as agencies
from hub.domain.identifiers import make_credit_code
from hub.domain.reference import DISTRICTS
from hub.tools.seed.plan import AgencyPlan, City, Ref, Step, apportion, growing, later, pairs
from hub.tools.seed.profile import CORE, FIELDS, FIRST_DAY, LAST_DAY, START_KEY

AGENCY_WORDS = pairs(
    "阳光启航和谐同心启新爱心明德善缘乐群助人益民仁爱馨家春晖彩虹晨曦方舟同行博爱立德"
    "心语暖阳众益协力恒爱德善锦绣山城巴渝川江鸿雁朝晖聚力初心"
)
AGENCY_KINDS = (
    "社会工作服务中心",
    "社工服务社",
    "社会工作服务社",
    "社工事务所",
    "青少年社会工作服务中心",
    "家庭社会工作服务中心",
)
MUNICIPAL_INCUBATOR = "重庆市社会组织孵化基地"
SUSPENSION_REASONS = (
    "年度检查不合格（年检不合格）",
    "未按规定报送年度工作报告",
    "财务管理不规范，责令停业整改",
)


def plan_agencies(city: City) -> list[Step]:
    rng = city.rng
    count = city.figures["2018-06-30"]["agencies"]
    weights = [
        w * (3 if d in CORE else 1) for d, w in zip(city.districts, city.weights, strict=True)
    ]
    dates = [FIRST_DAY, *growing(rng, count - 1, FIRST_DAY, LAST_DAY, 1.25)][:count]
    city.agencies: list[AgencyPlan] = []
    steps: list[Step] = []
    for n, registered in enumerate(dates):
        d = city.district(weights)
        specialized = rng.random() < 0.4
        fields = rng.sample(FIELDS, 1 if specialized else rng.randint(2, 4))
        agency = AgencyPlan(n, d, registered, fields)
        city.agencies.append(agency)
        name = f"{DISTRICTS[d].name}{rng.choice(AGENCY_WORDS)}{rng.choice(AGENCY_KINDS)}"
        first = n == 0
        steps.append(
            Step(
                agencies.register_agency,
                city.municipal if first or rng.random() < 0.2 else city.bureaus[d],
                registered,
                inputs=dict(
                    name=name,
                    credit_code=make_credit_code("52", d, f"MH{n:07d}"),
                    district=d,
                    kind="SPECIALIZED" if specialized else "COMPREHENSIVE",
                    fields=fields,
                ),
                key=START_KEY if first else None,
                makes=Ref("agency", n),
            )
        )
    for agency in city.agencies:
        if agency.registered.year >= 2012 and rng.random() < 0.35:
            start = min(later(agency.registered, rng.randint(0, 60)), LAST_DAY)
            municipal = rng.random() < 0.3
            steps.append(
                Step(
                    agencies.incubate_agency,
                    city.municipal if municipal else city.bureaus[agency.district],
                    start,
                    Ref("agency", agency.n),
                    dict(
                        incubator=MUNICIPAL_INCUBATOR
                        if municipal
                        else f"{DISTRICTS[agency.district].name}社会组织孵化基地",
                        start=start,
                        end=later(start, 730),
                    ),
                )
            )
    years = (2015, 2016, 2017)
    wanted = city.n(60)
    for k, year in enumerate(years):
        due = apportion(wanted, [1, 1.5, 2])[k]
        candidates = [a for a in city.agencies if a.registered < date(year - 1, 1, 1)]
        chosen = [a for a in candidates if not a.demonstration]
        for agency in rng.sample(chosen, min(due, len(chosen))):
            agency.demonstration = True
            steps.append(
                Step(
                    agencies.designate_demonstration_agency,
                    city.municipal,
                    date(year, rng.randint(9, 12), rng.randint(1, 28)),
                    Ref("agency", agency.n),
                    dict(programme="411", year=year),
                )
            )
    suspended = rng.sample(city.agencies, min(city.n(8), len(city.agencies)))
    for agency in suspended:
        agency.suspended = date(2018, rng.randint(3, 4), rng.randint(1, 28))
    city.by_district: dict[str, list[AgencyPlan]] = {d: [] for d in city.districts}
    for agency in city.agencies:
        city.by_district[agency.district].append(agency)
    return steps


def plan_agencies_2018(city: City) -> list[Step]:
    rng = city.rng
    steps: list[Step] = []
    updated = [a for a in city.agencies if a.registered < date(2017, 6, 1)]
    for agency in rng.sample(updated, min(city.n(12), len(updated))):
        extra = rng.choice([f for f in FIELDS if f not in agency.fields])
        steps.append(
            Step(
                agencies.update_agency_profile,
                Ref("agency", agency.n),
                date(2018, rng.randint(1, 2), rng.randint(1, 28)),
                Ref("agency", agency.n),
                dict(name=None, kind=None, fields=[*agency.fields, extra]),
            )
        )
    suspended = sorted((a for a in city.agencies if a.suspended), key=lambda a: (a.suspended, a.n))
    for k, agency in enumerate(suspended):
        assert agency.suspended is not None
        steps.append(
            Step(
                agencies.suspend_agency,
                city.bureaus[agency.district],
                agency.suspended,
                Ref("agency", agency.n),
                reason=rng.choice(SUSPENSION_REASONS),
            )
        )
        if k % 2 == 0:
            steps.append(
                Step(
                    agencies.reinstate_agency,
                    city.bureaus[agency.district],
                    date(2018, rng.randint(5, 6), rng.randint(1, 25)),
                    Ref("agency", agency.n),
                    reason="整改完成，经复查恢复正常活动",
                )
            )
    return steps
