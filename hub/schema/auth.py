"""Every operation needs a valid token, except introspection (so GraphiQL can load the docs);
and every error an operation answers with carries its code."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult, GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from hub.auth import Unauthenticated
from hub.database import unavailable
from hub.domain.errors import CommandRefused

UNAVAILABLE = "the database is unavailable; retry"


def _introspection_only(document: object) -> bool:
    for definition in getattr(document, "definitions", []):
        if isinstance(definition, OperationDefinitionNode):
            for selection in definition.selection_set.selections:
                name = getattr(getattr(selection, "name", None), "value", "")
                if not name.startswith("__"):
                    return False
    return True


class Authenticated(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        error = getattr(context, "auth_error", None)
        if error is not None and not _introspection_only(self.execution_context.graphql_document):
            self.execution_context.result = ExecutionResult(
                data=None,
                errors=[GraphQLError(str(error), extensions={"code": "UNAUTHENTICATED"})],
            )
        yield
        result = self.execution_context.result
        for graphql_error in getattr(result, "errors", None) or []:
            original = graphql_error.original_error
            if isinstance(original, CommandRefused):
                graphql_error.extensions = {"code": original.code, "field": original.field}
            elif isinstance(original, Unauthenticated):
                graphql_error.extensions = {"code": "UNAUTHENTICATED"}
            elif original is not None and unavailable(original):
                graphql_error.message = UNAVAILABLE
                graphql_error.extensions = {"code": "SERVICE_UNAVAILABLE"}
