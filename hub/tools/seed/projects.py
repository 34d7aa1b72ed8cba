"""Projects: 1,114 funded by the city by 2017, district-funded ones too in 2018; paid in
tranches, reported on by the contractor, evaluated by the district since 2016."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from hub.commands import project as projects
from hub.domain.reference import DISTRICTS
from hub.tools.seed.plan import City, Ref, Step, between, growing, later
from hub.tools.seed.profile import END_2017, FIELD_NAMES, FIELDS, LAST_DAY

EVALUATORS = (
    "重庆市社会工作评估中心",
    "西南大学社会工作评估研究所",
    "重庆工商大学第三方评估中心",
    "重庆市社会组织评估事务所",
)


def plan_projects(city: City) -> list[Step]:
    rng = city.rng
    municipal = city.figures["2017-12-31"]["projects"]
    planned = [(on, True) for on in growing(rng, municipal, date(2010, 3, 1), END_2017, 1.3)]
    in_2018 = [between(rng, date(2018, 1, 5), LAST_DAY) for _ in range(city.n(300))]
    planned += [(on, k % 5 < 2) for k, on in enumerate(in_2018)]  # 3 in 5 by a district
    planned.sort(key=lambda p: p[0])
    steps: list[Step] = []
    for n, (approved, by_city) in enumerate(planned):
        contractor = city.agency(approved)
        if contractor is None:
            raise AssertionError(f"no agency to contract a project on {approved}")
        d = contractor.district if not by_city or rng.random() < 0.75 else city.district()
        funder = "MUNICIPAL" if by_city else d
        payer = city.municipal if by_city else city.bureaus[d]
        chosen_field = rng.choice(contractor.fields) if rng.random() < 0.7 else rng.choice(FIELDS)
        programme = (
            "三区计划"
            if DISTRICTS[d].county and rng.random() < 0.5
            else "411"
            if rng.random() < 0.15
            else None
        )
        budget = Decimal(
            rng.randrange(80, 601) * 1000 if by_city else rng.randrange(30, 301) * 1000
        )
        starts = later(approved, rng.randint(0, 30))
        ends = later(starts, 729 if rng.random() < 0.2 else 364)
        mid = later(starts, (ends - starts).days // 2)
        project = Ref("project", n)
        plan: list[Step] = [
            Step(
                projects.approve_project,
                payer,
                approved,
                inputs=dict(
                    title=f"{DISTRICTS[d].name}{FIELD_NAMES[chosen_field]}社会工作服务项目",
                    field=chosen_field,
                    district=d,
                    funder=funder,
                    budget=budget,
                    programme=programme,
                    contractor=Ref("agency", contractor.n),
                    starts_on=starts,
                    ends_on=ends,
                ),
                makes=project,
            ),
            Step(
                projects.disburse_funds,
                payer,
                starts,
                project,
                dict(amount=budget * Decimal("0.5")),
            ),
            Step(
                projects.report_project_progress,
                Ref("agency", contractor.n),
                mid,
                project,
                dict(summary=_progress_summary(city.rng), percent_complete=rng.randint(40, 60)),
            ),
            Step(
                projects.disburse_funds,
                payer,
                later(mid, 15),
                project,
                dict(amount=budget * Decimal("0.3")),
            ),
            Step(
                projects.report_project_progress,
                Ref("agency", contractor.n),
                ends,
                project,
                dict(summary=_progress_summary(city.rng), percent_complete=100),
            ),
        ]
        final = later(ends, 30)
        if ends.year >= 2016:
            bureau = city.bureaus[d]
            commissioned = later(ends, rng.randint(5, 30))
            concluded = later(commissioned, rng.randint(20, 60))
            score = rng.randint(50, 59) if rng.random() < 0.02 else rng.randint(62, 97)
            grade = (
                "EXCELLENT"
                if score >= 90
                else "GOOD"
                if score >= 75
                else "PASS"
                if score >= 60
                else "FAIL"
            )
            final = later(concluded, rng.randint(5, 20))
            plan += [
                Step(
                    projects.commission_evaluation,
                    bureau,
                    commissioned,
                    project,
                    dict(evaluator=rng.choice(EVALUATORS)),
                ),
                Step(
                    projects.conclude_evaluation,
                    bureau,
                    concluded,
                    project,
                    dict(score=score, grade=grade),
                ),
            ]
        remainder = budget - budget * Decimal("0.5") - budget * Decimal("0.3")
        plan.append(Step(projects.disburse_funds, payer, final, project, dict(amount=remainder)))
        if ends.year >= 2016 and rng.random() < 0.7:
            plan.append(
                Step(
                    projects.close_project,
                    city.bureaus[d],
                    later(final, rng.randint(5, 30)),
                    project,
                )
            )
        steps += [step for step in plan if step.on <= LAST_DAY]
    return steps


def _progress_summary(rng: random.Random) -> str:
    return (
        f"完成个案服务 {rng.randint(10, 200)} 例，小组活动 {rng.randint(2, 40)} 次，"
        f"社区活动 {rng.randint(1, 20)} 场，服务 {rng.randint(100, 5000)} 人次"
    )
