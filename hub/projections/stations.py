"""Stations and their staff, with their history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from hub.domain.checks import camel_case
from hub.domain.station import ASSESSMENT_DIMENSIONS, Station
from hub.projections.agencies import DEMONSTRATION_FIELDS, designated
from hub.projections.changes import Change, optional_id
from hub.projections.paging import by_key, page, related
from hub.projections.timeline import Moment, RecordViews, RowHistory, State, Table, status

STATION_COLUMNS = (
    "id",
    "seq",
    "version",
    "status",
    "name",
    "community",
    "district",
    "operator",
    "operator_from",
    "operator_to",
    "assessed_on",
    "hardware",
    "duties",
    "mechanism",
    "funding",
    "service_standards",
    "performance",
    "demonstration_programme",
    "demonstration_year",
    "established_on",
    "updated_at",
)


def _established(row: dict[str, Any], change: Change) -> None:
    facts = change.facts
    row.update(
        status="OPEN",
        name=facts["name"],
        community=facts["community"],
        district=facts["district"],
        established_on=change.effective_on,
    )


def _contracted(row: dict[str, Any], change: Change) -> None:
    facts = change.facts
    row.update(
        operator=optional_id(facts["agency"]),
        operator_from=facts["start"],
        operator_to=facts["end"],
    )


def _assessed(row: dict[str, Any], change: Change) -> None:
    row.update(change.facts["scores"], assessed_on=change.effective_on)


STAFF_COLUMNS = ("station_id", "worker_id", "full_time", "since", "position")


def _assigned(state: State, change: Change) -> None:
    worker = UUID(change.facts["worker"])
    state["station_staff"][(change.entity_id, worker)] = dict(
        zip(
            STAFF_COLUMNS,
            (
                change.entity_id,
                worker,
                change.facts["full_time"],
                change.effective_on,
                change.position,
            ),
            strict=True,
        )
    )


def _released(state: State, change: Change) -> None:
    state["station_staff"].pop((change.entity_id, UUID(change.facts["worker"])), None)


def _staff_gone(state: State, change: Change) -> None:
    state["station_staff"].clear()


class StationHistory(RowHistory):
    record = Station
    tables = (
        Table("stations", STATION_COLUMNS),
        Table("station_staff", STAFF_COLUMNS, ("station_id", "worker_id")),
    )
    steps = {
        Station.Established: _established,
        Station.OperatorContracted: _contracted,
        Station.Assessed: _assessed,
        Station.DemonstrationDesignated: designated,
        Station.Closed: status("CLOSED"),
    }
    child_steps = {
        Station.StaffAssigned: _assigned,
        Station.StaffReleased: _released,
        Station.Closed: _staff_gone,
    }
    fields = {
        "operator_from": "operatorContract.from",
        "operator_to": "operatorContract.to",
        "assessed_on": "assessment.assessedOn",
        **{d: f"assessment.{camel_case(d)}" for d in ASSESSMENT_DIMENSIONS},
        **DEMONSTRATION_FIELDS,
        "station_staff": "staff",
    }


class Stations(RecordViews):
    def __init__(self) -> None:
        super().__init__("stations", StationHistory())


async def stations_by_id(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[Any]:
    return await by_key(pool, "stations", STATION_COLUMNS, "id", ids, moment)


async def staff_by_station(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[list[Any]]:
    return await related(
        pool, "station_staff", STAFF_COLUMNS, "station_id", ids, moment, "position"
    )


async def station_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after_seq: int,
    moment: Moment | None = None,
    **filters: Any,
) -> tuple[list[Any], bool, int]:
    return await page(pool, "stations", STATION_COLUMNS, first, after_seq, filters, moment=moment)
