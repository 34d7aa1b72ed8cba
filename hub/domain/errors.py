"""The errors a command can answer with; each becomes a `UserError` in the API."""

from __future__ import annotations


class CommandRefused(Exception):
    """A command that was refused and wrote nothing."""

    code = "VALIDATION"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(CommandRefused):
    code = "VALIDATION"


class Forbidden(CommandRefused):
    code = "FORBIDDEN"


class NotFound(CommandRefused):
    code = "NOT_FOUND"


class Conflict(CommandRefused):
    code = "CONFLICT"


class InvalidState(CommandRefused):
    code = "INVALID_STATE"


class ServiceUnavailable(CommandRefused):
    """The database could not be reached in time, before anything was saved."""

    code = "SERVICE_UNAVAILABLE"


class OutcomeUnknown(Exception):
    """The database went away while a command's events were being saved, and did not come back
    in time to tell whether they were: not a refusal, the change may be stored."""

    code = "OUTCOME_UNKNOWN"
    field = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
