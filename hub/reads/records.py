"""What each GraphQL field the planner covers reads: the columns of the projections' tables,
their relations at the parent's moment, and the lists and single-record forms of the roots.

Each reading gives the JSON the resolvers answer (`hub.schema`): ids as text, enums by their
value (the same as their name), dates as ISO dates, date-times as Python's `isoformat` of
the UTC time, cursors as `hub.schema.common.encode_cursor`. A relation another record names
is read at the parent's moment, or as now where the resolver falls back to now
(`hub.schema.common.referenced`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from hub.domain.envelope import Role
from hub.domain.errors import CommandRefused
from hub.domain.records import SCHEMA_VERSIONS
from hub.domain.reference import DISTRICTS
from hub.domain.vocabulary import CourseStatus
from hub.projections.communities import listed_or_as_now
from hub.projections.event_log import INCLUDED_POSITION
from hub.reads.compiler import (
    NOW,
    At,
    Bound,
    Compiler,
    Details,
    FieldSql,
    Param,
    Unplanned,
    json_literal,
)
from hub.reads.compiler import literal as text
from hub.reads.personal import marked, may_see, shown_payload
from hub.registry.blind_index import matches, search_term
from hub.schema.audit import AuditFilter, audit_scope, zoned_filter
from hub.schema.common import District, decode_cursor, page_size, value_of, zoned
from hub.schema.events import PERSONAL_KEYS
from hub.schema.mutations import record_id
from hub.streams.follow import Scope


def column(name: str) -> FieldSql:
    return lambda c, a, d, at: f"{a}.{name}"


def identifier(name: str = "id") -> FieldSql:
    return lambda c, a, d, at: f"{a}.{name}::text"


def stamp(name: str) -> FieldSql:
    """A timestamptz as strawberry writes it: `isoformat()` of the UTC time (microseconds
    only when there are some)."""

    def read(c: Compiler, a: str, d: Details, at: At) -> str:
        utc = f"({a}.{name} AT TIME ZONE 'UTC')"
        return (
            f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN"
            f" date_part('microseconds', {utc})::int % 1000000 = 0 THEN ''"
            f" ELSE to_char({utc}, '.US') END || '+00:00')"
        )

    return read


def decimal(name: str) -> FieldSql:
    """A numeric as strawberry writes a Decimal: its text, exact."""
    return lambda c, a, d, at: f"{a}.{name}::text"


def districts_json(c: Compiler, details: Details) -> dict[str, Any]:
    """Each district's selected fields, by code, as the resolvers answer them."""
    selected = c.subfields("District", details)
    shown: dict[str, Any] = {}
    for code in DISTRICTS:
        shown_fields = asdict(District.of(code)).items()
        values = {"nameEn" if k == "name_en" else k: v for k, v in shown_fields}
        values["__typename"] = "District"
        row = {}
        for key, nodes in selected.items():
            name = nodes[0].node.name.value
            if name not in values:
                raise Unplanned(f"District.{name}")
            row[key] = values[name]
        shown[code] = row
    return shown


def district(name: str) -> FieldSql:
    return lambda c, a, d, at: by_district(districts_json(c, d), f"{a}.{name}")


def by_district(shown: dict[str, Any], code: str) -> str:
    """The JSON of the district whose code is the SQL `code` (null for none): a CASE of
    constants, so that no JSON is parsed per row."""
    cases = " ".join(f"WHEN {text(k)} THEN {json_literal(v)}" for k, v in shown.items())
    return f"(CASE {code} {cases} END)"


def embedded(type_name: str, when: str) -> FieldSql:
    """An object read from the same row (`incubation`), null unless `when` holds of it."""
    return lambda c, a, d, at: (
        f"CASE WHEN {when.format(a=a)} THEN {c.object(type_name, a, d, at)} END"
    )


def one(table: str, type_name: str, key: str, ref: str, as_now: bool = False) -> FieldSql:
    """The record of `table` whose `key` is the row's `ref`, at the parent's moment (or, with
    `as_now`, as now when it was not yet recorded then)."""
    return lambda c, a, d, at: record(c, table, type_name, key, f"{a}.{ref}", d, at, as_now)


