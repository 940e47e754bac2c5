"""template.yaml says what DESIGN.md promises: resources, contract variables, least privilege."""

import json
import tomllib

import pytest

from credit_monitor.alerting.thresholds import parse_thresholds
from credit_monitor.polling.providers import PROVIDERS
from credit_monitor.polling.providers.declarative import DEFINITIONS
from credit_monitor.storage.items import TTL_ATTRIBUTE
from devstack import ROOT
from devstack.streams import matches
from devstack.template import Resolver, load_template, resources_of_type

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
POLLERS = {
    f["Properties"]["Environment"]["Variables"]["PROVIDER"]: (name, f)
    for name, f in FUNCTIONS.items()
    if "PROVIDER" in f["Properties"].get("Environment", {}).get("Variables", {})
}


def test_sections_come_in_the_conventional_order():
    sections = [key for key in TEMPLATE if key in ("Parameters", "Globals", "Resources", "Outputs")]
    assert sections == ["Parameters", "Globals", "Resources", "Outputs"]


def test_globals_set_runtime_architecture_tracing_and_powertools():
    function = TEMPLATE["Globals"]["Function"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Tracing"] == "Active"
    assert {"Timeout", "MemorySize"} <= function.keys()
    variables = function["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "credit-monitor"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "CreditMonitor"
    assert variables["TABLE_NAME"] == {"Ref": "BalancesTable"}


def test_there_is_one_poller_per_provider_sharing_one_handler():
    assert set(POLLERS) == {"crun", "sunor", "srtgen", "apimall", "pixverse", "openrouter"}
    for provider in PROVIDERS:
        assert "Condition" not in POLLERS[provider][1], "built-in providers are always deployed"
    for _, function in POLLERS.values():
        props = function["Properties"]
        assert props["CodeUri"] == "functions/poller/"
        assert props["Handler"] == "poll_handler.lambda_handler"
    assert (ROOT / "functions" / "poller" / "poll_handler.py").is_file()


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_each_poller_has_the_contract_variables(provider):
    _, function = POLLERS[provider]
    variables = function["Properties"]["Environment"]["Variables"]
    assert {"PROVIDER", "PROVIDER_BASE_URL", "API_KEYS_SECRET"} <= variables.keys()
    base_url_parameter = TEMPLATE["Parameters"][variables["PROVIDER_BASE_URL"]["Ref"]]
    assert base_url_parameter["Default"] == PROVIDERS[provider].default_base_url
    secret = RESOURCES[variables["API_KEYS_SECRET"]["Ref"]]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["SecretString"] == "{}"  # a placeholder the operator fills


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_each_poller_reads_only_its_own_secret_and_writes_only_the_table(provider):
    _, function = POLLERS[provider]
    own_secret = function["Properties"]["Environment"]["Variables"]["API_KEYS_SECRET"]
    policies = function["Properties"]["Policies"]
    secret_policies = [p["AWSSecretsManagerGetSecretValuePolicy"] for p in policies if "AWSSecretsManagerGetSecretValuePolicy" in p]
    assert secret_policies == [{"SecretArn": own_secret}]
    write_policies = [p["DynamoDBWritePolicy"] for p in policies if "DynamoDBWritePolicy" in p]
    assert write_policies == [{"TableName": {"Ref": "BalancesTable"}}]
    statements = [s for p in policies if "Statement" in p for s in p["Statement"]]
    assert statements == [
        {"Sid": "ReadPreviousBalances", "Effect": "Allow", "Action": "dynamodb:Query", "Resource": {"Fn::GetAtt": ["BalancesTable", "Arn"]}}
    ]
    names = {next(iter(p)) for p in policies}
    assert names <= {"AWSSecretsManagerGetSecretValuePolicy", "DynamoDBWritePolicy", "Statement"}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_each_poller_has_its_own_schedule_that_can_be_switched_off(provider):
    _, function = POLLERS[provider]
    [event] = function["Properties"]["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == {"Fn::Sub": "rate(${PollIntervalMinutes} minutes)"}
    state_parameter = TEMPLATE["Parameters"][event["Properties"]["State"]["Ref"]]
    assert state_parameter["AllowedValues"] == ["ENABLED", "DISABLED"]
    assert TEMPLATE["Parameters"]["PollIntervalMinutes"]["Default"] == 5


def test_the_table_is_on_demand_recoverable_expiring_and_streamed():
    [table] = resources_of_type(TEMPLATE, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    assert table["DeletionPolicy"] == "Retain"  # history outlives a torn-down stack


def test_the_layer_is_built_by_sam_for_the_runtime():
    [layer] = resources_of_type(TEMPLATE, "AWS::Serverless::LayerVersion").values()
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert layer["Properties"]["ContentUri"] == "layers/common/"
    assert (ROOT / "layers" / "common" / "requirements.txt").is_file()
    assert not (ROOT / "layers" / "common" / "python").exists()


def test_outputs_name_the_table_and_every_secret():
    outputs = TEMPLATE["Outputs"]
    assert outputs["BalancesTableName"]["Value"] == {"Ref": "BalancesTable"}
    secret_refs = [o["Value"] for o in outputs.values()]
    for _, function in POLLERS.values():
        assert {"Ref": function["Properties"]["Environment"]["Variables"]["API_KEYS_SECRET"]["Ref"]} in secret_refs


def test_samconfig_defaults():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    assert config["default"]["validate"]["parameters"]["lint"] is True
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True
    assert "CAPABILITY_IAM" in deploy["capabilities"]


# -- aggregator ----------------------------------------------------------------------------------

AGGREGATOR = RESOURCES["Aggregator"]["Properties"]


def test_the_aggregator_is_triggered_by_the_stream_with_retries_bisection_and_a_dead_letter_queue():
    assert AGGREGATOR["Handler"] == "aggregate_handler.lambda_handler"
    assert (ROOT / "functions" / "aggregator" / "aggregate_handler.py").is_file()
    [stream] = [e["Properties"] for e in AGGREGATOR["Events"].values() if e["Type"] == "DynamoDB"]
    assert stream["Stream"] == {"Fn::GetAtt": ["BalancesTable", "StreamArn"]}
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["BisectBatchOnFunctionError"] is True
    assert 0 < stream["MaximumRetryAttempts"] <= 10
    assert 60 <= stream["MaximumRecordAgeInSeconds"] <= 86400
    assert 1 <= stream["BatchSize"] <= 1000
    assert stream["DestinationConfig"]["OnFailure"] == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["AggregatorDeadLetterQueue", "Arn"]}}
    assert RESOURCES["AggregatorDeadLetterQueue"]["Type"] == "AWS::SQS::Queue"


def test_the_stream_filter_admits_balance_items_only():
    [stream] = [e["Properties"] for e in AGGREGATOR["Events"].values() if e["Type"] == "DynamoDB"]
    [pattern] = [json.loads(f["Pattern"]) for f in stream["FilterCriteria"]["Filters"]]

    def record(kind):
        return {"eventName": "MODIFY", "dynamodb": {"NewImage": {"kind": {"S": kind}, "pk": {"S": "ACCOUNTS"}}}}

    assert matches(pattern, record("balance"))
    assert not matches(pattern, record("alert"))  # the aggregator's own writes must not trigger it
    assert not matches(pattern, record("config"))
    assert not matches(pattern, {"eventName": "REMOVE", "dynamodb": {"OldImage": {"kind": {"S": "balance"}}}})


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
    variables = AGGREGATOR["Environment"]["Variables"]
    assert variables["THRESHOLDS_PARAMETER"] == {"Ref": "ThresholdsParameter"}
    assert variables["ALERT_TOPIC_ARN"] == {"Ref": "AlertTopic"}


def test_email_and_sms_subscriptions_are_optional_and_sms_is_filtered():
    email, sms = RESOURCES["AlertEmailSubscription"], RESOURCES["AlertSmsSubscription"]
    assert (email["Condition"], sms["Condition"]) == ("HasAlertEmail", "HasAlertSms")
    assert TEMPLATE["Parameters"]["AlertEmail"]["Default"] == ""
    assert sms["Properties"]["FilterPolicyScope"] == "MessageAttributes"
    assert sms["Properties"]["FilterPolicy"] == {"$or": [{"level": {"Ref": "SmsAlertLevels"}}, {"event": ["failure"]}]}
    assert TEMPLATE["Parameters"]["SmsAlertLevels"]["Default"] == "critical,depleted"


def test_the_aggregator_may_publish_to_its_topic_and_read_its_parameter_but_touch_no_secret():
    policies = {next(iter(p)): next(iter(p.values())) for p in AGGREGATOR["Policies"]}
    assert policies["SNSPublishMessagePolicy"] == {"TopicName": {"Fn::GetAtt": ["AlertTopic", "TopicName"]}}
    [read_thresholds] = policies["Statement"]
    assert read_thresholds["Action"] == "ssm:GetParameter"
    assert read_thresholds["Resource"]["Fn::Sub"].endswith(":parameter/${AWS::StackName}/thresholds")
    assert RESOURCES["ThresholdsParameter"]["Properties"]["Name"] == {"Fn::Sub": "/${AWS::StackName}/thresholds"}
    assert not any("Secret" in name for name in policies)


# -- balance API ---------------------------------------------------------------------------------

API = RESOURCES["BalanceApi"]["Properties"]
API_ROUTES = {"/balances", "/balances/{provider}", "/balances/{provider}/{account}",
              "/balances/{provider}/{account}/history", "/balances/{provider}/{account}/check"}  # fmt: skip


def test_the_api_serves_exactly_the_contract_routes_read_only():
    paths = API["DefinitionBody"]["paths"]
    assert set(paths) == API_ROUTES
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


def test_every_function_logs_json_to_its_own_group_with_retention():
    assert TEMPLATE["Globals"]["Function"]["LoggingConfig"]["LogFormat"] == "JSON"
    assert TEMPLATE["Globals"]["Function"]["LoggingConfig"]["ApplicationLogLevel"] == {"Ref": "LogLevel"}
    groups = set()
    for name, function in FUNCTIONS.items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup", name
        assert RESOURCES[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        groups.add(group)
    assert len(groups) == len(FUNCTIONS)
    assert TEMPLATE["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_every_function_that_can_fail_asynchronously_has_an_on_failure_destination():
    assert set(ASYNC_FUNCTIONS) == {"CrunPoller", "SunorPoller", "SrtgenPoller", "ApimallPoller", "PixversePoller", "OpenrouterPoller",
                                    "Aggregator"}  # fmt: skip
    for name in ASYNC_FUNCTIONS:
        config = FUNCTIONS[name]["Properties"]["EventInvokeConfig"]
        assert config["DestinationConfig"]["OnFailure"] == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["AsyncDeadLetterQueue", "Arn"]}}
        assert config["MaximumRetryAttempts"] == 2
    assert "EventInvokeConfig" not in FUNCTIONS["BalanceApiFunction"]["Properties"]  # invoked synchronously only


def test_every_alarm_notifies_the_topic_and_says_what_to_do():
    alarms = resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm")
    assert {"PollerErrorsAlarm", "AggregatorErrorsAlarm", "ApiErrorsAlarm", "AsyncDeadLetterAlarm", "StreamDeadLetterAlarm",
            "StreamIteratorAgeAlarm"} <= set(alarms)  # fmt: skip
    for provider in ("Crun", "Sunor", "Srtgen", "Apimall", "Pixverse"):
        alarm = alarms[f"{provider}NoSuccessfulPollAlarm"]
        assert alarm["Condition"] == f"{provider}PollingOn"  # a disabled provider does not alarm
        [query] = alarm["Properties"]["Metrics"]
        assert "COUNT(AvailableCredits)" in query["Expression"]
        assert f"Provider = '{provider.lower()}'" in query["Expression"]
        assert alarm["Properties"]["TreatMissingData"] == "breaching"
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlertTopic"}], name
        assert len(props["AlarmDescription"]) > 60, name


def test_the_dashboard_is_valid_json_with_a_graph_per_provider():
    attributes = {
        "AlertTopic": {"TopicName": "topic"},
        "AsyncDeadLetterQueue": {"QueueName": "q1"},
        "AggregatorDeadLetterQueue": {"QueueName": "q2"},
    }
    resolver = Resolver(TEMPLATE, "stack", {name: name for name in RESOURCES}, attributes=attributes)
    body = json.loads(resolver.resolve(RESOURCES["Dashboard"]["Properties"]["DashboardBody"]))
    titles = [w["properties"]["title"] for w in body["widgets"]]
    for provider in PROVIDERS:
        assert f"{provider}: available credits per account" in titles
    for expected in (
        "Poll failures per provider",
        "Alerts sent (SNS messages published)",
        "Function errors",
        "Function duration (p95, ms)",
    ):
        assert expected in titles
    assert "DashboardUrl" in TEMPLATE["Outputs"]


def test_poll_interval_choices_all_map_to_alarm_periods():
    choices = TEMPLATE["Parameters"]["PollIntervalMinutes"]["AllowedValues"]
    mapping = TEMPLATE["Mappings"]["PollInterval"]
    assert {str(c) for c in choices} == set(mapping)
    assert all(mapping[str(c)]["Seconds"] == c * 60 for c in choices)


def test_a_provider_defined_by_configuration_has_a_copyable_block_off_by_default():
    name, poller = POLLERS["openrouter"]
    variables = poller["Properties"]["Environment"]["Variables"]
    definition = json.loads((DEFINITIONS / "openrouter.json").read_text())
    assert TEMPLATE["Parameters"][variables["PROVIDER_BASE_URL"]["Ref"]]["Default"] == definition["base_url"]
    assert TEMPLATE["Parameters"]["OpenrouterPolling"]["Default"] == "DISABLED"  # nothing deployed, nothing billed
    secret = variables["API_KEYS_SECRET"]["Ref"]
    log_group = poller["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    for resource in (name, secret, log_group):
        assert RESOURCES[resource]["Condition"] == "OpenrouterPollingOn", resource
    assert poller["Properties"]["Policies"][0] == {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": secret}}}
