"""The seed from start to end: the refusals, the phases in their order, the marker saved last."""

from __future__ import annotations

import time
from datetime import date
from uuid import uuid4

from hub.domain.claim import Claim
from hub.domain.community import Community
from hub.domain.envelope import Envelope
from hub.registry.application import Registry
from hub.registry.batch import DEFAULT_SIZE
from hub.tools.reference_import import CommunityRow
from hub.tools.reference_import import write as write_communities
from hub.tools.seed.agencies import plan_agencies, plan_agencies_2018
from hub.tools.seed.communities import plan_communities
from hub.tools.seed.corrections import correct
from hub.tools.seed.plan import City, Ref
from hub.tools.seed.posts import plan_posts
from hub.tools.seed.profile import DONE_CLAIM, FIRST_DAY, LAST_DAY, PROFILES, START_KEY, SUB
from hub.tools.seed.projects import plan_projects
from hub.tools.seed.runner import Progress, Report, Seeder
from hub.tools.seed.stations import plan_assessments, plan_staff, plan_stations
from hub.tools.seed.training import plan_training
from hub.tools.seed.workers import plan_certificates, plan_workers


class SeedRefused(Exception):
    """The registry cannot be seeded; nothing was written."""


def seed(
    registry: Registry,
    *,
    today: date,
    profile: str = "city-2018",
    scale: float = 1.0,
    progress: Progress | None = None,
    batch_size: int = DEFAULT_SIZE,
) -> Report:
    """Seed the registry with `profile` at `scale`; say how far it is through `progress`.

    Returns at once, writing nothing, if the city was seeded before (`Report.already_seeded`);
    raises `SeedRefused` if the profile is unknown or the registry holds other records.
    """
    if profile not in PROFILES:
        raise SeedRefused(f"unknown profile {profile!r}: the profiles are {', '.join(PROFILES)}")
    if not scale > 0:
        raise SeedRefused(f"scale must be above 0, got {scale}")
    done = registry.claim_holder(DONE_CLAIM)
    if done is not None:
        return Report(already_seeded=done.fingerprint)
    if registry.claim_holder(f"idempotency:{SUB}:{START_KEY}") is not None:
        raise SeedRefused(
            "this registry holds a seed of city-2018 that did not finish: "
            "seed an empty registry (a new HUB_HOME or database)"
        )
    others = registry.store.count_events_except(f"{Community.__module__}:%")
    if others:
        raise SeedRefused(
            f"this registry already holds {others} events of records other than communities: "
            f"seed an empty registry (a new HUB_HOME or database)"
        )
    if today < LAST_DAY:
        raise SeedRefused(f"the history runs to {LAST_DAY}, which is after today ({today})")
    return _run(Seeder(registry, City(scale), today=today, progress=progress), batch_size)


def _run(seeder: Seeder, batch_size: int) -> Report:
    """Every phase in its order: the communities, the batch of planned phases (each planned when
    the ones before it are), the corrections, and the marker that the city is seeded."""
    city, report = seeder.city, seeder.report
    started = time.monotonic()
    city.communities = plan_communities(city)
    _write_communities(seeder)
    with seeder.registry.batch(batch_size) as batch:
        seeder.run_phase("agencies", plan_agencies(city))
        seeder.run_phase("stations", plan_stations(city))
        seeder.run_phase("workers", plan_workers(city))
        seeder.run_phase("certificates", plan_certificates(city))
        seeder.run_phase("station staff", plan_staff(city))
        seeder.run_phase("posts", plan_posts(city))
        seeder.run_phase("training", plan_training(city))
        seeder.run_phase("projects", plan_projects(city))
        seeder.run_phase("assessments", plan_assessments(city))
        seeder.run_phase("agencies 2018", plan_agencies_2018(city))
    report.events += batch.saved
    correct(seeder)
    done = Claim(
        key=DONE_CLAIM,
        record_id=seeder.ids[Ref("agency", 0)],
        record_version=1,
        fingerprint=f"profile city-2018 at scale {city.scale}",
    )
    recordings = seeder.registry.save(done)
    report.events += len(recordings)
    report.position = max(r.notification.id for r in recordings)
    report.seconds = time.monotonic() - started
    return report


def _write_communities(seeder: Seeder) -> None:
    """The reference list, imported as the municipal bureau keeps it, effective the first day."""
    started = time.monotonic()
    rows = [
        CommunityRow(n, c.code, c.name, c.district, c.urban)
        for n, c in enumerate(seeder.city.communities, 2)
    ]
    envelope = Envelope(
        actor=seeder.city.municipal,
        effective_on=FIRST_DAY,
        correlation_id=str(uuid4()),
        reason="city-2018 seed: the community reference list",
    )
    summary = write_communities(seeder.registry, rows, envelope, seeder.say)
    seeder.report.events += summary.listed + summary.amended
    seeder.report.phases.append(("communities", len(rows), time.monotonic() - started))
    if seeder.say is not None:
        seeder.say(f"communities {len(rows)} ({summary})")
