"""A moto server on loopback with the template's resources created from template.yaml.

boto3 is pointed at it through AWS_ENDPOINT_URL, exactly as the functions' own code runs in Lambda.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import warnings
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

import boto3
import requests
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from devstack import stepfunctions
from devstack.template import ACCOUNT_ID, REGION, Resolver, deployed_template, function_environment, resources_of_type

# The placeholder resource of the local stack's CloudFormation record (see LocalStack._publish_outputs).
warnings.filterwarnings("ignore", message="Tried to parse AWS::CloudFormation::WaitConditionHandle")

LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}


class CountingMiddleware:
    """Counts AWS API calls as they reach the moto server, as ``"<service>:<Operation>"``.

    It also runs DynamoDB requests one at a time. DynamoDB applies each conditional write atomically;
    moto checks the condition and then writes, unlocked, so two concurrent requests could both pass a
    condition that only one would pass on AWS. The race tests depend on the real guarantee.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: Counter[str] = Counter()
        self.throttles: Counter[str] = Counter()  # operation -> calls still to answer with a throttling error
        self._lock = threading.Lock()
        self._dynamodb = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        operation = self._operation(environ)
        if operation:
            with self._lock:
                self.calls[operation] += 1
                throttled = self.throttles[operation] > 0
                if throttled:
                    self.throttles[operation] -= 1
            if throttled:
                return _throttling_error(operation, start_response)
        refused = _beyond_aws_limits(operation, environ) if operation in LIMITED else None
        if refused is not None:
            return _validation_error(refused, start_response)
        if operation and operation.startswith("dynamodb:"):
            with self._dynamodb:
                return list(self.app(environ, start_response))  # the whole response, inside the lock
        return self.app(environ, start_response)

    @staticmethod
    def _operation(environ: dict[str, Any]) -> str | None:
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return None
        service = _service_of(environ.get("HTTP_AUTHORIZATION", ""))
        target = environ.get("HTTP_X_AMZ_TARGET")  # JSON protocols: DynamoDB_20120810.Query, secretsmanager.GetSecretValue
        if target:
            return f"{service}:{target.rsplit('.', 1)[-1]}"
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if environ.get("REQUEST_METHOD") == "POST":  # query protocol: the action is in the form body
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            query.update(parse_qs(body.decode("utf-8", "replace")))
        action = query.get("Action", [None])[0]
        return f"{service}:{action}" if action else f"{service}:{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"


# AWS's documented size limits that moto does not enforce; the local stack refuses what AWS would.
SECRET_MAX_BYTES = 65536  # Secrets Manager quotas: "Maximum size of a secret value: 64 KB"
PARAMETER_MAX_CHARS = {"Standard": 4096, "Advanced": 8192, "Intelligent-Tiering": 8192}  # SSM parameter tiers
LIMITED = {"secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret", "ssm:PutParameter"}


def _beyond_aws_limits(operation: str, environ: dict[str, Any]) -> str | None:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        request = json.loads(raw or b"{}")
    except ValueError:
        return None
    if operation.startswith("secretsmanager:"):
        secret = request.get("SecretString")
        if isinstance(secret, str) and len(secret.encode()) > SECRET_MAX_BYTES:
            return f"SecretString of {len(secret.encode()):,} bytes exceeds the maximum of {SECRET_MAX_BYTES:,} bytes (64 KB)"
        return None
    value, tier = request.get("Value"), request.get("Tier") or "Standard"
    limit = PARAMETER_MAX_CHARS.get(tier, PARAMETER_MAX_CHARS["Standard"])
    if isinstance(value, str) and len(value) > limit:
        return f"Parameter value of {len(value):,} characters exceeds the {tier} tier's maximum of {limit:,}"
    return None


def _validation_error(message: str, start_response: Any) -> list[bytes]:
    body = json.dumps({"__type": "ValidationException", "message": message}).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("x-amzn-ErrorType", "ValidationException"),
        ("Content-Length", str(len(body))),
    ]
    start_response("400 Bad Request", headers)
    return [body]


def _throttling_error(operation: str, start_response: Any) -> list[bytes]:
    """What AWS answers a throttled call, in the service's own protocol, so botocore's retries apply."""
    if operation.startswith("sns:"):  # query protocol: XML
        body = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"
        start_response("400 Bad Request", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
        return [body]
    body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("x-amzn-ErrorType", "ThrottlingException"),
        ("Content-Length", str(len(body))),
    ]
    start_response("400 Bad Request", headers)
    return [body]


