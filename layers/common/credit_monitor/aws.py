"""The AWS clients: created on first use, reused while the container is warm, never at import.

This is the one module of the layer that creates boto3 clients and resources (the command line, a package
apart in cli/, makes its own for what only it reads). boto3 honours AWS_ENDPOINT_URL, which is how the
local stack and the tests point them at moto.
"""

from __future__ import annotations

import functools
from typing import Any

from credit_monitor.errors import ConfigurationError

# Concurrent batch writes of one poll round (each a BatchWriteItem of up to 25 items).
BULK_WRITERS = 8

# Keys change rarely; a rotated key is picked up within this many seconds.
SECRET_CACHE_SECONDS = 900

# Secrets Manager answers that mean the secret is misconfigured, not that AWS is down.
CONFIGURATION_ERRORS = {"ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure", "InvalidRequestException"}


@functools.cache
def _boto3_client(service: str) -> Any:
    import boto3  # noqa: PLC0415 - imported on first use, off the cold-start path of code that never needs it

    return boto3.client(service)


@functools.cache
def _dynamodb() -> Any:
    import boto3  # noqa: PLC0415 - see _boto3_client

    return boto3.resource("dynamodb")


def table(name: str) -> Any:
    """The DynamoDB table resource (storage modules are its only users)."""
    return _dynamodb().Table(name)


@functools.cache
def dynamodb_client() -> Any:
    """A plain DynamoDB client for bulk writes of items the storage modules built themselves: no resource
    transforms and no parameter validation, which cost more CPU than the poll of an account."""
    import boto3  # noqa: PLC0415 - see _boto3_client
    from botocore.config import Config  # noqa: PLC0415

    return boto3.client("dynamodb", config=Config(parameter_validation=False, max_pool_connections=BULK_WRITERS))


def sns() -> Any:
    return _boto3_client("sns")


def events() -> Any:
    return _boto3_client("events")


def _parameters() -> Any:
    # Powertools Parameters loads a provider per service; only functions that read secrets or SSM
    # parameters pay for it (the API never does).
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

    return parameters


def get_parameter(name: str, max_age: int) -> str:
    """An SSM parameter's value, cached for ``max_age`` seconds."""
    return _parameters().get_parameter(name, max_age=max_age)


_listings: dict[str, tuple[float, list[str]]] = {}


def secret_names(prefix: str) -> list[str]:
    """Names of the secrets whose name starts with ``prefix``, listed at most every SECRET_CACHE_SECONDS.

    ListSecrets cannot be limited to some secrets by IAM (it has no resource type), and it returns names and
    metadata only, never a value; reading a value is GetSecretValue, which each poller may do only on its
    own provider's secrets.
    """
    import time  # noqa: PLC0415

    from botocore.exceptions import ClientError  # noqa: PLC0415

    cached = _listings.get(prefix)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        pages = _boto3_client("secretsmanager").get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": [prefix]}])
        names = sorted(secret["Name"] for page in pages for secret in page.get("SecretList", []))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in CONFIGURATION_ERRORS:
            raise ConfigurationError(f"secrets named {prefix}* cannot be listed: {code}") from None
        raise
    _listings[prefix] = (time.monotonic() + SECRET_CACHE_SECONDS, names)
    return names


def stepfunctions() -> Any:
    return _boto3_client("stepfunctions")


def get_secret(name: str) -> str:
    """The secret's value, cached. A missing or unreadable secret is a ConfigurationError naming it."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

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
    _boto3_client.cache_clear()
    _dynamodb.cache_clear()
    dynamodb_client.cache_clear()
    _listings.clear()
    _parameters().clear_caches()
