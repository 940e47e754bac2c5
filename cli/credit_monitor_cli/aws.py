"""The AWS clients only the command line needs: a deployed stack's outputs, its queues and functions, the
delivery metrics of its rules, and SigV4-signed calls to its balance API.

The one module of this package that creates boto3 clients (the tables, topic and bus are reached through
the layer's own modules, as the functions reach them). A command runs once, so clients are made when asked
for, with the caller's credentials and region; boto3 honours AWS_ENDPOINT_URL, which points them at moto.
"""

from __future__ import annotations

from typing import Any

from credit_monitor.errors import ConfigurationError


def _client(service: str) -> Any:
    import boto3  # noqa: PLC0415 - `credit-monitor check` and validate-providers never import it

    return boto3.client(service)


def cloudformation() -> Any:
    return _client("cloudformation")


def lambda_service() -> Any:
    return _client("lambda")


def sqs() -> Any:
    return _client("sqs")


def cloudwatch() -> Any:
    return _client("cloudwatch")


def signed_get(url: str, timeout: float) -> Any:
    """GET ``url`` signed with SigV4 for API Gateway (execute-api), with the caller's AWS credentials."""
    import boto3  # noqa: PLC0415
    import requests  # noqa: PLC0415
    from botocore.auth import SigV4Auth  # noqa: PLC0415
    from botocore.awsrequest import AWSRequest  # noqa: PLC0415

    session = boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise ConfigurationError("no AWS credentials found to sign the request (aws configure, or AWS_PROFILE)")
    host_parts = url.split("/")[2].split(".")  # <api>.execute-api.<region>.amazonaws.com
    region = host_parts[2] if len(host_parts) > 3 and host_parts[1] == "execute-api" else session.region_name or "us-east-1"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return requests.get(url, headers=dict(request.headers.items()), timeout=timeout)
