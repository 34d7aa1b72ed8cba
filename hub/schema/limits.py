"""Bounds on the work one request may ask for, checked before it is validated or run.

Four limits (README, "Bounded queries"): the parser's token count (`QUERY_TOO_LARGE`), the
nesting depth of fields (`QUERY_TOO_DEEP`), the aliased field selections with every fragment
spread expanded where it is spread (`TOO_MANY_ALIASES`), and the cost, the rows a query may
ask for (`QUERY_TOO_COSTLY`). Every exceeded limit is reported, one error each. Introspection
is measured like any other query, its lists by what the schema holds (`list_rows`). A limit
set to 0 is off, as the server limits' are; with depth, aliases and cost all off, the query is
not measured at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, NamedTuple

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
    is_enum_type,
    is_input_object_type,
    is_interface_type,
    is_list_type,
    is_object_type,
    value_from_ast_untyped,
)
from graphql import OperationType as DocumentOperation
from graphql.type.definition import GraphQLInterfaceType
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef
from starlette.websockets import WebSocket
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types.graphql import OperationType

from hub.schema.operations import not_allowed
from hub.service.config import ROLE_COST_SETTINGS, Settings

LIST_ROWS: Mapping[str, int] = {
    "Query.districts": 38,
    "Query.history": 50,
    "Query.indicatorSeries": 130,
    "Query.targets": 10,
    "Worker.posts": 1,
    "Worker.attendances": 20,
    "Worker.certificates": 5,
    "Station.staff": 20,
    "Station.posts": 20,
    "Course.attendances": 50,
    "Project.disbursements": 20,
    "Event.changes": 10,
    "Indicators.certificatesByLevel": 5,
    "Indicators.postsBySector": 10,
    "Indicators.projectsByField": 10,
    "Indicators.trainingByCategory": 10,
    "AgencyPayload.errors": 5,
    "WorkerPayload.errors": 5,
    "CoursePayload.errors": 5,
    "ProjectPayload.errors": 5,
    "StationPayload.errors": 5,
    "PostPayload.errors": 5,
    "RetractEventsPayload.events": 20,
    "RetractEventsPayload.errors": 5,
}
"""The rows each plain list field of an object type is estimated to hold, per parent record
(a worker holds at most one post; a district's bureau reports a handful of dimensions...).
A connection counts its `first` instead; the fields of a connection or an edge add no rows
of their own. `tests/test_query_limits.py` checks every list field of the schema is here."""


@cache
def list_rows(schema: GraphQLSchema) -> Mapping[str, int]:
    """`LIST_ROWS`, and the rows each list of the introspection types holds in `schema` on
    average per parent, so that what `__schema` costs is about what it answers: introspection
    is bounded too (without it, aliases of the whole schema were free)."""
    types = list(schema.type_map.values())
    fields = [
        f for t in types if is_object_type(t) or is_interface_type(t) for f in t.fields.values()
    ]

    def per(parents: int, rows: int) -> int:
        return max(1, math.ceil(rows / max(parents, 1)))

    abstract = [t for t in types if is_abstract_type(t)]
    introspection = {
        "__Schema.types": len(types),
        "__Schema.directives": len(schema.directives),
        "__Type.fields": per(len(types), len(fields)),
        "__Type.interfaces": per(len(types), sum(len(getattr(t, "interfaces", ())) for t in types)),
        "__Type.possibleTypes": per(
            len(types), sum(len(schema.get_possible_types(t)) for t in abstract)
        ),
        "__Type.enumValues": per(len(types), sum(len(t.values) for t in types if is_enum_type(t))),
        "__Type.inputFields": per(
            len(types), sum(len(t.fields) for t in types if is_input_object_type(t))
        ),
        "__Field.args": per(len(fields), sum(len(f.args) for f in fields)),
        "__Directive.args": per(
            len(schema.directives), sum(len(d.args) for d in schema.directives)
        ),
        "__Directive.locations": 1,
    }
    return {**LIST_ROWS, **introspection}


class Measure(NamedTuple):
    depth: int = 0
    aliases: int = 0
    cost: int = 0

    def __add__(self, other: Measure) -> Measure:
        return Measure(
            max(self.depth, other.depth), self.aliases + other.aliases, self.cost + other.cost
        )


NOTHING = Measure()


def stand_in(context: Any) -> DocumentNode:
    """A document for strawberry to answer the refusal with, in place of one the parser gave
    up on (an exception from a parse hook would end a WebSocket operation without a word):
    `{ __typename }`, named as the request names its operation, and a subscription where
    only subscriptions may run (the legacy graphql-ws protocol), lest the answer be that the
    operation is unknown or that queries are not allowed."""
    kind = (
        DocumentOperation.QUERY
        if OperationType.QUERY in context.allowed_operations
        else DocumentOperation.SUBSCRIPTION
    )
    name = context.operation_name
    typename = FieldNode(name=NameNode(value="__typename"), arguments=(), directives=())
    operation = OperationDefinitionNode(
        operation=kind,
        name=NameNode(value=name) if name is not None else None,
        variable_definitions=(),
        directives=(),
        selection_set=SelectionSetNode(selections=(typename,)),
    )
    return DocumentNode(definitions=(operation,))


META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}


def structural(parent: GraphQLObjectType | GraphQLInterfaceType) -> bool:
    """Connections and edges hold the rows their connection field counted."""
    return parent.name.endswith(("Connection", "Edge"))


NESTING = 200
"""Selection sets one walk may nest, fragment spreads included: graphql-core's parser nests no
deeper (`MAX_NESTING_DEPTH`), but a chain of spreads, flat in the text, would take the walk
past Python's recursion limit (an unhandled error without a code)."""


class TooNested(Exception):
    """The document nests selection sets deeper than `NESTING`."""


class Measuring:
    """One walk over an operation, each fragment measured once (spreads reuse it, scaled by
    the rows above them), so fragments spread inside fragments cannot make the walk long."""

    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
    ) -> None:
        self.schema = schema
        self.rows = list_rows(schema)
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.measured: dict[str, Measure] = {}
        self.defaults: dict[str, Any] = {}
        self.nesting = 0

    def operation(self, operation: OperationDefinitionNode) -> Measure:
        self.measured = {}
        self.defaults = {
            d.variable.name.value: value_from_ast_untyped(d.default_value)
            for d in operation.variable_definitions or ()
            if d.default_value is not None
        }
        root = self.schema.get_root_type(operation.operation)
        return self.selections(operation.selection_set, root) if root else NOTHING

    def fragment(self, name: str) -> Measure:
        found = self.measured.get(name)
        if found is not None:
            return found
        definition = self.fragments.get(name)
        self.measured[name] = NOTHING  # a cycle (refused by validation) counts nothing
        if definition is not None:
            parent = self.schema.get_type(definition.type_condition.name.value)
            self.measured[name] = self.selections(definition.selection_set, parent)
        return self.measured[name]

    def selections(self, selection_set: SelectionSetNode, parent: Any) -> Measure:
        self.nesting += 1
        try:
            if self.nesting > NESTING:
                raise TooNested
            total = NOTHING
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    total += self.field(selection, parent)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    inner = self.schema.get_type(condition.name.value) if condition else parent
                    total += self.selections(selection.selection_set, inner)
                elif isinstance(selection, FragmentSpreadNode):
                    total += self.fragment(selection.name.value)
            return total
        finally:
            self.nesting -= 1

    def field(self, node: FieldNode, parent: Any) -> Measure:
        aliases = 0 if node.alias is None else 1
        name = node.name.value
        definition = META_FIELDS.get(name) or getattr(parent, "fields", {}).get(name)
        if node.selection_set is None:
            return Measure(1, aliases, 0)
        if definition is None:  # unknown (validation refuses it): its depth still counts
            inner = self.selections(node.selection_set, None)
            return Measure(1 + inner.depth, aliases + inner.aliases, inner.cost)
        kind = get_nullable_type(definition.type)
        child = get_named_type(kind)
        inner = self.selections(node.selection_set, child)
        if structural(parent) or (parent.name.startswith("__") and not is_list_type(kind)):
            rows, scale = 0, 1  # edges, and a type's references, are their parent's rows
        else:
            if "first" in definition.args:
                rows = self.first(node, definition.args["first"].default_value)
            elif is_list_type(kind):
                rows = self.rows[f"{parent.name}.{node.name.value}"]
            else:
                rows = 1
            scale = rows
        return Measure(1 + inner.depth, aliases + inner.aliases, rows + scale * inner.cost)

    def first(self, node: FieldNode, default: Any) -> int:
        """The `first` this field asks for: its literal, its variable's value (or the
        variable's default), or the argument's default."""
        value = default
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                name = argument.value.name.value
                value = self.variables.get(name, self.defaults.get(name, default))
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # GraphQL takes 500.0 for an Int: it must cost 500 as well
        return value if isinstance(value, int) and value > 0 else 0


def measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> Measure:
    """The largest measure of the operations that may run (the named one, or every one)."""
    measuring = Measuring(schema, document, variables or {})
    found = NOTHING
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            operation_name is None
            or (definition.name is not None and definition.name.value == operation_name)
        ):
            found = Measure(*map(max, found, measuring.operation(definition)))
    return found


class Limit(NamedTuple):
    code: str
    measured: str
    """The `Measure` field the limit bounds."""
    value: int
    setting: str


def limits(settings: Settings, role: str | None) -> list[Limit]:
    """The limits on, for a caller of `role` (None: no token)."""
    max_cost, cost_setting = settings.max_cost, "HUB_MAX_COST"
    if role is not None and role in settings.max_cost_by_role:
        max_cost, cost_setting = settings.max_cost_by_role[role], ROLE_COST_SETTINGS[role]
    every = (
        Limit("QUERY_TOO_DEEP", "depth", settings.max_depth, "HUB_MAX_DEPTH"),
        Limit("TOO_MANY_ALIASES", "aliases", settings.max_aliases, "HUB_MAX_ALIASES"),
        Limit("QUERY_TOO_COSTLY", "cost", max_cost, cost_setting),
    )
    return [limit for limit in every if limit.value]


def refusals(found: Measure, checked: list[Limit]) -> list[GraphQLError]:
    """One error for every limit `found` exceeds; each also lists them all (`exceeded`), since
    the legacy graphql-ws protocol delivers only an operation's first error."""
    over = [
        (limit, value)
        for limit in checked
        if (value := getattr(found, limit.measured)) > limit.value
    ]
    exceeded = [{"code": limit.code, "limit": limit.value, "value": value} for limit, value in over]
    return [
        GraphQLError(
            f"the query's {limit.measured} is {value}, above the limit of {limit.value} "
            f"({limit.setting})",
            extensions={
                "code": limit.code,
                "limit": limit.value,
                "value": value,
                "exceeded": exceeded,
            },
        )
        for limit, value in over
    ]


