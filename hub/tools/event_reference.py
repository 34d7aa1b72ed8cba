"""The partners' event reference: a versioned JSON Schema of every event type's public payload.

Partners code against the API's `Event.data`. Its shape follows from the code: the parameters of
each record's `@event` methods, turned into the payload by `hub.projections.changes.Change.data`
(camelCase keys, `changes` flattened, dates, decimals and ids as strings). So the schemas are
generated from those signatures, and the few things a signature cannot tell (which fields an
update may carry, vocabularies, what an id refers to, the prose) are in the explicit tables
below, never guessed.

A published version is a promise: `docs/events/<Type>.v<N>.json` never changes once written.
A changed payload gets a new version (raise it in `hub.domain.records.SCHEMA_VERSIONS`), and
the old file stays beside it.
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from eventsourcing.domain import CommandMethodDecorator

from hub.domain.checks import camel_case
from hub.domain.record import Record
from hub.domain.records import RECORDS, schema_version
from hub.domain.station import ASSESSMENT_DIMENSIONS
from hub.domain.vocabulary import (
    AgencyKind,
    CertificateLevel,
    CourseCategory,
    CourseLevel,
    Education,
    EvaluationGrade,
    PostOrigin,
    PostSector,
    ServiceField,
)
from hub.domain.worker import PERSONAL_FIELDS, Worker

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

NOT_PAYLOAD = {"self", "id", "envelope"}
"""Parameters that never reach `Event.data`: `id` becomes the event's `entityId`, the envelope
its actor, dates and reason."""

# --- What the signatures cannot tell -------------------------------------------------------

CHANGEABLE: dict[str, tuple[str, ...]] = {
    "AgencyProfileUpdated": ("name", "kind", "fields"),
    "CommunityAmended": ("name", "urban"),
    "WorkerUpdated": (*PERSONAL_FIELDS, "district", "education", "employer"),
}
"""For events that carry a `changes` dict: the record attributes it may hold (each optional,
typed as in the record's creation event)."""

OBJECT_KEYS: dict[tuple[str, str], tuple[str, ...]] = {
    ("Station", "scores"): ASSESSMENT_DIMENSIONS,
}
"""The keys of dict-valued parameters (camelCased in the payload like every other name)."""

VOCABULARIES: dict[tuple[str, str], type[StrEnum]] = {
    ("Agency", "kind"): AgencyKind,
    ("Agency", "fields"): ServiceField,
    ("Post", "sector"): PostSector,
    ("Post", "field"): ServiceField,
    ("Post", "origin"): PostOrigin,
    ("Worker", "education"): Education,
    ("Worker", "level"): CertificateLevel,
    ("Course", "category"): CourseCategory,
    ("Course", "level"): CourseLevel,
    ("Project", "field"): ServiceField,
    ("Project", "grade"): EvaluationGrade,
}
"""(record, parameter) → the vocabulary its string values (or list items) come from."""

REFERENCES: dict[str, str] = {
    **{r.answers_to.fact: "Agency" for r in RECORDS if r.answers_to.fact},
    "post": "Post",
    "station": "Station",
    "worker": "Worker",
}
"""Parameters that hold the id (a UUID) of another record: the facts naming the agency
answerable for a record (`Record.answers_to`), and the records a post, station or course
names."""

PATTERNS: dict[str, str] = {
    "district": r"^[0-9]{6}$",
    "community": r"^[0-9]{12}$",
    "funder": r"^(MUNICIPAL|[0-9]{6})$",
}

DESCRIPTIONS: dict[str, str] = {
    "AgencyRegistered": "A social-work service agency was registered.",
    "AgencyProfileUpdated": "An agency's name, kind or fields of service changed.",
    "AgencyIncubated": "An agency was admitted to an incubator base (孵化基地) for a period.",
    "AgencyDemonstrationDesignated": "An agency was designated a demonstration agency (示范机构).",
    "AgencySuspended": "An agency was suspended; the event's `reason` says why.",
    "AgencyReinstated": "A suspended agency was reinstated; the event's `reason` says why.",
    "AgencyDeregistered": "An agency was deregistered; the event's `reason` says why.",
    "CommunityListed": "A community (urban 社区 or rural 村) entered the reference list.",
    "CommunityAmended": "A listed community's name or urban flag changed.",
    "StationEstablished": "A community social-work station was established (one per community).",
    "StationOperatorContracted": "An agency was contracted to operate a station for a period.",
    "StationStaffAssigned": "A worker joined a station's staff, full-time or not.",
    "StationStaffReleased": "A worker left a station's staff.",
    "StationAssessed": "A station's standardisation assessment: six scores from 0 to 100.",
    "StationDemonstrationDesignated": "A station was designated a demonstration station.",
    "StationClosed": "A station was closed, ending its staff assignments; `reason` says why.",
    "PostCreated": "A social-work post was created at a host organisation.",
    "PostFilled": "A worker took a vacant post (one holder at a time).",
    "PostVacated": "A post's holder left it; the post is vacant again.",
    "PostAbolished": "A vacant post was abolished; the event's `reason` says why.",
    "WorkerRegistered": "A social worker was registered.",
    "WorkerUpdated": "A worker's personal data, district, education or employer changed.",
    "WorkerCertificateAwarded": "A worker was awarded a professional certificate (职业水平证书).",
    "WorkerCertificateRevoked": "A worker's certificate was revoked; `reason` says why.",
    "WorkerPersonalDataErased": (
        "A worker's name and ID number were erased; from then on every event of this worker "
        "shows them as null with `personalDataErased: true`."
    ),
    "WorkerPostTaken": "A worker took a post (recorded with the post's `PostFilled`).",
    "WorkerPostLeft": "A worker left a post (recorded with the post's `PostVacated`).",
    "CourseScheduled": "A training course was scheduled.",
    "CourseAttendanceRecorded": "A worker's attendance of a course was recorded.",
    "CourseCompleted": "A course was completed.",
    "CourseCancelled": "A course was cancelled; the event's `reason` says why.",
    "ProjectApproved": "A government-funded service project was approved.",
    "ProjectFundsDisbursed": "Funds were paid out to a project's contractor.",
    "ProjectProgressReported": "A project's contractor reported its progress.",
    "ProjectEvaluationCommissioned": "A project's closing evaluation was commissioned.",
    "ProjectEvaluationConcluded": "A project's closing evaluation was concluded.",
    "ProjectClosed": "A project was closed after its evaluation.",
}

NOTES: dict[str, str] = {
    "Agency.name": "the agency's registered name",
    "Community.name": "the community's name",
    "Station.name": "the station's name",
    "Worker.name": "personal data: the worker's name, null unless the caller may see it",
    "Worker.id_number": (
        "personal data: the national ID number (身份证号), null unless the caller may see it"
    ),
    "credit_code": "unified social credit code (统一社会信用代码, 18 characters)",
    "district": "district code (6 digits)",
    "kind": "COMPREHENSIVE (综合类) or SPECIALIZED (专业类)",
    "fields": "fields of service",
    "field": "field of service",
    "incubator": "the incubator base",
    "Agency.start": "first day of the incubation",
    "Agency.end": "last day of the incubation",
    "Station.start": "first day of the operating contract",
    "Station.end": "last day of the operating contract",
    "programme": "the designation or funding programme, e.g. 411 or 三区计划",
    "year": "the year of the designation",
    "code": "12-digit statistical division code (统计用区划代码)",
    "community": "12-digit code of the community",
    "urban": "true for an urban community (社区), false for a rural village (村)",
    "agency": "id of the operating agency",
    "full_time": "whether the worker is full-time at the station",
    "scores": "score per dimension, 0 to 100",
    "host_organization": "the organisation the post sits in",
    "station": "id of the station the post sits at",
    "origin": "NEW, or CONVERTED from a community cadre post (岗位转化)",
    "sector": "the host organisation's sector",
    "Post.worker": "id of the worker",
    "Station.worker": "id of the worker",
    "Course.worker": "id of the worker who attended",
    "education": "highest education",
    "employer": "id of the employing agency, or null",
    "Worker.level": "certificate level",
    "Course.level": "organiser level",
    "number": "certificate number",
    "post": "id of the post",
    "category": "training category",
    "delivered_by": "id of the agency that delivers it, or null",
    "starts_on": "first day",
    "ends_on": "last day",
    "Course.hours": "hours the course lasts, to the tenth",
    "CourseAttendanceRecorded.hours": "hours the worker attended, to the tenth",
    "passed": "whether the worker passed, null if not assessed",
    "funder": "MUNICIPAL or the code of the funding district",
    "budget": "budget in yuan, exact to the fen",
    "contractor": "id of the contracted agency",
    "amount": "amount paid in yuan, exact to the fen",
    "summary": "the contractor's report",
    "percent_complete": "percent of the work done, 0 to 100, never going back",
    "evaluator": "the third party commissioned",
    "score": "the evaluation's score, 0 to 100",
    "grade": "the evaluation's grade",
}
"""Short notes on fields: by "Type.parameter", "Record.parameter" or parameter, first found."""

SAMPLES: dict[str, Any] = {
    "Agency.name": "重庆市渝中区社工服务中心",
    "Community.name": "解放碑社区",
    "Station.name": "解放碑社区社会工作室",
    "credit_code": "52500103MJ0000000A",
    "district": "500103",
    "code": "500103001001",
    "community": "500103001001",
    "urban": True,
    "incubator": "重庆市社会组织孵化基地",
    "Agency.start": "2017-05-01",
    "Agency.end": "2019-04-30",
    "Station.start": "2017-01-01",
    "Station.end": "2019-12-31",
    "programme": "411",
    "year": 2017,
    "full_time": True,
    "host_organization": "社区居民委员会",
    "number": "CQ50010320170001",
    "Course.title": "社会工作者职业水平考试考前公益培训",
    "Project.title": "渝中区困境儿童社会工作服务项目",
    "starts_on": "2017-09-01",
    "ends_on": "2017-09-03",
    "Project.starts_on": "2018-04-01",
    "Project.ends_on": "2019-03-31",
    "Course.hours": "18.0",
    "passed": True,
    "funder": "MUNICIPAL",
    "budget": "100000.00",
    "amount": "30000.00",
    "summary": "completed the first quarter's home visits",
    "percent_complete": 25,
    "evaluator": "重庆市社会工作协会",
    "score": 86,
    "grade": "GOOD",
    "Station.scores": {camel_case(d): 80 for d in ASSESSMENT_DIMENSIONS},
}
"""Sample values for the reference's examples; others follow from the field's schema."""

SAMPLE_IDS = {
    "Agency": "3f8e2a52-6c1d-4b7e-9a0f-1d2c3b4a5e60",
    "Post": "8b1c6d2e-3f4a-4b5c-8d6e-7f8091a2b3c4",
    "Station": "5d4c3b2a-1f0e-4d9c-8b7a-695847362514",
    "Worker": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
}

# --- The reference, generated ---------------------------------------------------------------


@dataclass(frozen=True)
class EventType:
    """One public event type (`Event.type`) and its current payload schema."""

    name: str
    record: type[Record]
    version: int
    description: str
    schema: dict[str, Any]

    @property
    def file_name(self) -> str:
        return version_file(self.name, self.version)

    @property
    def sample(self) -> dict[str, Any]:
        return self.schema["examples"][0]


@functools.cache
def event_type_names() -> frozenset[str]:
    """Every public event type's name, to check a filter against (the reference is fixed at
    import time)."""
    return frozenset(t.name for t in event_types())


def version_file(name: str, version: int) -> str:
    return f"{name}.v{version}.json"


def event_types() -> list[EventType]:
    """Every record event type, by record then in the order the record declares them, then
    the record's retraction (`Record.Retracted`, whose payload is empty)."""
    found = []
    for record in RECORDS:
        for event_name, method in [*_decorated_events(record), ("Retracted", None)]:
            name = record.__name__ + event_name
            if method is not None and name not in DESCRIPTIONS:
                raise LookupError(f"{name} has no description: add one to DESCRIPTIONS")
            version = schema_version(name)
            schema = (
                _schema(record, name, version, method)
                if method is not None
                else _document(record, name, version, RETRACTED, {}, [])
            )
            found.append(
                EventType(
                    name=name,
                    record=record,
                    version=version,
                    description=schema["description"],
                    schema=schema,
                )
            )
    return found


_PERSONAL = " and ".join(f"`{camel_case(f)}`" for f in PERSONAL_FIELDS)

RETRACTED = (
    "Earlier events of this record no longer count: their positions are the event's "
    "`retracts` (a correction, with its reason). Retracting a retraction restores them. "
    "The payload is empty."
)


def _decorated_events(record: type[Record]) -> Iterator[tuple[str, Any]]:
    """(event class name, decorated function) of each `@event` method the record declares."""
    for attribute in vars(record).values():
        if isinstance(attribute, CommandMethodDecorator):
            yield attribute.event_cls_name, attribute.decorated_func


def _schema(record: type[Record], name: str, version: int, method: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    hints = typing.get_type_hints(method)
    for parameter in inspect.signature(method).parameters.values():
        if parameter.name in NOT_PAYLOAD:
            continue
        if parameter.name == "changes":
            properties.update(_changeable(record, name))
            continue
        properties[camel_case(parameter.name)] = _field(
            record, name, parameter.name, hints[parameter.name]
        )
        if parameter.default is inspect.Parameter.empty:
            required.append(camel_case(parameter.name))
    if record is Worker and any(camel_case(f) in properties for f in PERSONAL_FIELDS):
        properties.update(_personal_data_flags())
    return _document(record, name, version, DESCRIPTIONS[name], properties, required)


def _document(
    record: type[Record],
    name: str,
    version: int,
    description: str,
    properties: dict[str, Any],
    required: list[str],
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": f"urn:hub:event:{name}:v{version}",
        "title": name,
        "description": description,
        "x-entityType": record.entity_type.value,
        "x-version": version,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if name in CHANGEABLE:
        schema["minProperties"] = 1
    schema["examples"] = [_sample(record, name, properties)]
    return schema


def _changeable(record: type[Record], name: str) -> dict[str, Any]:
    """The fields a `changes` dict may hold, typed as the record's creation event types them."""
    if name not in CHANGEABLE:
        raise LookupError(f"{name} carries `changes`: list what it may hold in CHANGEABLE")
    creation = next(m for _, m in _decorated_events(record) if m.__name__ == "__init__")
    hints = typing.get_type_hints(creation)
    return {camel_case(f): _field(record, name, f, hints[f]) for f in CHANGEABLE[name]}


def _field(record: type[Record], name: str, parameter: str, hint: Any) -> dict[str, Any]:
    owner = record.__name__
    schema = _json_type(hint, f"{name}.{parameter}")
    vocabulary = VOCABULARIES.get((owner, parameter))
    if vocabulary is not None:
        target = schema["items"] if schema["type"] == "array" else schema
        target["enum"] = [v.value for v in vocabulary]
        target["x-vocabulary"] = vocabulary.__name__
    if parameter in REFERENCES:
        schema["format"] = "uuid"
    if parameter in PATTERNS:
        schema["pattern"] = PATTERNS[parameter]
    if (owner, parameter) in OBJECT_KEYS:
        keys = OBJECT_KEYS[(owner, parameter)]
        value = schema.pop("additionalProperties")
        schema.update(
            properties={camel_case(k): dict(value) for k in keys},
            required=[camel_case(k) for k in keys],
            additionalProperties=False,
        )
    if owner == "Worker" and parameter in PERSONAL_FIELDS:
        schema = _nullable(schema)
    if _nullable_type(schema) and "enum" in schema:
        schema["enum"].append(None)
    note = _first(NOTES, name, owner, parameter)
    return {"description": note, **schema} if note else schema


def _json_type(hint: Any, where: str) -> dict[str, Any]:
    """The JSON Schema of a payload value whose Python type is `hint` (see Change.data)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        present = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(present) != 1 or len(typing.get_args(hint)) != 2:
            raise TypeError(f"{where}: only `X | None` unions are supported, not {hint}")
        return _nullable(_json_type(present[0], where))
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        return {"type": "array", "items": _json_type(item, where)}
    if origin is dict:
        value = typing.get_args(hint)[1]
        values = {} if value is Any else _json_type(value, where)
        return {"type": "object", "additionalProperties": values}
    simple = {
        str: {"type": "string"},
        bool: {"type": "boolean"},
        int: {"type": "integer"},
        date: {"type": "string", "format": "date"},
        Decimal: {"type": "string", "pattern": DECIMAL_PATTERN},
    }
    if hint in simple:
        return dict(simple[hint])
    raise TypeError(f"{where}: no JSON type for {hint!r}; extend _json_type")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if _nullable_type(schema):
        return schema
    return {**schema, "type": [schema["type"], "null"]}


def _nullable_type(schema: dict[str, Any]) -> bool:
    return isinstance(schema["type"], list) and "null" in schema["type"]


def _personal_data_flags() -> dict[str, Any]:
    """Set by the API (hub/schema/events.py) on worker events that carry personal data."""
    return {
        "personalDataErased": {
            "description": "present when the worker's personal data was erased",
            "type": "boolean",
            "const": True,
        },
        "personalDataRedacted": {
            "description": "present when the caller may not see this worker's personal data",
            "type": "boolean",
            "const": True,
        },
    }


def _first(table: dict[str, Any], name: str, owner: str, parameter: str) -> Any:
    for key in (f"{name}.{parameter}", f"{owner}.{parameter}", parameter):
        if key in table:
            return table[key]
    return None


def _sample(record: type[Record], name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A payload as a PARTNER sees it: personal data redacted."""
    owner = record.__name__
    sample: dict[str, Any] = {}
    for key, schema in properties.items():
        if key.startswith("personalData"):
            continue
        parameter = _snake_case(key)
        if owner == "Worker" and parameter in PERSONAL_FIELDS:
            sample[key] = None
            sample["personalDataRedacted"] = True
            continue
        value = _first(SAMPLES, name, owner, parameter)
        sample[key] = value if value is not None else _sample_value(parameter, schema)
    if "personalDataRedacted" in sample:  # after the fields, as the API adds it
        sample["personalDataRedacted"] = sample.pop("personalDataRedacted")
    return sample


def _sample_value(parameter: str, schema: dict[str, Any]) -> Any:
    """A stand-in for a field without a sample in SAMPLES, valid for its schema."""
    kind = schema["type"][0] if isinstance(schema["type"], list) else schema["type"]
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("format") == "uuid":
        return SAMPLE_IDS[REFERENCES[parameter]]
    if schema.get("format") == "date":
        return "2018-03-01"
    if schema.get("pattern") == DECIMAL_PATTERN:
        return "1.0"
    if kind == "array":
        return [_sample_value(parameter, schema["items"])]
    return {"string": "…", "integer": 1, "boolean": True, "object": {}}[kind]


def _snake_case(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


# --- The published files ----------------------------------------------------------------------

POLICY = (
    "A published version never changes: to change a payload, raise its version in "
    "hub/domain/records.py SCHEMA_VERSIONS and run `hub export-event-reference`, which adds "
    "events/<Type>.v<N+1>.json beside the old file; never edit or delete a published one."
)
ANNOTATIONS = {"title", "description", "examples", "$comment"}


def render(types_: list[EventType] | None = None) -> dict[str, str]:
    """The reference's files (paths relative to the docs folder) as the code defines them."""
    types_ = event_types() if types_ is None else types_
    files = {f"events/{t.file_name}": _json(t.schema) for t in types_}
    files["events.md"] = _page(types_)
    return files


def differences(docs: Path) -> list[str]:
    """How the published reference under `docs` differs from the code; empty when it matches."""
    found = []
    for path, text in render().items():
        on_disk = docs / path
        if not on_disk.is_file():
            found.append(f"{path}: missing (run `hub export-event-reference`)")
        elif on_disk.read_text(encoding="utf-8") != text:
            if path.endswith(".json") and _changes_payload(on_disk, text):
                found.append(f"{path}: the payload changed but the version did not. {POLICY}")
            else:
                found.append(f"{path}: out of date (run `hub export-event-reference`)")
    for t in event_types():
        for earlier in range(1, t.version):
            path = f"events/{version_file(t.name, earlier)}"
            if not (docs / path).is_file():
                found.append(f"{path}: a published version is gone; restore it. {POLICY}")
    return found


def export(docs: Path) -> tuple[list[str], list[str]]:
    """Write what is missing or out of date; refuse, writing nothing, if a published version's
    payload would change. Returns (written, refused)."""
    refused = [d for d in differences(docs) if "payload changed" in d or "is gone" in d]
    if refused:
        return [], refused
    written = []
    for path, text in render().items():
        target = docs / path
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(path)
    return written, []


def _changes_payload(published: Path, text: str) -> bool:
    """Whether two versions of a schema accept different payloads (not just other prose)."""
    try:
        old = json.loads(published.read_text(encoding="utf-8"))
    except ValueError:
        return True
    return _shape(old) != _shape(json.loads(text))


def _shape(value: Any) -> Any:
    """A schema without its prose: what decides which payloads it accepts."""
    if isinstance(value, dict):
        return {
            k: {name: _shape(field) for name, field in v.items()}
            if k == "properties"  # keyed by field names, which may look like keywords ("title")
            else _shape(v)
            for k, v in value.items()
            if k not in ANNOTATIONS and not k.startswith("x-")
        }
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


JETSTREAM = (
    "## From NATS JetStream",
    "",
    "`hub relay` publishes the log into a JetStream stream (default `hub-events`), one message",
    "per event on `hub.events.<entityType>.<district>` (`CITY` for a record of no district).",
    "The body is the event object the SSE stream sends a PARTNER (`position`, `type`,",
    "`entityId`, `entityType`, `recordedAt`, `effectiveOn`, `actor`, `reason`, `retracts`,",
    "`schemaVersion`, `data` with personal data left out, and the rest of the `Event`); the",
    "headers are `Hub-Position`, `Hub-Type`, `Hub-Schema-Version`, `Hub-Recorded-At` and",
    "`Nats-Msg-Id` (the position).",
    "",
    "- Guaranteed: the stream holds the log in position order, every position once, none",
    "  skipped, whatever the relay or NATS went through (the relay resumes after the stream's",
    "  last `Hub-Position`, and each publish names the sequence it must follow).",
    "- Redaction: what a PARTNER may not see never enters the stream; an erasure after an",
    "  event was relayed does not reach the copy already in the stream (it held no personal",
    "  data to begin with).",
    "- Consume with a durable consumer, acknowledging each message once stored:",
    "",
    "```sh",
    "nats consumer add hub-events my-platform --pull --deliver all --ack explicit --defaults",
    "nats consumer next hub-events my-platform --count 10",
    "```",
    "",
    "```python",
    "sub = await js.pull_subscribe('hub.events.>', durable='my-platform', stream='hub-events')",
    "for msg in await sub.fetch(100, timeout=5):",
    "    event = json.loads(msg.data)",
    "    await msg.ack()",
    "```",
    "",
    "- Several relays may run: one publishes (holding a PostgreSQL advisory lock per stream),",
    "  the others wait and take over when it stops.",
)
"""The partners' JetStream section of docs/events.md."""


def _page(types_: list[EventType]) -> str:
    """docs/events.md: every type with its fields and a sample payload."""
    lines = [
        "# Event reference",
        "",
        "<!-- Generated by `hub export-event-reference` from hub/tools/event_reference.py and the",
        "     record classes in hub/domain/: do not edit by hand. -->",
        "",
        "Every change to the registry is an event. `history`, `auditTrail` and the `events`",
        "subscription of the GraphQL API show each one as an `Event` whose `type` names it and",
        "whose `data` is its public payload, described here. Each type's payload has a JSON",
        "Schema (draft 2020-12) in `events/<Type>.v<N>.json`.",
        "",
        "- Keys are camelCase. Dates are ISO strings (`2018-03-01`), amounts and hours are",
        "  decimal strings (`100000.00`), references to other records are their ids (UUIDs).",
        "- Events that change a record (`…Updated`, `…ProfileUpdated`, `…Amended`) carry only the",
        "  fields that changed, with their new values.",
        f"- A worker's {_PERSONAL} are personal data: null for a PARTNER, with",
        "  `personalDataRedacted: true`, and null for everyone once erased, with",
        "  `personalDataErased: true`. The samples below show what a PARTNER receives.",
        "- Who made the change, when it took effect and why are in the `Event` itself",
        "  (`actor`, `effectiveOn`, `reason`), not in `data`.",
        f"- {POLICY}",
        "- Each `Event` says which version its `data` follows in `schemaVersion`",
        "  (`events/<type>.v<schemaVersion>.json`); JetStream messages also in the",
        "  `Hub-Schema-Version` header. The last section says how to consume them from NATS.",
        "",
        "| type | entity | version | description |",
        "| --- | --- | --- | --- |",
    ]
    for t in types_:
        lines.append(
            f"| [{t.name}](#{t.name.lower()}) | {t.record.entity_type.value} | "
            f"[{t.version}](events/{t.file_name}) | {t.description} |"
        )
    for t in types_:
        lines += ["", f"## {t.name}", ""]
        earlier = ", ".join(
            f"[v{v}](events/{version_file(t.name, v)})" for v in range(1, t.version)
        )
        lines += [
            f"Entity `{t.record.entity_type.value}`, version {t.version} "
            f"([schema](events/{t.file_name})"
            + (f"; earlier: {earlier}" if earlier else "")
            + f"). {t.description}",
            "",
        ]
        properties = t.schema["properties"]
        if properties:
            changes = t.name in CHANGEABLE
            lines += ["| field | type | required | notes |", "| --- | --- | --- | --- |"]
            for key, schema in properties.items():
                needed = "yes" if key in t.schema["required"] else "no"
                if changes and not key.startswith("personalData"):
                    needed = "if changed"
                note = schema.get("description", "")
                lines.append(f"| `{key}` | {_type_text(schema)} | {needed} | {note} |")
        else:
            lines.append("No fields: `data` is `{}`.")
        lines += ["", "```json", json.dumps(t.sample, ensure_ascii=False, indent=2), "```"]
    vocabularies = sorted({v for v in VOCABULARIES.values()}, key=lambda v: v.__name__)
    lines += ["", "## Vocabularies", ""]
    for vocabulary in vocabularies:
        lines.append(f"- `{vocabulary.__name__}`: " + ", ".join(v.value for v in vocabulary))
    lines += ["", *JETSTREAM]
    return "\n".join(lines) + "\n"


def _type_text(schema: dict[str, Any]) -> str:
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    base = kinds[0]
    if base == "array":
        text = f"array of {_type_text(schema['items'])}"
    elif "x-vocabulary" in schema:
        text = f"string ([{schema['x-vocabulary']}](#vocabularies))"
    elif schema.get("pattern") == DECIMAL_PATTERN:
        text = "string (decimal)"
    elif "format" in schema:
        text = f"string ({schema['format']})"
    elif "const" in schema:
        text = json.dumps(schema["const"])
    elif base == "object" and "properties" in schema:
        text = "object {" + ", ".join(f"{k}: integer" for k in schema["properties"]) + "}"
    else:
        text = base
    return text + (" or null" if "null" in kinds else "")
