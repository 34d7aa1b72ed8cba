"""A validated query operation compiled to one SQL statement answering its `data` as JSON.

The statement is built once per document, operation, caller shape and shape of the variables
(which of them are null: that decides which conditions a list has, and whether it is read
`asOf` a moment); the values themselves are bind parameters, each taken from the request by
a function the plan keeps (`Plan.bind`). Field collection (fragments, `@skip`, `@include`)
and argument coercion are graphql-core's own, as the resolvers see them.

What a type's field reads is said in `hub.reads.records`; anything it does not name raises
`Unplanned`, and the whole operation then runs through the resolvers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from graphql import (
    GraphQLObjectType,
    GraphQLSchema,
    OperationType,
    get_named_type,
)
from graphql.execution.collect_fields import FieldDetails, collect_fields, collect_subfields
from graphql.execution.executor import Executor
from graphql.execution.values import VariableValues, get_argument_values

from hub.domain.envelope import Actor
from hub.projections.timeline import Moment, visible

Details = Sequence[FieldDetails]


class Unplanned(Exception):
    """Something the planner does not cover (or a value it leaves to the resolvers to refuse):
    the operation runs through the resolvers, whole. `lasting`: so for every request of the
    same plan key (not for one whose values alone decided it)."""

    def __init__(self, reason: str, lasting: bool = True) -> None:
        super().__init__(reason)
        self.lasting = lasting


@dataclass
class Bound:
    """What one request binds: its coerced variables, its caller, the moment of each root
    field read `asOf` one, and how a searched name or ID number becomes the blind index's
    digest (`Kek.index_digest`)."""

    variables: VariableValues
    caller: Actor
    today: date
    timezone: str
    index_digest: Callable[[str, str], bytes]
    moments: list[Moment] = field(default_factory=list)


Param = Callable[[Bound], Any]
MomentOf = Callable[[VariableValues], tuple[date | None, Any]]
"""A root field's `asOf` as (effective, recorded), from the request's variables."""


@dataclass(frozen=True)
class Plan:
    """One statement and how to bind it: its parameters' values and the moments they need."""

    sql: str
    params: tuple[Param, ...]
    moments: tuple[MomentOf, ...]
    reveals: bool
    """Whether the answer may hold sealed personal data (`hub.reads.personal`)."""
    checks: tuple[Param, ...] = ()
    """Arguments the resolvers check though the statement need not read them (a cursor of a
    list whose `totalCount` alone is selected): each raises `Unplanned` if refused."""

    def check(self, bound: Bound) -> None:
        """Raise `Unplanned` if the resolvers refuse an argument of this request."""
        for check in self.checks:
            check(bound)

    def bind(self, bound: Bound) -> list[Any]:
        return [param(bound) for param in self.params]


FieldSql = Callable[["Compiler", str, Details, "At"], str]
"""How one field of a type is read: (compiler, the row's alias, the field's nodes, the moment)
→ an SQL expression of its JSON value."""


@dataclass(frozen=True)
class At:
    """The moment a level is read at: None now, else the index of its root field's moment."""

    slot: int | None = None


NOW = At()


