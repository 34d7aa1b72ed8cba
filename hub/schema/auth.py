"""Every operation needs a valid token, except introspection (so GraphiQL can load the docs);
and every error an operation answers with carries its code.

Whether an operation is introspection is decided on the fields it selects at its root once
its fragments are expanded, never on a name the client chose.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension

from hub.service.logs import observed_of
from hub.service.metrics import OPERATIONS
from hub.service.refusals import answer, refusal_of

log = logging.getLogger("hub.schema")
INTROSPECTION_FIELDS = frozenset({"__schema", "__type", "__typename"})


def root_fields(document: DocumentNode) -> set[str]:
    """The names of the fields every operation of `document` selects at its root."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    found: set[str] = set()

    def collect(selections: SelectionSetNode, seen: frozenset[str]) -> None:
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                found.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                collect(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen:
                    found.add(f"...{name}")  # unknown or cyclic: never introspection
                else:
                    collect(fragment.selection_set, seen | {name})

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            collect(definition.selection_set, frozenset())
    return found


def introspection_only(document: DocumentNode | None) -> bool:
    return document is not None and root_fields(document) <= INTROSPECTION_FIELDS


class Authenticated(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        try:
            yield
        except GraphQLError as error:  # a syntax error raised by a parsing extension
            _code_each([error], "GRAPHQL_PARSE_FAILED")
            raise
        finally:
            _note_operation(self.execution_context)

    def on_parse(self) -> Iterator[None]:
        yield
        _code_each(self.execution_context.pre_execution_errors, "GRAPHQL_PARSE_FAILED")

    def on_validate(self) -> Iterator[None]:
        yield
        _code_each(self.execution_context.pre_execution_errors, "GRAPHQL_VALIDATION_FAILED")

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        error = getattr(context, "auth_error", None)
        if error is not None and not introspection_only(self.execution_context.graphql_document):
            self.execution_context.result = ExecutionResult(
                data=None,
                errors=[answer(error).graphql_error()],
            )
        yield
        answered(context, self.execution_context.result)


def answered(context: Any, result: Any) -> None:
    """Give each error of an executed operation's `result` the code and message the API
    answers: a refusal's own, bad variables', or a fault of the hub's (logged)."""
    for graphql_error in getattr(result, "errors", None) or []:
        original = graphql_error.original_error
        said = None
        if original is not None and not isinstance(original, GraphQLError):
            said = refusal_of(original, context.hub.settings.statement_timeout_ms)
        if said is not None:
            graphql_error.message = said.message
            graphql_error.extensions = said.extensions
        elif original is None or isinstance(original, GraphQLError):  # bad variables
            _code_each([graphql_error], "GRAPHQL_VALIDATION_FAILED")
        elif not (graphql_error.extensions or {}).get("code"):
            log.error(
                "request %s: %s failed",
                context.request_id,
                graphql_error.path,
                exc_info=original,
                extra={"request_id": context.request_id},
            )
            graphql_error.message = (
                f"the hub could not answer this field (a fault of the hub, logged with "
                f"request id {context.request_id})"
            )
            graphql_error.extensions = {"code": "INTERNAL_SERVER_ERROR"}


def _note_operation(execution: Any) -> None:
    note_operation(execution.context, execution.operation_name)


def note_operation(context: Any, name: str | None) -> None:
    """Name the operation, as a bounded label, in the request's note (`Observe`)."""
    request = getattr(context, "request", None)
    if request is None:
        return
    observed_of(request.scope).operation = OPERATIONS.label(name, context.hub.allowed)


def _code_each(errors: list[GraphQLError] | None, code: str) -> None:
    """Give each error that has no code `code`: every error the API answers carries one."""
    for error in errors or ():
        if not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": code}
