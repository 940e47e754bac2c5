"""Invoke the real handler files locally, with the environment template.yaml gives each function."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TextIO

from credit_monitor import aws, settings
from credit_monitor.alerting import service as alerting_service
from devstack import ROOT
from devstack.moto_stack import LocalStack
from devstack.template import function_setting

HANDLER_FILES = {
    "poller": ROOT / "functions" / "poller" / "poll_handler.py",
    "aggregator": ROOT / "functions" / "aggregator" / "aggregate_handler.py",
    "api": ROOT / "functions" / "api" / "api_handler.py",
}
_loaded: dict[str, ModuleType] = {}


def load_handler(name: str) -> ModuleType:
    """Import a function's handler module from its file (each function's code is its own folder)."""
    if name not in _loaded:
        spec = importlib.util.spec_from_file_location(f"{name}_handler", HANDLER_FILES[name])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _loaded[name] = module
    return _loaded[name]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    timeout_seconds: float
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@contextlib.contextmanager
def function_environment(env: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def captured_output(stream: TextIO) -> Iterator[None]:
    """Send the handler's JSON logs and EMF metrics (both written to stdout in Lambda) to ``stream``."""
    handlers = [
        h for h in logging.getLogger(os.environ.get("POWERTOOLS_SERVICE_NAME", "")).handlers if isinstance(h, logging.StreamHandler)
    ]
    previous = [h.setStream(stream) for h in handlers]
    try:
        with contextlib.redirect_stdout(stream):
            yield
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old)


def invoke_poller(
    stack: LocalStack,
    provider: str,
    event: Any,
    *,
    base_url: str,
    timeout: float | None = None,
    output: TextIO | None = None,
    environment: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``provider``'s poller as Lambda would: its template environment, pointed at ``base_url``
    (``environment``: variables as another choice of the template's parameters would set them)."""
    function_id = stack.pollers()[provider]
    env = stack.environment(function_id, PROVIDER_BASE_URL=base_url, **(environment or {}))
    timeout = timeout or float(function_setting(stack.template, function_id, "Timeout"))
    with function_environment(env):
        settings.forget()  # each provider's poller is its own function, with its own environment
        handler = load_handler("poller")
        context = LambdaContext(function_name=function_id, timeout_seconds=timeout)
        with captured_output(output if output is not None else io.StringIO()):
            return handler.lambda_handler(event, context)


def invoke_aggregator(stack: LocalStack, event: Any, *, output: TextIO | None = None) -> dict[str, Any]:
    """Run the aggregator's real handler with its template environment (stream batch or schedule event)."""
    env = stack.environment("Aggregator")
    with function_environment(env):
        handler = load_handler("aggregator")
        context = LambdaContext(
            function_name="Aggregator", timeout_seconds=float(function_setting(stack.template, "Aggregator", "Timeout"))
        )
        with captured_output(output if output is not None else io.StringIO()):
            return handler.lambda_handler(event, context)


def reset_warm_state() -> None:
    """Forget what a warm container would remember (settings, clients, caches): a fresh 'deploy'."""
    from credit_monitor.api import app  # noqa: PLC0415 - the resolver loads only where the API is used

    app.queries.cache_clear()
    app.resolver.cache_clear()
    settings.forget()
    alerting_service.alerting.cache_clear()
    aws.clear_caches()


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str]


def rest_api_event(method: str, path: str, query: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, as the deployed API hands a request to the function."""
    headers = {"Accept": "application/json", **(headers or {})}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "accountId": "123456789012",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "local")},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def invoke_api(
    stack: LocalStack, path: str, query: dict[str, str] | None = None, *, method: str = "GET", output: TextIO | None = None, **headers: str
) -> ApiResponse:
    """Run the API function's real handler on a request, with its template environment."""
    env = stack.environment("BalanceApiFunction")
    with function_environment(env):
        handler = load_handler("api")
        context = LambdaContext(function_name="BalanceApiFunction", timeout_seconds=10)
        with captured_output(output if output is not None else io.StringIO()):
            result = handler.lambda_handler(rest_api_event(method, path, query, headers), context)
    body = result.get("body")
    try:
        decoded = json.loads(body) if body else None
    except ValueError:
        decoded = body
    return ApiResponse(result["statusCode"], decoded, dict(result.get("headers") or {}))


def function_invoker(stack: LocalStack, base_urls: dict[str, str], *, aggregator: Any = None, output: TextIO | None = None) -> Any:
    """What the local state machines call: a poller (pointed at its simulator in ``base_urls``) or the aggregator
    (``aggregator``: a callable taking the event, to capture its logs; else invoke_aggregator), by logical id."""
    pollers = {logical_id: provider for provider, logical_id in stack.pollers().items()}

    def invoke(function_id: str, payload: Any) -> Any:
        if function_id in pollers:
            provider = pollers[function_id]
            return invoke_poller(stack, provider, payload, base_url=base_urls[provider], output=output)
        if function_id == "Aggregator":
            return aggregator(payload) if aggregator is not None else invoke_aggregator(stack, payload, output=output)
        raise NotImplementedError(f"the local stack does not invoke {function_id}")

    return invoke
