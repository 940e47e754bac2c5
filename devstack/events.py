"""EventBridge rules as template.yaml declares them, delivered locally: moto matches, this module delivers.

moto keeps the bus and matches each rule's event pattern, but it does not call API destinations or
apply input transformers. So the local stack gives every rule of the template one stand-in target, an
SQS queue (``<stack>-<rule>-tap``), and :class:`EventRouter` performs the rule's real targets from the
template: the input transformer, the API destination (its endpoint, method and connection: the auth
header and the secret body parameters) or the SNS topic, the retry policy and the dead-letter queue,
and the AWS/Events metrics a deployed rule reports. Retries are immediate here, not EventBridge's
exponential backoff over hours.

:class:`WebhookReceiver` is a real HTTP server on loopback standing in for Slack, Discord, a generic
endpoint and PagerDuty: it records every POST and can be told to fail.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import requests

from devstack.moto_stack import LocalStack
from devstack.template import resources_of_type

RETRYABLE = {401, 407, 409, 429}  # and every 5xx: what EventBridge retries for API destinations
PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")


# -- the input transformer ---------------------------------------------------------------------------


def json_path(event: Any, path: str) -> Any:
    """The value at a JSONPath of the simple form input transformers take ($.detail.a.b, $.list[0])."""
    value = event
    for step in re.findall(r"[^.\[\]$]+|\[\d+\]", path):
        if step.startswith("["):
            index = int(step[1:-1])
            value = value[index] if isinstance(value, list) and index < len(value) else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
    return value


def transform(event: dict[str, Any], paths: dict[str, str], template: str, rule_name: str = "") -> str:
    """The target input EventBridge makes from ``event``: each <variable> of ``template`` replaced, as AWS
    documents it (EventBridge user guide, "Transforming target input", and its "Common issues" section):

    - outside quotes, a variable becomes its value as JSON (a string quoted, an object as an object);
    - inside a JSON string, a string value is pasted as it is, **not escaped**: a quote, a backslash or a
      newline in it leaves invalid JSON, which is what AWS then sends (its own example shows it);
    - a template that is not JSON (plain text) gets string values as they are.

    The local stack does the same, so a template that would break on AWS breaks here first.
    """
    values = {name: json_path(event, path) for name, path in paths.items()}
    values["aws.events.rule-name"] = rule_name
    values["aws.events.event.json"] = event
    is_json = template.lstrip()[:1] in "{["
    out, in_string, escaped, i = [], False, False, 0
    while i < len(template):
        char = template[i]
        match = PLACEHOLDER.match(template, i) if char == "<" else None
        if match and match.group(1) in values:
            value = values[match.group(1)]
            if not is_json or in_string:
                out.append(value if isinstance(value, str) else json.dumps(value))
            else:
                out.append(json.dumps(value))
            i = match.end()
            continue
        if is_json:
            if in_string and char == "\\" and not escaped:
                escaped = True
                out.append(char)
                i += 1
                continue
            if char == '"' and not escaped:
                in_string = not in_string
            escaped = False
        out.append(char)
        i += 1
    return "".join(out)


# -- delivering ------------------------------------------------------------------------------------


@dataclass
class Delivery:
    rule: str  # the rule's logical id
    target: str  # the target's logical id (an API destination, a topic)
    ok: bool
    attempts: int
    status: int | None = None  # the HTTP status of the last attempt (API destinations)
    error: str = ""


@dataclass
class EventRouter:
    stack: LocalStack
    deliveries: list[Delivery] = field(default_factory=list)

    def rules(self) -> dict[str, dict[str, Any]]:
        """The template's rules that exist with the stack's parameters, by logical id."""
        return {name: rule for name, rule in resources_of_type(self.stack.template, "AWS::Events::Rule").items() if name in self.stack.taps}

    def deliver(self) -> int:
        """Perform every rule match moto queued since the last call; returns the number of events delivered."""
        delivered = 0
        sqs = boto3.client("sqs")
        for name, rule in self.rules().items():
            while True:
                batch = sqs.receive_message(QueueUrl=self.stack.taps[name], MaxNumberOfMessages=10).get("Messages", [])
                if not batch:
                    break
                for message in batch:
                    event = json.loads(message["Body"])
                    for target in rule["Properties"]["Targets"]:
                        self._perform(name, target, event)
                    delivered += 1
                    sqs.delete_message(QueueUrl=self.stack.taps[name], ReceiptHandle=message["ReceiptHandle"])
        return delivered

    def _perform(self, rule: str, target: dict[str, Any], event: dict[str, Any]) -> None:
        logical_id = _logical_id(target["Arn"])
        resource = self.stack.template["Resources"][logical_id]
        transformer = target.get("InputTransformer")
        if transformer:
            paths = self.stack.resolver.resolve(transformer.get("InputPathsMap", {}))
            template = self.stack.resolver.resolve(transformer["InputTemplate"])
            body = transform(event, paths, template, self.stack.physical_ids.get(rule, rule))
        elif "InputPath" in target:  # the part of the event the path selects, as JSON
            body = json.dumps(json_path(event, target["InputPath"]))
        else:
            body = json.dumps(event)
        if resource["Type"] == "AWS::SNS::Topic":
            boto3.client("sns").publish(TopicArn=self.stack.physical_ids[logical_id], Message=body)
            self._record(Delivery(rule, logical_id, ok=True, attempts=1), retries=0)
            return
        if resource["Type"] != "AWS::Events::ApiDestination":
            raise NotImplementedError(f"{rule}: the local stack does not deliver to {resource['Type']} targets")
        attempts = 1 + int(target.get("RetryPolicy", {}).get("MaximumRetryAttempts", 185))
        delivery = Delivery(rule, logical_id, ok=False, attempts=0)
        for _ in range(attempts):
            delivery.attempts += 1
            delivery.status, delivery.error = self._call(resource["Properties"], body)
            delivery.ok = delivery.status is not None and 200 <= delivery.status < 300
            if delivery.ok or (delivery.status is not None and delivery.status not in RETRYABLE and delivery.status < 500):
                break
        self._record(delivery, retries=delivery.attempts - 1)
        if not delivery.ok and "DeadLetterConfig" in target:
            self._dead_letter(rule, target, event, delivery)

    def _call(self, destination: dict[str, Any], body: str) -> tuple[int | None, str]:
        resolve = self.stack.resolver.resolve
        connection = self.stack.template["Resources"][_logical_id(destination["ConnectionArn"])]["Properties"]
        auth = resolve(connection.get("AuthParameters", {}))
        headers = {"Content-Type": "application/json; charset=utf-8"}
        api_key = auth.get("ApiKeyAuthParameters")
        if api_key:
            headers[api_key["ApiKeyName"]] = api_key["ApiKeyValue"]
        extra = auth.get("InvocationHttpParameters", {})
        headers.update({p["Key"]: p["Value"] for p in extra.get("HeaderParameters", [])})
        params = {p["Key"]: p["Value"] for p in extra.get("QueryStringParameters", [])}
        payload = body.encode()
        body_parameters = extra.get("BodyParameters", [])
        if body_parameters:  # the connection's body parameters join a JSON object body (not a broken one)
            try:
                merged = json.loads(body)
            except ValueError:
                return None, "the request body is not valid JSON, so the connection's body parameters cannot join it"
            if isinstance(merged, dict):
                merged.update({p["Key"]: p["Value"] for p in body_parameters})
            payload = json.dumps(merged).encode()
        method, url = resolve(destination.get("HttpMethod", "POST")), resolve(destination["InvocationEndpoint"])
        try:
            answer = requests.request(method, url, data=payload, headers=headers, params=params, timeout=5)
        except requests.RequestException as exc:
            return None, type(exc).__name__
        return answer.status_code, "" if answer.ok else answer.text[:200]

    def _record(self, delivery: Delivery, retries: int) -> None:
        self.deliveries.append(delivery)
        name = self.stack.physical_ids.get(delivery.rule, delivery.rule)
        counts = {"Invocations": 1, "FailedInvocations": 0 if delivery.ok else 1, "RetryInvocationAttempts": retries}
        dimensions = [{"Name": "RuleName", "Value": name}]
        data = [{"MetricName": metric, "Dimensions": dimensions, "Value": value, "Unit": "Count"} for metric, value in counts.items()]
        boto3.client("cloudwatch").put_metric_data(Namespace="AWS/Events", MetricData=data)

    def _dead_letter(self, rule: str, target: dict[str, Any], event: dict[str, Any], delivery: Delivery) -> None:
        queue = self.stack.physical_ids[_logical_id(target["DeadLetterConfig"]["Arn"])]
        code = f"HTTP {delivery.status}" if delivery.status is not None else "SDK_CLIENT_ERROR"
        attributes = {
            "RULE_ARN": self.stack.attributes.get(rule, {}).get("Arn", rule),
            "TARGET_ARN": self.stack.attributes.get(delivery.target, {}).get("Arn", delivery.target),
            "ERROR_CODE": code,
            "ERROR_MESSAGE": delivery.error or code,
            "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
            "RETRY_ATTEMPTS": str(delivery.attempts - 1),
        }
        typed = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
        boto3.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(event), MessageAttributes=typed)
        dimensions = [{"Name": "RuleName", "Value": self.stack.physical_ids.get(rule, rule)}]
        boto3.client("cloudwatch").put_metric_data(
            Namespace="AWS/Events",
            MetricData=[{"MetricName": "InvocationsSentToDlq", "Dimensions": dimensions, "Value": 1, "Unit": "Count"}],
        )


def _logical_id(reference: Any) -> str:
    """The resource a target's Arn names: {"Fn::GetAtt": [id, "Arn"]} or {"Ref": id}."""
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        return reference["Fn::GetAtt"][0]
    if isinstance(reference, dict) and "Ref" in reference:
        return reference["Ref"]
    raise NotImplementedError(f"target {reference!r} is not a resource of the template")


# -- the far end -----------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any  # the JSON body, or the text when it is not JSON


class WebhookReceiver:
    """Slack, Discord, a JSON endpoint and PagerDuty, on 127.0.0.1: ``url("/slack")`` is a webhook URL."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._failures: dict[str, list[int]] = {}  # path -> statuses to answer next, in order
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw
                status = receiver._record(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                payload = b'{"ok": true}' if status < 300 else b'{"error": "injected failure"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    def _record(self, path: str, headers: dict[str, str], body: Any) -> int:
        with self._lock:
            self.received.append(Received(path, headers, body))
            pending = self._failures.get(path)
            return pending.pop(0) if pending else 202

    def reset(self) -> None:
        """Forget what was received and any failure still to answer."""
        with self._lock:
            self.received.clear()
            self._failures.clear()

    def fail(self, path: str, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` POSTs to ``path`` with ``status``."""
        with self._lock:
            self._failures.setdefault(path, []).extend([status] * times)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def start(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="webhooks", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
