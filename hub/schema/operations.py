"""With `HUB_OPERATIONS=allow-listed`, only the operations on the allow-list run."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


def not_allowed(execution_context: Any) -> GraphQLError | None:
    """The refusal of an operation whose normalised text is not on the allow-list (for every
    caller, before it is validated: its answer says only that it is not allowed), or None."""
    allowed = getattr(getattr(execution_context.context, "hub", None), "allowed", None)
    document = execution_context.graphql_document
    if allowed is None or document is None or allowed.allows(document):
        return None
    return GraphQLError(
        "this operation is not on the allow-list (HUB_OPERATIONS=allow-listed)",
        extensions={"code": "OPERATION_NOT_ALLOWED"},
    )
