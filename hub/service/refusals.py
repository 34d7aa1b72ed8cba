"""How a refusal becomes an answer: one mapping from what was raised to the API's error (code,
field, message) and the HTTP status it has when it ends a request, which every transport
renders in its own shape (a GraphQL error, a payload's `UserError`, a JSON error body, a
WebSocket rejection, a stream's end).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from starlette.responses import JSONResponse

from hub.domain.errors import CommandRefused, OutcomeUnknown
from hub.service.auth import Unauthenticated
from hub.service.database import statement_timeout, unavailable
from hub.service.operations import OperationRefused
from hub.streams.follow import StreamEnded
from hub.streams.slots import TooManyStreams

SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
UNAVAILABLE = "the database is unavailable; retry"

STATUS: dict[str, int] = {
    "VALIDATION": 400,
    "BAD_REQUEST": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "INVALID_STATE": 409,
    "TOO_MANY_STREAMS": 429,
    SERVICE_UNAVAILABLE: 503,
    "OUTCOME_UNKNOWN": 503,
}
"""The HTTP status of a request that a refusal ends before any GraphQL runs (a refusal inside
a GraphQL answer is 200, but for SERVICE_UNAVAILABLE: 503, so that clients retry)."""


@dataclass(frozen=True)
class Refusal:
    """A refusal as the API says it."""

    code: str
    message: str
    field: str | None = None
    names_field: bool = False
    """Whether its errors carry `field` (null when no one field is at fault): a command's
    refusals do."""

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 200)

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, **({"field": self.field} if self.names_field else {})}

    @property
    def formatted(self) -> dict[str, Any]:
        """As a GraphQL error in a response."""
        return {"message": self.message, "extensions": self.extensions}

    def graphql_error(self, **more: Any) -> GraphQLError:
        return GraphQLError(self.message, extensions={**self.extensions, **more})

    def response(self, status: int | None = None) -> JSONResponse:
        """A request refused before any GraphQL ran, in the shape of a GraphQL error."""
        return JSONResponse(
            {"errors": [self.formatted]}, status_code=self.status if status is None else status
        )


def refusal_of(error: BaseException, statement_timeout_ms: int | None = None) -> Refusal | None:
    """The API's answer to `error`, or None when it is none of the API's refusals (a fault of
    the hub, or an error that already carries its code)."""
    if isinstance(error, CommandRefused):
        return Refusal(error.code, error.message, error.field, names_field=True)
    if isinstance(error, OutcomeUnknown):
        return Refusal(error.code, error.message, names_field=True)
    if isinstance(error, Unauthenticated):
        return Refusal("UNAUTHENTICATED", str(error))
    if isinstance(error, TooManyStreams | OperationRefused | StreamEnded):
        return Refusal(error.code, error.message)
    if statement_timeout(error):
        limit = f" of {statement_timeout_ms} ms" if statement_timeout_ms is not None else ""
        return Refusal(
            "QUERY_TIMEOUT",
            f"the query ran past the statement timeout{limit} (HUB_STATEMENT_TIMEOUT_MS); "
            "ask for fewer records",
        )
    if unavailable(error):
        return Refusal(SERVICE_UNAVAILABLE, UNAVAILABLE)
    return None


def answer(
    error: CommandRefused
    | OutcomeUnknown
    | Unauthenticated
    | TooManyStreams
    | OperationRefused
    | StreamEnded,
) -> Refusal:
    """`refusal_of` an error that is always one of the API's refusals."""
    found = refusal_of(error)
    assert found is not None, error
    return found
