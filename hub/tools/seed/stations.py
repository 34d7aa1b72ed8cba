"""Stations: one in each community planned for one, most contracted to an agency for a while;
their staff (two full-time social workers at most); their assessments on six dimensions and the
demonstration stations chosen from the best."""

from __future__ import annotations

from datetime import date

from hub.commands import station as stations
from hub.domain.envelope import Actor
from hub.domain.station import ASSESSMENT_DIMENSIONS
from hub.tools.seed.plan import City, Ref, StationPlan, Step, between, growing, later
from hub.tools.seed.profile import LAST_DAY


def plan_stations(city: City) -> list[Step]:
    rng = city.rng
    stationed = [c for c in city.communities if c.station is not None]
    dates = growing(rng, len(stationed), date(2012, 1, 1), LAST_DAY, 1.35)
    rng.shuffle(stationed)
    city.stations: list[StationPlan] = []
    steps: list[Step] = []
    for n, (community, established) in enumerate(zip(stationed, dates, strict=True)):
        community.station = n
        station = StationPlan(n, community, established)
        city.stations.append(station)
        d = community.district
        kind = "社会工作室" if community.urban else "社会工作站"
        steps.append(
            Step(
                stations.establish_station,
                city.bureaus[d],
                established,
                inputs=dict(community=community.code, name=f"{community.name}{kind}"),
                makes=Ref("station", n),
            )
        )
    for station in city.stations:
        if rng.random() >= 0.45:
            continue
        on = min(later(station.established, rng.randint(0, 180)), LAST_DAY)
        agency = city.agency(on, station.community.district)
        if agency is None:
            continue
        station.operator, station.contracted = agency.n, on
        steps.append(
            Step(
                stations.contract_station_operator,
                city.bureaus[station.community.district],
                on,
                Ref("station", station.n),
                dict(
                    agency=Ref("agency", agency.n),
                    start=on,
                    end=later(on, 365 * rng.choice((1, 2, 3)) - 1),
                ),
            )
        )
    return steps


def plan_staff(city: City) -> list[Step]:
    rng = city.rng
    planned: list[tuple[date, StationPlan, bool]] = []
    for station in city.stations:
        shape = rng.choices(((True, True), (True, False), (True,), ()), (70, 12, 10, 8))[0]
        start = station.contracted if station.operator is not None else station.established
        assert start is not None
        for full_time in shape:
            planned.append((min(later(start, rng.randint(0, 120)), LAST_DAY), station, full_time))
    steps: list[Step] = []
    for on, station, full_time in sorted(planned, key=lambda p: (p[0], p[1].n)):
        d = station.community.district
        worker = city.pools[d].draw(rng, on, lambda w: not w.staff)
        if worker is None:
            continue
        worker.staff = True
        station.staff.append(worker.n)
        actor: Actor | Ref = city.bureaus[d]
        if station.operator is not None and rng.random() < 0.5:
            actor = Ref("agency", station.operator)
        steps.append(
            Step(
                stations.assign_station_staff,
                actor,
                on,
                Ref("station", station.n),
                dict(worker=Ref("worker", worker.n), full_time=full_time),
            )
        )
    city.refill_pools()
    return steps


def plan_assessments(city: City) -> list[Step]:
    rng = city.rng
    assessed: list[tuple[float, date, StationPlan]] = []
    steps: list[Step] = []
    for station in city.stations:
        if station.established <= date(2016, 12, 31) and rng.random() < 0.6:
            on = between(
                rng, max(date(2017, 3, 1), later(station.established, 180)), date(2017, 11, 30)
            )
        elif station.established <= date(2017, 6, 30) and rng.random() < 0.3:
            on = between(rng, date(2018, 3, 1), date(2018, 5, 31))
        else:
            continue
        base = rng.randint(55, 92)
        scores = {k: max(0, min(100, base + rng.randint(-10, 8))) for k in ASSESSMENT_DIMENSIONS}
        steps.append(
            Step(
                stations.assess_station,
                city.bureaus[station.community.district],
                on,
                Ref("station", station.n),
                scores,
            )
        )
        assessed.append((sum(scores.values()) / 6, on, station))
    best = sorted(assessed, key=lambda a: (-a[0], a[2].n))[: city.n(300)]
    for _, on, station in sorted(best, key=lambda a: (a[1], a[2].n)):
        year = on.year
        designated = (
            date(2017, 12, rng.randint(10, 28))
            if year == 2017
            else date(2018, 6, rng.randint(10, 28))
        )
        steps.append(
            Step(
                stations.designate_demonstration_station,
                city.municipal,
                designated,
                Ref("station", station.n),
                dict(programme="社区社会工作示范点", year=year),
            )
        )
    return steps
