"""Posts: about 20,000 in six sectors, created by the bureaus, most filled (by the station's
own staff where there is one), a few vacated."""

from __future__ import annotations

from datetime import date

from hub.commands import post as posts
from hub.domain.envelope import Actor
from hub.domain.reference import DISTRICTS
from hub.tools.seed.plan import (
    City,
    CommunityPlan,
    Ref,
    StationPlan,
    Step,
    apportion,
    growing,
    later,
)
from hub.tools.seed.profile import END_2017, LAST_DAY

POST_SECTORS = {
    # sector: (share of the posts other than JUDICIAL, hosts, fields)
    "COMMUNITY": (
        0.60,
        ("社区居民委员会", "村民委员会", "社区服务中心"),
        ("COMMUNITY_BUILDING", "SOCIAL_ASSISTANCE", "POVERTY_RELIEF", "DISPUTE_MEDIATION"),
    ),
    "CIVIL_AFFAIRS_INSTITUTION": (
        0.13,
        ("社会福利院", "儿童福利院", "救助管理站", "敬老院", "精神卫生福利院", "光荣院"),
        ("SOCIAL_WELFARE", "SOCIAL_ASSISTANCE", "DISABILITY_REHABILITATION"),
    ),
    "YOUTH_LEAGUE": (
        0.09,
        ("共青团区委青少年服务中心", "青少年宫", "12355青少年服务台"),
        ("EDUCATION_COUNSELLING", "CRIME_PREVENTION"),
    ),
    "HEALTH": (
        0.07,
        ("人民医院", "中医院", "精神卫生中心", "妇幼保健院"),
        ("MENTAL_HEALTH", "DISABILITY_REHABILITATION", "SOCIAL_ASSISTANCE"),
    ),
    "OTHER": (
        0.11,
        ("总工会", "妇女联合会", "残疾人联合会", "人力资源服务中心"),
        ("WORKER_SUPPORT", "MARRIAGE_FAMILY", "EMPLOYMENT_ASSISTANCE", "DISABILITY_REHABILITATION"),
    ),
}
JUDICIAL_HOSTS = ("司法局社区矫正中心", "司法所", "戒毒康复所")
JUDICIAL_FIELDS = ("CORRECTION_REHABILITATION", "DRUG_REHABILITATION", "CRIME_PREVENTION")


def plan_posts(city: City) -> list[Step]:
    rng = city.rng
    total = city.figures["2018-06-30"]["posts"]
    judicial = city.figures["2017-12-31"]["postsBySector"]["JUDICIAL"]
    sectors = list(POST_SECTORS)
    counts = apportion(total - judicial, [POST_SECTORS[s][0] for s in sectors])
    planned = [(on, "JUDICIAL") for on in growing(rng, judicial, date(2012, 1, 1), END_2017, 1.3)]
    for sector, count in zip(sectors, counts, strict=True):
        planned += [(on, sector) for on in growing(rng, count, date(2010, 1, 1), LAST_DAY, 1.35)]
    planned.sort(key=lambda p: p[0])
    steps: list[Step] = []
    fills: list[tuple[date, int, str, StationPlan | None]] = []
    for n, (on, sector) in enumerate(planned):
        community: CommunityPlan | None = None
        station: StationPlan | None = None
        if sector == "COMMUNITY":
            community = rng.choice(city.communities)
            d = community.district
            if community.station is not None and rng.random() < 0.75:
                candidate = city.stations[community.station]
                if candidate.established <= on:
                    station = candidate
            origin = "CONVERTED" if rng.random() < 0.55 else "NEW"
            host = "村民委员会" if not community.urban else rng.choice(POST_SECTORS[sector][1][::2])
            chosen_field = rng.choice(POST_SECTORS[sector][2])
        elif sector == "JUDICIAL":
            d = city.district()
            origin, host = "NEW", rng.choice(JUDICIAL_HOSTS)
            chosen_field = rng.choice(JUDICIAL_FIELDS)
        else:
            d = city.district()
            origin = (
                "CONVERTED"
                if sector == "CIVIL_AFFAIRS_INSTITUTION" and rng.random() < 0.3
                else "NEW"
            )
            host = rng.choice(POST_SECTORS[sector][1])
            chosen_field = rng.choice(POST_SECTORS[sector][2])
        by_city = sector == "CIVIL_AFFAIRS_INSTITUTION" and rng.random() < 0.2
        steps.append(
            Step(
                posts.create_post,
                city.municipal if by_city else city.bureaus[d],
                on,
                inputs=dict(
                    sector=sector,
                    field=chosen_field,
                    district=d,
                    host_organization=f"{DISTRICTS[d].name}{host}",
                    community=community.code if community else None,
                    station=Ref("station", station.n) if station else None,
                    origin=origin,
                ),
                makes=Ref("post", n),
            )
        )
        filled = later(on, rng.randint(7, 240))
        if rng.random() < 0.82 and filled <= LAST_DAY:
            fills.append((filled, n, d, station))
    vacates: list[Step] = []
    for on, n, d, station in sorted(fills, key=lambda f: (f[0], f[1])):
        worker = None
        if station is not None:
            staff = [
                city.workers[w]
                for w in station.staff
                if not city.workers[w].post and city.workers[w].registered <= on
            ]
            worker = staff[0] if staff else None
        if worker is None:
            worker = city.pools[d].draw(rng, on, lambda w: not w.post)
        if worker is None:
            continue
        worker.post = True
        actor: Actor | Ref = city.bureaus[d]
        if (
            station is not None
            and station.operator is not None
            and station.contracted is not None
            and station.contracted <= on
            and rng.random() < 0.5
        ):
            actor = Ref("agency", station.operator)
        steps.append(
            Step(
                posts.fill_post,
                actor,
                on,
                Ref("post", n),
                dict(worker=Ref("worker", worker.n)),
            )
        )
        left = later(on, rng.randint(365, 1500))
        if left <= LAST_DAY and rng.random() < 0.03:
            vacates.append(
                Step(
                    posts.vacate_post,
                    city.bureaus[d],
                    left,
                    Ref("post", n),
                    reason="聘用合同期满，本人离职",
                )
            )
    return steps + sorted(vacates, key=lambda s: s.on)
