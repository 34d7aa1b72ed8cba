"""`indicators(asOf, district)` against counts the test keeps itself while it builds a
history, at several moments, city-wide and per district."""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

from tests.agency_api import AUDITOR, DEREGISTER, DESIGNATE, UPDATE, register, send
from tests.conftest import Client, running
from tests.project_api import DISBURSE, approve
from tests.test_courses import ATTEND, CANCEL, schedule
from tests.worker_api import AWARD, REVOKE, register_worker

INDICATORS = """query($asOf: AsOf, $district: String) {
  indicators(asOf: $asOf, district: $district) {
    workers certifiedWorkers agencies demonstrationAgencies projects fundsDisbursed
    trainingPersonTimes stations posts filledPosts
    certificatesByLevel { level count } trainingByCategory { category count }
    projectsByField { field count } } }"""


async def _indicators(client: Client, effective: str | None, district: str | None = None) -> dict:
    as_of = {"effective": effective} if effective else None
    data = await client.run(INDICATORS, {"asOf": as_of, "district": district}, auth=AUDITOR)
    found = data["indicators"]
    for breakdown, key in (
        ("certificatesByLevel", "level"),
        ("trainingByCategory", "category"),
        ("projectsByField", "field"),
    ):
        found[breakdown] = {r[key]: r["count"] for r in found[breakdown] if r["count"]}
    return found


def _total(counted: Counter[str], district: str | None, what: str) -> int:
    if district:
        return counted[f"{what}:{district}"]
    return sum(v for k, v in counted.items() if k.startswith(f"{what}:"))


class Ledger:
    """What the test did, by effective date: the independent count."""

    def __init__(self) -> None:
        self.facts: list[tuple[str, str, Any]] = []

    def add(self, on: str, what: str, value: Any = 1) -> None:
        self.facts.append((on, what, value))

    def at(self, day: str) -> Counter[str]:
        counted: Counter[str] = Counter()
        for on, what, value in self.facts:
            if on <= day:
                counted[what] += value
        return counted


async def test_indicators_match_an_independent_count(database: str) -> None:
    async with running(database) as client:
        ledger = Ledger()
        agencies = []
        for n, (district, on) in enumerate(
            [("500103", "2016-05-01"), ("500103", "2017-03-01"), ("500105", "2018-02-01")]
        ):
            made = await register(client, district=district, effectiveOn=on, name=f"机构{n}")
            agencies.append(made["agency"]["id"])
            ledger.add(on, f"agencies:{district}")
        await send(
            client, DESIGNATE, id=agencies[0], programme="411", year=2017, effectiveOn="2017-09-01"
        )
        ledger.add("2017-09-01", "demonstrationAgencies:500103")
        await send(client, DEREGISTER, id=agencies[1], reason="dissolved", effectiveOn="2018-04-01")
        ledger.add("2018-04-01", "agencies:500103", -1)

        workers = []
        for district in ["500103", "500103", "500105", "500105"]:
            worker = await register_worker(client, district=district, effectiveOn="2016-01-01")
            workers.append((worker["id"], district))
            ledger.add("2016-01-01", f"workers:{district}")
        awards = [
            (0, "SOCIAL_WORKER", "2016-06-01"),
            (1, "ASSISTANT_SOCIAL_WORKER", "2017-06-01"),
            (2, "SOCIAL_WORK_ASSISTANT", "2018-01-15"),
        ]
        for n, level, on in awards:
            id, district = workers[n]
            payload = await send(client, AWARD, id=id, level=level, number=f"N{n}", effectiveOn=on)
            assert payload["errors"] == []
            ledger.add(on, f"certified:{district}")
            ledger.add(on, f"level:{level}:{district}")
        revoked = await send(
            client, REVOKE, id=workers[1][0], number="N1", effectiveOn="2018-03-01", reason="r"
        )
        assert revoked["errors"] == [], revoked
        ledger.add("2018-03-01", "certified:500103", -1)
        ledger.add("2018-03-01", "level:ASSISTANT_SOCIAL_WORKER:500103", -1)

        course = await schedule(
            client, startsOn="2017-05-07", endsOn="2017-05-09", effectiveOn="2017-04-20"
        )
        for id, district in workers[:3]:
            await send(
                client, ATTEND, id=course["id"], worker=id, hours="24", effectiveOn="2017-05-09"
            )
            ledger.add("2017-05-09", f"training:{district}")
        cancelled = await schedule(
            client,
            category="GENERAL_AWARENESS",
            startsOn="2018-05-07",
            endsOn="2018-05-09",
            effectiveOn="2018-04-20",
        )
        await send(
            client,
            ATTEND,
            id=cancelled["id"],
            worker=workers[3][0],
            hours="3",
            effectiveOn="2018-05-09",
        )
        await send(client, CANCEL, id=cancelled["id"], reason="r", effectiveOn="2018-05-10")
        ledger.add("2018-05-09", "training:500105")
        ledger.add("2018-05-10", "training:500105", -1)

        project = await approve(
            client,
            agency=agencies[0],
            effectiveOn="2017-03-15",
            startsOn="2017-04-01",
            endsOn="2018-03-31",
        )
        ledger.add("2017-03-15", "projects:500103")
        for amount, on in (("300.10", "2017-06-01"), ("0.90", "2018-01-02")):
            await send(client, DISBURSE, id=project["id"], amount=amount, effectiveOn=on)
            ledger.add(on, "cents:500103", int(amount.replace(".", "")))
        # a late report: recorded last, effective early; it changes nothing counted here
        await send(client, UPDATE, id=agencies[0], name="改名", effectiveOn="2016-06-01")

        for day in ("2015-12-31", "2016-06-30", "2017-12-31", "2018-06-30", None):
            for district in (None, "500103", "500105"):
                counted = ledger.at(day or "9999-12-31")
                total = functools.partial(_total, counted, district)

                found = await _indicators(client, day, district)
                expected_levels = {
                    level: total(f"level:{level}")
                    for level in (
                        "SOCIAL_WORKER",
                        "ASSISTANT_SOCIAL_WORKER",
                        "SOCIAL_WORK_ASSISTANT",
                    )
                    if total(f"level:{level}")
                }
                moment = (day, district)
                assert found["agencies"] == total("agencies"), moment
                assert found["demonstrationAgencies"] == total("demonstrationAgencies"), moment
                assert found["workers"] == total("workers"), moment
                assert found["certifiedWorkers"] == total("certified"), moment
                assert found["certificatesByLevel"] == expected_levels, moment
                assert found["trainingPersonTimes"] == total("training"), moment
                assert sum(found["trainingByCategory"].values()) == total("training"), moment
                assert found["projects"] == total("projects"), moment
                assert found["fundsDisbursed"] == f"{total('cents') / 100:.2f}", moment
                assert (found["stations"], found["posts"], found["filledPosts"]) == (0, 0, 0)
