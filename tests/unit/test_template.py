"""template.yaml says what DESIGN.md promises: resources, contract variables, least privilege."""

import fnmatch
import json
import re
import tomllib

import jsonschema
import pytest

from credit_monitor.alerting.thresholds import parse_thresholds
from credit_monitor.api.app import ROUTES
from credit_monitor.polling.providers import BUILT_IN, known_providers
from credit_monitor.storage.items import TTL_ATTRIBUTE
from devstack import ROOT
from devstack.streams import stream_filters, stream_mapping
from devstack.template import Resolver, deployed_template, every_provider, load_template, resources_of_type

RAW = load_template()  # as written: the per-provider resources are one Fn::ForEach over Providers
TEMPLATE = deployed_template(every_provider())  # as CloudFormation expands it, with every bundled definition listed
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
POLLERS = {
    f["Properties"]["Environment"]["Variables"]["PROVIDER"]: (name, f)
    for name, f in FUNCTIONS.items()
    if "PROVIDER" in f["Properties"].get("Environment", {}).get("Variables", {})
}
PROVIDERS = sorted(known_providers())


def test_sections_come_in_the_conventional_order():
    sections = [key for key in RAW if key in ("Parameters", "Globals", "Resources", "Outputs")]
    assert sections == ["Parameters", "Globals", "Resources", "Outputs"]