def record(
    c: Compiler,
    table: str,
    type_name: str,
    key: str,
    value: str,
    details: Details,
    at: At,
    as_now: bool = False,
) -> str:
    def at_moment(moment: At) -> str:
        r = c.alias()
        return (
            f"(SELECT {c.object(type_name, r, details, moment)} FROM {table} {r}"
            f" WHERE {r}.{key} = {value} AND {c.visible(moment, r)})"
        )

    if as_now and at.slot is not None:
        return f"COALESCE({at_moment(at)}, {at_moment(NOW)})"
    return at_moment(at)


def many(table: str, type_name: str, key: str, order: str = "position") -> FieldSql:
    """The rows of `table` naming the row's id in `key`, in `order`, at the parent's moment."""

    def read(c: Compiler, a: str, d: Details, at: At) -> str:
        r = c.alias()
        return (
            f"COALESCE((SELECT json_agg({c.object(type_name, r, d, at)} ORDER BY {r}.{order})"
            f" FROM {table} {r} WHERE {r}.{key} = {a}.id AND {c.visible(at, r)}), '[]'::json)"
        )

    return read


def personal(name: str, column_name: str) -> FieldSql:
    """A sealed personal field: marked for `hub.reads.personal.reveal` where the caller may
    see it, else null."""

    def read(c: Compiler, a: str, d: Details, at: At) -> str:
        allowed = may_see(c, a)
        if allowed == "false":
            return "NULL::text"
        c.reveals = True
        return (
            f"CASE WHEN NOT {a}.erased AND {allowed} AND {a}.{column_name} IS NOT NULL"
            f" THEN {marked(a, name, column_name)} END"
        )

    return read


def cursor(kind: str, seq: str) -> str:
    """`hub.schema.common.encode_cursor` in SQL."""
    return (
        f"translate(encode(convert_to({text(kind + ':')} || {seq}, 'UTF8'), 'base64'),"
        " E'+/\\n', '-_')"
    )


def today(c: Compiler, at: At) -> str:
    """The business date a level is read on: its moment's effective date, or today."""
    slot = at.slot
    if slot is None:
        return c.param(lambda b: b.today) + "::date"
    return c.param(lambda b: b.moments[slot].effective) + "::date"


def running(c: Compiler, a: str, at: At) -> str:
    return f"({a}.starts_on <= {today(c, at)} AND {a}.ends_on >= {today(c, at)})"


def course_status(c: Compiler, a: str, at: At, value: Param, now: Any) -> str:
    """`hub.projections.courses.course_page`'s status: RUNNING a scheduled course between
    its dates on the level's day, SCHEDULED one that is not."""
    if now is CourseStatus.RUNNING:
        return f"{a}.status = 'SCHEDULED' AND {running(c, a, at)}"
    if now is CourseStatus.SCHEDULED:
        return f"{a}.status = 'SCHEDULED' AND NOT {running(c, a, at)}"
    return f"{a}.status = {c.param(value)}"


def shown_status(c: Compiler, a: str, d: Details, at: At) -> str:
    """`hub.schema.course.shown_status`: RUNNING between its dates on the level's day."""
    return (
        f"CASE WHEN {a}.status = 'SCHEDULED' AND {running(c, a, at)} THEN 'RUNNING'"
        f" ELSE {a}.status END"
    )


def event_data(c: Compiler, a: str, d: Details, at: At) -> str:
    """An event's payload as the caller may see it (`hub.schema.events.present`)."""
    return shown_payload(c, a, PERSONAL_KEYS)


def event_schema_version(c: Compiler, a: str, d: Details, at: At) -> str:
    """`hub.domain.records.schema_version` of the event's type."""
    cases = " ".join(f"WHEN {text(t)} THEN {int(v)}" for t, v in SCHEMA_VERSIONS.items())
    return f"(CASE {a}.type {cases} ELSE 1 END)" if cases else "1"


def history(c: Compiler, a: str, d: Details, at: At) -> str:
    """`Query.history`: every event of one record, oldest first (without `changes`)."""
    arguments = c.arguments(d)
    value = checked(record_id)
    found = c.param(lambda b: value(arguments(b.variables)["id"]))
    r = c.alias()
    return (
        f"COALESCE((SELECT json_agg({c.object('Event', r, d, NOW)} ORDER BY {r}.version)"
        f" FROM event_log {r} WHERE {r}.entity_id = {found}), '[]'::json)"
    )


