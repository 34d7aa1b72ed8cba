"""The parts of the read planner's differential test (tests/test_reads_differential.py): the
query operations the test suite sends, values drawn from a seeded registry, operations
generated from the schema with those values as arguments, and the exact comparison of two
answers with a report a person can read.

Both apps answer on one database, one through the planner and one through the resolvers, so
any difference between their answers is the planner's."""

from __future__ import annotations

import ast
import asyncio
import importlib
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import hypothesis.strategies as st
from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    InlineFragmentNode,
    NamedTypeNode,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    ast_from_value,
    build_schema,
    get_named_type,
    parse,
    parse_type,
    print_ast,
    type_from_ast,
    validate,
    visit,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis_graphql import nodes, queries

from hub.schema.root import schema as hub_schema
from tests.conftest import Client, token

TESTS = Path(__file__).resolve().parent
SDL = hub_schema.as_str()
SCHEMA = build_schema(SDL)
SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.generate],  # each difference is collected and reported, not shrunk
    print_blob=False,
)
ROOTS = tuple(sorted(SCHEMA.query_type.fields))
ROLES = ("MUNICIPAL", "DISTRICT", "CONTRACTOR", "AUDITOR", "PARTNER", "anonymous")
"""The five roles, and a request with no token."""

KIND_OF_ROOT = {
    "agency": "agency",
    "agencies": "agency",
    "worker": "worker",
    "workers": "worker",
    "course": "course",
    "courses": "course",
    "project": "project",
    "projects": "project",
    "community": "community",
    "communities": "community",
    "station": "station",
    "stations": "station",
    "post": "post",
    "posts": "post",
    "auditTrail": "event",
}
"""The record type (or, for the audit trail, the event) each root field lists or names."""
LISTS = {
    name: kind for name, kind in KIND_OF_ROOT.items() if name.endswith("s") or name == "auditTrail"
}
KIND_OF_INPUT = {
    "employer": "agency",
    "operator": "agency",
    "deliveredBy": "agency",
    "contractor": "agency",
    "station": "station",
}
"""Input fields naming a record of one type."""
FIRST = (0, *[1] * 4, *[2] * 4, *[3] * 4, *[5] * 6, *[10] * 4, *[20] * 3, 50, 50, 500)
"""Page sizes, the small ones most often (a page of 500 with its nested lists is slow)."""
FIRST_OUT_OF_RANGE = (-1, 501, 100_000)


# --- The comparison -------------------------------------------------------------------------


def difference(left: Any, right: Any, path: str = "$") -> str | None:
    """Where two parsed JSON answers first differ, and how (None: the same). Exact: `1`, `1.0`
    and `true` differ, as do a null and an absent key, and the order of an object's keys
    (GraphQL answers in the order of the selection) once their values are the same."""
    if type(left) is not type(right):
        return f"{path}: {_short(left)} != {_short(right)}"
    if isinstance(left, dict):
        for key in sorted(left.keys() | right.keys()):
            if key not in right:
                return f"{path}.{key}: {_short(left[key])} != (absent)"
            if key not in left:
                return f"{path}.{key}: (absent) != {_short(right[key])}"
            found = difference(left[key], right[key], f"{path}.{key}")
            if found:
                return found
        if list(left) != list(right):
            return f"{path}: keys in the order {list(left)} != {list(right)}"
        return None
    if isinstance(left, list):
        for n, (a, b) in enumerate(zip(left, right, strict=False)):
            found = difference(a, b, f"{path}[{n}]")
            if found:
                return found
        if len(left) != len(right):
            return f"{path}: {len(left)} items != {len(right)} items"
        return None
    return None if left == right else f"{path}: {_short(left)} != {_short(right)}"


REQUEST_ID = re.compile(r"request id [0-9a-f-]{36}")


