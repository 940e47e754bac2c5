"""Every exception the package raises on purpose, and the one table that maps the API's to HTTP statuses.

Kept apart from the modules that raise them so that any layer can catch any of them without importing
another flow (the API catches the alerting configuration's errors; the CLI catches the pollers'), and
so that "what does the API answer when..." has one place to look: API_ERRORS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from credit_monitor.model import FailureKind  # model raises PollFailure: imported only for the annotation


# -- configuration: retrying will not help ----------------------------------------------------------


class ConfigurationError(Exception):
    """A function's own configuration (environment, secret, definition) is wrong; retrying will not help."""


class DefinitionError(ConfigurationError):
    """One or more definitions are invalid; each problem names the file, the field and what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class ThresholdsError(ValueError):
    """The document is malformed; the message names the key and the field."""


class LabelsError(ValueError):
    """The labels section is malformed; the message names the key and the field."""


# -- polling ----------------------------------------------------------------------------------------


class PollFailure(Exception):
    """A classified, expected failure of one account's poll. Its message is safe to store."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# -- storage and delivery: what stays queued is retried ---------------------------------------------


class TransitionConflict(Exception):
    """Another writer kept changing the alert item; the record should be retried."""


class PublishFailed(Exception):
    """A message was not accepted; it stays in the outbox for the next attempt."""


class DeliveryRejected(Exception):
    """A channel answered but did not take the alert (an EventBridge entry failed); the outbox keeps it."""


class RunIncomplete(Exception):
    """A run visited everything it had to but could not finish some; the message lists each failure.

    Raised at the end so the invocation fails (alarm, retry): what failed stays queued and is retried.
    """


# -- the API's answers ------------------------------------------------------------------------------


class NotFound(Exception):
    """An unknown provider or account; the message names it."""


class BadRequest(Exception):
    """A parameter the route cannot use in this combination; the message names it."""


class InvalidParameter(ValueError):
    """A path or query parameter the route cannot use; the message names it and says why (422)."""


@dataclass(frozen=True)
class ApiError:
    status: int
    error: str  # the answer's "error" field (ErrorBody)
    description: str  # what openapi.json says the status means, on every route


API_ERRORS: dict[type[Exception], ApiError] = {
    BadRequest: ApiError(400, "bad_request", "next_token is not valid here, since is after until, or account is given without provider"),
    NotFound: ApiError(404, "not_found", "Unknown provider or account"),
    InvalidParameter: ApiError(422, "invalid_parameter", "A path or query parameter is invalid; the message names it"),
}