TYPES: dict[str, dict[str, FieldSql]] = {
    "Event": {
        "position": column("position"),
        "entityId": identifier("entity_id"),
        "entityType": column("entity_type"),
        "type": column("type"),
        "version": column("version"),
        "recordedAt": stamp("recorded_at"),
        "effectiveOn": column("effective_on"),
        "actor": embedded("Actor", "true"),
        "reason": column("reason"),
        "retracts": column("retracts"),
        "correlationId": column("correlation_id"),
        "data": event_data,
        "schemaVersion": event_schema_version,
        "requestId": column("request_id"),
    },
    "Actor": {
        "sub": column("actor_sub"),
        "party": column("actor_party"),
        "role": column("actor_role"),
        "jurisdiction": column("actor_jurisdiction"),
    },
    "Agency": {
        "id": identifier(),
        "version": column("version"),
        "status": column("status"),
        "name": column("name"),
        "creditCode": column("credit_code"),
        "district": district("district"),
        "kind": column("kind"),
        "fields": column("fields"),
        "registeredOn": column("registered_on"),
        "incubation": embedded("Incubation", "NULLIF({a}.incubator, '') IS NOT NULL"),
        "demonstration": embedded(
            "Demonstration", "NULLIF({a}.demonstration_programme, '') IS NOT NULL"
        ),
        "updatedAt": stamp("updated_at"),
    },
    "Incubation": {
        "incubator": column("incubator"),
        "from": column("incubated_from"),
        "to": column("incubated_to"),
    },
    "Demonstration": {
        "programme": column("demonstration_programme"),
        "year": column("demonstration_year"),
    },
    "Worker": {
        "id": identifier(),
        "version": column("version"),
        "status": column("status"),
        "district": district("district"),
        "education": column("education"),
        "registeredOn": column("registered_on"),
        "updatedAt": stamp("updated_at"),
        "personalDataErased": column("erased"),
        "name": personal("name", "name_sealed"),
        "idNumber": personal("idNumber", "id_number_sealed"),
        "employer": one("agencies", "Agency", "id", "employer"),
        "certificates": many("worker_certificates", "Certificate", "worker_id"),
        "posts": many("posts", "Post", "holder", order="seq"),
        "attendances": many("course_attendances", "Attendance", "worker_id"),
    },
    "Post": {
        "id": identifier(),
        "version": column("version"),
        "status": column("status"),
        "sector": column("sector"),
        "field": column("field"),
        "district": district("district"),
        "hostOrganization": column("host_organization"),
        "origin": column("origin"),
        "createdOn": column("created_on"),
        "updatedAt": stamp("updated_at"),
        "community": one("communities", "Community", "code", "community", as_now=True),
        "station": one("stations", "Station", "id", "station"),
        "holder": one("workers", "Worker", "id", "holder", as_now=True),
    },
    "Course": {
        "id": identifier(),
        "version": column("version"),
        "status": shown_status,
        "title": column("title"),
        "category": column("category"),
        "level": column("level"),
        "district": district("district"),
        "startsOn": column("starts_on"),
        "endsOn": column("ends_on"),
        "hours": decimal("hours"),
        "attendanceCount": column("attendance_count"),
        "scheduledOn": column("scheduled_on"),
        "completedOn": column("completed_on"),
        "cancelledOn": column("cancelled_on"),
        "updatedAt": stamp("updated_at"),
        "deliveredBy": one("agencies", "Agency", "id", "delivered_by"),
        "attendances": many("course_attendances", "Attendance", "course_id"),
    },
    "Project": {
        "id": identifier(),
        "version": column("version"),
        "status": column("status"),
        "title": column("title"),
        "field": column("field"),
        "district": district("district"),
        "funder": column("funder"),
        "budget": decimal("budget"),
        "programme": column("programme"),
        "startsOn": column("starts_on"),
        "endsOn": column("ends_on"),
        "approvedOn": column("approved_on"),
        "disbursed": decimal("disbursed"),
        "progress": embedded("Progress", "{a}.progress_reported_on IS NOT NULL"),
        "evaluation": embedded("Evaluation", "NULLIF({a}.evaluator, '') IS NOT NULL"),
        "updatedAt": stamp("updated_at"),
        "contractor": one("agencies", "Agency", "id", "contractor", as_now=True),
        "disbursements": many("project_disbursements", "Disbursement", "project_id"),
    },
    "Progress": {
        "percentComplete": column("percent_complete"),
        "summary": column("progress_summary"),
        "reportedOn": column("progress_reported_on"),
    },
    "Evaluation": {
        "evaluator": column("evaluator"),
        "commissionedOn": column("evaluation_commissioned_on"),
        "score": column("evaluation_score"),
        "grade": lambda c, a, d, at: f"NULLIF({a}.evaluation_grade, '')",
        "concludedOn": column("evaluation_concluded_on"),
    },
    "Disbursement": {
        "amount": decimal("amount"),
        "effectiveOn": column("effective_on"),
        "position": column("position"),
        "recordedAt": stamp("recorded_at"),
    },
    "Attendance": {
        "workerId": identifier("worker_id"),
        "hours": decimal("hours"),
        "passed": column("passed"),
        "effectiveOn": column("effective_on"),
        "worker": one("workers", "Worker", "id", "worker_id", as_now=True),
        "course": one("courses", "Course", "id", "course_id"),
    },
    "Certificate": {
        "level": column("level"),
        "number": column("number"),
        "awardedOn": column("awarded_on"),
        "revoked": column("revoked"),
    },
    "Community": {
        "id": identifier(),
        "version": column("version"),
        "code": column("code"),
        "name": column("name"),
        "district": district("district"),
        "urban": column("urban"),
        "updatedAt": stamp("updated_at"),
    },
    "Station": {
        "id": identifier(),
        "version": column("version"),
        "status": column("status"),
        "name": column("name"),
        "district": district("district"),
        "establishedOn": column("established_on"),
        "assessment": embedded("Assessment", "{a}.assessed_on IS NOT NULL"),
        "demonstration": embedded(
            "Demonstration", "NULLIF({a}.demonstration_programme, '') IS NOT NULL"
        ),
        "updatedAt": stamp("updated_at"),
        "community": one("communities", "Community", "code", "community", as_now=True),
        "operator": one("agencies", "Agency", "id", "operator", as_now=True),
        "operatorContract": embedded("OperatorContract", "{a}.operator IS NOT NULL"),
        "staff": many("station_staff", "StaffAssignment", "station_id"),
        "posts": many("posts", "Post", "station", order="seq"),
    },
    "Assessment": {
        "assessedOn": column("assessed_on"),
        "hardware": column("hardware"),
        "duties": column("duties"),
        "mechanism": column("mechanism"),
        "funding": column("funding"),
        "serviceStandards": column("service_standards"),
        "performance": column("performance"),
    },
    "OperatorContract": {
        "agency": one("agencies", "Agency", "id", "operator", as_now=True),
        "from": column("operator_from"),
        "to": column("operator_to"),
    },
    "StaffAssignment": {
        "fullTime": column("full_time"),
        "since": column("since"),
        "worker": one("workers", "Worker", "id", "worker_id", as_now=True),
    },
}


