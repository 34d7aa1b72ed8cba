"""A mutation document the hub has seen before runs without strawberry's per-request work.

Strawberry parses (cached), checks the operation type, measures the query limits and
validates (cached) a document on every request, through four extensions' hooks, before
graphql-core executes it; for a small mutation that was most of its cost besides the command.
What of it depends on the document alone is done once here, when a document is first seen:
one whose checks all pass is kept, and a later request sending it is executed at once by
graphql-core, as strawberry would (the same executor, variables coerced and refused the same
way), its errors given their codes by the same function (`hub.schema.auth.answered`).

What depends on the request is still checked on each: the token (a request without a valid
one takes strawberry's path, which refuses it), the caller's role's cost limit, the
allow-list. A check that would refuse sends the request the whole way, whose answer says why.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    get_operation_ast,
    parse,
    specified_rules,
    visit,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.execution.middleware import MiddlewareManager
from graphql.language import Visitor
from strawberry.execution import optimized_is_awaitable
from strawberry.schema.schema import Schema, validate_document
from strawberry.types.execution import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperationType

from hub.schema.auth import answered, note_operation
from hub.schema.context import Context
from hub.schema.limits import Measure, TooNested, limits, measure, refusals
from hub.service.config import Settings

KEPT = 1024
"""How many documents are remembered, each as kept or not (as many as the parser's cache)."""


@dataclass
class Seen:
    """A mutation document whose parse, validation and limits (but the role's) passed."""

    query: str
    document: DocumentNode
    operation_name: str | None
    """As strawberry names it: the request's, or the operation's own."""
    measured: Measure
    within: dict[str | None, bool] = field(default_factory=dict)
    """Whether the measure is within the limits of each role asked so far."""


class SeenMutations:
    """The mutation documents of one hub (its settings: the token limit, the limits)."""

    def __init__(self, schema: Schema, settings: Settings, size: int = KEPT) -> None:
        self.schema = schema
        self.settings = settings
        self.size = size
        """How many documents are remembered; 0: none, every request takes strawberry's path."""
        self.kept: OrderedDict[tuple[str, str | None], Seen | None] = OrderedDict()
        self.execute = schema._get_execute_function()
        self.executor = schema.execution_context_class

    def get(self, query: str, operation_name: object) -> Seen | None:
        """The kept document of this text and operation name, or None (then the request
        takes strawberry's path); a text not seen before is looked at once."""
        if not self.size or not isinstance(operation_name, str | None):
            return None
        key = (query, operation_name)
        try:
            found = self.kept[key]
        except KeyError:
            found = self.kept[key] = self._look_at(query, operation_name)
            if len(self.kept) > self.size:
                self.kept.popitem(last=False)
        return found

    def _look_at(self, query: str, operation_name: str | None) -> Seen | None:
        try:
            document = parse(query, max_tokens=self.settings.max_tokens or None)
        except GraphQLError:
            return None
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is not OperationType.MUTATION:
            return None
        if validate_document(self.schema._schema, document, tuple(specified_rules)):
            return None
        if _first_from_variables(document):
            return None  # its cost depends on the variables: measured on each request
        try:
            measured = measure(self.schema._schema, document, operation_name, {})
        except TooNested:
            return None
        first = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        name = operation_name or (first.name.value if first.name else None)
        return Seen(query, document, name, measured)

    def runs(self, seen: Seen, context: Context) -> bool:
        """Whether `seen` may run at once for this request's caller: the strawberry path
        would refuse nothing before executing it."""
        actor = context.actor
        if actor is None or context.auth_error is not None:
            return False
        allowed = context.hub.allowed
        if allowed is not None and not allowed.allows(seen.document):
            return False
        within = seen.within.get(actor.role)
        if within is None:
            within = seen.within[actor.role] = not refusals(
                seen.measured, limits(self.settings, actor.role)
            )
        return within

    async def run(
        self,
        seen: Seen,
        context: Context,
        variables: dict[str, Any] | None,
        operation_extensions: dict[str, Any] | None,
        root_value: Any = None,
    ) -> ExecutionResult:
        """Execute `seen` as strawberry's path would once its checks passed."""
        try:
            return await self._executed(seen, context, variables, operation_extensions, root_value)
        except Exception as error:  # noqa: BLE001 - as strawberry answers one
            errors = [error if isinstance(error, GraphQLError) else _coerced(error)]
            self.schema._process_errors(errors, self._context(seen, context, variables))
            return ExecutionResult(data=None, errors=errors, extensions={})
        finally:
            note_operation(context, seen.operation_name)

    async def _executed(
        self,
        seen: Seen,
        context: Context,
        variables: dict[str, Any] | None,
        operation_extensions: dict[str, Any] | None,
        root_value: Any,
    ) -> ExecutionResult:
        result = self.execute(
            self.schema._schema,
            seen.document,
            root_value=root_value,
            middleware=MiddlewareManager(),
            variable_values=variables,
            operation_name=seen.operation_name,
            context_value=context,
            is_awaitable=optimized_is_awaitable,
            executor_class=self.executor,
            operation_extensions=operation_extensions,
        )
        if optimized_is_awaitable(result):
            result = await result
        assert isinstance(result, GraphQLExecutionResult)
        if result.errors:
            self.schema._process_errors(result.errors, self._context(seen, context, variables))
        answered(context, result)
        return ExecutionResult(data=result.data, errors=result.errors, extensions={})

    def _context(
        self, seen: Seen, context: Context, variables: dict[str, Any] | None
    ) -> ExecutionContext:
        """Strawberry's description of the operation, for its error log."""
        return ExecutionContext(
            query=seen.query,
            schema=self.schema,
            allowed_operations=(StrawberryOperationType.MUTATION,),
            context=context,
            variables=variables,
            provided_operation_name=seen.operation_name,
            graphql_document=seen.document,
        )


def _first_from_variables(document: DocumentNode) -> bool:
    """Whether some `first` argument of the document is a variable."""
    found = False

    class Finder(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            nonlocal found
            found = found or (node.name.value == "first" and isinstance(node.value, VariableNode))

    visit(document, Finder())
    return found


def _coerced(error: Exception) -> GraphQLError:
    return GraphQLError(str(error), original_error=error)