def _service_of(authorization: str) -> str:
    # "AWS4-HMAC-SHA256 Credential=KEY/20261121/us-east-1/dynamodb/aws4_request, ..."
    parts = authorization.split("Credential=", 1)[-1].split("/")
    return parts[3] if len(parts) > 3 else "unknown"


def _plain_attribute_value(value: Any) -> bool:
    """A DynamoDB AttributeValue already in its wire form, holding no binary (which moto must encode)."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((kind, inner),) = value.items()
    if kind in ("S", "N", "BOOL", "NULL", "SS", "NS"):
        return True
    if kind == "M":
        return isinstance(inner, dict) and all(_plain_attribute_value(v) for v in inner.values())
    if kind == "L":
        return isinstance(inner, list) and all(_plain_attribute_value(v) for v in inner)
    return False  # B, BS: base64, left to moto


def _copy_attribute_values_through() -> None:
    """moto writes every DynamoDB answer through its generic serializer, which visits each of an
    AttributeValue's ten members through an attribute picker: a Query of a thousand items then takes a
    second here where DynamoDB takes milliseconds, and the benchmarks would measure moto. Its items are
    already in wire form, so they are copied through as they are (as moto does for document types); binary
    values keep moto's own path. The answer is the same JSON (tests/integration exercise it throughout)."""
    from moto.core.serialize import BaseJSONSerializer  # noqa: PLC0415

    original = BaseJSONSerializer._serialize_type_structure
    if getattr(original, "copies_attribute_values", False):
        return

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue" and _plain_attribute_value(value):
            serialized[key] = value
            return
        original(self, serialized, value, shape, key)

    serialize_structure.copies_attribute_values = True  # type: ignore[attr-defined]
    serialize_structure.moto_s_own = original  # type: ignore[attr-defined]
    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]


_QUERIED_PARTITION = threading.local()  # the (table, hash key) a base-table Query on this thread reads


