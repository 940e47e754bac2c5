"""The AWS clients, created on first use and reused while the container is warm (never at import).

boto3 honours AWS_ENDPOINT_URL, which is how the local stack and the tests point these at moto.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from botocore.exceptions import ClientError

from credit_monitor.model import ConfigurationError

# Keys change rarely; a rotated key is picked up within this many seconds.
SECRET_CACHE_SECONDS = int(os.environ.get("SECRET_CACHE_SECONDS", "900"))

# Secrets Manager answers that mean the secret is misconfigured, not that AWS is down.
CONFIGURATION_ERRORS = {"ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure", "InvalidRequestException"}


@functools.cache
def _dynamodb() -> Any:
    import boto3  # noqa: PLC0415 - imported on first use, off the cold-start path of code that never needs it

    return boto3.resource("dynamodb")


@functools.cache
def sns() -> Any:
    import boto3  # noqa: PLC0415 - see _dynamodb

    return boto3.client("sns")


def _parameters() -> Any:
    # Powertools Parameters loads a provider per service; only functions that read secrets or SSM
    # parameters pay for it (the API never does).
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

    return parameters


def get_parameter(name: str, max_age: int) -> str:
    """An SSM parameter's value, cached for ``max_age`` seconds."""
    return _parameters().get_parameter(name, max_age=max_age)


def table(name: str) -> Any:
    return _dynamodb().Table(name)


def get_secret(name: str) -> str:
    """The secret's value, cached. A missing or unreadable secret is a ConfigurationError naming it."""
    parameters = _parameters()
    try:
        return parameters.get_secret(name, max_age=SECRET_CACHE_SECONDS)
    except parameters.exceptions.GetParameterError as exc:
        cause = exc.__cause__ or exc.__context__  # Powertools re-raises inside its except block
        code = cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None
        if code in CONFIGURATION_ERRORS:
            raise ConfigurationError(f"secret {name} cannot be read: {code}") from None
        raise


def clear_caches() -> None:
    """Forget cached clients and values (tests, and the local stack between runs)."""
    _dynamodb.cache_clear()
    sns.cache_clear()
    _parameters().clear_caches()
