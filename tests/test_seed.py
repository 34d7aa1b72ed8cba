"""`hub seed`: the city-2018 history at a small scale, its figures counted independently, and the
registry's batch mode it runs in, which must keep every rule a command keeps alone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from hub.commands import Command, request_for
from hub.commands import agency as agencies
from hub.commands import post as posts
from hub.commands import worker as workers
from hub.domain.envelope import Actor, Role
from hub.domain.errors import CommandRefused, Conflict, InvalidInput, InvalidState
from hub.domain.identifiers import make_id_number
from hub.registry.application import Registry
from hub.tools import seed as seeding
from tests.agency_api import AUDITOR
from tests.conftest import Client, credit_code, fresh_database, running

SCALE = 0.01
CITY = Actor("test-municipal", Role.MUNICIPAL)
TODAY = date(2018, 7, 1)


def city_seed(client: Client, scale: float = SCALE) -> seeding.Report:
    return seeding.seed(client.hub.registry, today=client.hub.settings.today(), scale=scale)


async def seeded(client: Client, scale: float = SCALE) -> seeding.Report:
    report = await asyncio.to_thread(city_seed, client, scale)
    assert await client.hub.signals.projected_past(report.position, 30)
    return report


async def scalar(client: Client, sql: str, *args: Any) -> Any:
    return await client.hub.pool.fetchval(sql, *args)


INDICATORS = """query($asOf: AsOf) { indicators(asOf: $asOf) {
  certifiedWorkers projects trainingPersonTimes agencies stations posts workers
  urbanCommunities ruralCommunities
  certificatesByLevel { level count } postsBySector { sector count } } }"""
COUNTS = """{ agencies { totalCount } stations { totalCount } posts { totalCount }
  workers { totalCount } communities { totalCount } }"""


async def test_the_seeded_city_shows_the_reports_figures(database: str) -> None:
    figures = seeding.city_2018_figures(SCALE)
    async with running(database) as client:
        report = await seeded(client)
        assert report.events == await client.events()
        assert report.already_seeded is None

        # As of the end of 2017, counted from the event log's effective dates.
        end_2017 = figures["2017-12-31"]
        levels = await client.hub.pool.fetch(
            "SELECT data->>'level' AS level,"
            " count(*) FILTER (WHERE type = 'WorkerCertificateAwarded')"
            " - count(*) FILTER (WHERE type = 'WorkerCertificateRevoked') AS held"
            " FROM event_log WHERE effective_on <= '2017-12-31'"
            " AND type IN ('WorkerCertificateAwarded', 'WorkerCertificateRevoked') GROUP BY 1"
        )
        assert {r["level"]: r["held"] for r in levels} == end_2017["certificatesByLevel"]
        holders = await scalar(
            client,
            "SELECT count(DISTINCT entity_id) FROM event_log"
            " WHERE type = 'WorkerCertificateAwarded' AND effective_on <= '2017-12-31'"
            " AND entity_id NOT IN (SELECT entity_id FROM event_log"
            "  WHERE type = 'WorkerCertificateRevoked' AND effective_on <= '2017-12-31')",
        )
        assert holders == end_2017["certifiedWorkers"]  # one certificate each
        assert (
            await scalar(
                client,
                "SELECT count(*) FROM event_log WHERE type = 'WorkerCertificateAwarded'"
                " AND effective_on <= '2008-12-31'",
            )
            == figures["2008-12-31"]["certifiedWorkers"]
        )
        assert (
            await scalar(
                client,
                "SELECT count(*) FROM event_log WHERE type = 'WorkerCertificateAwarded'"
                " AND data->>'level' = 'SOCIAL_WORK_ASSISTANT' AND effective_on < '2011-01-01'",
            )
            == 0
        )
        assert (
            await scalar(
                client,
                "SELECT count(*) FROM event_log WHERE type = 'ProjectApproved'"
                " AND effective_on <= '2017-12-31'",
            )
            == end_2017["projects"]
        )
        assert (
            await scalar(
                client,
                "SELECT count(*) FROM event_log WHERE type = 'CourseAttendanceRecorded'"
                " AND effective_on <= '2017-12-31'",
            )
            == end_2017["trainingPersonTimes"]
        )
        assert (
            await scalar(
                client,
                "SELECT count(*) FROM event_log WHERE type = 'PostCreated'"
                " AND data->>'sector' = 'JUDICIAL' AND effective_on <= '2017-12-31'",
            )
            == end_2017["postsBySector"]["JUDICIAL"]
        )
        trained = await client.hub.pool.fetch(
            "SELECT DISTINCT c.data->>'category' AS category, c.data->>'level' AS level"
            " FROM event_log c WHERE c.type = 'CourseScheduled'"
        )
        assert {r["level"] for r in trained} == {"MUNICIPAL", "DISTRICT", "TOWNSHIP"}
        assert len({r["category"] for r in trained}) == 5

        # Now (2018-06-30 is the last day of the history), through the API.
        now = figures["2018-06-30"]
        counts = await client.run(COUNTS, auth=AUDITOR)
        assert {k: v["totalCount"] for k, v in counts.items()} == now
        assert await scalar(client, "SELECT max(effective_on) FROM event_log") <= date(2018, 6, 30)

        # The same figures from `indicators`, at both dates.
        for day, wanted in (("2017-12-31", end_2017), ("2018-06-30", now)):
            found = (await client.run(INDICATORS, {"asOf": {"effective": day}}, auth=AUDITOR))[
                "indicators"
            ]
            shown = {
                "certifiedWorkers": found["certifiedWorkers"],
                "certificatesByLevel": {
                    r["level"]: r["count"] for r in found["certificatesByLevel"] if r["count"]
                },
                "projects": found["projects"],
                "trainingPersonTimes": found["trainingPersonTimes"],
                "postsBySector": {
                    r["sector"]: r["count"]
                    for r in found["postsBySector"]
                    if r["sector"] in wanted.get("postsBySector", {})
                },
                "communities": found["urbanCommunities"] + found["ruralCommunities"],
                **{k: found[k] for k in ("agencies", "stations", "posts", "workers")},
            }
            assert {k: shown[k] for k in wanted} == wanted, day

        # Late reports and corrections are part of the history.
        corrected = await client.hub.pool.fetch(
            "SELECT type, count(*) AS n FROM event_log WHERE retracts <> '{}' GROUP BY 1"
        )
        assert {r["type"] for r in corrected} >= {"AgencyProfileUpdated"}, corrected
        late = await scalar(
            client,
            "SELECT count(*) FROM event_log e WHERE type = 'StationAssessed'"
            " AND EXISTS (SELECT 1 FROM event_log o WHERE o.entity_id = e.entity_id"
            "  AND o.position < e.position AND o.effective_on > e.effective_on)",
        )
        assert late >= 1

        # Each party did its own part.
        parties = await client.hub.pool.fetch(
            "SELECT type, array_agg(DISTINCT actor_party) AS parties FROM event_log GROUP BY 1"
        )
        by_type = {r["type"]: set(r["parties"]) for r in parties}
        assert by_type["WorkerCertificateAwarded"] == {"MUNICIPAL"}
        assert by_type["ProjectProgressReported"] == {"CONTRACTOR"}
        assert by_type["ProjectApproved"] == {"MUNICIPAL", "DISTRICT"}  # districts from 2018
        assert (
            await scalar(
                client,
                "SELECT count(*) FROM event_log WHERE type = 'ProjectApproved'"
                " AND data->>'funder' <> 'MUNICIPAL' AND effective_on <= '2017-12-31'",
            )
            == 0
        )
        assert by_type["ProjectEvaluationConcluded"] == {"DISTRICT"}
        assert by_type["StationEstablished"] == {"DISTRICT"}
        assert {"DISTRICT", "CONTRACTOR"} <= by_type["PostFilled"]
        assert await scalar(client, "SELECT count(*) FROM personal_data_keys") == now["workers"]

        # Seeding again writes nothing and says so.
        before = await client.events()
        again = await asyncio.to_thread(city_seed, client)
        assert again.already_seeded == f"profile city-2018 at scale {SCALE}"
        assert await client.events() == before


async def test_a_scale_always_gives_the_same_history(server_url: str) -> None:
    shapes = []
    for _ in range(2):
        async with running(await fresh_database(server_url)) as client:
            await seeded(client, 0.004)
            rows = await client.hub.pool.fetch(
                "SELECT type, effective_on, actor_party, count(*) FROM event_log"
                " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            )
            shapes.append([tuple(r) for r in rows])
    assert shapes[0] == shapes[1]


async def test_a_registry_with_other_records_is_not_seeded(database: str) -> None:
    async with running(database) as client:
        registry = client.hub.registry
        await asyncio.to_thread(register_agency, registry, credit_code())
        before = await client.events()
        with pytest.raises(seeding.SeedRefused, match="other than communities"):
            await asyncio.to_thread(city_seed, client)
        with pytest.raises(seeding.SeedRefused, match="unknown profile"):
            seeding.seed(registry, today=TODAY, profile="city-2019")
        assert await client.events() == before


# Batch mode.


def send(registry: Registry, run: Command, record: UUID | None = None, **inputs: Any) -> Any:
    request = request_for(run, CITY, today=TODAY, on=date(2018, 1, 2), record=record, **inputs)
    return run(registry, request)


def register_agency(registry: Registry, code: str) -> Any:
    return send(
        registry,
        agencies.register_agency,
        name="批量测试社工服务中心",
        credit_code=code,
        district="500103",
        kind="SPECIALIZED",
        fields=["MENTAL_HEALTH"],
    )


_people = iter(range(1, 1000))


def register_worker(registry: Registry, id_number: str | None = None) -> UUID:
    number = id_number or make_id_number("500103", date(1990, 1, 1), next(_people))
    return send(
        registry,
        workers.register_worker,
        name="张三",
        id_number=number,
        district="500103",
        education="BACHELOR",
        employer=None,
    ).record_id


def award(registry: Registry, worker: UUID, number: str) -> Any:
    return send(registry, workers.award_certificate, worker, level="SOCIAL_WORKER", number=number)


def in_batch(client: Client, work: Callable[[Registry], Any], size: int = 1000) -> Any:
    """Run `work` in a batch, off the event loop; return what it returned and the batch."""

    def run() -> Any:
        with client.hub.registry.batch(size) as batch:
            result = work(client.hub.registry)
        return result, batch

    return asyncio.to_thread(run)


async def test_a_batch_keeps_a_credit_code_unique_within_it(client: Client) -> None:
    code = credit_code()
    before = await client.events()

    def work(registry: Registry) -> CommandRefused:
        first = register_agency(registry, code)
        assert first.position == 0  # unknown until the batch is saved
        with pytest.raises(InvalidInput) as refused:
            register_agency(registry, code)
        return refused.value

    refusal, batch = await in_batch(client, work)
    assert refusal.field == "creditCode"
    assert "already registered" in refusal.message
    assert await client.events() == before + 2  # the agency and its claim, once
    assert batch.position == await scalar(
        client, "SELECT max(notification_id) FROM registry_events"
    )
    # and against the store, after the batch: refused too
    with pytest.raises(InvalidInput, match="already registered"):
        await in_batch(client, lambda registry: register_agency(registry, code))


async def test_a_refused_command_in_a_batch_leaves_no_trace(client: Client) -> None:
    keys = await scalar(client, "SELECT count(*) FROM personal_data_keys")
    before = await client.events()

    def work(registry: Registry) -> tuple[UUID, UUID]:
        first = register_worker(registry)
        award(registry, first, "BATCH-0001")
        second = register_worker(registry)
        # The award changes the worker in memory, then its number's claim refuses it.
        with pytest.raises(InvalidInput, match="already awarded"):
            award(registry, second, "BATCH-0001")
        # Refused after its key was made: the key goes too.
        with pytest.raises(InvalidInput):
            register_worker(registry, id_number="500103199013010001")
        award(registry, second, "BATCH-0002")
        return first, second

    (first, second), batch = await in_batch(client, work)
    assert batch.commands == 4
    assert await client.events() == before + 6  # two workers, two awards, their two claims
    assert await scalar(client, "SELECT count(*) FROM personal_data_keys") == keys + 2
    versions = await client.hub.pool.fetch(
        "SELECT originator_version FROM registry_events WHERE originator_id = $1 ORDER BY 1",
        second,
    )
    assert [r["originator_version"] for r in versions] == [1, 2]
    assert await client.hub.signals.projected_past(batch.position, 10)
    worker = await client.run(
        "query($id: ID!) { worker(id: $id) { name certificates { number } } }",
        {"id": str(second)},
        auth=AUDITOR,
    )
    assert worker["worker"] == {"name": "张三", "certificates": [{"number": "BATCH-0002"}]}


async def test_later_commands_of_a_batch_see_the_earlier_ones(client: Client) -> None:
    def work(registry: Registry) -> tuple[UUID, UUID]:
        worker = register_worker(registry)
        post = send(
            registry,
            posts.create_post,
            sector="JUDICIAL",
            field="CORRECTION_REHABILITATION",
            district="500103",
            host_organization="渝中区司法所",
            community=None,
            station=None,
            origin="NEW",
        ).record_id
        send(registry, posts.fill_post, post, worker=str(worker))
        other = register_worker(registry)
        with pytest.raises(InvalidState, match="only a VACANT post"):
            send(registry, posts.fill_post, post, worker=str(other))
        return worker, post

    (worker, post), batch = await in_batch(client, work, size=2)  # saved in several goes
    assert batch.saved == 1 + 1 + 2 + 1  # the refused fill wrote nothing
    holders = await client.hub.pool.fetch(
        "SELECT originator_id, originator_version FROM registry_events"
        " WHERE originator_id = ANY($1::uuid[]) ORDER BY 1, 2",
        [worker, post],
    )
    assert len(holders) == 4


async def test_a_batch_left_by_an_exception_saves_nothing_more(client: Client) -> None:
    before = await client.events()

    def work(registry: Registry) -> None:
        register_worker(registry)
        raise RuntimeError("the caller gave up")

    with pytest.raises(RuntimeError):
        await in_batch(client, work)
    assert await client.events() == before


async def test_a_batch_whose_claim_another_writer_took_saves_none_of_it(client: Client) -> None:
    code = credit_code()
    before = await client.events()
    taken = threading.Event()

    def work(registry: Registry) -> None:
        register_worker(registry)
        register_agency(registry, code)  # the code is free as far as the store knows
        other = threading.Thread(target=lambda: (register_agency(registry, code), taken.set()))
        other.start()  # another writer, outside the batch, saves it first
        other.join()

    with pytest.raises(Conflict, match="none of them was saved"):
        await in_batch(client, work)
    assert taken.is_set()
    assert await client.events() == before + 2  # only the other writer's agency and claim


async def test_a_claim_taken_after_the_batch_read_the_stored_claims_fails_its_save(
    client: Client,
) -> None:
    """The batch reads the stored claims once, at its first check: a claim another writer
    takes later is not seen by the batch's commands, and the store refuses the batch's save."""
    first, later = credit_code(), credit_code()
    before = await client.events()
    taken = threading.Event()

    def work(registry: Registry) -> None:
        register_agency(registry, first)  # the batch's first claim check reads the claims
        other = threading.Thread(target=lambda: (register_agency(registry, later), taken.set()))
        other.start()
        other.join()
        register_agency(registry, later)  # decided on the claims as they were read

    with pytest.raises(Conflict, match="none of them was saved"):
        await in_batch(client, work)
    assert taken.is_set()
    assert await client.events() == before + 2  # only the other writer's agency and claim


async def test_after_a_conflict_a_batch_sees_the_claim_another_writer_took(
    client: Client,
) -> None:
    first, later = credit_code(), credit_code()
    before = await client.events()

    def work(registry: Registry) -> InvalidInput:
        register_agency(registry, first)  # saved at once (2 events: the size)
        other = threading.Thread(target=lambda: register_agency(registry, later))
        other.start()
        other.join()
        with pytest.raises(Conflict, match="none of them was saved"):
            register_agency(registry, later)
        with pytest.raises(InvalidInput, match="already registered") as refused:
            register_agency(registry, later)  # the batch read the stored claims again
        return refused.value

    refusal, batch = await in_batch(client, work, size=2)
    assert refusal.field == "creditCode"
    assert batch.saved == 2
    assert await client.events() == before + 4  # the batch's first agency, the other's


async def test_a_batch_refuses_retractions_and_corrections(client: Client) -> None:
    from dataclasses import replace

    from hub.commands.correction import retract_events

    registry = client.hub.registry
    agency = (await asyncio.to_thread(register_agency, registry, credit_code())).record_id
    renamed = await asyncio.to_thread(
        send, registry, agencies.update_agency_profile, agency, name="改名", kind=None, fields=None
    )
    before = await client.events()

    def work(registry: Registry) -> list[CommandRefused]:
        refusals = []
        with pytest.raises(InvalidState, match="not taken in batch mode") as retracting:
            send(registry, retract_events, positions=[renamed.position], reason="录入错误")
        refusals.append(retracting.value)
        request = request_for(
            agencies.update_agency_profile,
            CITY,
            today=TODAY,
            on=date(2018, 1, 2),
            record=agency,
            reason="名称录入错误",
            name="正名",
            kind=None,
            fields=None,
        )
        with pytest.raises(InvalidState, match="not taken in batch mode") as correcting:
            agencies.update_agency_profile(registry, replace(request, corrects=(renamed.position,)))
        refusals.append(correcting.value)
        return refusals

    await in_batch(client, work)
    assert await client.events() == before