def _query_one_partition() -> None:
    """moto answers a Query on a table's key by sorting every item of the table and keeping the partition's:
    each Query costs the whole table, so a thousand accounts' history reads took minutes here where DynamoDB
    reads one partition. A base-table Query now starts from that partition's items (moto keeps them by hash
    key), and moto does the rest as before: sort by range key, conditions, Limit, the 1 MB page, filters.
    Index queries and Scans keep moto's own path. The answer is the same (tests/integration exercise it)."""
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    if getattr(Table.query, "reads_one_partition", False):
        return
    every_item, query = Table.all_items, Table.query

    def all_items(self: Any) -> list[Any]:
        hint = getattr(_QUERIED_PARTITION, "value", None)
        if hint is None or hint[0] is not self:
            return every_item(self)
        found = self.items.get(hint[1])  # .get: self.items is a defaultdict, and a read must not add a key
        if found is None:
            return []
        return list(found.values()) if self.range_key_attr else [found]

    def query_partition(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        _QUERIED_PARTITION.value = None if index_name or hash_key is None else (self, hash_key)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _QUERIED_PARTITION.value = None

    query_partition.reads_one_partition = True  # type: ignore[attr-defined]
    Table.all_items, Table.query = all_items, query_partition  # type: ignore[method-assign]


class MotoServer:
    """moto's server on a free loopback port, with every call counted (``calls``)."""

    def __init__(self) -> None:
        self.counter = CountingMiddleware(DomainDispatcherApplication(create_backend_app))
        _copy_attribute_values_through()
        _query_one_partition()
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self.counter, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class LocalStack:
    """Start with :meth:`start`, then :meth:`create_resources`; :meth:`reset` empties and recreates."""

    def __init__(self, stack_name: str = "credit-monitor-local", parameters: dict[str, str] | None = None) -> None:
        """``parameters`` override the template's defaults, as `sam deploy --parameter-overrides` would.

        The template is expanded for them first (Fn::ForEach over Providers), as CloudFormation does.
        """
        self.stack_name = stack_name
        self.template = deployed_template(parameters)
        self.physical_ids: dict[str, str] = {}
        self.attributes: dict[str, dict[str, str]] = {}
        self.taps: dict[str, str] = {}  # rule logical id -> the SQS queue standing in for its targets (devstack.events)
        self.resolver = Resolver(self.template, stack_name, self.physical_ids, parameters, attributes=self.attributes)
        self._server: MotoServer | None = None
        self._previous_env: dict[str, str | None] = {}
        self.endpoint = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        self._server = MotoServer()
        self._server.start()
        self.endpoint = self._server.endpoint
        settings = {**LOCAL_ENV, "AWS_ENDPOINT_URL": self.endpoint}
        self._previous_env = {name: os.environ.get(name) for name in settings}
        os.environ.update(settings)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            for name, value in self._previous_env.items():  # another stack started earlier keeps working
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def throttle(self, operation: str, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``operation`` ("dynamodb:BatchWriteItem", "sns:Publish"...) with throttling."""
        self._server.counter.throttles[operation] += times

    @property
    def calls(self) -> Counter[str]:
        """AWS calls the server has received, by ``"<service>:<Operation>"``; ``calls.clear()`` restarts the count."""
        return self._server.counter.calls

    def reset(self) -> None:
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        self.physical_ids.clear()
        self.attributes.clear()
        self.taps.clear()
        self.create_resources()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- resources from the template ---------------------------------------------------------------
    def create_resources(self) -> None:
        """Create every resource of the types below that the template deploys with its default parameters.

        Alarms are created as the template declares them; devstack.alarms evaluates them.
        Functions, layers and subscriptions are not created: functions run in-process through
        devstack.invoke, and the local stack has no email or phone to subscribe. EventBridge rules are
        created with their event patterns and one stand-in SQS target each, which devstack.events reads
        to perform the rule's real targets (moto does not call API destinations). State machines are
        created with their definitions; devstack.stepfunctions performs their executions (moto only
        records them).
        """
        creators = {
            "AWS::DynamoDB::Table": self._create_table,
            "AWS::SecretsManager::Secret": self._create_secret,
            "AWS::SSM::Parameter": self._create_parameter,
            "AWS::SNS::Topic": self._create_topic,
            "AWS::SQS::Queue": self._create_queue,
            "AWS::Events::Connection": self._create_connection,
            "AWS::Events::ApiDestination": self._create_api_destination,
            "AWS::Events::Rule": self._create_rule,
        }
        for resource_type, create in creators.items():
            for logical_id, resource in resources_of_type(self.template, resource_type).items():
                if self.resolver.deployed(resource):
                    create(logical_id, resource.get("Properties", {}))
        self._name_functions()
        stepfunctions.refuse_oversized_inputs()
        for resource_type in stepfunctions.STATE_MACHINE_TYPES:
            for logical_id, resource in resources_of_type(self.template, resource_type).items():
                if self.resolver.deployed(resource):
                    self._create_state_machine(logical_id, resource["Properties"])
        self._publish_outputs()
        # Last: alarms name functions and queues. devstack.alarms evaluates them (moto only stores them).
        for logical_id, resource in resources_of_type(self.template, "AWS::CloudWatch::Alarm").items():
            if self.resolver.deployed(resource):
                self._create_alarm(logical_id, resource["Properties"])

    def _publish_outputs(self) -> None:
        """Record the template's Outputs as a CloudFormation stack on moto, so every command that starts from
        ``--stack-name`` (status, replay...) finds this stack's table, topic and queues as it would a deployed one.

        Resources not created here (functions, the API) are named ``<stack>-<logical id>``.
        """
        for logical_id, resource in self.template["Resources"].items():
            if self.resolver.deployed(resource):
                self.physical_ids.setdefault(logical_id, f"{self.stack_name}-{logical_id}")
        outputs = {
            key: {"Value": str(self.resolver.resolve(output["Value"]))}
            for key, output in self.template.get("Outputs", {}).items()
            if "Condition" not in output or self.resolver.condition(output["Condition"])
        }
        body = {"Resources": {"LocalStack": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}, "Outputs": outputs}
        boto3.client("cloudformation").create_stack(StackName=self.stack_name, TemplateBody=json.dumps(body))

    def _name_functions(self) -> None:
        """Functions are not created (they run in-process), but state machines name them: each gets the name
        and the ARN a deployed one has (the deployed name is ``<stack>-<logical id>-<random suffix>``)."""
        for resource_type in stepfunctions.FUNCTION_TYPES:
            for logical_id, resource in resources_of_type(self.template, resource_type).items():
                if self.resolver.deployed(resource):
                    name = self.physical_ids.setdefault(logical_id, f"{self.stack_name}-{logical_id}")
                    self.attributes[logical_id] = {"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"}

    def _create_state_machine(self, logical_id: str, props: dict[str, Any]) -> None:
        """On moto, with its definition as deployed (DefinitionSubstitutions applied, checked as AWS checks it)."""
        name = stepfunctions.state_machine_name(self.stack_name, logical_id, props, self.resolver.resolve)
        role = props.get("Role", props.get("RoleArn"))  # else the role SAM generates, <logical id>Role
        role_arn = self.resolver.resolve(role) if role else f"arn:aws:iam::{ACCOUNT_ID}:role/{self.stack_name}-{logical_id}Role"
        definition = stepfunctions.definition_of(props, self.resolver.resolve)
        arn = boto3.client("stepfunctions").create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=role_arn, type=stepfunctions.state_machine_type(props)
        )["stateMachineArn"]
        self.physical_ids[logical_id] = arn  # Ref of a state machine is its ARN
        self.attributes[logical_id] = {"Arn": arn, "Name": name}

    def _create_table(self, logical_id: str, props: dict[str, Any]) -> None:
        name = f"{self.stack_name}-{logical_id}"
        client = boto3.client("dynamodb")
        kwargs = {key: self.resolver.resolve(props[key]) for key in ("KeySchema", "AttributeDefinitions", "BillingMode") if key in props}
        if "StreamSpecification" in props:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        table = client.create_table(TableName=name, **kwargs)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        self.physical_ids[logical_id] = name
        self.attributes[logical_id] = {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn", "")}

    def _create_parameter(self, logical_id: str, props: dict[str, Any]) -> None:
        name = self.resolver.resolve(props["Name"])
        tier = {"Tier": props["Tier"]} if "Tier" in props else {}
        boto3.client("ssm").put_parameter(
            Name=name, Value=str(self.resolver.resolve(props["Value"])), Type=props.get("Type", "String"), **tier
        )
        self.physical_ids[logical_id] = name

    def _create_topic(self, logical_id: str, props: dict[str, Any]) -> None:
        arn = boto3.client("sns").create_topic(Name=f"{self.stack_name}-{logical_id}")["TopicArn"]
        self.physical_ids[logical_id] = arn  # Ref of a topic is its ARN
        self.attributes[logical_id] = {"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[1]}

    def _create_queue(self, logical_id: str, props: dict[str, Any]) -> None:
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName=f"{self.stack_name}-{logical_id}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.physical_ids[logical_id] = url  # Ref of a queue is its URL
        self.attributes[logical_id] = {"Arn": arn, "QueueName": url.rsplit("/", 1)[1]}

    def _create_connection(self, logical_id: str, props: dict[str, Any]) -> None:
        name = f"{self.stack_name}-{logical_id}"
        answer = boto3.client("events").create_connection(
            Name=name, AuthorizationType=props["AuthorizationType"], AuthParameters=self.resolver.resolve(props["AuthParameters"])
        )
        self.physical_ids[logical_id] = name
        self.attributes[logical_id] = {"Arn": answer["ConnectionArn"]}

    def _create_api_destination(self, logical_id: str, props: dict[str, Any]) -> None:
        name = f"{self.stack_name}-{logical_id}"
        resolved = self.resolver.resolve({k: v for k, v in props.items() if k in ("ConnectionArn", "InvocationEndpoint", "HttpMethod")})
        answer = boto3.client("events").create_api_destination(Name=name, **resolved)
        self.physical_ids[logical_id] = name
        self.attributes[logical_id] = {"Arn": answer["ApiDestinationArn"]}

    def _create_rule(self, logical_id: str, props: dict[str, Any]) -> None:
        events, sqs = boto3.client("events"), boto3.client("sqs")
        bus = self.resolver.resolve(props.get("EventBusName", "default"))
        if bus != "default" and bus not in {b["Name"] for b in events.list_event_buses()["EventBuses"]}:
            events.create_event_bus(Name=bus)  # the template names an existing bus; locally it is made
        name = f"{self.stack_name}-{logical_id}"
        arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(self.resolver.resolve(props["EventPattern"])),
                              State=props.get("State", "ENABLED"))["RuleArn"]  # fmt: skip
        tap = sqs.create_queue(QueueName=f"{self.stack_name}-{logical_id}-tap")["QueueUrl"]
        tap_arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "local-tap", "Arn": tap_arn}])
        self.physical_ids[logical_id] = name
        self.attributes[logical_id] = {"Arn": arn}
        self.taps[logical_id] = tap

    def _create_alarm(self, logical_id: str, props: dict[str, Any]) -> None:
        name = f"{self.stack_name}-{logical_id}"
        settings = {key: self.resolver.resolve(value) for key, value in props.items()}
        cloudwatch = boto3.client("cloudwatch")
        cloudwatch.put_metric_alarm(AlarmName=name, **settings)
        # CloudWatch starts every new alarm without data (moto starts it OK).
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="INSUFFICIENT_DATA", StateReason="Unchecked: Initial alarm creation")
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
            if provider and self.resolver.deployed(resource):
                found[provider] = logical_id
        return found

    def put_api_keys(self, provider: str, keys: dict[str, str] | str) -> None:
        secret = self.environment(self.pollers()[provider])["API_KEYS_SECRET"]
        value = keys if isinstance(keys, str) else json.dumps(keys)
        boto3.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=value)

    def add_api_keys_secret(self, provider: str, suffix: str, keys: dict[str, Any]) -> str:
        """Another secret of ``provider``'s keys, named after its own (``<its secret>-<suffix>``), as an operator
        creates one when the keys outgrow one secret's 64 KB; returns its name."""
        name = f"{self.environment(self.pollers()[provider])['API_KEYS_SECRET']}-{suffix}"
        boto3.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(keys))
        return name

    def table(self) -> Any:
        return boto3.resource("dynamodb").Table(self.physical_ids["BalancesTable"])

    def set_thresholds(self, document: str) -> None:
        """Change the thresholds parameter, as an operator would with `aws ssm put-parameter` (its tier as the template's)."""
        tier = self.template["Resources"]["ThresholdsParameter"]["Properties"].get("Tier", "Standard")
        boto3.client("ssm").put_parameter(Name=self.physical_ids["ThresholdsParameter"], Value=document, Type="String", Overwrite=True,
                                          Tier=tier)  # fmt: skip

    def subscribe_inbox(
        self, name: str = "alert-inbox", filter_policy: dict[str, Any] | None = None, topic: str = "AlertTopic"
    ) -> AlertInbox:
        """An SQS queue subscribed to the alert topic (or another topic of the template), to read what subscribers receive."""
        url, arn = self._queue(name)
        attributes = {"FilterPolicy": json.dumps(filter_policy), "FilterPolicyScope": "MessageAttributes"} if filter_policy else {}
        boto3.client("sns").subscribe(TopicArn=self.physical_ids[topic], Protocol="sqs", Endpoint=arn, Attributes=attributes)
        return AlertInbox(url)

    def subscribe_events(self, name: str = "alert-events", pattern: dict[str, Any] | None = None) -> EventInbox:
        """A rule of our own on the alert bus (as a job scheduler would add), to read the alert events it matches."""
        url, arn = self._queue(name)
        bus = self.resolver.resolve({"Ref": "EventBusName"})
        events = boto3.client("events")
        rule = f"{self.stack_name}-{name}"
        default = {"source": ["credit-monitor"], "detail-type": ["Credit balance alert"]}  # one per alert (not the notifications)
        events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern or default))
        events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "inbox", "Arn": arn}])
        return EventInbox(url)

    def _queue(self, name: str) -> tuple[str, str]:
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName=f"{self.stack_name}-{name}")["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _drain(url: str) -> list[dict[str, Any]]:
    """Every message waiting in an SQS queue, removed from it."""
    sqs = boto3.client("sqs")
    found = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            found.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


class EventInbox:
    """EventBridge events delivered to an SQS target of a rule on the alert bus."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[dict[str, Any]] = []

    def fetch(self) -> list[dict[str, Any]]:
        """The events delivered since the last fetch (whole events: source, detail-type, detail...)."""
        new = [json.loads(message["Body"]) for message in _drain(self.url)]
        self.received.extend(new)
        return new


class AlertInbox:
    """Messages delivered to an SQS subscription of the alert topic, as subscribers see them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[dict[str, Any]] = []

    def fetch(self) -> list[dict[str, Any]]:
        """Everything delivered since the last fetch, appended to ``received``; returns the new ones."""
        new = []
        for message in _drain(self.url):
            envelope = json.loads(message["Body"])
            new.append(
                {
                    "subject": envelope.get("Subject"),
                    "message": envelope.get("Message"),
                    "attributes": {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()},
                }
            )
        self.received.extend(new)
        return new
