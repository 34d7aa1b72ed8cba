"""Late reports on records that already hold later facts, and corrections: agency names entered
wrongly and corrected (`corrects`), disbursements entered twice and retracted (`retractEvents`).
Sent one by one after the batch (batch mode takes no corrections); none changes a reported
figure."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

from hub.commands import agency as agencies
from hub.commands import project as projects
from hub.commands import station as stations
from hub.commands.correction import retract_events
from hub.domain.station import ASSESSMENT_DIMENSIONS
from hub.tools.seed.plan import Ref, Step
from hub.tools.seed.runner import Seeder


def correct(seeder: Seeder) -> None:
    """Send the late reports and corrections one by one, counted as the phase `corrections`."""
    started = time.monotonic()
    city = seeder.city
    rng = city.rng
    count = max(3, city.n(60))
    events = 0
    late = [s for s in city.stations if s.established <= date(2015, 12, 31)]
    for station in rng.sample(late, min(count, len(late))):
        seeder.send(
            Step(
                stations.assess_station,
                city.bureaus[station.community.district],
                date(2016, 12, 30),
                Ref("station", station.n),
                dict.fromkeys(ASSESSMENT_DIMENSIONS, 70),
                reason="补报2016年度评估",
            )
        )
        events += 1
    for plan in rng.sample(city.agencies, min(count, len(city.agencies))):
        ref = Ref("agency", plan.n)
        agency = seeder.registry.get_record(seeder.ids[ref])
        if agency.status == "DEREGISTERED":
            continue
        wrong = seeder.as_municipal(
            agencies.update_agency_profile,
            ref,
            name=f"{agency.name}（误）",
            kind=None,
            fields=None,
        )
        seeder.as_municipal(
            agencies.update_agency_profile,
            ref,
            corrects=(wrong,),
            reason="名称录入错误，更正",
            name=agency.name,
            kind=None,
            fields=None,
        )
        events += 2
    project_refs = [r for r in seeder.ids if r.kind == "project"]
    for ref in rng.sample(project_refs, min(count, len(project_refs))):
        project = seeder.registry.get_record(seeder.ids[ref])
        if project.funder != "MUNICIPAL" or project.status == "CLOSED":
            continue
        if project.budget - project.disbursed < Decimal("1000"):
            continue
        twice = seeder.as_municipal(projects.disburse_funds, ref, amount=Decimal("1000.00"))
        seeder.as_municipal(retract_events, None, reason="同一笔拨款重复录入", positions=[twice])
        events += 2
    seeder.report.events += events
    seeder.report.phases.append(("corrections", events, time.monotonic() - started))
