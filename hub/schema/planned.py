"""Query operations over HTTP answered by the read planner (`hub.reads`), once every check
of the resolvers' path has passed: parsing and validation with the query limits, the token,
the plain-text arguments. What it does not cover runs through the resolvers, whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import ExecutionResult
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType


class Planned(str):
    """A planned answer's whole body, PostgreSQL's JSON text, sent as it is."""


class PlannedReads(SchemaExtension):
    """Last of the schema's extensions, so that any refusal of theirs comes first."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        planner = getattr(context, "reads", None)
        if (
            planner is not None
            and planner.enabled
            and execution.result is None
            and execution.graphql_document is not None
            and execution.operation_type is OperationType.QUERY
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