def comparable(answer: Answer) -> dict[str, Any]:
    """An answer as compared: its status and body, less the request id a fault of the hub
    names in its message (each request has its own; the same fault on both sides is the same
    answer)."""
    body = answer.body
    if isinstance(body, dict) and body.get("errors"):
        body = {
            **body,
            "errors": [
                {**e, "message": REQUEST_ID.sub("request id (of the request)", e["message"])}
                if isinstance(e, dict) and isinstance(e.get("message"), str)
                else e
                for e in body["errors"]
            ],
        }
    return {"status": answer.status, "body": body}


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class Asked:
    """One request of the test: an operation, its variables, and the caller's role."""

    query: str
    variables: dict[str, Any]
    role: str
    roots: tuple[str, ...]
    """The root fields the operation selects, for the coverage count."""
    method: str = "POST"
    """POST, or GET (the query and variables in the URL)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


@dataclass(frozen=True)
class Mismatch:
    asked: Asked
    where: str
    planner: Answer
    resolvers: Answer

    def report(self) -> str:
        return "\n".join(
            [
                f"role: {self.asked.role}, sent by {self.asked.method}",
                f"query: {self.asked.query}",
                f"variables: {json.dumps(self.asked.variables, ensure_ascii=False)}",
                f"first difference (planner != resolvers) at {self.where}",
                f"planner   (HTTP {self.planner.status}): {_short(self.planner.body, 2000)}",
                f"resolvers (HTTP {self.resolvers.status}): {_short(self.resolvers.body, 2000)}",
            ]
        )


async def answer(client: Client, asked: Asked, caller: str | None) -> Answer:
    headers = {"Authorization": f"Bearer {caller}"} if caller else {}
    if asked.method == "GET":
        params = {"query": asked.query, "variables": json.dumps(asked.variables)}
        response = await client.http.get("/graphql", params=params, headers=headers)
    else:
        response = await client.http.post(
            "/graphql", json={"query": asked.query, "variables": asked.variables}, headers=headers
        )
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return Answer(response.status_code, body)


@dataclass
class Pair:
    """The two apps on one database: one reading through the planner, one through the
    resolvers; what each was asked, and where they differed."""

    planner: Client
    resolvers: Client
    callers: dict[str, str | None]
    """A token of each role (None for the request without one)."""
    mismatches: list[Mismatch] = field(default_factory=list)
    roots: Counter[str] = field(default_factory=Counter)
    roles: Counter[str] = field(default_factory=Counter)
    methods: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    """How the planner's answers came out: data without errors, or the errors' codes."""
    faults: list[Asked] = field(default_factory=list)
    """Operations the planner's side answered with a fault of the hub (the same on both
    sides is no difference, but is worth a look)."""
    timeouts: int = 0
    """Operations asked again because a side ran past the statement timeout."""

    def anew(self) -> Pair:
        """The same two apps and callers, with nothing counted yet."""
        return Pair(self.planner, self.resolvers, self.callers)

    async def compare(self, asked: Asked, resolvers_role: str | None = None) -> Mismatch | None:
        """Send `asked` to both apps at once; note and return their difference, if any.
        `resolvers_role` asks the resolvers' side as another role: only to show that a
        difference is found and reported."""
        caller = self.callers[asked.role]
        other = self.callers[resolvers_role or asked.role]
        planner, resolvers = await asyncio.gather(
            answer(self.planner, asked, caller), answer(self.resolvers, asked, other)
        )
        if "QUERY_TIMEOUT" in _outcome(planner) + _outcome(resolvers):
            # the statement timeout measures the machine's load, not the answer: ask each
            # side again, one after the other
            self.timeouts += 1
            planner = await answer(self.planner, asked, caller)
            resolvers = await answer(self.resolvers, asked, other)
        self.roots.update(asked.roots)
        self.roles[asked.role] += 1
        self.methods[asked.method] += 1
        self.outcomes[_outcome(planner)] += 1
        if "INTERNAL_SERVER_ERROR" in _outcome(planner):
            self.faults.append(asked)
        where = difference(comparable(planner), comparable(resolvers))
        if where is None:
            return None
        found = Mismatch(asked, where, planner, resolvers)
        self.mismatches.append(found)
        return found

    def coverage(self) -> str:
        """How many operations ran per role, and how many selected each root field."""
        lines = [
            f"{sum(self.roles.values())} operations compared ("
            + ", ".join(f"{n} by {m}" for m, n in sorted(self.methods.items()))
            + ")"
        ]
        lines.append("per role: " + ", ".join(f"{r} {self.roles[r]}" for r in ROLES))
        lines.append("per root field: " + ", ".join(f"{f} {self.roots[f]}" for f in ROOTS))
        lines.append("answers: " + ", ".join(f"{o} {n}" for o, n in self.outcomes.most_common()))
        if self.timeouts:
            lines.append(f"asked again after a statement timeout: {self.timeouts}")
        for asked in self.faults[:3]:
            lines.append(
                f"a fault of the hub ({asked.role}): {asked.query} variables: "
                + json.dumps(asked.variables, ensure_ascii=False)
            )
        return "\n".join(lines)

    async def planner_said(self) -> dict[str, int]:
        """What the planner's app counts of itself in `/readyz`: operations planned and
        fallen back, plan cache hits and misses, so that a run shows how much of it the
        planner answered."""
        return (await self.planner.http.get("/readyz")).json()["reads"]

    def failures(self, most: int = 5) -> str:
        shown = "\n\n".join(m.report() for m in self.mismatches[:most])
        return f"{len(self.mismatches)} operations answered differently; the first:\n\n{shown}"


def _outcome(answer: Answer) -> str:
    if not isinstance(answer.body, dict):
        return f"HTTP {answer.status}"
    codes = sorted(
        {str((e.get("extensions") or {}).get("code")) for e in answer.body.get("errors") or []}
    )
    if not codes:
        return "data"
    return ("data and " if answer.body.get("data") else "") + "+".join(codes)


# --- The suite's query operations -----------------------------------------------------------


@dataclass(frozen=True)
class SuiteOperation:
    """A query operation a test sends, alone with the fragments it uses."""

    document: DocumentNode
    source: str


def suite_operations(folder: Path = TESTS) -> list[SuiteOperation]:
    """Every query operation written in the tests' modules that the schema accepts: string
    constants, and f-strings made of module-level names (such as `AGENCY_FIELDS`), whose
    values are taken from the imported module. Mutations and subscriptions are left out."""
    found: dict[str, SuiteOperation] = {}
    for path in sorted(folder.glob("*.py")):
        for text in _texts(path):
            for document in _query_operations(text):
                found.setdefault(print_ast(document), SuiteOperation(document, path.name))
    return list(found.values())


def _texts(path: Path) -> Iterable[str]:
    module = importlib.import_module(f"tests.{path.stem}")
    names = vars(module)
    for value in names.values():
        if isinstance(value, str):
            yield value
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        elif isinstance(node, ast.JoinedStr):
            try:
                made = eval(compile(ast.Expression(node), str(path), "eval"), dict(names))
            except Exception:  # an f-string of local names: not knowable here
                continue
            yield made


def _query_operations(text: str) -> list[DocumentNode]:
    if "{" not in text:
        return []
    try:
        document = parse(text)
    except GraphQLError:
        return []
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    alone = []
    for definition in document.definitions:
        if not (
            isinstance(definition, OperationDefinitionNode)
            and definition.operation == OperationType.QUERY
        ):
            continue
        one = DocumentNode(definitions=(definition, *_used(definition, fragments)))
        if not validate(SCHEMA, one):
            alone.append(one)
    return alone


def _used(node: Any, fragments: dict[str, FragmentDefinitionNode]) -> list[Any]:
    names: list[str] = []

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: Any) -> None:
            names.append(spread.name.value)

    visit(node, Spreads())
    used: dict[str, FragmentDefinitionNode] = {}
    while names:
        name = names.pop()
        if name in used or name not in fragments:
            continue
        used[name] = fragments[name]
        visit(fragments[name], Spreads())
    return list(used.values())


@dataclass(frozen=True)
class Slot:
    """Where a value goes: under which root field, by which argument and input fields."""

    root: str | None
    path: tuple[str, ...]


def variable_slots(document: DocumentNode) -> dict[str, Slot]:
    """Where each variable of an operation is used (its first use)."""
    info = TypeInfo(SCHEMA)
    found: dict[str, Slot] = {}
    path: list[str] = []
    root: list[str | None] = [None]

    class Uses(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if info.get_parent_type() is SCHEMA.query_type:
                root[0] = node.name.value

        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            path.append(node.name.value)

        def leave_argument(self, *_: Any) -> None:
            path.pop()

        def enter_object_field(self, node: Any, *_: Any) -> None:
            path.append(node.name.value)

        def leave_object_field(self, *_: Any) -> None:
            path.pop()

        def enter_variable(self, node: VariableNode, *_: Any) -> None:
            if path:
                found.setdefault(node.name.value, Slot(root[0], tuple(path)))

    visit(document, TypeInfoVisitor(info, Uses()))
    return found


def roots_of(document: DocumentNode) -> tuple[str, ...]:
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    names: list[str] = []
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode):
            names.append(selection.name.value)
        else:  # a fragment on Query: its fields count as selected
            names.extend(_fragment_roots(document, selection))
    return tuple(names)


def _fragment_roots(document: DocumentNode, selection: Any) -> list[str]:
    if isinstance(selection, FragmentSpreadNode):
        chosen = next(
            d
            for d in document.definitions
            if isinstance(d, FragmentDefinitionNode) and d.name.value == selection.name.value
        )
        selections = chosen.selection_set.selections
    else:
        selections = selection.selection_set.selections
    names: list[str] = []
    for inner in selections:
        if isinstance(inner, FieldNode):
            names.append(inner.name.value)
        else:
            names.extend(_fragment_roots(document, inner))
    return names


# --- Values drawn from the seeded registry --------------------------------------------------


@dataclass(repr=False)
class Seeded:
    """What a seeded registry holds, to draw arguments from: real ids of each record type,
    cursors of real pages, districts and community codes, effective dates and recorded
    moments of real events, actors and event types."""

    ids: dict[str, list[str]]
    cursors: dict[str, list[str]]
    districts: list[str]
    communities: list[str]
    community_names: list[str]
    dates: list[str]
    moments: list[str]
    subs: list[str]
    types: list[str]

    touched: tuple[str, ...] = ()
    """Records the test corrected or erased, drawn more often than the others."""
    faulty: bool = False
    """Whether some values are ones the hub must refuse or find nothing for (otherwise only
    null, where allowed, besides the registry's own)."""

    def __repr__(self) -> str:
        counts = ", ".join(f"{len(v)} {k}" for k, v in self.ids.items())
        return f"Seeded({counts}, faulty={self.faulty})"

    @cached_property
    def with_faults(self) -> Seeded:
        return replace(self, faulty=True)

    @cached_property
    def every_id(self) -> list[str]:
        return sorted({i for ids in self.ids.values() for i in ids})

    @cached_property
    def every_cursor(self) -> list[str]:
        return sorted({c for cursors in self.cursors.values() for c in cursors})

    def value(self, slot: Slot, type_: GraphQLInputType) -> st.SearchStrategy[Any]:
        """A JSON value for `slot`, of `type_`, drawn from the registry; null only where
        allowed."""
        nullable = not isinstance(type_, GraphQLNonNull)
        inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        made = self._value(slot, inner)
        return weighted((made, 9), (st.none(), 1)) if nullable else made

    def _or_faults(
        self, good: st.SearchStrategy[Any], *faults: Any, weight: int = 8
    ) -> st.SearchStrategy[Any]:
        if not self.faulty:
            return good
        return weighted((good, weight), (st.sampled_from(faults), 1))

    def _value(self, slot: Slot, type_: GraphQLInputType) -> st.SearchStrategy[Any]:
        if isinstance(type_, GraphQLList):
            return st.lists(self.value(slot, type_.of_type), max_size=3)
        if isinstance(type_, GraphQLInputObjectType):
            return st.fixed_dictionaries(
                {},
                optional={
                    name: self.value(Slot(slot.root, (*slot.path, name)), f.type)
                    for name, f in type_.fields.items()
                },
            )
        if isinstance(type_, GraphQLEnumType):
            return st.sampled_from(list(type_.values))
        assert isinstance(type_, GraphQLScalarType), type_
        named = self._named(slot, type_.name)
        return named if named is not None else self._scalar(type_.name)

    def _named(self, slot: Slot, scalar: str) -> st.SearchStrategy[Any] | None:
        name = slot.path[-1] if slot.path else ""
        if slot.path == ("id",):
            return self.record_id(KIND_OF_ROOT.get(slot.root or ""))
        if name == "first":
            return self._or_faults(st.sampled_from(FIRST), *FIRST_OUT_OF_RANGE)
        if name == "after":
            return self.cursor(LISTS.get(slot.root or ""))
        if name in KIND_OF_INPUT:
            return self.record_id(KIND_OF_INPUT[name])
        if name == "entityId":
            return self.record_id(None)
        if name in ("district", "funder"):
            districts = self._or_faults(
                st.sampled_from(self.districts), "500000", "999999", "CITY", "50010"
            )
            if name == "funder":
                return weighted((districts, 6), (st.just("MUNICIPAL"), 1))
            return districts
        if name in ("code", "community"):
            return self._or_faults(st.sampled_from(self.communities), "500103999999", "x")
        if name == "nameContains":
            return weighted(
                (st.sampled_from(self.community_names).flatmap(_part_of), 4),
                (st.sampled_from(["", "社区", "%", "_", "村"]), 1),
            )
        if name == "actor":
            return self._or_faults(st.sampled_from(self.subs), "nobody")
        if name == "party":
            return self._or_faults(
                st.sampled_from(["MUNICIPAL", "DISTRICT", "CONTRACTOR"]), "BUREAU"
            )
        if name == "type":
            return self._or_faults(st.sampled_from(self.types), "AgencyVanished")
        if scalar == "Date":
            return self.date()
        if scalar == "DateTime":
            return self.moment()
        return None

    def record_id(self, kind: str | None) -> st.SearchStrategy[str]:
        """An id of a record of `kind` (None: of any type); with faults also of another
        type, one nothing has, or no id at all."""
        ids = self.ids.get(kind or "") or self.every_id
        own = st.sampled_from(ids)
        touched = sorted(set(self.touched) & set(ids))
        if touched:  # records with a correction or an erasure come up often
            own = weighted((own, 3), (st.sampled_from(touched), 1))
        if not self.faulty:
            return own
        return weighted(
            (own, 12),
            (st.sampled_from(self.every_id), 2),
            (st.uuids().map(str), 1),
            (st.sampled_from(["not-an-id", ""]), 1),
        )

    def cursor(self, kind: str | None) -> st.SearchStrategy[str]:
        """A cursor of a real page of the list of `kind`; with faults also of another list,
        or none at all."""
        own = st.sampled_from(self.cursors.get(kind or "") or self.every_cursor)
        if not self.faulty:
            return own
        return weighted(
            (own, 12),
            (st.sampled_from(self.every_cursor), 2),
            (st.sampled_from(["bm90IGEgY3Vyc29y", "!", ""]), 1),
        )

    def date(self) -> st.SearchStrategy[str]:
        """An effective date of a real event, or before all, the seed's last day, today."""
        dates = weighted(
            (st.sampled_from(self.dates), 4),
            (st.sampled_from(["2000-01-01", "2018-06-30", date.today().isoformat()]), 1),
        )
        return self._or_faults(dates, "2018-02-30", "2018-1-1", "")

    def moment(self) -> st.SearchStrategy[str]:
        """A recorded time: one of a real event, a microsecond before it, the same in the
        hub's zone without an offset, before anything was recorded, or far ahead."""
        latest = st.sampled_from(self.moments[-30:])  # around the corrections and erasure
        moments = weighted(
            (st.sampled_from(self.moments), 6),
            (st.sampled_from(self.moments).map(_just_before), 3),
            (latest, 2),
            (latest.map(_just_before), 2),
            (st.sampled_from(self.moments).map(_local), 2),
            (st.sampled_from(["2001-01-01T00:00:00+00:00", "2100-01-01T00:00:00+08:00"]), 1),
        )
        return self._or_faults(moments, "yesterday", "2018-06-30T25:00:00")

    def _scalar(self, name: str) -> st.SearchStrategy[Any]:
        if name == "Int":
            return st.integers(-5, 1000)
        if name == "Boolean":
            return st.booleans()
        if name == "ID":
            return self.record_id(None)
        if name == "Decimal":
            return st.decimals(-(10**6), 10**6, places=2).map(str)
        return st.text(max_size=20)

    def variables(self, document: DocumentNode) -> st.SearchStrategy[dict[str, Any]]:
        """Values for an operation's variables, drawn for where each is used."""
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        slots = variable_slots(document)
        drawn = {}
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            type_ = type_from_ast(SCHEMA, definition.type)
            drawn[name] = self.value(slots.get(name, Slot(None, (name,))), type_)
        return st.fixed_dictionaries(drawn)

    def generated(
        self, root: str | None = None
    ) -> st.SearchStrategy[tuple[str, dict[str, Any], tuple[str, ...]]]:
        """Query operations selecting root field `root` (None: any of them, hypothesis-graphql
        choosing), with each argument's value drawn from the registry, some written in the
        document and some sent as variables."""
        return _with_values(self, _shapes(root))


@st.composite
def _with_values(
    draw: st.DrawFn, seeded: Seeded, shapes: st.SearchStrategy[DocumentNode]
) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    shape = draw(shapes)
    operation = shape.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    writer = _Writer(draw, seeded.with_faults if draw(st.integers(0, 4)) == 0 else seeded)
    selections = []
    for selection in operation.selection_set.selections:
        assert isinstance(selection, FieldNode)
        field_def = SCHEMA.query_type.fields[selection.name.value]
        arguments = []
        for argument in selection.arguments or ():
            type_ = field_def.args[argument.name.value].type
            slot = Slot(selection.name.value, (argument.name.value,))
            value = draw(writer.seeded.value(slot, type_))
            arguments.append(ArgumentNode(name=argument.name, value=writer.written(value, type_)))
        selections.append(replace(selection, arguments=tuple(arguments)))
    query = SCHEMA.query_type
    top = writer.dressed(SelectionSetNode(selections=tuple(selections)), query)
    document = DocumentNode(
        definitions=(
            replace(operation, variable_definitions=tuple(writer.definitions), selection_set=top),
            *writer.fragments,
        )
    )
    return print_ast(document), writer.variables, roots_of(document)


class _Writer:
    """Writes a generated operation's values, in the document or as variables, and dresses
    its selections in what GraphQL allows besides fields: aliases, `__typename`, `@include`
    and `@skip`, inline fragments and named ones."""

    def __init__(self, draw: st.DrawFn, seeded: Seeded) -> None:
        self.draw, self.seeded = draw, seeded
        self.variables: dict[str, Any] = {}
        self.definitions: list[VariableDefinitionNode] = []
        self.fragments: list[FragmentDefinitionNode] = []
        self.aliases = 0

    def written(self, value: Any, type_: GraphQLInputType) -> ValueNode:
        if not self.draw(st.booleans()):
            written = ast_from_value(value, type_)
            assert written is not None, (value, type_)
            return written
        name = f"v{len(self.definitions)}"
        self.definitions.append(
            VariableDefinitionNode(
                variable=VariableNode(name=NameNode(value=name)),
                type=parse_type(str(type_)),
                directives=(),
            )
        )
        self.variables[name] = value
        return VariableNode(name=NameNode(value=name))

    def dressed(self, selections: SelectionSetNode, parent: GraphQLObjectType) -> SelectionSetNode:
        dressed: list[SelectionNode] = []
        for selection in selections.selections:
            assert isinstance(selection, FieldNode)
            if selection.selection_set is not None:
                inner = get_named_type(parent.fields[selection.name.value].type)
                assert isinstance(inner, GraphQLObjectType)
                selection = replace(
                    selection, selection_set=self.dressed(selection.selection_set, inner)
                )
            dressed.append(self._dress(selection, parent))
        if self.draw(st.integers(0, 9)) == 0:
            dressed.insert(
                self.draw(st.integers(0, len(dressed))),
                FieldNode(name=NameNode(value="__typename")),
            )
        return SelectionSetNode(selections=tuple(dressed))

    def _dress(self, field: FieldNode, parent: GraphQLObjectType) -> SelectionNode:
        way = self.draw(st.integers(0, 24))
        on = NamedTypeNode(name=NameNode(value=parent.name))
        if way == 0:
            self.aliases += 1
            return replace(field, alias=NameNode(value=f"{field.name.value}{self.aliases}"))
        if way in (1, 2):
            directive = "include" if way == 1 else "skip"
            condition = self.written(self.draw(st.booleans()), GraphQLNonNull(GraphQLBoolean))
            argument = ArgumentNode(name=NameNode(value="if"), value=condition)
            used = DirectiveNode(name=NameNode(value=directive), arguments=(argument,))
            return replace(field, directives=(used,))
        if way == 3:
            return InlineFragmentNode(
                type_condition=on, selection_set=SelectionSetNode(selections=(field,))
            )
        if way == 4:
            name = NameNode(value=f"F{len(self.fragments)}")
            self.fragments.append(
                FragmentDefinitionNode(
                    name=name,
                    type_condition=on,
                    selection_set=SelectionSetNode(selections=(field,)),
                    directives=(),
                )
            )
            return FragmentSpreadNode(name=name, directives=())
        return field


@cache
def _shapes(root: str | None) -> st.SearchStrategy[DocumentNode]:
    """The shapes of generated operations (of one root field, or of any); `Seeded` replaces
    their argument values."""
    return queries(
        SDL,
        fields=None if root is None else [root],
        custom_scalars={
            "Date": st.dates().map(lambda day: nodes.String(day.isoformat())),
            "DateTime": st.datetimes().map(lambda moment: nodes.String(moment.isoformat())),
            "Decimal": st.just(nodes.String("1.00")),
            "JSON": st.just(nodes.String("{}")),
        },
        print_ast=lambda document: document,
    )


def examples_of(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """Up to `count` - 1 values of `strategy` (hypothesis's first is its simplest, left out
    unless it is the only one)."""
    found: list[Any] = []

    @settings(SETTINGS, max_examples=count)
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found[1:] or found


def weighted(*choices: tuple[st.SearchStrategy[Any], int]) -> st.SearchStrategy[Any]:
    """One of `choices`, each as often as its weight."""
    pool = [strategy for strategy, weight in choices for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda chosen: chosen)


def _part_of(text: str) -> st.SearchStrategy[str]:
    return st.integers(0, max(len(text) - 1, 0)).flatmap(
        lambda start: st.integers(start + 1, max(len(text), start + 1)).map(
            lambda end: text[start:end]
        )
    )


def _just_before(moment: str) -> str:
    return (datetime.fromisoformat(moment) - timedelta(microseconds=1)).isoformat()


def _local(moment: str, zone: str = "Asia/Shanghai") -> str:
    return (
        datetime.fromisoformat(moment).astimezone(ZoneInfo(zone)).replace(tzinfo=None).isoformat()
    )


# --- Reading the seeded registry ------------------------------------------------------------

PAGE = """query($after: String) { %s(first: 500, after: $after) {
  pageInfo { hasNextPage endCursor } edges { cursor node { %s } } } }"""
NODE_FIELDS = {
    "agencies": ("agency", "id"),
    "stations": ("station", "id"),
    "posts": ("post", "id"),
    "workers": ("worker", "id"),
    "courses": ("course", "id"),
    "projects": ("project", "id"),
    "communities": ("community", "id code name"),
    "auditTrail": ("event", "position"),
}


async def read_seeded(client: Client, touched: Iterable[str] = (), pages: int = 2) -> Seeded:
    """The values of the registry behind `client`, read as an auditor sees them: up to
    `pages` pages of 500 of each list (their cursors too), and the event log; `touched`: the
    records changed for the test."""
    auditor = token("AUDITOR")
    ids: dict[str, list[str]] = {}
    cursors: dict[str, list[str]] = {}
    codes: list[str] = []
    names: list[str] = []
    for root, (kind, fields) in NODE_FIELDS.items():
        after = None
        for _ in range(pages):
            page = (await client.run(PAGE % (root, fields), {"after": after}, auth=auditor))[root]
            for edge in page["edges"]:
                cursors.setdefault(kind, []).append(edge["cursor"])
                node = edge["node"]
                if "id" in node:
                    ids.setdefault(kind, []).append(node["id"])
                if kind == "community":
                    codes.append(node["code"])
                    names.append(node["name"])
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    rows = await client.hub.pool.fetch(
        "SELECT recorded_at, effective_on, actor_sub, type, district FROM event_log"
    )
    return Seeded(
        ids=ids,
        cursors=cursors,
        districts=sorted({r["district"] for r in rows if r["district"]}),
        communities=codes,
        community_names=names,
        dates=sorted({r["effective_on"].isoformat() for r in rows}),
        moments=sorted({r["recorded_at"].isoformat() for r in rows}),
        subs=sorted({r["actor_sub"] for r in rows}),
        types=sorted({r["type"] for r in rows}),
        touched=tuple(touched),
    )


async def callers_of(client: Client) -> dict[str, str | None]:
    """A token of each role: DISTRICT for the district with most workers, CONTRACTOR for the
    agency employing most."""
    pool = client.hub.pool
    district = await pool.fetchval(
        "SELECT district FROM event_log WHERE entity_type = 'WORKER' AND district IS NOT NULL"
        " GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    workers = (await client.run(WORKERS_EMPLOYED, auth=token("AUDITOR")))["workers"]["edges"]
    employers = Counter(e["node"]["employer"]["id"] for e in workers if e["node"]["employer"])
    agency = employers.most_common(1)[0][0] if employers else str(uuid.uuid4())
    return {
        "MUNICIPAL": token("MUNICIPAL"),
        "DISTRICT": token("DISTRICT", district=district or "500103"),
        "CONTRACTOR": token("CONTRACTOR", agency=agency),
        "AUDITOR": token("AUDITOR"),
        "PARTNER": token("PARTNER"),
        "anonymous": None,
    }


WORKERS_EMPLOYED = "{ workers(first: 500) { edges { node { id employer { id } } } } }"