Arguments = Callable[[Any], dict[str, Any]]
Convert = Callable[[Any], Any]


def checked(convert: Convert) -> Convert:
    """`convert`, with a value it refuses left to the resolvers (which answer the refusal)."""

    def run(value: Any) -> Any:
        try:
            return convert(value)
        except CommandRefused as refused:
            raise Unplanned(refused.message) from None

    return run


def as_of(arguments: Arguments) -> Callable[[Any], tuple[Any, Any]]:
    def of(variables: Any) -> tuple[Any, Any]:
        chosen = arguments(variables).get("asOf") or {}
        return chosen.get("effective"), chosen.get("recorded")

    return of


def single(
    table: str,
    type_name: str,
    key: str = "id",
    convert: Convert = record_id,
    as_now: bool = False,
) -> FieldSql:
    """A single-record form (`worker(id)`): null when there is none at the moment."""

    def read(c: Compiler, a: str, d: Details, at: At) -> str:
        arguments = c.arguments(d)
        moment = c.moment(as_of(arguments))
        argument = "code" if key == "code" else "id"
        value = checked(convert)
        found = c.param(lambda b: value(arguments(b.variables)[argument]))
        return record(c, table, type_name, key, found, d, moment, as_now)

    return read


Filter = Callable[[Compiler, str, At, Param, Any], str]
"""A list's filter: (compiler, row alias, moment, the value's parameter, the value in this
request, for a filter whose condition depends on it) → condition."""


