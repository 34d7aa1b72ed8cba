"""Agencies and their history, for the `agency` and `agencies` queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.domain.agency import Agency
from hub.projections.changes import Change
from hub.projections.paging import by_key, page
from hub.projections.timeline import Moment, RecordViews, RowHistory, Table, status

COLUMNS = (
    "id",
    "seq",
    "version",
    "name",
    "credit_code",
    "district",
    "kind",
    "fields",
    "status",
    "registered_on",
    "incubator",
    "incubated_from",
    "incubated_to",
    "demonstration_programme",
    "demonstration_year",
    "updated_at",
)


def _registered(row: dict[str, Any], change: Change) -> None:
    facts = change.facts
    row.update(
        name=facts["name"],
        credit_code=facts["credit_code"],
        district=facts["district"],
        kind=facts["kind"],
        fields=facts["fields"],
        status="ACTIVE",
        registered_on=change.effective_on,
    )


def _profile_updated(row: dict[str, Any], change: Change) -> None:
    row.update(change.facts["changes"])


def _incubated(row: dict[str, Any], change: Change) -> None:
    facts = change.facts
    row.update(
        incubator=facts["incubator"], incubated_from=facts["start"], incubated_to=facts["end"]
    )


DEMONSTRATION_FIELDS = {
    "demonstration_programme": "demonstration.programme",
    "demonstration_year": "demonstration.year",
}
"""The columns of a demonstration designation (of an agency or a station), as the API names
them."""


def designated(row: dict[str, Any], change: Change) -> None:
    """A designation as a demonstration agency or station."""
    row.update(
        demonstration_programme=change.facts["programme"],
        demonstration_year=change.facts["year"],
    )


class AgencyHistory(RowHistory):
    record = Agency
    tables = (Table("agencies", COLUMNS),)
    steps = {
        Agency.Registered: _registered,
        Agency.ProfileUpdated: _profile_updated,
        Agency.Incubated: _incubated,
        Agency.DemonstrationDesignated: designated,
        Agency.Suspended: status("SUSPENDED"),
        Agency.Reinstated: status("ACTIVE"),
        Agency.Deregistered: status("DEREGISTERED"),
    }
    fields = {
        "incubator": "incubation.incubator",
        "incubated_from": "incubation.from",
        "incubated_to": "incubation.to",
        **DEMONSTRATION_FIELDS,
    }


class Agencies(RecordViews):
    def __init__(self) -> None:
        super().__init__("agencies", AgencyHistory())


async def agencies_by_id(
    pool: asyncpg.Pool, ids: Sequence[Any], moment: Moment | None = None
) -> list[asyncpg.Record | None]:
    """Agency rows in the order of `ids` (None where unknown): one query for a whole level."""
    return await by_key(pool, "agencies", COLUMNS, "id", ids, moment)


async def agency_page(
    pool: asyncpg.Pool,
    *,
    first: int,
    after_seq: int,
    district: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    field: str | None = None,
    moment: Moment | None = None,
) -> tuple[list[asyncpg.Record], bool, int]:
    """One page of agencies in registration order, whether more follow, and the total."""
    return await page(
        pool,
        "agencies",
        COLUMNS,
        first,
        after_seq,
        {"district": district, "kind": kind, "status": status},
        contains={"fields": [field] if field else None},
        moment=moment,
    )
