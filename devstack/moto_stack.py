"""A moto server on loopback with the template's resources created from template.yaml.

boto3 is pointed at it through AWS_ENDPOINT_URL, exactly as the functions' own code runs in Lambda.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

from devstack.template import REGION, Resolver, function_environment, load_template, resources_of_type

LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}


class LocalStack:
    """Start with :meth:`start`, then :meth:`create_resources`; :meth:`reset` empties and recreates."""

    def __init__(self, stack_name: str = "credit-monitor-local") -> None:
        self.stack_name = stack_name
        self.template = load_template()
        self.physical_ids: dict[str, str] = {}
        self.resolver = Resolver(self.template, stack_name, self.physical_ids)
        self._server: ThreadedMotoServer | None = None
        self.endpoint = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        os.environ.update(LOCAL_ENV)
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def reset(self) -> None:
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        self.physical_ids.clear()
        self.create_resources()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- resources from the template ---------------------------------------------------------------
    def create_resources(self) -> None:
        for logical_id, resource in resources_of_type(self.template, "AWS::DynamoDB::Table").items():
            self._create_table(logical_id, resource["Properties"])
        for logical_id, resource in resources_of_type(self.template, "AWS::SecretsManager::Secret").items():
            self._create_secret(logical_id, resource["Properties"])

    def _create_table(self, logical_id: str, props: dict[str, Any]) -> None:
        name = f"{self.stack_name}-{logical_id}"
        client = boto3.client("dynamodb")
        kwargs = {key: self.resolver.resolve(props[key]) for key in ("KeySchema", "AttributeDefinitions", "BillingMode") if key in props}
        if "StreamSpecification" in props:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        client.create_table(TableName=name, **kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        self.physical_ids[logical_id] = name

    def _create_secret(self, logical_id: str, props: dict[str, Any]) -> None:
        name = self.resolver.resolve(props["Name"])
        boto3.client("secretsmanager").create_secret(Name=name, SecretString=props.get("SecretString", ""))
        self.physical_ids[logical_id] = name

    # -- what functions see ----------------------------------------------------------------------
    def environment(self, function_id: str, **overrides: str) -> dict[str, str]:
        return {**function_environment(self.template, function_id, self.resolver), **overrides}

    def pollers(self) -> dict[str, str]:
        """Provider id -> logical id of its poller function, as the template declares them."""
        found = {}
        for logical_id, resource in resources_of_type(self.template, "AWS::Serverless::Function").items():
            provider = resource["Properties"].get("Environment", {}).get("Variables", {}).get("PROVIDER")
            if provider:
                found[provider] = logical_id
        return found

    def put_api_keys(self, provider: str, keys: dict[str, str] | str) -> None:
        secret = self.environment(self.pollers()[provider])["API_KEYS_SECRET"]
        value = keys if isinstance(keys, str) else json.dumps(keys)
        boto3.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=value)

    def table(self) -> Any:
        return boto3.resource("dynamodb").Table(self.physical_ids["BalancesTable"])