def equals(name: str) -> Filter:
    return lambda c, a, at, value, now: f"{a}.{name} = {c.param(value)}"


def searched_by(field: str) -> Filter:
    """A search of workers by personal data, as `hub.schema.worker.searched` makes it: the
    blind index's digest, and only among the workers whose personal data the caller may see
    (a PARTNER's is refused, by the resolvers)."""

    def condition(c: Compiler, a: str, at: At, value: Param, now: Any) -> str:
        if c.caller.role is Role.PARTNER:
            raise Unplanned("a PARTNER's search by personal data, which the resolvers refuse")
        digest = c.param(lambda b: b.index_digest(field, value(b)))
        return f"{matches(f'{a}.id', field, digest)} AND {may_see(c, a)}"

    return condition


def listing(
    table: str,
    type_name: str,
    kind: str,
    filters: dict[str, tuple[Filter, Convert]],
    visibility: Callable[[Compiler, At, str], str] | None = None,
) -> FieldSql:
    """A list root field (`workers`): one page in creation order with its cursors, whether
    more follow and the total, each built only when selected. `visibility`, if given, is
    the condition selecting the versions to answer instead of those that hold at the moment."""

    def read(c: Compiler, a: str, d: Details, at: At) -> str:
        arguments = c.arguments(d)
        moment = c.moment(as_of(arguments))
        chosen = c.now_arguments(d).get("filter") or {}
        t = c.alias()
        where = [(visibility or Compiler.visible)(c, moment, t)]
        for name, (condition, convert) in filters.items():
            if chosen.get(name) is not None:
                value = checked(convert)

                def bound(b: Bound, name: str = name, value: Convert = value) -> Any:
                    return value((arguments(b.variables).get("filter") or {})[name])

                where.append(condition(c, t, moment, bound, chosen[name]))
        return page_of(c, d, arguments, table, type_name, kind, t, " AND ".join(where), moment)

    return read


def page_of(
    c: Compiler,
    d: Details,
    arguments: Arguments,
    table: str,
    type_name: str,
    kind: str,
    t: str,
    condition: str,
    moment: At,
    order: str = "seq",
) -> str:
    """One page of the rows of `table` (alias `t`) where `condition` holds, in `order`, as a
    `<type_name>Connection`: its cursors, whether more follow and the total, each built only
    when selected (`hub.projections.paging.page`, `hub.schema.common.connection`). It is one
    row even of an empty page whose every aggregate is skipped (`GROUP BY ()`)."""
    first = checked(page_size)
    after = checked(lambda cursor: decode_cursor(kind, cursor))
    c.checks.append(lambda b: first(arguments(b.variables)["first"]))
    c.checks.append(lambda b: after(arguments(b.variables).get("after")))
    connection = f"{type_name}Connection"
    selected = c.subfields(connection, d)
    parts: list[str] = []
    paged = False
    p = c.alias()
    size = ""
    for key, nodes in selected.items():
        name = nodes[0].node.name.value
        if name in ("edges", "pageInfo") and not paged:
            paged = True
            size = c.param(lambda b: first(arguments(b.variables)["first"]))
        if name == "__typename":
            value = text(connection)
        elif name == "totalCount":
            value = f"(SELECT count(*) FROM {table} {t} WHERE {condition})"
        elif name == "edges":
            edge = c.members(
                f"{type_name}Edge",
                p,
                c.subfields(f"{type_name}Edge", nodes),
                moment,
                {
                    "cursor": lambda c, a, d, at: cursor(kind, f"{a}.{order}"),
                    "node": lambda c, a, d, at: c.object(type_name, a, d, at),
                },
            )
            value = (
                f"COALESCE(json_agg({edge} ORDER BY {p}.{order})"
                f" FILTER (WHERE {p}._n <= {size}), '[]'::json)"
            )
        elif name == "pageInfo":
            last = f"max({p}.{order}) FILTER (WHERE {p}._n <= {size})"
            value = c.members(
                "PageInfo",
                p,
                c.subfields("PageInfo", nodes),
                moment,
                {
                    "hasNextPage": lambda c, a, d, at, size=size: f"count(*) > {size}",
                    "endCursor": lambda c, a, d, at, last=last: cursor(kind, last),
                },
            )
        else:
            raise Unplanned(f"{connection}.{name}")
        parts += [text(key), value]
    body = f"json_build_object({', '.join(parts)})"
    if not paged:
        return f"(SELECT {body})"
    start = c.param(lambda b: after(arguments(b.variables).get("after")))
    return (
        f"(SELECT {body} FROM (SELECT {t}.*, row_number() OVER (ORDER BY {t}.{order}) AS _n"
        f" FROM {table} {t} WHERE {condition} AND {t}.{order} > {start}"
        f" ORDER BY {t}.{order} LIMIT {size} + 1) {p} GROUP BY ())"
    )