def test_globals_set_runtime_architecture_and_powertools():
    function = TEMPLATE["Globals"]["Function"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert {"Timeout", "MemorySize"} <= function.keys()
    variables = function["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "credit-monitor"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "CreditMonitor"
    assert variables["TABLE_NAME"] == {"Ref": "BalancesTable"}


@pytest.mark.parametrize(("tracing", "mode", "disabled"), [("DISABLED", "PassThrough", "true"), ("ENABLED", "Active", "false")])
def test_tracing_is_a_parameter_off_by_default_that_turns_on_xray_the_tracer_and_its_layer(tracing, mode, disabled):
    parameters = {} if tracing == "DISABLED" else {"Tracing": "ENABLED"}
    assert RAW["Parameters"]["Tracing"]["Default"] == "DISABLED"
    template = deployed_template(parameters)
    resolver = Resolver(template, "stack", {name: name for name in template["Resources"]}, parameters)
    function = template["Globals"]["Function"]
    assert resolver.resolve(function["Tracing"]) == mode
    assert resolver.resolve(function["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"]) == disabled
    assert resolver.resolve(template["Resources"]["BalanceApi"]["Properties"]["TracingEnabled"]) is (tracing == "ENABLED")
    layer = template["Resources"]["TracingLayer"]
    assert resolver.deployed(layer) is (tracing == "ENABLED")
    layers = function["Layers"]
    assert layers[0] == {"Ref": "CommonLayer"}
    assert resolver.condition(layers[1]["Fn::If"][0]) is (tracing == "ENABLED")


# -- providers: one list -------------------------------------------------------------------------


def test_the_language_extensions_transform_runs_before_sam():
    assert RAW["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]


def test_every_per_provider_resource_comes_from_the_one_providers_list():
    loops = {key: value for section in ("Resources", "Outputs") for key, value in RAW[section].items() if key.startswith("Fn::ForEach::")}
    assert loops, "the per-provider resources are generated"
    for key, (identifier, collection, _body) in loops.items():
        assert (identifier, collection) == ("Provider", {"Ref": "Providers"}), key
    written = " ".join(RAW["Resources"]) + " ".join(RAW["Outputs"])
    for provider in PROVIDERS:  # no provider is written out by hand anywhere else
        assert provider not in written.lower()
    assert RAW["Parameters"]["Providers"]["Type"] == "CommaDelimitedList"
    assert RAW["Parameters"]["Providers"]["Default"].split(",") == list(BUILT_IN)


def providers_of(template):
    functions = resources_of_type(template, "AWS::Serverless::Function").values()
    return {
        f["Properties"]["Environment"]["Variables"]["PROVIDER"]: f
        for f in functions
        if "PROVIDER" in f["Properties"]["Environment"]["Variables"]
    }


def test_the_default_list_deploys_the_built_ins_and_a_longer_list_deploys_more():
    assert set(providers_of(deployed_template())) == set(BUILT_IN)
    assert set(POLLERS) == set(PROVIDERS)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_provider_gets_the_same_resources_alarms_and_outputs(provider):
    """Built-in or added, each entry of the list makes the same set, named after the id (non-alphanumerics dropped)."""
    prefix = "".join(c for c in provider if c.isalnum())
    made = {
        name.removeprefix(prefix): r["Type"] for name, r in RESOURCES.items() if name.startswith(prefix) and name[len(prefix)].isupper()
    }
    # No alarm per provider: trouble with its accounts is the aggregator's stale and failure alerts, a
    # failing poller's scheduled runs end in the async dead-letter queue (alarmed), and the heartbeat
    # alarm watches the monitor itself. A provider with no accounts thus costs its secret and nothing else.
    # Its shard state machine costs nothing until a round has more accounts than one run holds.
    expected = {"ApiKeys": "AWS::SecretsManager::Secret", "Poller": "AWS::Serverless::Function", "Shards": "AWS::Serverless::StateMachine"}
    assert made == expected
    shards = RESOURCES[f"{prefix}Shards"]["Properties"]
    assert (shards["Type"], shards["Name"]) == ("EXPRESS", {"Fn::Sub": f"${{AWS::StackName}}-{provider}-shards"})
    outputs = TEMPLATE["Outputs"]
    assert outputs[f"{prefix}ApiKeysSecret"]["Value"] == {"Fn::Sub": f"${{{prefix}ApiKeys}}"}
    assert outputs[f"{prefix}PollerName"]["Value"] == {"Fn::Sub": f"${{{prefix}Poller}}"}


def test_every_poller_shares_one_handler_and_one_log_group():
    for _, function in POLLERS.values():
        props = function["Properties"]
        assert props["CodeUri"] == "functions/poller/"
        assert props["Handler"] == "poll_handler.lambda_handler"
        assert props["LoggingConfig"] == {"LogGroup": {"Ref": "PollerLogs"}}
    assert (ROOT / "functions" / "poller" / "poll_handler.py").is_file()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_poller_has_the_contract_variables(provider):
    _, function = POLLERS[provider]
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["PROVIDER"] == provider
    assert {"PROVIDER", "PROVIDER_BASE_URL", "API_KEYS_SECRET"} <= variables.keys()
    secret = RESOURCES[variables["API_KEYS_SECRET"]["Fn::Sub"].strip("${}")]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["SecretString"] == "{}"  # a placeholder the operator fills
    assert secret["Properties"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}/{provider}/api-keys"}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ("", {"crun": "", "sunor": "", "openrouter": ""}),
        ("crun=https://eu.api.crun.ai", {"crun": "https://eu.api.crun.ai", "sunor": ""}),
        ("sunor=https://proxy.example/sunor,crun=https://c.example", {"crun": "https://c.example", "sunor": "https://proxy.example/sunor"}),
        ("sun=https://not-sunor.example", {"sunor": ""}),  # an id that is a prefix of another is not that other
    ],
)
def test_provider_base_urls_give_each_poller_its_own_override_or_none(overrides, expected):
    template = deployed_template({**every_provider(), "ProviderBaseUrls": overrides})
    resolver = Resolver(
        template, "stack", {name: name for name in template["Resources"]}, {**every_provider(), "ProviderBaseUrls": overrides}
    )
    pollers = providers_of(template)
    for provider, url in expected.items():
        assert resolver.resolve(pollers[provider]["Properties"]["Environment"]["Variables"]["PROVIDER_BASE_URL"]) == url, provider


def test_provider_base_urls_reject_what_is_not_a_list_of_https_overrides():
    pattern = re.compile(RAW["Parameters"]["ProviderBaseUrls"]["AllowedPattern"])
    for good in ("", "crun=https://eu.api.crun.ai", "a=https://x.example/p,b-c=https://y.example"):
        assert pattern.fullmatch(good), good
    for bad in ("crun=http://eu.api.crun.ai", "crun", "crun=https://x?api_key=1", "Crun=https://x.example", "crun=https://x,", ","):
        assert not pattern.fullmatch(bad), bad


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_poller_reads_only_its_own_secrets_and_writes_only_its_own_items(provider):
    _, function = POLLERS[provider]
    policies = function["Properties"]["Policies"]
    assert {next(iter(p)) for p in policies} == {"Statement"}
    statements = {s["Sid"]: s for p in policies for s in p["Statement"]}
    assert set(statements) == {"ReadOwnSecrets", "FindOwnSecrets", "ReadWriteOwnItems", "StartShards"}
    secrets = statements["ReadOwnSecrets"]
    assert secrets["Action"] == "secretsmanager:GetSecretValue"
    # The template's secret (its ARN ends in -<6 random characters>) and any named after it with a -suffix.
    assert secrets["Resource"]["Fn::Sub"].endswith(f":secret:${{AWS::StackName}}/{provider}/api-keys-*")
    assert statements["FindOwnSecrets"]["Action"] == "secretsmanager:ListSecrets"  # names only; IAM cannot narrow it
    items = statements["ReadWriteOwnItems"]
    assert set(items["Action"]) == {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"}
    assert items["Resource"] == {"Fn::GetAtt": ["BalancesTable", "Arn"]}
    keys = items["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert keys == [{"Fn::Sub": f"BALANCE#{provider}"}, {"Fn::Sub": f"HISTORY#{provider}#*"}, {"Fn::Sub": f"ROUND#{provider}"}]
    assert statements["StartShards"]["Resource"]["Fn::Sub"].endswith(f":stateMachine:${{AWS::StackName}}-{provider}-shards")


def test_a_poller_cannot_write_another_providers_or_the_aggregators_items():
    """dynamodb:LeadingKeys with StringLike: the partitions a poller may touch, matched as IAM would."""
    _, function = POLLERS["crun"]
    statements = {s["Sid"]: s for p in function["Properties"]["Policies"] for s in p["Statement"]}
    allowed = [k["Fn::Sub"] for k in statements["ReadWriteOwnItems"]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]]

    def may(pk):
        return any(fnmatch.fnmatchcase(pk, pattern) for pattern in allowed)

    assert may("BALANCE#crun")
    assert may("HISTORY#crun#prod")
    assert may("ROUND#crun")
    others = ("BALANCE#crun-eu", "HISTORY#crun-eu#prod", "BALANCE#sunor", "ALERT#crun", "CONFIG", "INCIDENT", "ALERTS#crun", "ROUND#sunor")
    for other in others:
        assert not may(other), other


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_poller_runs_on_the_poll_interval(provider):
    _, function = POLLERS[provider]
    [event] = function["Properties"]["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == {"Fn::Sub": "rate(${PollIntervalMinutes} minutes)"}
    assert event["Properties"]["RetryPolicy"] == {"MaximumRetryAttempts": 0}
    assert TEMPLATE["Parameters"]["PollIntervalMinutes"]["Default"] == "5"


def test_the_table_is_on_demand_recoverable_expiring_and_streamed():
    [table] = resources_of_type(TEMPLATE, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    assert table["DeletionPolicy"] == "Retain"  # history outlives a torn-down stack


def test_the_layers_are_built_by_sam_for_the_runtime():
    layers = resources_of_type(TEMPLATE, "AWS::Serverless::LayerVersion")
    assert set(layers) == {"CommonLayer", "TracingLayer"}
    common, tracing = layers["CommonLayer"], layers["TracingLayer"]
    assert common["Metadata"]["BuildMethod"] == "python3.13"
    assert common["Properties"]["ContentUri"] == "layers/common/"
    assert (ROOT / "layers" / "common" / "requirements.txt").is_file()
    assert not (ROOT / "layers" / "common" / "python").exists()
    # The X-Ray SDK without botocore: pip for the runtime's platform, from pinned requirements.
    assert tracing["Metadata"]["BuildMethod"] == "makefile"
    assert tracing["Condition"] == "TracingOn"
    makefile = (ROOT / "layers" / "tracing" / "Makefile").read_text()
    assert "build-TracingLayer:" in makefile
    for option in ("--no-deps", "--platform manylinux2014_aarch64", "--python-version 3.13"):
        assert option in makefile
    pins = [line for line in (ROOT / "layers" / "tracing" / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    assert pins
    assert all(re.fullmatch(r"[a-z0-9-]+==[0-9.]+", pin) for pin in pins)


def test_outputs_name_the_table_and_every_secret():
    outputs = TEMPLATE["Outputs"]
    assert outputs["BalancesTableName"]["Value"] == {"Ref": "BalancesTable"}
    secret_refs = [o["Value"] for o in outputs.values()]
    for _, function in POLLERS.values():
        assert function["Properties"]["Environment"]["Variables"]["API_KEYS_SECRET"] in secret_refs


def test_samconfig_defaults():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    assert config["default"]["validate"]["parameters"]["lint"] is True
    for command in ("build", "validate", "package", "deploy", "sync"):  # Fn::ForEach needs the SAM CLI's expansion
        assert config["default"][command]["parameters"]["language_extensions"] is True, command
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True
    assert "CAPABILITY_IAM" in deploy["capabilities"]


# -- aggregator ----------------------------------------------------------------------------------

AGGREGATOR = RESOURCES["Aggregator"]["Properties"]


def test_the_aggregator_is_triggered_by_the_stream_with_retries_bisection_and_a_dead_letter_queue():
    assert AGGREGATOR["Handler"] == "aggregate_handler.lambda_handler"
    assert (ROOT / "functions" / "aggregator" / "aggregate_handler.py").is_file()
    assert not [e for e in AGGREGATOR["Events"].values() if e["Type"] == "DynamoDB"]  # SAM's would grant every stream
    stream = stream_mapping(TEMPLATE)
    assert stream["FunctionName"] == {"Ref": "Aggregator"}
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["BisectBatchOnFunctionError"] is True
    assert 0 < stream["MaximumRetryAttempts"] <= 10
    assert 60 <= stream["MaximumRecordAgeInSeconds"] <= 86400
    assert 1 <= stream["BatchSize"] <= 1000
    assert 1 <= stream["ParallelizationFactor"] <= 10
    assert stream["DestinationConfig"]["OnFailure"] == {"Destination": {"Fn::GetAtt": ["AggregatorDeadLetterQueue", "Arn"]}}
    assert RESOURCES["AggregatorDeadLetterQueue"]["Type"] == "AWS::SQS::Queue"


def test_the_aggregator_reads_only_its_tables_stream_and_writes_only_alerting_items():
    statements = {s["Sid"]: s for p in AGGREGATOR["Policies"] if "Statement" in p for s in p["Statement"]}
    assert statements["ReadBalanceStream"]["Resource"] == {"Fn::GetAtt": ["BalancesTable", "StreamArn"]}
    keys = statements["WriteAlertingItemsOnly"]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert not any(key.startswith(("BALANCE", "HISTORY", "ROUND")) or key == "*" for key in keys)
    assert not any("DynamoDBWritePolicy" in p or "DynamoDBCrudPolicy" in p for p in AGGREGATOR["Policies"])


def test_the_stream_filter_admits_balances_and_rounds_only():
    """Matched by moto's EventBridge pattern matcher, the syntax Lambda's filters use: not by our own code."""
    filters = stream_filters(stream_mapping(TEMPLATE))

    def admitted(record):
        return any(f.matches_event(record) for f in filters)

    def record(kind):
        return {"eventName": "MODIFY", "dynamodb": {"NewImage": {"kind": {"S": kind}, "pk": {"S": "BALANCE#crun"}}}}

    assert admitted(record("balance"))
    assert admitted(record("round"))
    for other in ("alert", "config", "incident", "group", "sent-alert", "attention"):
        assert not admitted(record(other)), other  # the aggregator's own writes must not trigger it
    assert not admitted({"eventName": "REMOVE", "dynamodb": {"OldImage": {"kind": {"S": "balance"}}}})


def test_the_aggregator_runs_a_check_on_the_poll_rate_and_an_optional_digest():
    schedules = {name: e["Properties"] for name, e in AGGREGATOR["Events"].items() if e["Type"] == "ScheduleV2"}
    assert schedules["Check"]["ScheduleExpression"] == {"Fn::Sub": "rate(${PollIntervalMinutes} minutes)"}
    assert schedules["Check"]["Input"] == '{"task": "check"}'
    assert schedules["Digest"]["Input"] == '{"task": "digest"}'
    assert schedules["Digest"]["State"] == {"Ref": "DigestEnabled"}
    assert TEMPLATE["Parameters"]["DigestEnabled"]["Default"] == "DISABLED"


def test_thresholds_live_in_ssm_created_from_a_valid_default():
    parameter = RESOURCES["ThresholdsParameter"]["Properties"]
    assert parameter["Type"] == "String"
    assert parameter["Value"] == {"Ref": "Thresholds"}
    parse_thresholds(TEMPLATE["Parameters"]["Thresholds"]["Default"])  # raises if the default is malformed
    schema = json.loads((ROOT / "schemas" / "thresholds.v1.json").read_text())
    jsonschema.validate(json.loads(TEMPLATE["Parameters"]["Thresholds"]["Default"]), schema)
    variables = AGGREGATOR["Environment"]["Variables"]
    assert variables["THRESHOLDS_PARAMETER"] == {"Ref": "ThresholdsParameter"}
    assert variables["ALERT_TOPIC_ARN"] == {"Ref": "AlertTopic"}


def test_email_and_sms_subscriptions_are_optional_and_sms_is_filtered():
    email, sms = RESOURCES["AlertEmailSubscription"], RESOURCES["AlertSmsSubscription"]
    assert (email["Condition"], sms["Condition"]) == ("HasAlertEmail", "HasAlertSms")
    assert TEMPLATE["Parameters"]["AlertEmail"]["Default"] == ""
    assert sms["Properties"]["FilterPolicyScope"] == "MessageAttributes"
    assert sms["Properties"]["FilterPolicy"] == {"$or": [{"level": {"Ref": "SmsAlertLevels"}}, {"event": ["failure", "incident", "test"]}]}
    assert TEMPLATE["Parameters"]["SmsAlertLevels"]["Default"] == "critical,depleted"


def test_the_aggregator_may_publish_to_its_topic_and_read_its_parameter_but_touch_no_secret():
    policies = {next(iter(p)): next(iter(p.values())) for p in AGGREGATOR["Policies"]}
    assert policies["SNSPublishMessagePolicy"] == {"TopicName": {"Fn::GetAtt": ["AlertTopic", "TopicName"]}}
    [read_thresholds] = [s for p in AGGREGATOR["Policies"] if "Statement" in p for s in p["Statement"] if s["Sid"] == "ReadThresholds"]
    assert read_thresholds["Action"] == "ssm:GetParameter"
    assert read_thresholds["Resource"]["Fn::Sub"].endswith(":parameter/${AWS::StackName}/thresholds")
    assert RESOURCES["ThresholdsParameter"]["Properties"]["Name"] == {"Fn::Sub": "/${AWS::StackName}/thresholds"}
    assert not any("Secret" in name for name in policies)


# -- balance API ---------------------------------------------------------------------------------

API = RESOURCES["BalanceApi"]["Properties"]
API_ROUTES = {"/balances", "/balances/{provider}", "/balances/{provider}/{account}",
              "/balances/{provider}/{account}/history", "/balances/{provider}/{account}/check", "/alerts", "/spend"}  # fmt: skip


def test_the_api_serves_exactly_the_contract_routes_read_only():
    paths = API["DefinitionBody"]["paths"]
    assert set(paths) == API_ROUTES
    assert {route.path for route in ROUTES} == API_ROUTES  # the function serves what the gateway routes
    for operations in paths.values():
        assert set(operations) <= {"get", "options"}


def test_every_route_requires_sigv4_or_an_api_key_never_nothing():
    schemes = API["DefinitionBody"]["components"]["securitySchemes"]
    assert schemes["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert (schemes["api_key"]["name"], schemes["api_key"]["in"]) == ("x-api-key", "header")
    for route, operations in API["DefinitionBody"]["paths"].items():
        assert operations["get"]["security"] == {"Fn::If": ["UseApiKeys", [{"api_key": []}], [{"sigv4": []}]]}, route
        # The only unauthenticated method is the CORS preflight, and it exists only when origins are configured.
        options = operations["options"]
        assert options["Fn::If"][0] == "HasCors"
        assert options["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    assert TEMPLATE["Parameters"]["ApiAuth"]["Default"] == "IAM"
    assert TEMPLATE["Conditions"]["UseApiKeys"] == {"Fn::Equals": [{"Ref": "ApiAuth"}, "API_KEY"]}
    assert TEMPLATE["Parameters"]["CorsAllowedOrigins"]["Default"] == ""


@pytest.mark.parametrize("mode", ["IAM", "API_KEY"])
def test_api_gateways_own_refusals_use_the_apis_error_shape_and_name_the_expected_credential(mode):
    resolver = Resolver(TEMPLATE, "stack", {name: name for name in RESOURCES}, parameters={"ApiAuth": mode})
    responses = resolver.resolve(API["DefinitionBody"]["x-amazon-apigateway-gateway-responses"])
    assert {"MISSING_AUTHENTICATION_TOKEN", "INVALID_API_KEY", "INVALID_SIGNATURE", "ACCESS_DENIED", "THROTTLED", "DEFAULT_4XX",
            "DEFAULT_5XX"} <= set(responses)  # fmt: skip
    for kind, response in responses.items():
        body = response["responseTemplates"]["application/json"]
        if "$context" in body:
            assert body.startswith('{"error": "'), kind
            assert body.endswith('"message": $context.error.messageString}'), kind
            continue
        parsed = json.loads(body)
        assert set(parsed) == {"error", "message"}, kind
        assert response["statusCode"] in (403, 429), kind
    missing = json.loads(responses["MISSING_AUTHENTICATION_TOKEN"]["responseTemplates"]["application/json"])["message"]
    assert ("SigV4" in missing) == (mode == "IAM")
    assert "x-api-key" in json.loads(responses["INVALID_API_KEY"]["responseTemplates"]["application/json"])["message"]


def test_api_keys_mode_creates_a_key_and_a_throttled_usage_plan():
    for name in ("BalanceApiKey", "BalanceApiUsagePlan", "BalanceApiUsagePlanKey"):
        assert RESOURCES[name]["Condition"] == "UseApiKeys"
    plan = RESOURCES["BalanceApiUsagePlan"]["Properties"]
    assert plan["Throttle"] == {"RateLimit": {"Ref": "ApiThrottleRate"}, "BurstLimit": {"Ref": "ApiThrottleBurst"}}
    [settings] = API["MethodSettings"]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == ({"Ref": "ApiThrottleRate"}, {"Ref": "ApiThrottleBurst"})


def test_api_key_refusals_say_the_whole_command_that_reads_the_key():
    """get-api-key needs the key's id (--api-key), and prints the value only with --include-value and a query for it."""
    reads_the_key = "aws apigateway get-api-key --api-key <BalanceApiKeyId output> --include-value --query value --output text"
    responses = API["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    assert reads_the_key in json.loads(responses["INVALID_API_KEY"]["responseTemplates"]["application/json"])["message"]
    assert reads_the_key in RESOURCES["BalanceApiKey"]["Properties"]["Description"]


def test_the_api_role_can_only_query_the_table():
    function = RESOURCES["BalanceApiFunction"]["Properties"]
    assert function["Handler"] == "api_handler.lambda_handler"
    assert (ROOT / "functions" / "api" / "api_handler.py").is_file()
    [policy] = function["Policies"]
    assert policy == {
        "Statement": [
            {"Sid": "ReadBalances", "Effect": "Allow", "Action": "dynamodb:Query", "Resource": {"Fn::GetAtt": ["BalancesTable", "Arn"]}}
        ]
    }
    permission = RESOURCES["BalanceApiInvokePermission"]["Properties"]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert "${BalanceApi}/" in permission["SourceArn"]["Fn::Sub"]


# -- operations ----------------------------------------------------------------------------------

ASYNC_FUNCTIONS = [
    name for name, f in FUNCTIONS.items() if any(e["Type"] == "ScheduleV2" for e in f["Properties"].get("Events", {}).values())
]


def test_every_function_logs_json_to_a_group_with_retention_and_the_pollers_share_one():
    assert TEMPLATE["Globals"]["Function"]["LoggingConfig"]["LogFormat"] == "JSON"
    assert TEMPLATE["Globals"]["Function"]["LoggingConfig"]["ApplicationLogLevel"] == {"Ref": "LogLevel"}
    groups = {}
    for name, function in FUNCTIONS.items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup", name
        assert RESOURCES[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        groups.setdefault(group, []).append(name)
    # The pollers' lines name provider and account, so one group serves them all (and the dashboard's Logs Insights table).
    assert sorted(groups.pop("PollerLogs")) == sorted(name for name, _ in POLLERS.values())
    assert all(len(functions) == 1 for functions in groups.values())
    assert TEMPLATE["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_every_function_that_can_fail_asynchronously_has_an_on_failure_destination():
    assert set(ASYNC_FUNCTIONS) == {name for name, _ in POLLERS.values()} | {"Aggregator"}
    for name in ASYNC_FUNCTIONS:
        config = FUNCTIONS[name]["Properties"]["EventInvokeConfig"]
        assert config["DestinationConfig"]["OnFailure"] == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["AsyncDeadLetterQueue", "Arn"]}}
        assert config["MaximumRetryAttempts"] == 2
    assert "EventInvokeConfig" not in FUNCTIONS["BalanceApiFunction"]["Properties"]  # invoked synchronously only


def test_every_alarm_notifies_the_topic_and_says_what_to_do():
    alarms = resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm")
    assert {"AggregatorErrorsAlarm", "ApiErrorsAlarm", "AsyncDeadLetterAlarm", "StreamDeadLetterAlarm", "StreamIteratorAgeAlarm"} <= set(
        alarms
    )
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        actions = props.get("AlarmActions") or props.get("InsufficientDataActions")
        assert actions == [{"Ref": "AlertTopic"}], name
        assert props["OKActions"] == [{"Ref": "AlertTopic"}], name
        assert len(str(props["AlarmDescription"])) > 60, name


def test_no_alarm_grows_with_providers_or_accounts():
    """Adding providers adds no alarm, and no alarm reads a per-account series (nothing is a math or Insights query)."""
    few = deployed_template({"Providers": "crun"})
    assert set(resources_of_type(few, "AWS::CloudWatch::Alarm")) == set(resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm"))
    for name, alarm in resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        assert "Metrics" not in props, name
        assert all(d["Name"] != "Account" for d in props.get("Dimensions", [])), name


def test_the_heartbeat_alarm_watches_the_checks_and_cannot_fire_on_a_fresh_stack():
    props = RESOURCES["HeartbeatAlarm"]["Properties"]
    assert (props["Namespace"], props["MetricName"], props.get("Dimensions", [])) == ("CreditMonitor", "MonitorHeartbeat", [])
    assert props["Period"] == {"Fn::FindInMap": ["PollInterval", {"Ref": "PollIntervalMinutes"}, "Seconds"]}
    assert props["EvaluationPeriods"] == 3
    # No data (a new stack, or checks that stopped) is INSUFFICIENT_DATA, never ALARM; stopping notifies from there.
    assert props["TreatMissingData"] == "missing"
    assert props["InsufficientDataActions"] == [{"Ref": "AlertTopic"}]
    assert "AlarmActions" not in props


def test_the_dashboard_is_valid_json_and_finds_every_provider_without_a_widget_each():
    attributes = {
        "AlertTopic": {"TopicName": "topic"},
        "AsyncDeadLetterQueue": {"QueueName": "q1"},
        "AggregatorDeadLetterQueue": {"QueueName": "q2"},
    }
    resolver = Resolver(TEMPLATE, "stack", {name: name for name in RESOURCES}, attributes=attributes)
    body = json.loads(resolver.resolve(RESOURCES["Dashboard"]["Properties"]["DashboardBody"]))
    titles = [w["properties"]["title"] for w in body["widgets"]]
    for expected in (
        "Lowest balances: 20 accounts (latest poll, from the pollers' logs)",
        "Fewest days left: 20 accounts (hourly forecast)",
        "Failing: 20 accounts whose latest poll failed",
        "Stale: 20 accounts stored longest ago (an unchanged one is stored hourly)",
        "Lowest balance per provider",
        "Poll failures per provider",
        "Alerts sent (SNS messages published)",
        "Function errors",
        "Function duration (p95, ms)",
    ):
        assert expected in titles
    text = json.dumps(body)
    for provider in PROVIDERS:  # SEARCH and Logs Insights find every provider: none is named
        assert f"'{provider}'" not in text
        assert f'"{provider}"' not in text
    tables = {w["properties"]["title"]: w["properties"]["query"] for w in body["widgets"] if w["type"] == "log"}
    # At fleet scale no table lists every account: each sorts what matters and keeps 20 rows.
    for title, query in tables.items():
        assert query.endswith("| limit 20"), title
        assert " | sort " in query, title
    assert "filter message = 'account polled'" in tables["Failing: 20 accounts whose latest poll failed"]
    assert "| filter status = 'error' |" in tables["Failing: 20 accounts whose latest poll failed"]
    assert "SOURCE 'AggregatorLogs' | filter message = 'account forecast'" in tables["Fewest days left: 20 accounts (hourly forecast)"]
    assert "sort days_left asc" in tables["Fewest days left: 20 accounts (hourly forecast)"]
    assert "sort last_poll asc" in tables["Stale: 20 accounts stored longest ago (an unchanged one is stored hourly)"]
    assert "DashboardUrl" in TEMPLATE["Outputs"]


@pytest.mark.parametrize("account_metrics", ["ENABLED", "DISABLED"])
def test_the_dashboard_shows_the_lowest_balances_with_or_without_a_series_per_account(account_metrics):
    template = deployed_template({"AccountMetrics": account_metrics})
    attributes = {"AlertTopic": {"TopicName": "t"}, "AsyncDeadLetterQueue": {"QueueName": "q1"},
                  "AggregatorDeadLetterQueue": {"QueueName": "q2"}}  # fmt: skip
    ids = {name: name for name in template["Resources"]}
    resolver = Resolver(template, "stack", ids, {"AccountMetrics": account_metrics}, attributes=attributes)
    body = json.loads(resolver.resolve(template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]))
    [chart] = [w for w in body["widgets"] if w["properties"]["title"].startswith("Lowest balances: 20 accounts")]
    if account_metrics == "ENABLED":  # the 20 lowest series, not every account's
        expression = chart["properties"]["metrics"][0][0]["expression"]
        assert expression.startswith("SORT(SEARCH(")
        assert 'MetricName="AvailableCredits"' in expression
        assert expression.endswith(", MIN, ASC, 20)")
    else:  # from the pollers' "account polled" lines: no series per account
        assert chart["type"] == "log"
        assert "SOURCE 'PollerLogs' | filter message = 'account polled'" in chart["properties"]["query"]
        assert chart["properties"]["query"].endswith("| sort available asc | limit 20")
    poller = next(iter(providers_of(template).values()))
    assert resolver.resolve(poller["Properties"]["Environment"]["Variables"]["ACCOUNT_METRICS"]) == account_metrics


def test_poll_interval_choices_all_map_to_alarm_periods():
    choices = TEMPLATE["Parameters"]["PollIntervalMinutes"]["AllowedValues"]
    mapping = TEMPLATE["Mappings"]["PollInterval"]
    assert set(choices) == set(mapping)
    assert all(mapping[c]["Seconds"] == int(c) * 60 for c in choices)


# -- alert channels --------------------------------------------------------------------------------

CHANNEL_PARAMETERS = {"SlackWebhookUrl": "https://hooks.example/T/B/x", "DiscordWebhookUrl": "https://discord.example/api/webhooks/1/x",
                      "GenericWebhookUrl": "https://ops.example/alerts", "PagerDutyRoutingKey": "R0UTING", "SlackWorkspaceId": "T1",
                      "SlackChannelId": "C1", "TeamsTenantId": "t", "TeamsTeamId": "m", "TeamsChannelId": "c"}  # fmt: skip
CHANNEL_RESOURCES = {"ChatTopic", "ChatTopicPolicy", "ChatRule", "ChatbotRole", "SlackChannel", "TeamsChannel", "SlackWebhookConnection",
                     "SlackWebhookDestination", "SlackWebhookRule", "DiscordWebhookConnection", "DiscordWebhookDestination",
                     "DiscordWebhookRule", "GenericWebhookConnection", "GenericWebhookDestination", "GenericWebhookRule",
                     "PagerDutyConnection", "PagerDutyDestination", "PagerDutyTriggerRule", "PagerDutyResolveRule", "WebhookRole",
                     "WebhookDeadLetterQueue", "WebhookDeadLetterQueuePolicy", "WebhookDeliveryAlarm"}  # fmt: skip


def deployed_resources(parameters):
    template = deployed_template(parameters)
    resolver = Resolver(template, "stack", {name: name for name in template["Resources"]}, parameters)
    return {name for name, resource in template["Resources"].items() if resolver.deployed(resource)}, template, resolver


def test_every_channel_is_off_until_configured_and_then_exists_whole():
    off, _, _ = deployed_resources({})
    assert off & CHANNEL_RESOURCES == set()  # nothing deployed, nothing billed
    on, _, _ = deployed_resources(CHANNEL_PARAMETERS)
    assert on >= CHANNEL_RESOURCES
    slack_only, _, _ = deployed_resources({"SlackWebhookUrl": "https://hooks.example/T/B/x"})
    assert slack_only & CHANNEL_RESOURCES == {"SlackWebhookConnection", "SlackWebhookDestination", "SlackWebhookRule", "WebhookRole",
                                              "WebhookDeadLetterQueue", "WebhookDeadLetterQueuePolicy", "WebhookDeliveryAlarm"}  # fmt: skip


def test_the_aggregator_puts_every_alert_on_the_configured_bus():
    variables = AGGREGATOR["Environment"]["Variables"]
    assert variables["EVENT_BUS_NAME"] == {"Ref": "EventBusName"}
    assert TEMPLATE["Parameters"]["EventBusName"]["Default"] == "default"
    assert {"EventBridgePutEventsPolicy": {"EventBusName": {"Ref": "EventBusName"}}} in AGGREGATOR["Policies"]


def test_each_channel_rule_filters_by_its_levels_events_and_labels_and_always_passes_a_test():
    """People's channels (chat, Slack, Discord) take notifications, one per group of alerts; machines' (the
    generic webhook) take every alert event."""
    channels = ("Chat", "SlackWebhook", "DiscordWebhook", "GenericWebhook")
    labelled = {**CHANNEL_PARAMETERS, **{f"{name}Labels": "team=video" for name in channels}}
    for parameters, with_labels in ((CHANNEL_PARAMETERS, False), (labelled, True)):
        _, template, resolver = deployed_resources(parameters)
        for rule, detail_type in (("ChatRule", "notification"), ("SlackWebhookRule", "notification"),
                                  ("DiscordWebhookRule", "notification"), ("GenericWebhookRule", "alert")):  # fmt: skip
            pattern = resolver.resolve(template["Resources"][rule]["Properties"]["EventPattern"])
            assert pattern["source"] == ["credit-monitor"]
            assert pattern["detail-type"] == [f"Credit balance {detail_type}"]
            [filtered, test] = pattern["detail"]["$or"]
            assert set(filtered) == ({"level", "event", "label_pairs"} if with_labels else {"level", "event"})
            if with_labels:
                assert filtered["label_pairs"] == ["team=video"]
            assert test == {"test": [True]}
        assert template["Resources"][rule]["Properties"]["EventBusName"] == {"Ref": "EventBusName"}


def test_webhooks_retry_then_dead_letter_and_secrets_stay_out_of_outputs():
    _, template, _ = deployed_resources(CHANNEL_PARAMETERS)
    for rule in ("SlackWebhookRule", "DiscordWebhookRule", "GenericWebhookRule", "PagerDutyTriggerRule", "PagerDutyResolveRule"):
        [target] = template["Resources"][rule]["Properties"]["Targets"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 3
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}}
        assert target["RoleArn"] == {"Fn::GetAtt": ["WebhookRole", "Arn"]}
    for secret in ("SlackWebhookUrl", "DiscordWebhookUrl", "GenericWebhookUrl", "PagerDutyRoutingKey"):
        assert TEMPLATE["Parameters"][secret]["NoEcho"] is True
        assert secret not in json.dumps(TEMPLATE["Outputs"])
    [routing_key] = template["Resources"]["PagerDutyConnection"]["Properties"]["AuthParameters"]["InvocationHttpParameters"][
        "BodyParameters"
    ]
    assert routing_key == {"Key": "routing_key", "Value": {"Ref": "PagerDutyRoutingKey"}, "IsValueSecret": True}


def test_chat_channels_can_do_nothing_but_show_alerts():
    _, template, _ = deployed_resources(CHANNEL_PARAMETERS)
    for channel in ("SlackChannel", "TeamsChannel"):
        props = template["Resources"][channel]["Properties"]
        assert props["SnsTopicArns"] == [{"Ref": "ChatTopic"}]
        assert props["GuardrailPolicies"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSDenyAll"}]
    assert "Policies" not in template["Resources"]["ChatbotRole"]["Properties"]
