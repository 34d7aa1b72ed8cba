"""Training: 152,000 person-times by the end of 2017, in five categories at three levels,
following the workforce; some courses cancelled, some scheduled ahead for the autumn of 2018."""

from __future__ import annotations

import bisect
from datetime import date
from decimal import Decimal

from hub.commands import course as courses
from hub.domain.envelope import Actor
from hub.domain.reference import DISTRICTS
from hub.tools.seed.plan import City, Pool, Ref, Step, WorkerPlan, apportion, between, later
from hub.tools.seed.profile import FIRST_DAY, LAST_DAY

COURSE_CATEGORIES = {
    # category: (share of person-times, attendees per course, days, title)
    "GENERAL_AWARENESS": (0.40, (60, 240), (1, 2), "社会工作知识普及培训"),
    "EXAM_PREPARATION": (0.25, (50, 160), (2, 3), "社会工作者职业水平考试考前公益培训"),
    "ADVANCED_STUDY": (0.05, (20, 50), (5, 7), "社会工作师高级研修班"),
    "KEY_TALENT": (0.15, (30, 80), (3, 5), "社会工作骨干人才培训"),
    "ADMINISTRATIVE_CAPACITY": (0.15, (30, 100), (2, 3), "社会工作行政能力培训"),
}
COURSE_LEVELS = {"MUNICIPAL": 0.2, "DISTRICT": 0.45, "TOWNSHIP": 0.35}


def plan_training(city: City) -> list[Step]:
    rng = city.rng
    everyone = Pool(city.workers)
    years = list(range(2008, 2018))
    # Person-times follow the workforce: in proportion to workers registered by mid-year.
    people = [everyone.registered_by(date(y, 7, 1)) for y in years]
    targets = apportion(city.figures["2017-12-31"]["trainingPersonTimes"], people)
    years.append(2018)
    targets.append(round(targets[-1] * 0.45))
    city.courses = 0
    steps: list[Step] = []
    for year, target in zip(years, targets, strict=True):
        last = LAST_DAY if year == 2018 else date(year, 12, 31)
        while target > 0:
            attended = _course(city, steps, year, last, target)
            target -= attended
    for _ in range(city.n(40)):  # cancelled for want of applicants
        start = between(rng, date(2010, 3, 1), LAST_DAY)
        _course(city, steps, start.year, start, 0, cancelled=True)
    for _ in range(city.n(15)):  # scheduled in June 2018 for the autumn
        _course(city, steps, 2018, date(2018, 9, 30), 0, ahead=True)
    return steps


def _course(
    city: City,
    steps: list[Step],
    year: int,
    last: date,
    target: int,
    *,
    cancelled: bool = False,
    ahead: bool = False,
) -> int:
    """Plan one course of `year` ending by `last` with at most `target` attendances;
    return how many it has."""
    rng = city.rng
    category = rng.choices(
        list(COURSE_CATEGORIES),
        [share / sum(size) for share, size, _, _ in COURSE_CATEGORIES.values()],
    )[0]
    _, (fewest, most), (shortest, longest), title = COURSE_CATEGORIES[category]
    level = (
        "MUNICIPAL"
        if category == "ADVANCED_STUDY"
        else rng.choices(list(COURSE_LEVELS), list(COURSE_LEVELS.values()))[0]
    )
    days = rng.randint(shortest, longest)
    if ahead:
        starts = date(2018, rng.randint(7, 9), rng.randint(1, 20))
        scheduled = date(2018, 6, rng.randint(1, 28))
    else:
        starts = between(rng, date(year, 1, 10), later(last, -(days - 1)))
        scheduled = max(later(starts, -rng.randint(10, 40)), FIRST_DAY)
    ends = later(starts, days - 1)
    district = None if level == "MUNICIPAL" else city.district()
    pool = city.pools[district] if district else city.everyone()
    eligible: list[WorkerPlan] = []
    if target:
        eligible = pool.members[: bisect.bisect_right(pool.dates, starts)]
        if not eligible:
            return 0
    delivered = city.agency(scheduled, district) if rng.random() < 0.35 else None
    actor: Actor | Ref
    if delivered is not None and rng.random() < 0.5:
        actor = Ref("agency", delivered.n)
    else:
        actor = city.bureaus[district] if district else city.municipal
    n = city.courses
    city.courses += 1
    where = DISTRICTS[district].name if district else "重庆市"
    hours = Decimal(days * rng.choice((6, 7))) + (Decimal("0.5") if rng.random() < 0.2 else 0)
    steps.append(
        Step(
            courses.schedule_course,
            actor,
            scheduled,
            inputs=dict(
                title=f"{year}年{where}{title}（第{n + 1}期）",
                category=category,
                level=level,
                district=district,
                delivered_by=Ref("agency", delivered.n) if delivered else None,
                starts_on=starts,
                ends_on=ends,
                hours=hours,
            ),
            makes=Ref("course", n),
        )
    )
    if cancelled:
        steps.append(
            Step(
                courses.cancel_course,
                actor,
                max(later(starts, -rng.randint(1, 7)), scheduled),
                Ref("course", n),
                reason="报名人数不足，取消开班",
            )
        )
        return 0
    if ahead:
        return 0
    size = min(rng.randint(fewest, most), target, len(eligible))
    graded = category in ("ADVANCED_STUDY", "KEY_TALENT", "ADMINISTRATIVE_CAPACITY")
    for k in rng.sample(range(len(eligible)), size):
        attended = (
            hours if rng.random() < 0.9 else max(hours - rng.randint(1, days * 2), Decimal(1))
        )
        steps.append(
            Step(
                courses.record_attendance,
                actor,
                ends,
                Ref("course", n),
                dict(
                    worker=Ref("worker", eligible[k].n),
                    hours=attended,
                    passed=(rng.random() < 0.92) if graded else None,
                ),
            )
        )
    steps.append(Step(courses.complete_course, actor, ends, Ref("course", n)))
    return size