AUDIT_COLUMNS = {
    "actor": "actor_sub",
    "party": "actor_party",
    "type": "type",
}
AUDIT_RANGES = {
    "recordedFrom": "recorded_at >=",
    "recordedTo": "recorded_at <=",
    "effectiveFrom": "effective_on >=",
    "effectiveTo": "effective_on <=",
}


def audit_filter(chosen: dict[str, Any], timezone: str = "UTC") -> AuditFilter:
    """The filter of `chosen` (the request's `filter` argument), its recorded times read in
    `timezone` where given without a zone (`hub.schema.audit.zoned_filter`)."""
    return zoned_filter(
        AuditFilter(
            actor=chosen.get("actor"),
            party=chosen.get("party"),
            district=chosen.get("district"),
            entity_types=chosen.get("entityTypes"),
            entity_id=chosen.get("entityId"),
            type=chosen.get("type"),
            recorded_from=chosen.get("recordedFrom"),
            recorded_to=chosen.get("recordedTo"),
            effective_from=chosen.get("effectiveFrom"),
            effective_to=chosen.get("effectiveTo"),
        ),
        timezone,
    )


def audit_trail(c: Compiler, a: str, d: Details, at: At) -> str:
    """`Query.auditTrail`: the log in position order, filtered, in the caller's scope
    (`hub.schema.audit.audit_scope`, `hub.projections.event_log.audit_page`)."""
    arguments = c.arguments(d)

    def chosen(variables: Any) -> dict[str, Any]:
        return arguments(variables).get("filter") or {}

    def scope(b: Bound) -> Scope:
        return checked(lambda f: audit_scope(b.caller, audit_filter(f, b.timezone)))(
            chosen(b.variables)
        )

    def ranged(b: Bound, name: str) -> Any:
        value = chosen(b.variables)[name]
        return zoned(value, b.timezone) if name.startswith("recorded") else value

    now = chosen(c.executor.variable_values)
    try:
        shape = audit_scope(c.caller, audit_filter(now))
    except CommandRefused as refused:
        raise Unplanned(refused.message, lasting=False) from None
    c.checks.append(scope)
    t = c.alias()
    where = ["true"]
    for name, column_name in AUDIT_COLUMNS.items():
        if now.get(name) is not None:
            where.append(f"{t}.{column_name} = {c.param(lambda b, n=name: chosen(b.variables)[n])}")
    if now.get("entityId") is not None:
        entity = checked(record_id)
        where.append(
            f"{t}.entity_id = {c.param(lambda b: entity(chosen(b.variables)['entityId']))}"
        )
    if shape.district is not None:
        where.append(f"{t}.district = {c.param(lambda b: scope(b).district)}")
    if shape.agency is not None:
        where.append(f"{t}.agency = {c.param(lambda b: scope(b).agency)}")
    if shape.entity_types is not None:
        types = c.param(lambda b: list(scope(b).entity_types or ()))
        where.append(f"{t}.entity_type = ANY({types}::text[])")
    for name, condition in AUDIT_RANGES.items():
        if now.get(name) is not None:
            where.append(f"{t}.{condition} {c.param(lambda b, n=name: ranged(b, n))}")
    condition = " AND ".join(where)
    return page_of(c, d, arguments, "event_log", "Event", "event", t, condition, NOW, "position")


def listed(c: Compiler, at: At, alias: str) -> str:
    """Communities as at the moment, or as now those not listed yet then
    (`hub.projections.communities.listed_or_as_now`)."""
    if at.slot is None:
        return c.visible(at, alias)
    return c.at_moment(at.slot, lambda moment, args: listed_or_as_now(moment, args, alias))


