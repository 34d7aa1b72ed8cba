"""Query operations over HTTP answered by the read planner (`hub.reads`), once every check
of the resolvers' path has passed: parsing and validation with the query limits, the token,
the plain-text arguments. What it does not cover runs through the resolvers, whole.

An operation asking only for indicators (`KEPT_ROOTS`) is answered as it was last answered in
the same views generation (`Hub.indicator_cache`): its answer depends on nothing but the
document, its variables, the day and the read views, not on the caller, so a repeated one
costs no field resolution at all."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType


class Planned(str):
    """A planned answer's whole body, PostgreSQL's JSON text, sent as it is."""


KEPT_ROOTS = frozenset({"indicators", "indicatorSeries", "targets", "__typename"})
"""Root fields an operation answered as kept may ask for (one of the first two at least)."""


def _roots(document: DocumentNode, selections: SelectionSetNode) -> set[str]:
    """The root fields a selection set asks for, through its fragments."""
    named = {
        f.name.value: f.selection_set
        for f in document.definitions
        if isinstance(f, FragmentDefinitionNode)
    }
    found: set[str] = set()
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            found.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            found |= _roots(document, selection.selection_set)
        elif isinstance(selection, FragmentSpreadNode):
            found |= _roots(document, named[selection.name.value])
    return found


def only_indicators(document: DocumentNode, operation_name: str | None) -> bool:
    """Whether the operation asks for indicators and nothing but `KEPT_ROOTS`."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return False
    roots = _roots(document, operation.selection_set)
    return roots <= KEPT_ROOTS and bool(roots & {"indicators", "indicatorSeries"})


class PlannedReads(SchemaExtension):
    """Last of the schema's extensions, so that any refusal of theirs comes first."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        planner = getattr(context, "reads", None)
        asked = (
            planner is not None
            and execution.result is None
            and execution.graphql_document is not None
            and execution.operation_type is OperationType.QUERY
        )
        kept = context.hub.indicator_cache if asked else None
        if (
            kept is not None
            and kept.size
            and execution.graphql_document is not None
            and only_indicators(execution.graphql_document, execution.operation_name)
        ):
            query = hashlib.sha256((execution.query or "").encode()).hexdigest()
            variables = json.dumps(execution.variables, sort_keys=True, default=str)
            key = ("operation", query, execution.operation_name, variables)
            at, body = kept.kept((*key, context.hub.settings.today()))
            if isinstance(body, str):
                execution.result = ExecutionResult(data=Planned(body))  # type: ignore[arg-type]
                yield
                return
            yield
            result = execution.result
            if (
                isinstance(result, ExecutionResult)
                and result.data is not None
                and not result.errors
                and not result.extensions
            ):
                kept.keep(
                    at, json.dumps({"data": result.data}, ensure_ascii=False, separators=(",", ":"))
                )
            return
        if (
            asked
            and planner is not None
            and planner.enabled
            and execution.graphql_document is not None
        ):
            body = await planner.answer(
                context.hub,
                execution.schema._schema,
                context.actor,
                context.request_id,
                execution.query or "",
                execution.graphql_document,
                execution.operation_name,
                execution.variables,
            )
            if body is not None:
                execution.result = ExecutionResult(data=Planned(body))  # type: ignore[arg-type]
        yield