class Compiler:
    """Builds one plan; `hub.reads.records` says what each field reads."""

    def __init__(
        self,
        schema: GraphQLSchema,
        executor: Executor,
        caller: Actor,
        types: dict[str, dict[str, FieldSql]],
        roots: dict[str, FieldSql],
    ) -> None:
        self.schema = schema
        self.executor = executor
        self.caller = caller
        self.types = types
        self.roots = roots
        self.params: list[Param] = []
        self.moments: list[MomentOf] = []
        self.aliases = 0
        self.reveals = False
        self.checks: list[Param] = []

    def compile(self) -> Plan:
        operation = self.executor.operation
        if operation.operation is not OperationType.QUERY:
            raise Unplanned(f"a {operation.operation.value}")
        if any(f.variable_signatures for f in self.executor.fragments.values()):
            raise Unplanned("fragment variables")
        query = self.schema.query_type
        assert query is not None
        collected = collect_fields(
            self.schema,
            self.executor.fragments,
            self.executor.variable_values,
            query,
            operation,
        )
        if collected.new_defer_usages:
            raise Unplanned("@defer")
        body = self.members("Query", "", collected.grouped_field_set, NOW, self.roots)
        return Plan(
            f"SELECT {body}::text",
            tuple(self.params),
            tuple(self.moments),
            self.reveals,
            tuple(self.checks),
        )

    def param(self, value: Param) -> str:
        """A bind parameter taking `value(bound)`: its placeholder."""
        self.params.append(value)
        return f"${len(self.params)}"

    def constant(self, value: Any) -> str:
        return self.param(lambda _: value)

    def alias(self) -> str:
        self.aliases += 1
        return f"r{self.aliases}"

    def visible(self, at: At, alias: str) -> str:
        """`hub.projections.timeline.visible` at the level's moment, with bind parameters."""
        if at.slot is None:
            return visible(None, None, alias)
        return self.at_moment(at.slot, lambda moment, args: visible(moment, args, alias))

    def at_moment(self, slot: int, condition: Callable[[Moment, list[Any]], str]) -> str:
        """A projection's SQL condition at a moment (`condition(moment, args)`, which appends
        its parameters to `args` as `visible` does), bound to a root field's moment."""
        stand_in = Moment(date.min, -1)
        placeholders: list[Any] = [None] * len(self.params)
        sql = condition(stand_in, placeholders)
        for value in placeholders[len(self.params) :]:
            if value is stand_in.effective:
                self.params.append(lambda b: b.moments[slot].effective)
            elif value is stand_in.recorded:
                self.params.append(lambda b: b.moments[slot].recorded)
            else:
                raise Unplanned("a condition with parameters of its own")
        return sql

    def moment(self, of: MomentOf) -> At:
        """A root field's moment; the statement reads it `asOf` only when it names one."""
        effective, recorded = of(self.executor.variable_values)
        if effective is None and recorded is None:
            return NOW
        self.moments.append(of)
        return At(len(self.moments) - 1)

    def arguments(self, details: Details) -> Callable[[VariableValues], dict[str, Any]]:
        """The field's coerced arguments, from a request's variables (as the resolvers get
        them: GraphQL names, enums as the domain's)."""
        detail = details[0]
        parent = self.schema.query_type
        assert parent is not None
        definition = parent.fields[detail.node.name.value]

        def values(variables: VariableValues) -> dict[str, Any]:
            return get_argument_values(
                definition, detail.node, variables, detail.fragment_variable_values
            )

        return values

    def now_arguments(self, details: Details) -> dict[str, Any]:
        """The field's arguments in this request, to decide the statement's shape."""
        return self.arguments(details)(self.executor.variable_values)

    def subfields(self, type_name: str, details: Details) -> dict[str, list[FieldDetails]]:
        kind = self.schema.type_map[type_name]
        assert isinstance(kind, GraphQLObjectType)
        collected = collect_subfields(
            self.schema,
            self.executor.fragments,
            self.executor.variable_values,
            self.executor.operation,
            kind,
            list(details),
        )
        if collected.new_defer_usages:
            raise Unplanned("@defer")
        return collected.grouped_field_set

    def object(self, type_name: str, alias: str, details: Details, at: At) -> str:
        """The JSON object of the fields selected of a `type_name` read from row `alias`."""
        fields = self.types.get(type_name)
        if fields is None:
            raise Unplanned(type_name)
        return self.members(type_name, alias, self.subfields(type_name, details), at, fields)

    def members(
        self,
        type_name: str,
        alias: str,
        selected: dict[str, list[FieldDetails]],
        at: At,
        fields: dict[str, FieldSql],
    ) -> str:
        parts: list[str] = []
        for key, details in selected.items():
            name = details[0].node.name.value
            if name == "__typename":
                value = literal(type_name)
            else:
                read = fields.get(name)
                if read is None:
                    raise Unplanned(f"{type_name}.{name}")
                value = read(self, alias, details, at)
            parts += [literal(key), value]
        if len(parts) > 100:
            raise Unplanned("more than 50 fields in one object")
        return f"json_build_object({', '.join(parts)})"

    def named_type(self, type_name: str, name: str) -> str:
        """The type a field of `type_name` answers."""
        kind = self.schema.type_map[type_name]
        assert isinstance(kind, GraphQLObjectType)
        return get_named_type(kind.fields[name].type).name


def literal(text: str) -> str:
    """An SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def json_literal(value: Any) -> str:
    """A JSON value as an SQL literal of type json (UTF-8, not escapes)."""
    return literal(json.dumps(value, ensure_ascii=False, separators=(",", ":"))) + "::json"
