"""What the command line says when a command cannot do what was asked: one ``error:`` line and an exit status.

Every command runs inside ``reported``. The commonest first-run mistakes (no region, no credentials, an
endpoint that does not answer, a stack that does not exist, a policy that refuses, a port in use) each
read as one line on stderr that says what to do, with exit status 1 (2 for a command line that
contradicts itself, as argparse does). An exception this module does not know is a bug in the command
and keeps its traceback.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from typing import TextIO
from urllib.parse import urlsplit

from credit_monitor.errors import ConfigurationError

NO_REGION = "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION), or run aws configure"
NO_CREDENTIALS = (
    "no AWS credentials found: run aws configure (or aws sso login), or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)
SSO_EXPIRED = "the AWS SSO session has expired or was never started: run aws sso login (with --profile if you use one)"

# AWS error codes, by what the user has to do about them.
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "AuthorizationErrorException"}
REJECTED = {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "IncompleteSignature",
            "InvalidSignatureException", "AuthFailure", "MissingAuthenticationToken"}  # fmt: skip
EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
MAX_AWS_MESSAGE = 240
WHO_AM_I = "aws sts get-caller-identity shows whose credentials these are"


class CommandError(Exception):
    """The command cannot do what was asked; the message says why and what to do. Exit status 1."""

    status = 1


class UsageError(CommandError):
    """The command line contradicts itself or names something unknown. Exit status 2, as argparse's."""

    status = 2


def reported(command: Callable[[], int], stderr: TextIO | None = None) -> int:
    """Run ``command``; an error a user can fix becomes one ``error:`` line and its exit status."""
    try:
        return command()
    except Exception as exc:
        described = describe(exc)
        if described is None:
            raise
        message, status = described
        print(f"error: {message}", file=stderr or sys.stderr)
        return status


def describe(exc: BaseException) -> tuple[str, int] | None:
    """The one line and exit status for ``exc``, or None when it is not a mistake a user can fix."""
    if isinstance(exc, CommandError):
        return str(exc), exc.status
    if isinstance(exc, ConfigurationError):
        return str(exc), 1
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"address already in use ({exc.strerror}): stop the process using it, or choose another port", 1
    return _botocore(exc)


def _botocore(exc: BaseException) -> tuple[str, int] | None:
    from botocore import exceptions as aws  # noqa: PLC0415 - only when a command has failed

    if isinstance(exc, aws.NoRegionError):
        return NO_REGION, 1
    if isinstance(exc, aws.NoCredentialsError | aws.PartialCredentialsError):
        return NO_CREDENTIALS, 1
    if isinstance(exc, aws.ProfileNotFound):
        profile = exc.kwargs.get("profile", "")
        return f"AWS profile {profile!r} not found: check AWS_PROFILE, or create it with aws configure --profile {profile}", 1
    if isinstance(exc, aws.SSOError | aws.TokenRetrievalError):
        return SSO_EXPIRED, 1
    if isinstance(exc, aws.CredentialRetrievalError):
        return f"the AWS credentials could not be obtained ({_one_line(str(exc))}): check the profile's configuration", 1
    if isinstance(exc, aws.EndpointConnectionError | aws.ConnectTimeoutError | aws.ReadTimeoutError | aws.ConnectionClosedError):
        where = _host(exc.kwargs.get("endpoint_url", ""))
        return f"could not reach AWS at {where}: check the network connection, the region, and AWS_ENDPOINT_URL if it is set", 1
    if isinstance(exc, aws.ClientError):
        return _client_error(exc), 1
    return None


def _client_error(exc) -> str:
    error = exc.response.get("Error", {})
    code, aws_message, operation = error.get("Code", "?"), _one_line(error.get("Message") or ""), exc.operation_name
    said = f" ({aws_message})" if aws_message else ""
    if code in DENIED:
        return f"access denied to {operation}{said}: use credentials whose IAM policy allows it ({WHO_AM_I})"
    if code in REJECTED:
        return f"AWS rejected these credentials ({code}): check AWS_PROFILE or AWS_ACCESS_KEY_ID, or run aws configure"
    if code in EXPIRED:
        return f"the AWS credentials have expired ({code}): refresh them (aws sso login, or new temporary credentials)"
    return f"AWS refused {operation}: {code}{said}"


def _host(url: str) -> str:
    """Scheme, host and port of an endpoint: its path and query say nothing a user needs here."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else url or "its endpoint"


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_AWS_MESSAGE else text[: MAX_AWS_MESSAGE - 3] + "..."
