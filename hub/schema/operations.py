"""With `HUB_OPERATIONS=allow-listed`, only the operations on the allow-list run."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import ValidationCache


class AllowListedValidation(ValidationCache):
    """Validation (cached), but an operation whose normalised text is not on the allow-list
    is refused first, for every caller, and not validated: its answer says only that it is
    not allowed."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        allowed = getattr(getattr(context.context, "hub", None), "allowed", None)
        document = context.graphql_document
        if allowed is not None and document is not None and not allowed.allows(document):
            context.pre_execution_errors = [
                GraphQLError(
                    "this operation is not on the allow-list (HUB_OPERATIONS=allow-listed)",
                    extensions={"code": "OPERATION_NOT_ALLOWED"},
                )
            ]
            yield
            return
        yield from super().on_validate()
