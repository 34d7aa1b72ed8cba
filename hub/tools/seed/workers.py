"""Workers, registered by their district, their employer or the municipal bureau; and their
certificates, whose holders grow 62-fold from 2008 to 2017 (the city's own level from 2011),
a few revoked."""

from __future__ import annotations

from datetime import date

from hub.commands import worker as workers
from hub.domain.envelope import Actor
from hub.domain.identifiers import make_id_number
from hub.tools.seed.plan import (
    City,
    Pool,
    Ref,
    Step,
    WorkerPlan,
    apportion,
    between,
    growing,
    later,
)
from hub.tools.seed.profile import END_2017, FIRST_DAY, HOLDER_GROWTH, LAST_DAY

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌"
    "波辉鹏飞宇欣怡婷雪琳晨浩然轩涵思雨佳琪俊家豪诗"
)
EDUCATION = {"SECONDARY": 10, "VOCATIONAL": 35, "BACHELOR": 45, "MASTER": 9, "DOCTORATE": 1}
CERTIFICATE_PREFIX = {
    "SOCIAL_WORKER": "ZJ",
    "ASSISTANT_SOCIAL_WORKER": "CJ",
    "SOCIAL_WORK_ASSISTANT": "CQGZY",
}


def plan_workers(city: City) -> list[Step]:
    rng = city.rng
    count = city.figures["2018-06-30"]["workers"]
    stock = round(count * 0.04)  # the workforce there was in 2008, entered that year
    dates = sorted(
        [between(rng, FIRST_DAY, date(2008, 12, 31)) for _ in range(stock)]
        + growing(rng, count - stock, FIRST_DAY, LAST_DAY, 1.40)
    )
    city.workers: list[WorkerPlan] = []
    steps: list[Step] = []
    seen: set[str] = set()
    for n, registered in enumerate(dates):
        d = city.district()
        employer = city.agency(registered, d, 0.1) if rng.random() < 0.3 else None
        worker = WorkerPlan(n, d, registered, employer.n if employer else None)
        city.workers.append(worker)
        if employer is not None and rng.random() < 0.4:
            actor: Actor | Ref = Ref("agency", employer.n)
        else:
            actor = city.municipal if rng.random() < 0.05 else city.bureaus[d]
        born = later(registered, -rng.randint(22 * 365, 55 * 365))
        id_number = make_id_number(d, born, rng.randrange(1000))
        while id_number in seen:
            id_number = make_id_number(d, born, rng.randrange(1000))
        seen.add(id_number)
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2, 2))))
        steps.append(
            Step(
                workers.register_worker,
                actor,
                registered,
                inputs=dict(
                    name=name,
                    id_number=id_number,
                    district=d,
                    education=rng.choices(list(EDUCATION), list(EDUCATION.values()))[0],
                    employer=Ref("agency", employer.n) if employer else None,
                ),
                makes=Ref("worker", n),
            )
        )
    city.pools = {d: Pool([w for w in city.workers if w.district == d]) for d in city.districts}
    return steps


def plan_certificates(city: City) -> list[Step]:
    rng = city.rng
    levels = city.figures["2017-12-31"]["certificatesByLevel"]
    total = sum(levels.values())
    years = list(range(2008, 2018))
    held = [round(total / HOLDER_GROWTH ** ((2017 - y) / 9)) for y in years]
    new = [held[0]] + [b - a for a, b in zip(held, held[1:], strict=False)]
    own_years = [k for k, y in enumerate(years) if y >= 2011]
    own = apportion(
        min(levels["SOCIAL_WORK_ASSISTANT"], sum(new[k] for k in own_years)),
        [new[k] for k in own_years],
    )
    awards: list[tuple[date, str]] = []
    national: list[int] = []
    for k, year in enumerate(years):
        own_level = own[own_years.index(k)] if k in own_years else 0
        awards += [
            (date(year, rng.choice((6, 12)), rng.randint(1, 28)), "SOCIAL_WORK_ASSISTANT")
            for _ in range(own_level)
        ]
        national += [year] * (new[k] - own_level)
    senior = set(rng.sample(range(len(national)), levels["SOCIAL_WORKER"]))
    for k, year in enumerate(national):
        level = "SOCIAL_WORKER" if k in senior else "ASSISTANT_SOCIAL_WORKER"
        awards.append((date(year, rng.randint(10, 12), rng.randint(1, 20)), level))
    revoked = [
        (date(rng.randint(2012, 2016), rng.randint(10, 12), rng.randint(1, 20)), level)
        for level in rng.choices(["SOCIAL_WORKER", "ASSISTANT_SOCIAL_WORKER"], k=city.n(15))
    ]
    latest = [
        (date(2018, 6, rng.randint(1, 28)), "SOCIAL_WORK_ASSISTANT") for _ in range(city.n(700))
    ]
    everyone = Pool(city.workers)
    serial: dict[tuple[str, int], int] = {}
    steps: list[Step] = []
    revocations: list[Step] = []
    planned = [(a, False) for a in awards] + [(a, True) for a in revoked]
    planned += [(a, False) for a in latest]
    for (on, level), revoke in sorted(planned, key=lambda p: p[0]):
        worker = everyone.draw(rng, later(on, -30), lambda w: not w.holder)
        if worker is None:
            raise AssertionError(f"no worker to award a {level} certificate on {on}")
        worker.holder = True
        serial[level, on.year] = number = serial.get((level, on.year), 0) + 1
        certificate = f"{CERTIFICATE_PREFIX[level]}{on.year}{number:06d}"
        steps.append(
            Step(
                workers.award_certificate,
                city.municipal,
                on,
                Ref("worker", worker.n),
                dict(level=level, number=certificate),
            )
        )
        if revoke:
            revocations.append(
                Step(
                    workers.revoke_certificate,
                    city.municipal,
                    min(later(on, rng.randint(60, 400)), END_2017),
                    Ref("worker", worker.n),
                    dict(number=certificate),
                    reason="证书信息与考试成绩不符，依规撤销",
                )
            )
    return steps + sorted(revocations, key=lambda s: s.on)