def me(c: Compiler, a: str, d: Details, at: At) -> str:
    """The caller, as its token names it (`Query.me`)."""
    fields: dict[str, FieldSql] = {
        "sub": lambda c, a, d, at: c.param(lambda b: b.caller.sub) + "::text",
        "role": lambda c, a, d, at: c.param(lambda b: b.caller.role.value) + "::text",
        "party": lambda c, a, d, at: c.param(lambda b: b.caller.party) + "::text",
        "district": lambda c, a, d, at: by_district(
            districts_json(c, d), c.param(lambda b: b.caller.district or None) + "::text"
        ),
        "agency": lambda c, a, d, at: c.param(lambda b: b.caller.agency or None) + "::text",
        "jurisdiction": lambda c, a, d, at: c.param(lambda b: b.caller.jurisdiction) + "::text",
    }
    return c.members("Principal", "", c.subfields("Principal", d), at, fields)


def districts(c: Compiler, a: str, d: Details, at: At) -> str:
    """The city's districts (`Query.districts`), in reference order."""
    return json_literal(list(districts_json(c, d).values()))


ROOTS: dict[str, FieldSql] = {
    "agency": single("agencies", "Agency"),
    "agencies": listing(
        "agencies",
        "Agency",
        "agency",
        {
            "district": (equals("district"), str),
            "kind": (equals("kind"), value_of),
            "status": (equals("status"), value_of),
            "field": (
                lambda c, a, at, v, now: f"{a}.fields @> ARRAY[{c.param(v)}::text]",
                value_of,
            ),
        },
    ),
    "worker": single("workers", "Worker"),
    "workers": listing(
        "workers",
        "Worker",
        "worker",
        {
            "district": (equals("district"), str),
            "status": (equals("status"), value_of),
            "level": (
                lambda c, a, at, v, now: (
                    f"EXISTS (SELECT 1 FROM worker_certificates c WHERE c.worker_id = {a}.id"
                    f" AND c.level = {c.param(v)} AND NOT c.revoked AND {c.visible(at, 'c')})"
                ),
                value_of,
            ),
            "employer": (equals("employer"), record_id),
            "education": (equals("education"), value_of),
            "name": (searched_by("name"), lambda term: search_term("name", term)),
            "idNumber": (searched_by("id_number"), lambda term: search_term("id_number", term)),
        },
    ),
    "station": single("stations", "Station"),
    "stations": listing(
        "stations",
        "Station",
        "station",
        {
            "district": (equals("district"), str),
            "status": (equals("status"), value_of),
            "operator": (equals("operator"), record_id),
            "community": (equals("community"), str),
        },
    ),
    "post": single("posts", "Post"),
    "posts": listing(
        "posts",
        "Post",
        "post",
        {
            "district": (equals("district"), str),
            "status": (equals("status"), value_of),
            "sector": (equals("sector"), value_of),
            "field": (equals("field"), value_of),
            "station": (equals("station"), record_id),
        },
    ),
    "course": single("courses", "Course"),
    "courses": listing(
        "courses",
        "Course",
        "course",
        {
            "district": (equals("district"), str),
            "category": (equals("category"), value_of),
            "level": (equals("level"), value_of),
            "deliveredBy": (equals("delivered_by"), record_id),
            "status": (course_status, value_of),
        },
    ),
    "project": single("projects", "Project"),
    "projects": listing(
        "projects",
        "Project",
        "project",
        {
            "district": (equals("district"), str),
            "status": (equals("status"), value_of),
            "field": (equals("field"), value_of),
            "funder": (equals("funder"), str),
            "contractor": (equals("contractor"), record_id),
        },
    ),
    "community": single(
        "communities", "Community", key="code", convert=lambda code: code.strip(), as_now=True
    ),
    "communities": listing(
        "communities",
        "Community",
        "community",
        {
            "district": (equals("district"), str),
            "urban": (equals("urban"), bool),
            "nameContains": (
                lambda c, a, at, v, now: f"strpos({a}.name, {c.param(v)}) > 0",
                lambda search: search.strip(),
            ),
        },
        visibility=listed,
    ),
    "position": lambda c, a, d, at: f"({INCLUDED_POSITION})",
    "history": history,
    "auditTrail": audit_trail,
    "me": me,
    "districts": districts,
}