def streamless(context: Any) -> GraphQLError | None:
    """The refusal of a subscription sent over HTTP, or None: HTTP carries no stream here, so
    it would run once and answer null as a fault of the hub."""
    if context.operation_type is not OperationType.SUBSCRIPTION or isinstance(
        getattr(context.context, "request", None), WebSocket
    ):
        return None
    return GraphQLError(
        "a subscription needs a stream: send it over WebSocket (graphql-transport-ws or "
        "graphql-ws), or follow the events over SSE at /events",
        extensions={"code": "BAD_REQUEST"},
    )


class QueryLimits(ParserCache, ValidationCache):
    """The schema's parser and validation caches, with the limits in front: the parser stops
    at the token limit, and a request over another limit is refused before it is validated
    (validating is work too); with an allow-list, an operation not on it is refused before
    anything else, and a subscription sent over HTTP is refused next."""

    def __init__(self, maxsize: int) -> None:
        ParserCache.__init__(self, maxsize)
        ValidationCache.__init__(self, maxsize)
        self.too_large = False

    def settings(self) -> Settings:
        return self.execution_context.context.hub.settings

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self.settings().max_tokens or None
        yield

    def on_parse(self) -> Iterator[None]:
        """A document over the token limit is refused in place of a parsed one; any other
        syntax error is left to strawberry's own parse, which reports it as usual."""
        context = self.execution_context
        limit = self.settings().max_tokens
        try:
            yield from ParserCache.on_parse(self)
        except GraphQLSyntaxError as error:
            context.graphql_document = None
            if error.message.endswith(f"more than {limit} tokens. Parsing aborted."):
                self.too_large = True
                context.graphql_document = stand_in(context)
                context.pre_execution_errors = [
                    GraphQLError(
                        f"the query has more than {limit} tokens, the limit (HUB_MAX_TOKENS)",
                        extensions={"code": "QUERY_TOO_LARGE", "limit": limit},
                    )
                ]
            yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self.too_large:
            yield
            return
        assert context.graphql_document is not None
        refused = not_allowed(context) or streamless(context)
        if refused is not None:
            context.pre_execution_errors = [refused]
            yield
            return
        actor = getattr(context.context, "actor", None)
        checked = limits(self.settings(), actor.role if actor is not None else None)
        try:
            errors = checked and refusals(
                measure(
                    context.schema._schema,
                    context.graphql_document,
                    context.operation_name,
                    context.variables,
                ),
                checked,
            )
        except TooNested:
            errors = [
                GraphQLError(
                    f"the query nests selections deeper than {NESTING} levels, fragment "
                    "spreads included",
                    extensions={"code": "QUERY_TOO_DEEP", "limit": NESTING},
                )
            ]
        if errors:
            context.pre_execution_errors = errors
            yield
        else:
            yield from ValidationCache.on_validate(self)
