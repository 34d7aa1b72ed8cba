"""Text arguments of queries and subscriptions are checked like command inputs: no control
characters (PostgreSQL would refuse some with a message of its own), bounded length.

Mutations are left to the commands (`hub.registry.application.Request`), which refuse such
input in the payload's `errors` like any other invalid input.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension

from hub.domain.checks import plain_text, plain_texts
from hub.domain.errors import CommandRefused


def _check_literal(value: ValueNode, field: str) -> None:
    if isinstance(value, StringValueNode):
        plain_text(value.value, field)
    elif isinstance(value, ListValueNode):
        for n, item in enumerate(value.values):
            _check_literal(item, f"{field}[{n}]")
    elif isinstance(value, ObjectValueNode):
        for item in value.fields:
            _check_literal(item.value, f"{field}.{item.name.value}")


def _check_selections(selections: SelectionSetNode | None) -> None:
    for selection in selections.selections if selections else ():
        if isinstance(selection, FieldNode):
            for argument in selection.arguments or ():
                _check_literal(argument.value, argument.name.value)
        if isinstance(selection, FieldNode | InlineFragmentNode):
            _check_selections(selection.selection_set)


def check_arguments(
    document: DocumentNode, operation_name: str | None, variables: dict | None
) -> None:
    """Raise `InvalidInput` naming the first text argument of a query or subscription that
    holds a control character or is too long."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is OperationType.MUTATION:
        return
    for name, value in (variables or {}).items():
        plain_texts(value, name)
    _check_selections(operation.selection_set)
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            _check_selections(definition.selection_set)


class PlainTextArguments(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and context.result is None:
            try:
                check_arguments(context.graphql_document, context.operation_name, context.variables)
            except CommandRefused as refusal:
                context.result = ExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            refusal.message,
                            extensions={"code": refusal.code, "field": refusal.field},
                        )
                    ],
                )
        yield
